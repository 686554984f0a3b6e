package qualys

import (
	"encoding/json"
	"errors"
	"io"
	"strings"
)

// The QPS API answers XML when it ignores (or is not sent) Accept:
// application/json. decodeQPSXML reads that ServiceResponse with the same
// streaming, the same page metadata and the same resume information as
// the JSON decoder. Each data record is turned into the JSON shape the QPS
// API uses ({"HostAsset": {...}} with {"list": [{"Kind": {...}}]}
// collections) and handed to the same record decoder, so that one mapping
// serves both formats.

// qpsXMLLists are the elements that hold a <list> of typed items.
var qpsXMLLists = map[string]bool{
	"networkInterface": true, "account": true, "software": true, "vuln": true, "openPort": true,
	"tags": true, "sourceInfo": true, "processor": true, "volume": true,
}

// qpsXMLObjects are the elements that hold named fields.
var qpsXMLObjects = map[string]bool{"agentInfo": true, "ec2InstanceTags": true, "azureVmTags": true}

// errQPSStop ends decoding when the caller stops.
var errQPSStop = errors.New("stopped")

func decodeQPSXML(r io.Reader, path, action string, onData func(json.RawMessage) (int64, bool, error)) (qpsMeta, error) {
	var meta qpsMeta
	d := &xdec{s: newScanner(r), endpoint: path}
	if err := d.root("ServiceResponse"); err != nil {
		return meta, err
	}
	var code string
	var details qpsErrorFields
	err := d.fields("ServiceResponse", func(n []byte) error {
		var err error
		switch string(n) {
		case "responseCode":
			code, err = d.trimmedString()
		case "count":
			meta.count, err = d.smallInt()
		case "hasMoreRecords":
			meta.hasMore, err = d.flag()
		case "lastId":
			meta.lastID, err = d.int64()
		case "responseErrorDetails":
			err = d.fields("responseErrorDetails", func(n []byte) error {
				t, err := d.trimmedString()
				switch string(n) {
				case "errorMessage":
					details.ResponseErrorDetail.ErrorMessage = t
				case "errorResolution":
					details.ResponseErrorDetail.ErrorResolution = t
				}
				return err
			})
		case "data":
			if code != "" && code != "SUCCESS" {
				return d.s.Skip()
			}
			err = d.qpsXMLData(&meta, onData)
		default:
			err = d.s.Skip()
		}
		return err
	})
	if errors.Is(err, errQPSStop) {
		meta.stopped = true
		return meta, nil
	}
	if err != nil {
		return meta, err
	}
	return meta, details.outcome(path, action, code)
}

// qpsXMLData decodes the data element: each record is read into the JSON
// shape the JSON decoder sees and handed to onData; the caller's stop ends
// decoding with errQPSStop.
func (d *xdec) qpsXMLData(meta *qpsMeta, onData func(json.RawMessage) (int64, bool, error)) error {
	return d.fields("data", func(n []byte) error {
		kind := string(n)
		d.beginRecord()
		obj, err := d.qpsObject(kind)
		d.endRecord()
		if err != nil {
			return err
		}
		raw, err := json.Marshal(map[string]any{kind: obj})
		if err != nil {
			return err
		}
		if onData == nil {
			return nil
		}
		id, cont, err := onData(raw)
		if err != nil {
			return err
		}
		meta.maxID = max(meta.maxID, id)
		d.lastID = meta.maxID
		if !cont {
			return errQPSStop
		}
		return nil
	})
}

// qpsObject reads an element's fields into the JSON shape: text for
// leaves, objects for known objects, {"list": [...]} for known lists.
func (d *xdec) qpsObject(parent string) (map[string]any, error) {
	obj := map[string]any{}
	err := d.fields(parent, func(n []byte) error {
		name := string(n)
		switch {
		case qpsXMLLists[name]:
			items, err := d.qpsList(name)
			obj[name] = map[string]any{"list": items}
			return err
		case qpsXMLObjects[name]:
			o, err := d.qpsObject(name)
			obj[name] = o
			return err
		}
		t, err := d.text()
		obj[name] = strings.TrimSpace(t)
		return err
	})
	return obj, err
}

// qpsList reads <name><list><Kind>...</Kind>...</list></name>.
func (d *xdec) qpsList(parent string) ([]any, error) {
	items := []any{}
	err := d.fields(parent, func(n []byte) error {
		if string(n) != "list" {
			return d.s.Skip()
		}
		return d.fields("list", func(n []byte) error {
			kind := string(n)
			if err := d.item(); err != nil {
				return err
			}
			o, err := d.qpsObject(kind)
			items = append(items, map[string]any{kind: o})
			return err
		})
	})
	return items, err
}
