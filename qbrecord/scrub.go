package qbrecord

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/qualysbridge/qualysbridge/internal/redact"
)

// Placeholders written in place of what a cassette must not hold.
const (
	redacted      = "[REDACTED]"
	userHolder    = "[USER]"
	emailHolder   = "user@example.invalid"
	minSecretSize = 3
)

// scrubber removes secrets, login identities and e-mail addresses from
// exchanges. It knows the secrets given with WithSecrets and learns more as
// exchanges go by: the password and user name of a Basic credential, bearer
// and CAR tokens, and the values of secret fields (password, token,
// client_secret ...) in forms, JSON and XML, so that a value seen once is
// removed wherever it shows up again, in any encoding.
type scrubber struct {
	placeholders [][2]string

	mu         sync.Mutex
	secrets    []string
	identities []string
}

func newScrubber(cfg config) *scrubber {
	s := &scrubber{placeholders: cfg.placeholders}
	for _, sec := range cfg.secrets {
		s.learn(sec)
	}
	return s
}

// notSecret are values a field named like a secret holds without being
// one (the gateway's token=true flag): removing them everywhere would
// break the recording.
var notSecret = map[string]bool{"true": true, "false": true, "yes": true, "no": true, "null": true, "none": true,
	redacted: true, userHolder: true, "[BLANK]": true}

// learn adds a secret (not a boolean, a null or a short number).
func (s *scrubber) learn(v string) {
	v = strings.TrimSpace(v)
	if len(v) < minSecretSize || notSecret[strings.ToLower(v)] || (len(v) < 6 && strings.Trim(v, "0123456789") == "") {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !slices.Contains(s.secrets, v) {
		s.secrets = append(s.secrets, v)
		// Longer first, so that a secret holding another is replaced whole.
		slices.SortFunc(s.secrets, func(a, b string) int { return len(b) - len(a) })
	}
}

// learnIdentity adds a login identity (a user name, an e-mail, a client
// id).
func (s *scrubber) learnIdentity(v string) {
	v = strings.TrimSpace(v)
	if len(v) < minSecretSize || v == userHolder || v == emailHolder {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !slices.Contains(s.identities, v) {
		s.identities = append(s.identities, v)
	}
}

func (s *scrubber) known() (secrets, identities []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.secrets), slices.Clone(s.identities)
}

var emailShape = regexp.MustCompile(`[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}`)

// text scrubs free text: the secrets in every encoding and the
// credential-shaped values redact.Scrub knows, then the placeholders and
// e-mail addresses. A login's user name is replaced only where it is an
// identity (a Basic credential, a login form or body field, a header, a
// value that is the name whole), never inside other text: a user named
// like part of a host name or a DTD's URL must not change what is
// replayed.
func (s *scrubber) text(t string) string {
	if t == "" {
		return t
	}
	secrets, identities := s.known()
	t = redact.Scrub(t, secrets...)
	for _, p := range s.placeholders {
		t = strings.ReplaceAll(t, p[0], p[1])
	}
	if strings.Contains(t, "@") {
		t = emailShape.ReplaceAllString(t, emailHolder)
	}
	// A value that is a login's user name, whole (a server echoing it
	// back), is an identity; the name inside other text is not touched.
	for _, id := range identities {
		if strings.TrimSpace(t) == id {
			return userHolder
		}
	}
	return t
}

// fieldClass is what a field's name says about its value.
type fieldClass int

const (
	plainField fieldClass = iota
	secretField
	identityField
)

// classify reads a field, parameter or header name: secret (password,
// token, key, signature, session ...), identity (a login's user name,
// e-mail or client id), or plain. Names are compared in lower case with
// '-', '_', '.' and spaces removed, so that user_password, clientSecret,
// X-Auth-Token and X-Amz-Signature are all caught.
func classify(name string) fieldClass {
	n := strings.Map(func(r rune) rune {
		switch r {
		case '-', '_', '.', ' ':
			return -1
		}
		if r >= 'A' && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, name)
	switch n {
	case "password", "passwd", "pwd", "pass", "passphrase", "secret", "token", "apikey", "sig", "signature",
		"session", "sessionid", "sessid", "sid", "jsessionid", "phpsessid", "authorization", "proxyauthorization",
		"cookie", "setcookie", "credential", "credentials", "privatekey", "secretkey", "accesskey", "otp", "xamzcredential":
		return secretField
	case "username", "user", "login", "email", "mail", "clientid", "userid", "useremail", "usr":
		return identityField
	}
	for _, suffix := range []string{"password", "passwd", "passphrase", "secret", "token", "apikey", "signature", "sessionid", "credential", "credentials"} {
		if strings.HasSuffix(n, suffix) {
			return secretField
		}
	}
	if strings.HasSuffix(n, "email") || strings.HasSuffix(n, "username") {
		return identityField
	}
	return plainField
}

// value scrubs a field's value by its name's class, learning it when it is
// a secret. Identity fields are replaced in what is sent (a login form, a
// token request); in answers they are data (a host's accounts), and only
// the identities learned (see learnLogins) are replaced there.
func (s *scrubber) value(name, v string, answer bool) string {
	c := classify(name)
	if c == identityField && answer {
		c = plainField
	}
	switch c {
	case secretField:
		s.learn(v)
		if v == "" {
			return v
		}
		return redacted
	case identityField:
		if v == "" {
			return v
		}
		return userHolder
	}
	return s.text(v)
}

// header scrubs headers: credential headers (Authorization, cookies, and
// any header whose name says secret: X-Auth-Token, X-Csrf-Token,
// X-Api-Key ...) are replaced whole (an Authorization's scheme is kept),
// after learning what they hold; the others are scrubbed as text.
func (s *scrubber) header(h http.Header) http.Header {
	if h == nil {
		return nil
	}
	out := make(http.Header, len(h))
	for name, vals := range h {
		cp := make([]string, len(vals))
		for i, v := range vals {
			if classify(name) == plainField {
				cp[i] = s.text(v)
				continue
			}
			scheme, cred, found := strings.Cut(strings.TrimSpace(v), " ")
			switch {
			case found && strings.EqualFold(scheme, "Basic"):
				if raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred)); err == nil {
					if user, pass, ok := strings.Cut(string(raw), ":"); ok {
						s.learnIdentity(user)
						s.learn(pass)
					}
				}
				s.learn(strings.TrimSpace(cred))
				cp[i] = scheme + " " + redacted
			case found && (strings.EqualFold(scheme, "Bearer") || strings.EqualFold(scheme, "car-token")):
				s.learn(strings.TrimSpace(cred))
				cp[i] = scheme + " " + redacted
			default:
				if classify(name) == secretField && !strings.EqualFold(name, "Set-Cookie") && !strings.EqualFold(name, "Cookie") {
					s.learn(v)
				}
				cp[i] = redacted
			}
		}
		out[name] = cp
	}
	return out
}

// url scrubs a URL: no user information, query parameters by their
// names, the rest as text.
func (s *scrubber) url(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return s.text(raw)
	}
	if u.User != nil {
		if p, ok := u.User.Password(); ok {
			s.learn(p)
		}
		s.learnIdentity(u.User.Username())
		u.User = nil
	}
	if u.RawQuery != "" {
		q, err := url.ParseQuery(u.RawQuery)
		if err == nil {
			u.RawQuery = s.form(q, false).Encode()
		} else {
			u.RawQuery = s.text(u.RawQuery)
		}
	}
	u.Fragment = ""
	u.RawFragment = ""
	return s.text(u.String())
}

// form scrubs form values by their names.
func (s *scrubber) form(v url.Values, answer bool) url.Values {
	out := make(url.Values, len(v))
	for k, vals := range v {
		for _, x := range vals {
			out[k] = append(out[k], s.value(k, x, answer))
		}
	}
	return out
}

// learnLogins learns the identities of a login sent in a form or a JSON
// object: an identity field (username, email, client_id ...) beside a
// secret field (password, client_secret ...) in the same form or object.
// Identity fields elsewhere (the users of a CAR import) are replaced in
// requests but not learned, so that a name is not removed from every
// other exchange for being a user's.
func (s *scrubber) learnLogins(b []byte, contentType string) {
	login := func(fields map[string]string) {
		var ids []string
		secret := false
		for k, v := range fields {
			switch classify(k) {
			case secretField:
				secret = true
			case identityField:
				ids = append(ids, v)
			}
		}
		if secret {
			for _, id := range ids {
				s.learnIdentity(id)
			}
		}
	}
	switch kindOf(contentType, b) {
	case formBody:
		if v, err := url.ParseQuery(string(b)); err == nil {
			fields := map[string]string{}
			for k := range v {
				fields[k] = v.Get(k)
			}
			login(fields)
		}
	case jsonBody:
		var v any
		if json.Unmarshal(b, &v) != nil {
			return
		}
		var walk func(any)
		walk = func(v any) {
			switch x := v.(type) {
			case map[string]any:
				fields := map[string]string{}
				for k, val := range x {
					if str, ok := val.(string); ok {
						fields[k] = str
					}
					walk(val)
				}
				login(fields)
			case []any:
				for _, e := range x {
					walk(e)
				}
			}
		}
		walk(v)
	}
}

// bodyKind is how a body is scrubbed.
type bodyKind int

const (
	textBody bodyKind = iota
	formBody
	jsonBody
	xmlBody
)

// kindOf decides a body's kind from its media type and, when that says
// nothing useful, from its first byte.
func kindOf(contentType string, b []byte) bodyKind {
	mt, _, _ := mime.ParseMediaType(contentType)
	switch {
	case mt == "application/x-www-form-urlencoded":
		return formBody
	case strings.Contains(mt, "json"):
		return jsonBody
	case strings.Contains(mt, "xml"):
		return xmlBody
	case mt == "text/html":
		return textBody
	}
	switch t := bytes.TrimSpace(b); {
	case len(t) > 0 && (t[0] == '{' || t[0] == '['):
		return jsonBody
	case len(t) > 0 && t[0] == '<' && !bytes.HasPrefix(bytes.ToLower(t), []byte("<!doctype html")) && !bytes.HasPrefix(bytes.ToLower(t), []byte("<html")):
		return xmlBody
	}
	return textBody
}

// body scrubs a body by its kind, structurally where the format is known
// (JSON, XML, forms: fields by their names, text by its content), inside a
// gzip or deflate encoding when it has one; what does not parse is
// scrubbed as text.
func (s *scrubber) body(b []byte, contentType, contentEncoding string, answer bool) []byte {
	if len(b) == 0 {
		return b
	}
	if !answer {
		s.learnLogins(b, contentType)
	}
	switch strings.ToLower(strings.TrimSpace(contentEncoding)) {
	case "gzip", "x-gzip", "deflate":
		return s.compressed(b, contentType, strings.ToLower(strings.TrimSpace(contentEncoding)), answer)
	}
	switch kindOf(contentType, b) {
	case formBody:
		if v, err := url.ParseQuery(string(b)); err == nil {
			return []byte(s.form(v, answer).Encode())
		}
	case jsonBody:
		if out, err := s.json(b, answer); err == nil {
			return out
		}
	case xmlBody:
		if out, err := s.xml(b, answer); err == nil {
			return out
		}
	}
	return []byte(s.text(string(b)))
}

// compressed scrubs a compressed body inside its encoding and encodes it
// again. A body that does not decompress, or decompresses beyond
// MaxExchangeBytes, is dropped whole: what it holds cannot be checked.
func (s *scrubber) compressed(b []byte, contentType, enc string, answer bool) []byte {
	var r io.ReadCloser
	var err error
	if enc == "deflate" {
		r = flate.NewReader(bytes.NewReader(b))
	} else if r, err = gzip.NewReader(bytes.NewReader(b)); err != nil {
		return []byte(redacted)
	}
	plain, err := io.ReadAll(io.LimitReader(r, MaxExchangeBytes+1))
	r.Close()
	if err != nil || len(plain) > MaxExchangeBytes {
		return []byte(redacted)
	}
	plain = s.body(plain, contentType, "", answer)
	var out bytes.Buffer
	var w io.WriteCloser
	if enc == "deflate" {
		w, _ = flate.NewWriter(&out, flate.DefaultCompression)
	} else {
		w = gzip.NewWriter(&out)
	}
	w.Write(plain)
	w.Close()
	return out.Bytes()
}

// json scrubs a JSON document token by token, keeping its order: a
// value under a secret or identity key (the key as decoded, so that an
// escaped key such as "access\u005ftoken" is caught) is replaced, every
// other string is scrubbed as text.
func (s *scrubber) json(b []byte, answer bool) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var out bytes.Buffer
	out.Grow(len(b))
	if err := s.jsonValue(dec, &out, "", plainField, answer); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data")
	}
	return out.Bytes(), nil
}

func (s *scrubber) jsonValue(dec *json.Decoder, out *bytes.Buffer, key string, class fieldClass, answer bool) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch v := tok.(type) {
	case json.Delim:
		open, close := byte(v), byte('}')
		if v == '[' {
			close = ']'
		}
		out.WriteByte(open)
		for i := 0; dec.More(); i++ {
			if i > 0 {
				out.WriteByte(',')
			}
			elemKey, elemClass := key, class
			if v == '{' {
				kt, err := dec.Token()
				if err != nil {
					return err
				}
				k, _ := kt.(string)
				writeJSONString(out, s.text(k))
				out.WriteByte(':')
				elemKey, elemClass = k, classify(k)
				if elemClass == identityField && answer {
					elemClass = plainField
				}
				if class == secretField && elemClass == plainField {
					elemClass = class // inside a secret object, everything is secret
				}
			}
			if err := s.jsonValue(dec, out, elemKey, elemClass, answer); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil {
			return err
		}
		out.WriteByte(close)
	case string:
		switch class {
		case secretField, identityField:
			writeJSONString(out, s.value(key, v, answer))
		default:
			writeJSONString(out, s.text(v))
		}
	case json.Number:
		if class == secretField {
			s.learn(v.String())
			writeJSONString(out, redacted)
		} else {
			out.WriteString(v.String())
		}
	case bool:
		if v {
			out.WriteString("true")
		} else {
			out.WriteString("false")
		}
	case nil:
		out.WriteString("null")
	}
	return nil
}

func writeJSONString(out *bytes.Buffer, v string) {
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
	out.Truncate(out.Len() - 1) // the encoder's newline
}

// xml scrubs an XML document: the text of an element whose name says
// secret or identity (<PASSWORD>, <token>, <username> ...) is decoded (CDATA
// included), learned and replaced in place, written back escaped; secret
// attributes are learned; then the whole document is scrubbed as text,
// which finds the secrets in every encoding (entities included).
// Everything else is kept byte for byte.
func (s *scrubber) xml(b []byte, answer bool) ([]byte, error) {
	dec := xml.NewDecoder(bytes.NewReader(b))
	dec.Strict = true
	dec.CharsetReader = func(_ string, r io.Reader) (io.Reader, error) { return r, nil }
	var stack []string
	var out bytes.Buffer
	last, prev := 0, int64(0)
	for {
		tok, err := dec.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		off := dec.InputOffset()
		switch t := tok.(type) {
		case xml.StartElement:
			stack = append(stack, t.Name.Local)
			for _, a := range t.Attr {
				s.value(a.Name.Local, a.Value, answer) // learns secrets and identities
			}
		case xml.EndElement:
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		case xml.CharData:
			if len(stack) == 0 || strings.TrimSpace(string(t)) == "" {
				break
			}
			if c := classify(stack[len(stack)-1]); c == plainField || (c == identityField && answer) {
				break
			}
			clean := s.value(stack[len(stack)-1], string(t), answer)
			out.Write(b[last:prev])
			xml.EscapeText(&out, []byte(clean))
			last = int(off)
		}
		prev = off
	}
	out.Write(b[last:])
	return []byte(s.text(out.String())), nil
}
