package qualys

import (
	"encoding/json"
	"fmt"
	"io"
)

type qpsMeta struct {
	count   int
	hasMore bool
	lastID  int64
	maxID   int64
	stopped bool
}

// decodeQPS streams a QPS ServiceResponse (JSON, or XML: see
// decodeQPSXML), calling onData with each
// element of "data" (a single-key object such as {"HostAsset": {...}}) as
// soon as it is decoded. onData returning false stops decoding.
func decodeQPS(body io.Reader, path, action string, onData func(json.RawMessage) (id int64, more bool, err error)) (qpsMeta, error) {
	var meta qpsMeta
	p, br, empty, err := openJSONPage(body, path, action, "ServiceResponse")
	switch {
	case empty:
		return meta, &Error{Endpoint: path, Action: action, Message: "empty body where a JSON ServiceResponse was expected"}
	case err != nil:
		return meta, err
	case p == nil:
		return decodeQPSXML(br, path, action, onData)
	}
	var code string
	var details qpsErrorFields
	for p.dec.More() {
		key, err := p.key("ServiceResponse")
		if err != nil {
			return meta, err
		}
		if key != "ServiceResponse" {
			if err := p.skip(key); err != nil {
				return meta, err
			}
			continue
		}
		if err := expectDelim(p.dec, '{'); err != nil {
			return meta, p.fail("ServiceResponse", err)
		}
		for p.dec.More() {
			k, err := p.key("ServiceResponse")
			if err != nil {
				return meta, err
			}
			switch k {
			case "data":
				if code != "" && code != "SUCCESS" {
					err = p.skip(k)
				} else {
					err = p.qpsData(&meta, onData)
				}
			case "responseCode":
				code, err = p.str(k)
			case "count":
				var n int64
				n, err = p.natural(k)
				meta.count = int(n)
			case "hasMoreRecords":
				meta.hasMore, err = p.boolean(k)
			case "lastId":
				meta.lastID, err = p.natural(k)
			case "responseErrorDetails":
				err = p.value(k, &details.ResponseErrorDetail)
			default:
				err = p.skip(k)
			}
			if err != nil || meta.stopped {
				meta.maxID = p.maxID
				return meta, err
			}
		}
		if err := p.close("ServiceResponse"); err != nil {
			return meta, err
		}
	}
	meta.maxID = p.maxID
	return meta, details.outcome(path, action, code)
}

// qpsData decodes the data array (or null) of a ServiceResponse, calling
// onData with each element as soon as it is read.
func (p *jsonPage) qpsData(meta *qpsMeta, onData func(json.RawMessage) (int64, bool, error)) error {
	t, err := p.dec.Token()
	if err != nil {
		return p.fail("data", err)
	}
	if t == nil {
		return nil
	}
	if d, ok := t.(json.Delim); !ok || d != '[' {
		return p.fail("data", fmt.Errorf("want an array, got %v", t))
	}
	for p.dec.More() {
		var raw json.RawMessage
		if err := p.value("data", &raw); err != nil {
			return err
		}
		if onData == nil {
			continue
		}
		id, cont, err := onData(raw)
		if err != nil {
			return p.fail("data", err)
		}
		p.maxID = max(p.maxID, id)
		if !cont {
			meta.stopped = true
			return nil
		}
	}
	return p.close("data")
}
