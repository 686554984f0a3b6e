package qualys

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
)

// jsonPage is the part the two JSON page decoders (the QPS ServiceResponse
// and the gateway's asset search) share: the opening of the body, the
// per-record size bound, the reading of flexibly typed scalar fields, and
// errors that say where decoding stopped (a *DecodeError with the last
// record delivered, so a cut page resumes after it).
type jsonPage struct {
	rr   *recordReader
	dec  *json.Decoder
	path string
	// maxID is the largest record id delivered so far.
	maxID int64
}

// openJSONPage peeks at a page body and reads the opening of its object.
// It returns the page to decode; or empty for a body of nothing but white
// space; or, for an XML document, no page and no error, with the buffered
// body for the caller to decode or refuse (see notJSONError); or an *Error
// for any other body (an HTML error page, plain text), with the code and
// text read from what the server sent.
func openJSONPage(body io.Reader, path, action, what string) (p *jsonPage, br *bufio.Reader, empty bool, err error) {
	br = bufio.NewReaderSize(body, 32<<10)
	head, _ := br.Peek(512)
	trimmed := bytes.TrimSpace(head)
	if len(trimmed) == 0 {
		return nil, br, true, nil
	}
	if trimmed[0] != '{' {
		if _, kind := rootElement(trimmed); kind == bodyXML && trimmed[0] == '<' {
			return nil, br, false, nil // the caller decides whether XML is an answer
		}
		return nil, br, false, notJSONError(br, path, action, what)
	}
	rr := &recordReader{r: br}
	dec := json.NewDecoder(rr)
	dec.UseNumber()
	p = &jsonPage{rr: rr, dec: dec, path: path}
	if err := expectDelim(dec, '{'); err != nil {
		return nil, br, false, p.fail(what, err)
	}
	return p, br, false, nil
}

// notJSONError reads what the server sent instead of JSON into an *Error.
func notJSONError(br *bufio.Reader, path, action, what string) error {
	all, _ := io.ReadAll(io.LimitReader(br, maxErrorBody))
	e := &Error{Endpoint: path, Action: action}
	fillError(e, "", all)
	if e.Code == "" {
		e.Message = "expected a JSON " + what + ": " + e.Message
	}
	return e
}

// fail wraps a decoding failure at element what; an end of input inside
// the page is io.ErrUnexpectedEOF (a cut body, which can be resumed).
func (p *jsonPage) fail(what string, err error) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return &DecodeError{Endpoint: p.path, Element: what, LastID: p.maxID, Offset: p.dec.InputOffset(), Err: err}
}

// key reads the next object key.
func (p *jsonPage) key(in string) (string, error) {
	tk, err := p.dec.Token()
	if err != nil {
		return "", p.fail(in, err)
	}
	k, _ := tk.(string)
	return k, nil
}

// value decodes the value of field k into v, bounding its size.
func (p *jsonPage) value(k string, v any) error {
	p.rr.next()
	if err := p.dec.Decode(v); err != nil {
		return p.fail(k, err)
	}
	return nil
}

// skip reads past the value of field k.
func (p *jsonPage) skip(k string) error {
	var raw json.RawMessage
	return p.value(k, &raw)
}

// str decodes a string field (a number is taken as its text).
func (p *jsonPage) str(k string) (string, error) {
	var v flexString
	err := p.value(k, &v)
	return string(v), err
}

// boolean decodes a boolean field ("true", true, 1).
func (p *jsonPage) boolean(k string) (bool, error) {
	var v flexBool
	err := p.value(k, &v)
	return bool(v), err
}

// natural decodes a non-negative integer field (a count, an id cursor).
func (p *jsonPage) natural(k string) (int64, error) {
	var v flexInt
	if err := p.value(k, &v); err != nil {
		return 0, err
	}
	if v < 0 {
		return 0, p.fail(k, fmt.Errorf("negative %s %d", k, v))
	}
	return int64(v), nil
}

// close reads the end of the object or array being decoded as element in.
func (p *jsonPage) close(in string) error {
	if _, err := p.dec.Token(); err != nil {
		return p.fail(in, err)
	}
	return nil
}

var errNull = fmt.Errorf("null")

func expectDelim(dec *json.Decoder, want json.Delim) error {
	t, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := t.(json.Delim); !ok || d != want {
		return fmt.Errorf("want %q, got %v", want, t)
	}
	return nil
}

func expectDelimOrNull(dec *json.Decoder, want json.Delim) error {
	t, err := dec.Token()
	if err != nil {
		return err
	}
	if t == nil {
		return errNull
	}
	if d, ok := t.(json.Delim); !ok || d != want {
		return fmt.Errorf("want %q, got %v", want, t)
	}
	return nil
}
