package qbrecord_test

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/qualysbridge/qualysbridge/qbrecord"
)

// hostileSecret is a registered secret with characters every escaping
// changes.
const hostileSecret = "tq/pa<ss>Q&1"

// craftedTransport answers every request with what a test builds, so that
// a test controls the status line, trailers and encodings a real server
// would choose.
type craftedTransport func(*http.Request) *http.Response

func (f craftedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp := f(r)
	resp.Request = r
	if resp.Header == nil {
		resp.Header = http.Header{}
	}
	return resp, nil
}

func gz(s string) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	io.WriteString(w, s)
	w.Close()
	return b.Bytes()
}

func deflated(s string) []byte {
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, flate.BestSpeed)
	io.WriteString(w, s)
	w.Close()
	return b.Bytes()
}

// Secrets reach a cassette in none of the forms a hostile or careless
// server can put them in (each case failed before the structural
// scrubber: the escaped echoes, the reason phrase, trailers, compressed
// bodies, escaped token keys, the odd headers, query parameters and JSON
// keys), and login identities and e-mail addresses become placeholders.
func TestHostileSecretsNeverReachTheCassette(t *testing.T) {
	issued := "srv-issued-TOKEN-77ab"
	csrf := "csrf-value-5521"
	sig := "amz-signature-deadbeef"
	session := "session-id-99aa"
	userPass := "u-pass-1234x"
	clientSecret := "client-secret-zz9"
	pwd := "pwd-value-444q"
	passphrase := "phrase-value-555q"
	cases := []struct {
		name string
		req  func() *http.Request
		resp func() *http.Response
	}{
		{"escaped echoes", func() *http.Request { return post("/echo", "text/plain", "hello") }, func() *http.Response {
			return answer(500, "text/html", `<p>bad password tq/pa&lt;ss&gt;&#81;&amp;1</p> {"e":"tq\/pa\u003css\u003eQ\u00261"} tq&#x2F;pa&#60;ss&#62;Q&#38;1`)
		}},
		{"reason phrase", func() *http.Request { return post("/echo", "text/plain", "x") }, func() *http.Response {
			r := answer(403, "text/plain", "no")
			r.Status = "403 Forbidden for tq/pa<ss>Q&1"
			return r
		}},
		{"trailer", func() *http.Request { return post("/echo", "text/plain", "x") }, func() *http.Response {
			r := answer(200, "text/plain", "ok")
			r.Trailer = http.Header{"X-Debug": {"password=" + hostileSecret}, "X-Auth-Token": {issued}}
			return r
		}},
		{"gzip answer", func() *http.Request { return post("/gzip", "text/plain", "x") }, func() *http.Response {
			r := answer(200, "application/json", "")
			r.Header.Set("Content-Encoding", "gzip")
			r.Body = io.NopCloser(bytes.NewReader(gz(`{"msg":"tq/pa<ss>Q&1","access_token":"` + issued + `"}`)))
			r.Uncompressed = false
			return r
		}},
		{"deflate answer", func() *http.Request { return post("/deflate", "text/plain", "x") }, func() *http.Response {
			r := answer(200, "text/plain", "")
			r.Header.Set("Content-Encoding", "deflate")
			r.Body = io.NopCloser(bytes.NewReader(deflated("echo " + hostileSecret)))
			return r
		}},
		{"gzip request", func() *http.Request {
			r := post("/login", "application/json", string(gz(`{"user_password":"`+userPass+`","note":"tq/pa<ss>Q&1"}`)))
			r.Header.Set("Content-Encoding", "gzip")
			return r
		}, func() *http.Response { return answer(200, "text/plain", "ok") }},
		{"escaped token key", func() *http.Request { return post("/token", "application/json", `{"grant_type":"password"}`) }, func() *http.Response {
			return answer(200, "application/json", `{"access\u005ftoken":"`+issued+`","token\u005Ftype":"bearer"}`)
		}},
		{"token reused later", func() *http.Request {
			r := post("/use", "text/plain", "using "+issued)
			r.Header.Set("X-Csrf-Token", csrf)
			r.Header.Set("X-Auth-Token", issued)
			return r
		}, func() *http.Response { return answer(200, "text/plain", "csrf was "+csrf) }},
		{"query parameters", func() *http.Request {
			return get("/files?sessionid=" + session + "&sig=" + sig + "&apiKey=" + sig + "x&X-Amz-Signature=" + sig + "y&page=2")
		}, func() *http.Response { return answer(200, "text/plain", "your session "+session) }},
		{"json keys", func() *http.Request {
			return post("/login", "application/json", `{"username":"alice.admin","user_password":"`+userPass+`","clientSecret":"`+clientSecret+`","pwd":"`+pwd+`","passphrase":"`+passphrase+`"}`)
		}, func() *http.Response {
			return answer(200, "application/json", `{"welcome":"alice.admin","contact":"alice.admin@corp.example.com","echo":"`+clientSecret+`"}`)
		}},
		{"xml elements", func() *http.Request { return post("/x", "text/plain", "x") }, func() *http.Response {
			return answer(200, "text/xml", `<R><PASSWORD><![CDATA[`+pwd+`]]></PASSWORD><TEXT>tq/pa&lt;ss&gt;Q&amp;1</TEXT></R>`)
		}},
	}
	dir := t.TempDir()
	i := 0
	rec, err := qbrecord.New(filepath.Join(dir, "hostile"), qbrecord.Record, qbrecord.WithSecrets(hostileSecret),
		qbrecord.WithTransport(craftedTransport(func(r *http.Request) *http.Response { return cases[i].resp() })))
	if err != nil {
		t.Fatal(err)
	}
	c := rec.Client()
	for i = range cases {
		resp, err := c.Do(cases[i].req())
		if err != nil {
			t.Fatalf("%s: %v", cases[i].name, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if err := rec.Stop(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "hostile"+qbrecord.Ext))
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	for _, leak := range []string{"pa<ss", "pa&lt;ss", `pa\u003css`, "&#81;&amp;1", "pa&#60;ss", issued, csrf, sig, session, userPass, clientSecret, pwd, passphrase,
		"alice.admin", "corp.example.com"} {
		if strings.Contains(text, leak) {
			t.Errorf("the cassette holds %q", leak)
		}
	}
	// The compressed bodies were scrubbed inside and encoded again: no
	// secret in their decompressed form either (replayed to read them).
	play, err := qbrecord.New(filepath.Join(dir, "hostile"), qbrecord.Replay)
	if err != nil {
		t.Fatal(err)
	}
	defer play.Stop()
	for i, tc := range cases[3:5] {
		resp, err := play.Client().Do(tc.req())
		if err != nil {
			t.Fatalf("replay %d: %v", i, err)
		}
		var r io.Reader = resp.Body
		switch resp.Header.Get("Content-Encoding") {
		case "gzip":
			r, _ = gzip.NewReader(resp.Body)
		case "deflate":
			r = flate.NewReader(resp.Body)
		}
		b, err := io.ReadAll(r)
		resp.Body.Close()
		if err != nil || !bytes.Contains(b, []byte("[REDACTED]")) || bytes.Contains(b, []byte("pa<ss")) || bytes.Contains(b, []byte(issued)) {
			t.Errorf("%s: replayed compressed body %q, %v", tc.name, b, err)
		}
	}
}

func post(path, ct, body string) *http.Request {
	r, _ := http.NewRequest("POST", "https://svc.example"+path, strings.NewReader(body))
	r.Header.Set("Content-Type", ct)
	return r
}

func get(pathQuery string) *http.Request {
	r, _ := http.NewRequest("GET", "https://svc.example"+pathQuery, nil)
	return r
}

func answer(code int, ct, body string) *http.Response {
	return &http.Response{StatusCode: code, Status: http.StatusText(code), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Content-Type": {ct}}, Body: io.NopCloser(strings.NewReader(body))}
}

// A symbolic link planted at the cassette's name is replaced, not written
// through; the cassette is 0600 in a 0700 directory; a directory that is
// a symbolic link is refused.
func TestRecordDoesNotFollowSymlinks(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "rec")
	victim := filepath.Join(base, "victim")
	os.WriteFile(victim, []byte("precious"), 0o644)
	os.MkdirAll(dir, 0o755)
	if err := os.Symlink(victim, filepath.Join(dir, "qualys"+qbrecord.Ext)); err != nil {
		t.Skip("symlinks:", err)
	}
	rec, err := qbrecord.New(filepath.Join(dir, "qualys"), qbrecord.Record,
		qbrecord.WithTransport(craftedTransport(func(*http.Request) *http.Response { return answer(200, "text/plain", "ok") })))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := rec.Client().Do(get("/x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if err := rec.Stop(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "precious" {
		t.Errorf("the symlink's target was written: %q", b)
	}
	fi, err := os.Lstat(filepath.Join(dir, "qualys"+qbrecord.Ext))
	if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o600 {
		t.Errorf("cassette %v, %v; want a regular 0600 file", fi.Mode(), err)
	}
	fresh := filepath.Join(base, "new", "deep")
	rec, err = qbrecord.New(filepath.Join(fresh, "c"), qbrecord.Record)
	if err != nil {
		t.Fatal(err)
	}
	rec.Stop()
	if fi, err := os.Stat(fresh); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("new directory %v, %v; want 0700", fi.Mode(), err)
	}
	link := filepath.Join(base, "linkdir")
	os.Symlink(dir, link)
	if _, err := qbrecord.New(filepath.Join(link, "c"), qbrecord.Record); err == nil {
		t.Error("recording into a symlinked directory was accepted")
	}
}

// A tampered cassette with an exchange larger than MaxExchangeBytes is
// refused when opened, without holding it all: memory is bounded by the
// limit, not by the file.
func TestTamperedCassetteIsBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big")
	f, err := os.Create(path + qbrecord.Ext)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(f, `{"qbrecord":1}`+"\n"+`{"request":{"method":"GET","url":"https://x/"},"response":{"code":200,"body":"`)
	chunk := bytes.Repeat([]byte("A"), 1<<20)
	for range 3 * qbrecord.MaxExchangeBytes >> 20 {
		f.Write(chunk)
	}
	io.WriteString(f, `"}}`+"\n")
	f.Close()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err = qbrecord.New(path, qbrecord.Replay)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, qbrecord.ErrCassette) || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("err = %v, want ErrCassette for the oversized exchange", err)
	}
	if grown := after.TotalAlloc - before.TotalAlloc; grown > 3*qbrecord.MaxExchangeBytes {
		t.Errorf("allocated %d MB to refuse it; want within a few times the %d MB bound", grown>>20, qbrecord.MaxExchangeBytes>>20)
	}
	for name, content := range map[string]string{"not ours": "--- yaml: true\n", "bad line": `{"qbrecord":1}` + "\n{oops\n", "empty": ""} {
		p := filepath.Join(t.TempDir(), "c")
		os.WriteFile(p+qbrecord.Ext, []byte(content), 0o600)
		if _, err := qbrecord.New(p, qbrecord.Replay); !errors.Is(err, qbrecord.ErrCassette) {
			t.Errorf("%s: err = %v, want ErrCassette", name, err)
		}
	}
}
