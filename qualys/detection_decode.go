package qualys

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"math"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/qualysbridge/qualysbridge/internal/xmlstream"
)

// DecodeDetections decodes a VM Host List Detection XML document, as saved
// from the API, one host at a time: each *DetectionHost is decoded,
// yielded and forgotten before the next is read, so memory is bounded by
// the largest host, never by the document. It yields the first error and
// stops; a SIMPLE_RETURN error document gives an *Error, malformed or
// truncated input a *DecodeError naming the last complete host. A
// truncation WARNING at the end of the document is not an error here (use
// Detections.List to follow it).
func DecodeDetections(r io.Reader) iter.Seq2[*DetectionHost, error] {
	return func(yield func(*DetectionHost, error) bool) {
		streamRecords(context.Background(), newDetectionDecoder(r, "").next, yield)
	}
}

// streamRecords yields what next decodes (nil at the end) until the end,
// the first error or the caller's stop, and reports whether the stream
// ended normally. A decoding error caused by a cancelled context is
// reported as the context's error.
func streamRecords[T any](ctx context.Context, next func() (*T, error), yield func(*T, error) bool) bool {
	for {
		v, err := next()
		if err != nil {
			if ctx.Err() != nil {
				err = ctx.Err()
			}
			yield(nil, err)
			return false
		}
		if v == nil {
			return true
		}
		if !yield(v, nil) {
			return false
		}
	}
}

// postFO sends a form to a versioned FO endpoint.
func (c *Client) postFO(ctx context.Context, ep Endpoint, action string, form url.Values, idempotent bool) (*response, error) {
	return c.do(ctx, &apiRequest{method: "POST", path: c.EndpointPath(ep), body: []byte(form.Encode()),
		contentType: "application/x-www-form-urlencoded", action: action, idempotent: idempotent, fo: true, ep: ep})
}

// nextRecord advances to the next start element named record, descending
// into the named containers and skipping anything else. It reports false
// at the end of the document, and turns an error document (SIMPLE_RETURN,
// GENERIC_RETURN) into an *Error.
func (d *xdec) nextRecord(record string, containers ...string) (bool, error) {
	for {
		k, err := d.s.Next()
		if err == io.EOF {
			return false, nil
		}
		if err != nil {
			return false, d.fail("", err)
		}
		if k != xmlstream.StartElement {
			continue
		}
		name := string(d.s.Name())
		switch {
		case name == record:
			return true, nil
		case name == "SIMPLE_RETURN" || name == "GENERIC_RETURN":
			return false, d.decodeErrorDoc(name)
		case slices.Contains(containers, name):
		default:
			if err := d.s.Skip(); err != nil {
				return false, d.fail(name, err)
			}
		}
	}
}

// xdec holds the helpers every streaming XML decoder of this package uses.
type xdec struct {
	s        *xmlstream.Scanner
	endpoint string
	lastID   int64 // last complete record, for resumable errors
	// resumeParam names the query parameter that resumes after lastID.
	resumeParam string
	// The record being decoded, for MaxRecordBytes and MaxRecordItems.
	inRecord bool
	recStart int64
	items    int
}

// MaxRecordBytes bounds the bytes of one record of a response: a host with
// its detections, a host asset, a gateway asset, a KnowledgeBase entry, a
// search list. MaxRecordItems bounds the items nested in one record (its
// detections, tags, software, interfaces, QIDs, CVEs, ...). A record past
// either bound is a *DecodeError matching ErrRecordTooLarge, so that a
// hostile or corrupt answer cannot make memory grow without bound. (One
// text value is also bounded, by MaxTextSize.)
const (
	MaxRecordBytes = 64 << 20
	MaxRecordItems = 200_000
)

// ErrRecordTooLarge is wrapped by the error for a record past
// MaxRecordBytes or MaxRecordItems.
var ErrRecordTooLarge = errors.New("qualys: record too large")

// beginRecord starts the size accounting of a record.
func (d *xdec) beginRecord() {
	d.inRecord, d.recStart, d.items = true, d.s.Offset(), 0
}

// endRecord ends it.
func (d *xdec) endRecord() { d.inRecord = false }

// recordItemsLimit is MaxRecordItems; tests lower it.
var recordItemsLimit = MaxRecordItems

// item counts one nested item of the current record.
func (d *xdec) item() error {
	d.items++
	if d.items > recordItemsLimit {
		return fmt.Errorf("%w: more than %d nested items (MaxRecordItems)", ErrRecordTooLarge, recordItemsLimit)
	}
	return nil
}

// recordBytesLimit is MaxRecordBytes; tests lower it.
var recordBytesLimit int64 = MaxRecordBytes

func (d *xdec) checkRecordBytes() error {
	if d.inRecord && d.s.Offset()-d.recStart > recordBytesLimit {
		return fmt.Errorf("%w: more than %d bytes (MaxRecordBytes)", ErrRecordTooLarge, MaxRecordBytes)
	}
	return nil
}

// detectionDecoder walks a detection document with the xmlstream scanner,
// feeding typed fields directly.
type detectionDecoder struct {
	xdec
	root       bool
	inHostList bool
	warning    *Warning
	done       bool
}

// MaxTextSize bounds one text value (a RESULTS, a DIAGNOSIS) in a decoded
// response; a larger one is a *DecodeError, so hostile or corrupt input
// cannot make memory grow without bound.
const MaxTextSize = 16 << 20

func newScanner(r io.Reader) *xmlstream.Scanner {
	s := xmlstream.New(r)
	s.SetMaxText(MaxTextSize)
	return s
}

func newDetectionDecoder(r io.Reader, endpoint string) *detectionDecoder {
	return &detectionDecoder{xdec: xdec{s: newScanner(r), endpoint: endpoint, resumeParam: "id_min"}}
}

func (d *xdec) fail(element string, err error) error {
	var qe *Error
	var de *DecodeError
	if errors.As(err, &qe) || errors.As(err, &de) {
		return err
	}
	return &DecodeError{Endpoint: d.endpoint, Element: element, LastID: d.lastID, Offset: d.s.Offset(), Err: err, resumeParam: d.resumeParam}
}

// next returns the next host, or nil at the end of the document.
func (d *detectionDecoder) next() (*DetectionHost, error) {
	if d.done {
		return nil, nil
	}
	for {
		k, err := d.s.Next()
		if err == io.EOF {
			d.done = true
			return nil, nil
		}
		if err != nil {
			return nil, d.fail("", err)
		}
		name := d.s.Name()
		if k == xmlstream.EndElement {
			if string(name) == "HOST_LIST" {
				d.inHostList = false
			}
			continue
		}
		switch string(name) {
		case "SIMPLE_RETURN", "GENERIC_RETURN":
			// An error document, as the whole body or appended after a
			// response that failed midway.
			return nil, d.decodeErrorDoc(string(name))
		}
		if !d.root {
			d.root = true
			if string(name) != "HOST_LIST_VM_DETECTION_OUTPUT" {
				return nil, d.fail(string(name), fmt.Errorf("unexpected root element <%s>, want <HOST_LIST_VM_DETECTION_OUTPUT>", name))
			}
			continue
		}
		switch string(name) {
		case "HOST_LIST":
			d.inHostList = true
		case "HOST":
			if !d.inHostList {
				if err := d.s.Skip(); err != nil {
					return nil, d.fail("HOST", err)
				}
				continue
			}
			before := d.s.Replaced
			d.beginRecord()
			h, err := d.decodeHost()
			d.endRecord()
			if err != nil {
				return nil, err
			}
			h.ReplacedChars = d.s.Replaced - before
			d.lastID = h.ID
			return h, nil
		case "WARNING":
			w, err := d.decodeWarning()
			if err != nil {
				return nil, err
			}
			d.warning = w
		case "RESPONSE", "HOST_LIST_VM_DETECTION_OUTPUT":
			// Containers: descend.
		default:
			// REQUEST, DATETIME and anything new: not needed here.
			if err := d.s.Skip(); err != nil {
				return nil, d.fail(string(name), err)
			}
		}
	}
}

func (d *xdec) decodeErrorDoc(root string) error {
	e := &Error{Endpoint: d.endpoint}
	for {
		k, err := d.s.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return d.fail(root, err)
		}
		if k == xmlstream.EndElement {
			if string(d.s.Name()) == root {
				break
			}
			continue
		}
		switch string(d.s.Name()) {
		case "CODE", "RETURN_CODE":
			t, err := d.s.Text()
			if err != nil {
				return d.fail("CODE", err)
			}
			e.Code = strings.TrimSpace(string(t))
		case "TEXT", "MESSAGE":
			t, err := d.s.Text()
			if err != nil {
				return d.fail("TEXT", err)
			}
			e.Text = strings.TrimSpace(string(t))
		case "RESPONSE", "ITEM_LIST", "ITEM":
		default:
			if err := d.s.Skip(); err != nil {
				return d.fail(root, err)
			}
		}
	}
	if e.Text == "" {
		e.Text = root + " error document"
	}
	if d.lastID != 0 {
		e.Text += fmt.Sprintf(" (after host id %d)", d.lastID)
	}
	return e
}

func (d *xdec) decodeWarning() (*Warning, error) {
	w := &Warning{}
	err := d.fields("WARNING", func(name []byte) error {
		t, err := d.s.Text()
		if err != nil {
			return err
		}
		switch string(name) {
		case "CODE":
			w.Code = strings.TrimSpace(string(t))
		case "TEXT":
			w.Text = strings.TrimSpace(string(t))
		case "URL":
			w.URL = strings.TrimSpace(string(t))
		}
		return nil
	})
	return w, err
}

// listOf decodes the children named item of the current element (named
// list; other children are skipped), appending each to *out: field decodes
// one child element of an item and must consume it. Every item counts
// against MaxRecordItems.
func listOf[T any](d *xdec, list, item string, out *[]T, field func(t *T, name []byte) error) error {
	return d.fields(list, func(n []byte) error {
		if string(n) != item {
			return d.s.Skip()
		}
		var t T
		e := d.fields(item, func(n []byte) error { return field(&t, n) })
		*out = append(*out, t)
		if e == nil {
			e = d.item()
		}
		return e
	})
}

// fields calls f for each child start element of the current element until
// its end; f must consume the child (Text or Skip).
func (d *xdec) fields(parent string, f func(name []byte) error) error {
	for {
		k, err := d.s.Next()
		if err != nil {
			if err == io.EOF {
				err = xmlstream.ErrUnexpectedEOF
			}
			return d.fail(parent, err)
		}
		if k == xmlstream.EndElement {
			return nil
		}
		if err := d.checkRecordBytes(); err != nil {
			return d.fail(parent, err)
		}
		if err := f(d.s.Name()); err != nil {
			return d.fail(parent+"/"+string(d.s.Name()), err)
		}
	}
}

func (d *xdec) text() (string, error) {
	t, err := d.s.Text()
	return string(t), err
}

func (d *xdec) trimmed() ([]byte, error) {
	t, err := d.s.Text()
	return trimSpace(t), err
}

func (d *detectionDecoder) decodeHost() (*DetectionHost, error) {
	h := &DetectionHost{}
	err := d.fields("HOST", func(name []byte) error {
		var err error
		var b []byte
		switch string(name) {
		case "ID":
			if b, err = d.trimmed(); err == nil {
				h.ID, err = parseInt(b)
			}
		case "ASSET_ID":
			if b, err = d.trimmed(); err == nil {
				h.AssetID, err = parseInt(b)
			}
		case "IP":
			h.IP, err = d.trimmedString()
		case "IPV6":
			h.IPv6, err = d.trimmedString()
		case "TRACKING_METHOD":
			h.TrackingMethod, err = d.trimmedString()
		case "NETWORK_ID":
			h.NetworkID, err = d.trimmedString()
		case "OS":
			h.OS, err = d.text()
		case "OS_CPE":
			h.OSCPE, err = d.text()
		case "DNS":
			h.DNS, err = d.text()
		case "DNS_DATA":
			err = d.fields("DNS_DATA", func(n []byte) error {
				var e error
				switch string(n) {
				case "HOSTNAME":
					h.DNSData.Hostname, e = d.text()
				case "DOMAIN":
					h.DNSData.Domain, e = d.text()
				case "FQDN":
					h.DNSData.FQDN, e = d.text()
				default:
					e = d.s.Skip()
				}
				return e
			})
		case "CLOUD_PROVIDER":
			h.CloudProvider, err = d.text()
		case "CLOUD_SERVICE":
			h.CloudService, err = d.text()
		case "CLOUD_RESOURCE_ID":
			h.CloudResourceID, err = d.text()
		case "EC2_INSTANCE_ID":
			h.EC2InstanceID, err = d.text()
		case "NETBIOS":
			h.NetBIOS, err = d.text()
		case "QG_HOSTID":
			h.QGHostID, err = d.trimmedString()
		case "LAST_SCAN_DATETIME":
			h.LastScan, err = d.time()
		case "LAST_VM_SCANNED_DATE":
			h.LastVMScanned, err = d.time()
		case "LAST_VM_SCANNED_DURATION":
			h.LastVMScannedDuration, err = d.seconds()
		case "LAST_VM_AUTH_SCANNED_DATE":
			h.LastVMAuthScanned, err = d.time()
		case "LAST_VM_AUTH_SCANNED_DURATION":
			h.LastVMAuthScannedDuration, err = d.seconds()
		case "LAST_PC_SCANNED_DATE":
			h.LastPCScanned, err = d.time()
		case "ASSET_GROUP_IDS":
			if b, err = d.trimmed(); err == nil {
				h.AssetGroupIDs, err = parseIntList(b)
			}
		case "METADATA":
			err = d.decodeMetadata(&h.Metadata)
		case "CLOUD_PROVIDER_TAGS":
			err = listOf(&d.xdec, "CLOUD_PROVIDER_TAGS", "CLOUD_TAG", &h.CloudTags, func(t *CloudTag, n []byte) (e error) {
				switch string(n) {
				case "NAME":
					t.Name, e = d.text()
				case "VALUE":
					t.Value, e = d.text()
				case "LAST_SUCCESS_DATE":
					t.LastSuccessDate, e = d.time()
				default:
					e = d.s.Skip()
				}
				return e
			})
		case "TAGS":
			err = listOf(&d.xdec, "TAGS", "TAG", &h.Tags, func(t *Tag, n []byte) (e error) {
				switch string(n) {
				case "TAG_ID":
					var b []byte
					if b, e = d.trimmed(); e == nil {
						t.ID, e = parseInt(b)
					}
				case "NAME":
					t.Name, e = d.text()
				case "COLOR":
					t.Color, e = d.trimmedString()
				case "BACKGROUND_COLOR":
					t.BackgroundColor, e = d.trimmedString()
				default:
					e = d.s.Skip()
				}
				return e
			})
		case "DETECTION_LIST":
			err = d.fields("DETECTION_LIST", func(n []byte) error {
				if string(n) != "DETECTION" {
					return d.s.Skip()
				}
				if err := d.item(); err != nil {
					return err
				}
				h.Detections = append(h.Detections, Detection{})
				return d.decodeDetection(&h.Detections[len(h.Detections)-1])
			})
		default:
			err = d.s.Skip()
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if h.ID == 0 {
		return nil, d.fail("HOST", errors.New("host without an ID"))
	}
	return h, nil
}

func (d *detectionDecoder) decodeDetection(det *Detection) error {
	err := d.fields("DETECTION", func(name []byte) error {
		var err error
		var b []byte
		switch string(name) {
		case "UNIQUE_VULN_ID":
			if b, err = d.trimmed(); err == nil {
				det.UniqueVulnID, err = parseInt(b)
			}
		case "QID":
			if b, err = d.trimmed(); err == nil {
				det.QID, err = parseInt(b)
			}
		case "TYPE":
			var v string
			v, err = d.trimmedString()
			det.Type = DetectionType(v)
		case "SEVERITY":
			det.Severity, err = d.smallInt()
		case "PORT":
			det.Port, err = d.smallInt()
		case "PROTOCOL":
			det.Protocol, err = d.trimmedString()
		case "FQDN":
			det.FQDN, err = d.text()
		case "SSL":
			det.SSL, err = d.flag()
		case "INSTANCE":
			det.Instance, err = d.text()
		case "RESULTS":
			det.Results, err = d.text()
		case "STATUS":
			var v string
			v, err = d.trimmedString()
			det.Status = DetectionStatus(v)
		case "SERVICE":
			det.Service, err = d.text()
		case "FIRST_FOUND_DATETIME":
			det.FirstFound, err = d.time()
		case "LAST_FOUND_DATETIME":
			det.LastFound, err = d.time()
		case "LAST_FIXED_DATETIME":
			det.LastFixed, err = d.time()
		case "FIRST_REOPENED_DATETIME":
			det.FirstReopened, err = d.time()
		case "LAST_REOPENED_DATETIME":
			det.LastReopened, err = d.time()
		case "LAST_TEST_DATETIME":
			det.LastTest, err = d.time()
		case "LAST_UPDATE_DATETIME":
			det.LastUpdate, err = d.time()
		case "LAST_PROCESSED_DATETIME":
			det.LastProcessed, err = d.time()
		case "TIMES_FOUND":
			det.TimesFound, err = d.smallInt()
		case "TIMES_REOPENED":
			det.TimesReopened, err = d.smallInt()
		case "IS_IGNORED":
			det.Ignored, err = d.flag()
		case "IS_DISABLED":
			det.Disabled, err = d.flag()
		case "AFFECT_RUNNING_KERNEL":
			det.AffectRunningKernel, err = d.trimmedString()
		case "AFFECT_RUNNING_SERVICE":
			det.AffectRunningService, err = d.trimmedString()
		case "AFFECT_EXPLOITABLE_CONFIG":
			det.AffectExploitableConfig, err = d.trimmedString()
		case "QDS":
			det.QDSSeverity, _ = d.s.Attr("severity")
			det.QDS, err = d.smallInt()
		case "QDS_FACTORS":
			err = d.fields("QDS_FACTORS", func(n []byte) error {
				if string(n) != "QDS_FACTOR" {
					return d.s.Skip()
				}
				f := QDSFactor{}
				f.Name, _ = d.s.Attr("name")
				var e error
				f.Value, e = d.trimmedString()
				det.QDSFactors = append(det.QDSFactors, f)
				if e == nil {
					e = d.item()
				}
				return e
			})
		case "ASSET_CVE":
			det.AssetCVE, err = d.text()
		case "CVE", "CVE_LIST":
			err = d.decodeCVEs(det, string(name))
		case "VULNERABILITY_DETECTION_SOURCES":
			det.DetectionSources, err = d.trimmedString()
		case "LATEST_VULNERABILITY_DETECTION_SOURCE":
			det.LatestDetectionSource, err = d.trimmedString()
		case "MITRE_TACTIC_NAME":
			det.MitreTacticName, err = d.trimmedString()
		case "MITRE_TECHNIQUE_NAME":
			det.MitreTechniqueName, err = d.trimmedString()
		case "MITRE_TACTIC_ID":
			det.MitreTacticID, err = d.trimmedString()
		case "MITRE_TECHNIQUE_ID":
			det.MitreTechniqueID, err = d.trimmedString()
		case "TRURISK_ELIMINATION_STATUS":
			det.TruRiskEliminationStatus, err = d.trimmedString()
		default:
			err = d.s.Skip()
		}
		return err
	})
	if err == nil && det.CVEs == nil && det.AssetCVE != "" {
		det.CVEs = appendCVEs(nil, det.AssetCVE)
	}
	return err
}

// decodeCVEs reads the detection's CVE ids in either shape: a CVE element
// whose text holds comma-separated ids (repeated CVE elements add up), or
// a CVE_LIST of CVE elements with an ID child, as in the KnowledgeBase.
func (d *detectionDecoder) decodeCVEs(det *Detection, name string) error {
	if name == "CVE" {
		t, err := d.text()
		det.CVEs = appendCVEs(det.CVEs, t)
		if err == nil && len(det.CVEs) > recordItemsLimit {
			err = fmt.Errorf("%w: more than %d CVE ids", ErrRecordTooLarge, recordItemsLimit)
		}
		return err
	}
	return d.fields("CVE_LIST", func(n []byte) error {
		if string(n) != "CVE" {
			return d.s.Skip()
		}
		return d.fields("CVE", func(n []byte) error {
			if string(n) != "ID" {
				return d.s.Skip()
			}
			t, err := d.text()
			det.CVEs = appendCVEs(det.CVEs, t)
			if err == nil {
				err = d.item()
			}
			return err
		})
	})
}

// appendCVEs appends the comma- or space-separated ids in s, skipping
// duplicates.
func appendCVEs(dst []string, s string) []string {
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\t' || r == '\r' }) {
		if !slices.Contains(dst, f) {
			dst = append(dst, f)
		}
	}
	return dst
}

// decodeMetadata reads METADATA/{EC2,AZURE,GOOGLE,ALICLOUD}/ATTRIBUTE.
func (d *detectionDecoder) decodeMetadata(m *HostMetadata) error {
	return d.fields("METADATA", func(n []byte) error {
		var dst *[]MetadataAttribute
		switch string(n) {
		case "EC2":
			dst = &m.EC2
		case "AZURE":
			dst = &m.Azure
		case "GOOGLE":
			dst = &m.Google
		case "ALICLOUD":
			dst = &m.AliCloud
		default:
			return d.s.Skip()
		}
		return listOf(&d.xdec, string(n), "ATTRIBUTE", dst, func(a *MetadataAttribute, n []byte) (e error) {
			switch string(n) {
			case "NAME":
				a.Name, e = d.text()
			case "LAST_STATUS":
				a.LastStatus, e = d.trimmedString()
			case "VALUE":
				a.Value, e = d.text()
			case "LAST_SUCCESS_DATE":
				a.LastSuccessDate, e = d.time()
			case "LAST_ERROR_DATE":
				a.LastErrorDate, e = d.time()
			case "LAST_ERROR":
				a.LastError, e = d.text()
			default:
				e = d.s.Skip()
			}
			return e
		})
	})
}

func (d *xdec) trimmedString() (string, error) {
	b, err := d.trimmed()
	return string(b), err
}

func (d *xdec) smallInt() (int, error) {
	b, err := d.trimmed()
	if err != nil {
		return 0, err
	}
	n, err := parseInt(b)
	return int(n), err
}

func (d *xdec) seconds() (time.Duration, error) {
	n, err := d.smallInt()
	return time.Duration(n) * time.Second, err
}

func (d *xdec) flag() (bool, error) {
	b, err := d.trimmed()
	if err != nil {
		return false, err
	}
	switch string(b) {
	case "1", "true", "Yes", "yes":
		return true, nil
	case "0", "false", "No", "no", "":
		return false, nil
	}
	return false, fmt.Errorf("invalid flag %q (want 0 or 1)", b)
}

func (d *xdec) time() (time.Time, error) {
	b, err := d.trimmed()
	if err != nil {
		return time.Time{}, err
	}
	return parseTime(b)
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\n' || b[0] == '\t' || b[0] == '\r') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\n' || b[len(b)-1] == '\t' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

// parseInt parses a non-negative decimal integer within int64 without
// allocating; empty is 0. Ids, counts, ports and scores in the Qualys XML
// are never negative, so a minus sign or an overflow is an error.
func parseInt(b []byte) (int64, error) {
	if len(b) == 0 {
		return 0, nil
	}
	if len(b) > 19 {
		return 0, fmt.Errorf("invalid integer %q: out of range", truncateBytes(b))
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("invalid integer %q: want a non-negative whole number", truncateBytes(b))
		}
		d := int64(c - '0')
		if n > (math.MaxInt64-d)/10 {
			return 0, fmt.Errorf("invalid integer %q: out of range", truncateBytes(b))
		}
		n = n*10 + d
	}
	return n, nil
}

func parseIntList(b []byte) ([]int64, error) {
	var out []int64
	for _, part := range strings.Split(string(b), ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		n, err := parseInt([]byte(part))
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

func truncateBytes(b []byte) []byte {
	if len(b) > 40 {
		return b[:40]
	}
	return b
}

// parseTime parses the UTC timestamps Qualys sends ("2022-01-17T13:53:51Z",
// also without seconds' Z or as a bare date); empty is the zero time.
func parseTime(b []byte) (time.Time, error) {
	if len(b) == 0 {
		return time.Time{}, nil
	}
	if len(b) == 20 && b[4] == '-' && b[7] == '-' && b[10] == 'T' && b[13] == ':' && b[16] == ':' && b[19] == 'Z' {
		var v [6]int
		pos := [6][2]int{{0, 4}, {5, 7}, {8, 10}, {11, 13}, {14, 16}, {17, 19}}
		ok := true
		for i, p := range pos {
			for _, c := range b[p[0]:p[1]] {
				if c < '0' || c > '9' {
					ok = false
					break
				}
				v[i] = v[i]*10 + int(c-'0')
			}
		}
		if ok && v[1] >= 1 && v[1] <= 12 && v[2] >= 1 && v[2] <= 31 && v[3] < 24 && v[4] < 60 && v[5] < 61 {
			t := time.Date(v[0], time.Month(v[1]), v[2], v[3], v[4], v[5], 0, time.UTC)
			if t.Day() != v[2] {
				// 2026-02-31 is not a date; time.Date would make it March 3.
				return time.Time{}, fmt.Errorf("invalid date %q: day out of range", truncateBytes(b))
			}
			return t, nil
		}
	}
	s := string(b)
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("invalid date %q", truncateBytes(b))
}
