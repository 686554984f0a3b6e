package qualys

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/qualysbridge/qualysbridge/internal/xmlstream"
)

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

// MaxTextSize bounds one text value (a RESULTS, a DIAGNOSIS) in a decoded
// response; a larger one is a *DecodeError, so hostile or corrupt input
// cannot make memory grow without bound.
const MaxTextSize = 16 << 20

func newScanner(r io.Reader) *xmlstream.Scanner {
	s := xmlstream.New(r)
	s.SetMaxText(MaxTextSize)
	return s
}

func (d *xdec) fail(element string, err error) error {
	var qe *Error
	var de *DecodeError
	if errors.As(err, &qe) || errors.As(err, &de) {
		return err
	}
	return &DecodeError{Endpoint: d.endpoint, Element: element, LastID: d.lastID, Offset: d.s.Offset(), Err: err, resumeParam: d.resumeParam}
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
			e.Message = strings.TrimSpace(string(t))
		case "RESPONSE", "ITEM_LIST", "ITEM":
		default:
			if err := d.s.Skip(); err != nil {
				return d.fail(root, err)
			}
		}
	}
	if e.Message == "" {
		e.Message = root + " error document"
	}
	if d.lastID != 0 {
		e.Message += fmt.Sprintf(" (after host id %d)", d.lastID)
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
// against MaxRecordItems; an item with nothing in it is not appended.
func listOf[T any](d *xdec, list, item string, out *[]T, field func(t *T, name []byte) error) error {
	return d.fields(list, func(n []byte) error {
		if string(n) != item {
			return d.s.Skip()
		}
		var t T
		e := d.fields(item, func(n []byte) error { return field(&t, n) })
		if !reflect.ValueOf(&t).Elem().IsZero() { // an empty item (<TAG/>, blank CDATA) adds nothing
			*out = append(*out, t)
		}
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

// int64 reads the element's text as an integer.
func (d *xdec) int64() (int64, error) {
	b, err := d.trimmed()
	if err != nil {
		return 0, err
	}
	return parseInt(b)
}

// int64List reads the element's text as a comma-separated id list with
// ranges.
func (d *xdec) int64List() ([]int64, error) {
	b, err := d.trimmed()
	if err != nil {
		return nil, err
	}
	return parseIntList(b)
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
