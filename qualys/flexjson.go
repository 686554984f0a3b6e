package qualys

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// The QPS and gateway JSON encoders are loose: numbers arrive as strings,
// booleans as "true"/"True"/"1", absent values as "" or "None", and a list
// of one element as an object. The flex types below accept all of those
// and reject what is really malformed with a descriptive error.

// maxJSONNumber bounds the length of a number literal accepted, so that a
// gigantic number cannot make decoding slow or huge.
const maxJSONNumber = 40

func nullish(b []byte) bool {
	s := string(bytes.TrimSpace(b))
	return s == "null" || s == `""` || s == `"None"` || s == `"null"` || s == `"none"`
}

func unquote(b []byte) ([]byte, error) {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return nil, err
		}
		return []byte(strings.TrimSpace(s)), nil
	}
	return b, nil
}

type flexInt int64

func (f *flexInt) UnmarshalJSON(b []byte) error {
	if nullish(b) {
		*f = 0
		return nil
	}
	s, err := unquote(b)
	if err != nil {
		return err
	}
	if len(s) > maxJSONNumber {
		return fmt.Errorf("number too long (%d bytes)", len(s))
	}
	n, err := strconv.ParseInt(string(s), 10, 64)
	if err != nil {
		// Some fields are sent as floats ("12.0").
		fl, ferr := strconv.ParseFloat(string(s), 64)
		if ferr != nil || fl != float64(int64(fl)) {
			return fmt.Errorf("invalid integer %q", truncateBytes(s))
		}
		n = int64(fl)
	}
	*f = flexInt(n)
	return nil
}

type flexBool bool

func (f *flexBool) UnmarshalJSON(b []byte) error {
	if nullish(b) {
		*f = false
		return nil
	}
	s, err := unquote(b)
	if err != nil {
		return err
	}
	switch strings.ToLower(string(s)) {
	case "true", "1", "yes":
		*f = true
	case "false", "0", "no":
		*f = false
	default:
		return fmt.Errorf("invalid boolean %q", truncateBytes(s))
	}
	return nil
}

type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	if nullish(b) {
		*f = ""
		return nil
	}
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
		return nil
	}
	if len(b) > maxJSONNumber {
		return fmt.Errorf("value too long (%d bytes)", len(b))
	}
	// A number or boolean where a string was expected: keep its text.
	*f = flexString(b)
	return nil
}

type flexTime time.Time

func (f *flexTime) UnmarshalJSON(b []byte) error {
	if nullish(b) {
		*f = flexTime{}
		return nil
	}
	s, err := unquote(b)
	if err != nil {
		return err
	}
	if len(s) > 0 && s[0] >= '0' && s[0] <= '9' && bytes.IndexByte(s, '-') < 0 {
		// Epoch milliseconds.
		ms, err := strconv.ParseInt(string(s), 10, 64)
		if err != nil {
			return fmt.Errorf("invalid time %q", truncateBytes(s))
		}
		*f = flexTime(time.UnixMilli(ms).UTC())
		return nil
	}
	t, err := parseTime(s)
	if err != nil {
		if t2, err2 := time.Parse("2006-01-02T15:04:05.000Z0700", string(s)); err2 == nil {
			t, err = t2.UTC(), nil
		}
	}
	if err != nil {
		return err
	}
	*f = flexTime(t)
	return nil
}

// qpsList decodes a QPS collection, {"list": [{"Type": {...}}, ...]}, also
// when "list" is a single object, when an element holds an array, and when
// the collection is null or absent.
type qpsList[T any] []T

func (l *qpsList[T]) UnmarshalJSON(b []byte) error {
	if nullish(b) {
		*l = nil
		return nil
	}
	var wrap struct {
		List json.RawMessage `json:"list"`
	}
	if err := json.Unmarshal(b, &wrap); err != nil {
		return err
	}
	raw := bytes.TrimSpace(wrap.List)
	if len(raw) == 0 || nullish(raw) {
		*l = nil
		return nil
	}
	var elems []json.RawMessage
	if raw[0] == '[' {
		if err := json.Unmarshal(raw, &elems); err != nil {
			return err
		}
	} else {
		elems = []json.RawMessage{raw}
	}
	out := make(qpsList[T], 0, len(elems))
	for _, e := range elems {
		var typed map[string]json.RawMessage
		if err := json.Unmarshal(e, &typed); err != nil {
			return err
		}
		for _, v := range typed {
			v = bytes.TrimSpace(v)
			if len(v) > 0 && v[0] == '[' {
				var many []T
				if err := json.Unmarshal(v, &many); err != nil {
					return err
				}
				out = append(out, many...)
				continue
			}
			var one T
			if err := json.Unmarshal(v, &one); err != nil {
				return err
			}
			out = append(out, one)
		}
	}
	*l = out
	return nil
}

// oneOrMany decodes a JSON array, or a single object as a one-element
// array, or null as none.
type oneOrMany[T any] []T

// absentable is an object that may be absent: null, "" or "None" (IBM's
// recorded gateway answers carry "None" for an absent list) decode as no
// object.
type absentable[T any] struct{ v *T }

func (a *absentable[T]) UnmarshalJSON(b []byte) error {
	if nullish(b) {
		a.v = nil
		return nil
	}
	var t T
	if err := json.Unmarshal(b, &t); err != nil {
		return err
	}
	a.v = &t
	return nil
}

func (o *oneOrMany[T]) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if nullish(b) {
		*o = nil
		return nil
	}
	if len(b) > 0 && b[0] == '[' {
		var many []T
		if err := json.Unmarshal(b, &many); err != nil {
			return err
		}
		*o = many
		return nil
	}
	var one T
	if err := json.Unmarshal(b, &one); err != nil {
		return err
	}
	*o = oneOrMany[T]{one}
	return nil
}

// recordReader bounds the bytes read for one JSON record: next marks the
// start of a record, and a read past MaxRecordBytes from there fails with
// ErrRecordTooLarge, before the json.Decoder can buffer more of it.
type recordReader struct {
	r       io.Reader
	n, mark int64
}

func (b *recordReader) next() { b.mark = b.n }

func (b *recordReader) Read(p []byte) (int, error) {
	if b.n-b.mark > recordBytesLimit {
		return 0, fmt.Errorf("%w: more than %d bytes (MaxRecordBytes)", ErrRecordTooLarge, MaxRecordBytes)
	}
	k, err := b.r.Read(p)
	b.n += int64(k)
	return k, err
}
