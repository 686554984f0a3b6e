// Package qbrecord records the HTTP exchanges of the qualys, car and
// threatq clients with the real services into fixture files (cassettes),
// and replays them in tests with no network, so that a tool's tests run
// against what its own Qualys, CAR and ThreatQ really answered.
//
//	rec, err := qbrecord.New("testdata/qualys-run", qbrecord.Record)   // once, with real credentials
//	rec, err := qbrecord.New("testdata/qualys-run", qbrecord.Replay)   // in tests
//	c, err := qualys.NewClient(url, qualys.WithHTTPClient(rec.Client()), ...)
//	...
//	err = rec.Stop() // writes the cassette when recording
//
// Secrets never reach a fixture. Exchanges are scrubbed structurally where
// the format is known: headers, URL query parameters, form, JSON and XML
// fields whose names say secret (Authorization, cookies, X-Auth-Token,
// X-Csrf-Token, X-Amz-Signature, sig, sessionid, apiKey, password,
// user_password, clientSecret, pwd, passphrase, access_token, escaped keys
// such as "access\u005ftoken" included) are replaced, inside gzip and
// deflate bodies too; the status line, trailers and every other text are
// scrubbed by value. Every secret given with WithSecrets or seen in such a
// field (a Basic credential's password, a token the server issues) is
// then removed wherever it appears, in every encoding it may travel in
// (raw, URL, base64, HTML/XML entities, JSON escapes, in any mix). Login
// identities (a Basic credential's user name, username, email and
// client_id fields, and a value that is such a name whole) become "[USER]"
// and e-mail addresses "user@example.invalid"; a user name inside other
// text (a host name, a DTD's URL) is left, so that a replay answers what
// was recorded. Host names become placeholders with WithPlaceholder.
//
// Recording against a fake (qualystest, cartest, threatqtest) is the same
// call: the fake's NewClient with WithHTTPClient(rec.Client()) (see the
// package example). A cassette that does not exist is an error naming it
// and how to record it (QBRECORD=record).
//
// Requests are matched on method, path, query and body: a form body (the
// Qualys FO API's POST forms) as parsed values, a JSON body as its
// canonical form, both after the same scrubbing, so that replaying with
// other credentials or another host matches. Values that change from run
// to run without changing the request are not compared: who logs in
// (username, email, client_id), a search list's unique title, and the
// times CAR imports carry (report, timestamp, model_state_id). Identical requests (a polled
// job status) are answered in the order recorded. A request with no
// recording fails with an error naming it (NoRecordingError), and, with
// qbrecordtest.ForTest, fails the test.
//
// A cassette is a JSON Lines file (name + Ext): a header line, then one
// exchange per line, written as each completes to a private temporary
// file (0600, in a directory made 0700 and refused if it is a symbolic
// link) that Stop renames into place, so that a symbolic link planted at
// the cassette's name is replaced, never written through. A replay reads
// the cassette once to index it and then reads one answer at a time, each
// at most MaxExchangeBytes: memory does not grow with the cassette.
package qbrecord

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/hashicorp/go-cleanhttp"
)

// Mode is recording or replaying.
type Mode int

const (
	// Replay answers from the cassette and never touches the network.
	Replay Mode = iota
	// Record sends requests to the services and writes the cassette
	// (replacing an existing one on Stop).
	Record
)

// Option configures a Recorder. An option given a value it cannot use
// makes New fail with a *ConfigError.
type Option func(*config) error

// ConfigError reports an option or argument New cannot use, in the shape
// of the clients' ConfigError.
type ConfigError struct {
	Option string
	Reason string
}

// Error describes the invalid option.
func (e *ConfigError) Error() string { return "qbrecord: invalid " + e.Option + ": " + e.Reason }

type config struct {
	secrets      []string
	placeholders [][2]string
	transport    http.RoundTripper
}

// WithSecrets adds values to remove from the cassette wherever they appear,
// in every encoding (the recorder already removes credentials from the
// places they travel and learns the ones it sees there; this covers a
// value it cannot see, such as a password the service echoes before the
// recorder has seen it sent).
func WithSecrets(secrets ...string) Option {
	return func(c *config) error {
		for _, s := range secrets {
			if s != "" { // an unset variable's empty value hides nothing
				c.secrets = append(c.secrets, s)
			}
		}
		return nil
	}
}

// WithPlaceholder replaces real (a host name, a user name, a customer's
// domain) by placeholder in everything recorded. An empty real is
// ignored; an empty placeholder, or one that contains real, is an error.
func WithPlaceholder(real, placeholder string) Option {
	return func(c *config) error {
		if real == "" {
			return nil
		}
		if placeholder == "" || strings.Contains(placeholder, real) {
			return &ConfigError{Option: "WithPlaceholder", Reason: "the placeholder must be non-empty and must not contain the value it replaces"}
		}
		c.placeholders = append(c.placeholders, [2]string{real, placeholder})
		return nil
	}
}

// WithTransport sets the transport used when recording (default:
// cleanhttp's pooled transport). A client's TLS settings go here.
func WithTransport(rt http.RoundTripper) Option {
	return func(c *config) error {
		if rt == nil {
			return &ConfigError{Option: "WithTransport", Reason: "nil transport"}
		}
		c.transport = rt
		return nil
	}
}

// Recorder records or replays one cassette. It is safe for concurrent
// use.
type Recorder struct {
	cfg   config
	name  string // as given to New
	path  string // name + Ext
	mode  Mode
	scrub *scrubber

	mu   sync.Mutex
	miss []error
	// Record: the cassette being written, and the first write error.
	out  *writer
	werr error
	// Replay: the cassette, its requests' keys (each key's exchanges in
	// the order recorded) and spans, which were used, and the CAR jobs
	// the recording proves.
	file  *os.File
	index map[[32]byte][]int
	spans [][2]int64
	used  []bool
	jobs  *carJobs
}

// New opens the cassette name (Ext is appended) in the given mode.
// Recording creates the cassette's directory (0700) when it does not
// exist. Replaying a cassette that does not exist, is not a regular file,
// or is unreadable (ErrCassette) is an error.
func New(name string, mode Mode, opts ...Option) (*Recorder, error) {
	r := &Recorder{name: name, path: name + Ext, mode: mode}
	if mode != Replay && mode != Record {
		return nil, &ConfigError{Option: "mode", Reason: "want qbrecord.Replay or qbrecord.Record"}
	}
	if name == "" {
		return nil, &ConfigError{Option: "name", Reason: "empty cassette name"}
	}
	for _, o := range opts {
		if o == nil {
			return nil, &ConfigError{Option: "Option", Reason: "nil option"}
		}
		if err := o(&r.cfg); err != nil {
			return nil, err
		}
	}
	if r.cfg.transport == nil {
		r.cfg.transport = cleanhttp.DefaultPooledTransport()
	}
	r.scrub = newScrubber(r.cfg)
	if mode == Record {
		w, err := newWriter(r.path)
		if err != nil {
			return nil, fmt.Errorf("qbrecord: creating cassette %s: %w", r.path, err)
		}
		r.out = w
		return r, nil
	}
	if err := r.load(); err != nil {
		return nil, err
	}
	return r, nil
}

// load indexes the cassette for a replay.
func (r *Recorder) load() error {
	f, err := os.Open(r.path)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("qbrecord: no cassette %s to replay: record it first (run the tests once with %s=record against the services, or qbrecord.New(%q, qbrecord.Record)): %w", r.path, RecordEnv, r.name, err)
	}
	if err != nil {
		return fmt.Errorf("qbrecord: opening cassette %s: %w", r.path, err)
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return fmt.Errorf("%w %s: not a regular file", ErrCassette, r.path)
	}
	r.index = map[[32]byte][]int{}
	jobs := newCARJobs()
	err = scanCassette(f, func(x *exchange, off, n int64) error {
		u, err := url.Parse(x.Request.URL)
		if err != nil {
			return fmt.Errorf("%w %s: a request URL does not parse: %v", ErrCassette, r.path, err)
		}
		k := matchKey(x.Request.Method, u.Path, u.Query(), x.Request.bytes(), x.Request.Header.Get("Content-Type"))
		r.index[k] = append(r.index[k], len(r.spans))
		r.spans = append(r.spans, [2]int64{off, n})
		jobs.note(x, u.Path)
		return nil
	})
	if err != nil {
		f.Close()
		return err
	}
	r.file = f
	r.used = make([]bool, len(r.spans))
	r.jobs = jobs.done()
	return nil
}

// Client returns an HTTP client that goes through the recorder, for the
// clients' WithHTTPClient. It follows no redirect, as the clients do not.
func (r *Recorder) Client() *http.Client {
	return &http.Client{Transport: roundTripper{r}, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// Stop ends the recording: in Record mode it scrubs the cassette once
// more with every secret learned during the run (a secret seen late is
// removed from the exchanges written before it) and moves it into place;
// in Replay mode it closes the cassette.
func (r *Recorder) Stop() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mode == Replay {
		if r.file == nil {
			return nil
		}
		err := r.file.Close()
		r.file = nil
		return err
	}
	if r.out == nil {
		return r.werr
	}
	out := r.out
	r.out = nil
	if r.werr != nil {
		out.abort()
		return r.werr
	}
	if err := out.close(); err != nil {
		return fmt.Errorf("qbrecord: saving cassette %s: %w", r.path, err)
	}
	if err := r.rescrub(); err != nil {
		return fmt.Errorf("qbrecord: saving cassette %s: %w", r.path, err)
	}
	return nil
}

// rescrub rewrites the cassette with every secret and identity now known.
func (r *Recorder) rescrub() error {
	f, err := os.Open(r.path)
	if err != nil {
		return err
	}
	defer f.Close()
	w, err := newWriter(r.path)
	if err != nil {
		return err
	}
	err = scanCassette(f, func(x *exchange, _, _ int64) error {
		r.scrubExchange(x)
		return w.write(x)
	})
	if err != nil {
		w.abort()
		return err
	}
	return w.close()
}

// Misses returns the requests that had no recording, as errors.
func (r *Recorder) Misses() []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]error(nil), r.miss...)
}

// NoRecordingError is the error of a request the cassette has no answer
// for.
type NoRecordingError struct {
	Cassette string
	Method   string
	Path     string
	// Body is the request body as matched (scrubbed, at most 500 bytes).
	Body string
}

// Permanent tells the clients not to retry the request: the answer will
// not appear.
func (e *NoRecordingError) Permanent() bool { return true }

func (e *NoRecordingError) Error() string {
	return fmt.Sprintf("qbrecord: cassette %s has no recording for %s %s (body %q): record it again or check what the code now sends", e.Cassette, e.Method, e.Path, e.Body)
}

type roundTripper struct{ r *Recorder }

func (t roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.r.mode == Record {
		return t.r.record(req)
	}
	return t.r.replay(req)
}

// requestBody reads a request's body and leaves it readable again.
func requestBody(req *http.Request) ([]byte, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return nil, nil
	}
	if req.GetBody != nil {
		rc, err := req.GetBody()
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		return io.ReadAll(io.LimitReader(rc, MaxExchangeBytes+1))
	}
	b, err := io.ReadAll(io.LimitReader(req.Body, MaxExchangeBytes+1))
	req.Body.Close()
	req.Body = io.NopCloser(bytes.NewReader(b))
	return b, err
}

// record sends the request, reads the whole answer, writes the exchange
// (scrubbed) and gives the client the real answer.
func (r *Recorder) record(req *http.Request) (*http.Response, error) {
	reqBody, err := requestBody(req)
	if err != nil {
		return nil, err
	}
	out := req.Clone(req.Context())
	if reqBody != nil {
		out.Body = io.NopCloser(bytes.NewReader(reqBody))
		out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(reqBody)), nil }
	}
	resp, err := r.cfg.transport.RoundTrip(out)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxExchangeBytes+1))
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	if len(body) > MaxExchangeBytes {
		return nil, fmt.Errorf("qbrecord: the answer to %s %s is larger than MaxExchangeBytes (%d); not recorded", req.Method, req.URL.Path, MaxExchangeBytes)
	}
	x := &exchange{
		Request:  recRequest{Method: req.Method, URL: req.URL.String(), Header: req.Header.Clone()},
		Response: recResponse{Status: resp.Status, Code: resp.StatusCode, Header: resp.Header.Clone(), Trailer: resp.Trailer.Clone()},
	}
	x.Request.set(reqBody)
	x.Response.set(body)
	r.scrubExchange(x)
	r.mu.Lock()
	if r.out != nil && r.werr == nil {
		r.werr = r.out.write(x)
	}
	r.mu.Unlock()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	return resp, nil
}

// scrubExchange scrubs an exchange in place (see the package doc).
func (r *Recorder) scrubExchange(x *exchange) {
	s := r.scrub
	x.Request.Header = s.header(x.Request.Header)
	x.Request.URL = s.url(x.Request.URL)
	x.Request.set(s.body(x.Request.bytes(), x.Request.Header.Get("Content-Type"), x.Request.Header.Get("Content-Encoding"), false))
	x.Response.Header = s.header(x.Response.Header)
	x.Response.Trailer = s.header(x.Response.Trailer)
	x.Response.Status = s.text(x.Response.Status)
	if u, err := url.Parse(x.Request.URL); err == nil && strings.HasSuffix(u.Path, "/auth") && x.Response.Code/100 == 2 {
		// The Qualys gateway answers its token as the whole body.
		s.learn(strings.TrimSpace(string(x.Response.bytes())))
		x.Response.set([]byte(redacted))
	} else {
		x.Response.set(s.body(x.Response.bytes(), x.Response.Header.Get("Content-Type"), x.Response.Header.Get("Content-Encoding"), true))
	}
	for _, h := range []http.Header{x.Request.Header, x.Response.Header} {
		if h.Get("Content-Length") != "" {
			h.Del("Content-Length")
		}
	}
}

// replay answers a request from the cassette: the first exchange not used
// yet whose request matches.
func (r *Recorder) replay(req *http.Request) (*http.Response, error) {
	if resp := r.jobs.answer(req); resp != nil {
		return resp, nil
	}
	reqBody, err := requestBody(req)
	if err != nil {
		return nil, err
	}
	ct := req.Header.Get("Content-Type")
	scrubbed := r.scrub.body(reqBody, ct, req.Header.Get("Content-Encoding"), false)
	query, _ := url.ParseQuery(req.URL.RawQuery)
	k := matchKey(req.Method, req.URL.Path, r.scrub.form(query, false), scrubbed, ct)
	r.mu.Lock()
	n := -1
	for _, i := range r.index[k] {
		if !r.used[i] {
			n = i
			r.used[i] = true
			break
		}
	}
	f := r.file
	r.mu.Unlock()
	if n < 0 || f == nil {
		b := string(scrubbed)
		if len(b) > 500 {
			b = b[:500]
		}
		nerr := &NoRecordingError{Cassette: r.path, Method: req.Method, Path: req.URL.Path, Body: b}
		r.mu.Lock()
		r.miss = append(r.miss, nerr)
		r.mu.Unlock()
		return nil, nerr
	}
	x, err := readExchange(f, r.spans[n][0], r.spans[n][1])
	if err != nil {
		return nil, err
	}
	body := x.Response.bytes()
	h := x.Response.Header
	if h == nil {
		h = http.Header{}
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	status := x.Response.Status
	if status == "" {
		status = strconv.Itoa(x.Response.Code) + " " + http.StatusText(x.Response.Code)
	}
	return &http.Response{StatusCode: x.Response.Code, Status: status, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Trailer: x.Response.Trailer, Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)), Request: req}, nil
}
