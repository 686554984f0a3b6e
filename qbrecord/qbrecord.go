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
// Secrets never reach a fixture: Authorization values (Basic, Bearer,
// car-token), cookies, JWTs in headers and bodies (the gateway's /auth
// answer), password, client_secret, access and refresh token fields in
// forms, JSON and URLs, and any value given with WithSecrets (in every
// encoding it travels in) are replaced before the cassette is written. Host
// names and user names can be replaced by placeholders (WithPlaceholder).
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
// ForTest, fails the test.
//
// The cassette mechanics (YAML files, record and replay modes, hooks) are
// those of gopkg.in/dnaeon/go-vcr.v4; this package adds the scrubbing and
// matching rules the three services need.
package qbrecord

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"sync"

	"github.com/hashicorp/go-cleanhttp"
	"github.com/qualysbridge/qualysbridge/internal/redact"
	"gopkg.in/dnaeon/go-vcr.v4/pkg/cassette"
	"gopkg.in/dnaeon/go-vcr.v4/pkg/recorder"
)

// Mode is recording or replaying.
type Mode int

const (
	// Replay answers from the cassette and never touches the network.
	Replay Mode = iota
	// Record sends requests to the services and writes the cassette on
	// Stop (replacing an existing one).
	Record
)

// Option configures a Recorder.
type Option func(*config)

type config struct {
	secrets      []string
	placeholders [][2]string
	transport    http.RoundTripper
}

// WithSecrets adds values to remove from the cassette wherever they appear
// (the recorder already removes credentials from the places they travel;
// this covers any other place a service might echo them).
func WithSecrets(secrets ...string) Option {
	return func(c *config) { c.secrets = append(c.secrets, secrets...) }
}

// WithPlaceholder replaces real (a host name, a user name, a customer's
// domain) by placeholder in everything recorded.
func WithPlaceholder(real, placeholder string) Option {
	return func(c *config) {
		if real != "" {
			c.placeholders = append(c.placeholders, [2]string{real, placeholder})
		}
	}
}

// WithTransport sets the transport used when recording (default:
// cleanhttp's pooled transport). A client's TLS settings go here.
func WithTransport(rt http.RoundTripper) Option {
	return func(c *config) { c.transport = rt }
}

// Recorder records or replays one cassette.
type Recorder struct {
	rec  *recorder.Recorder
	cfg  config
	name string
	mu   sync.Mutex
	miss []error
	jobs *carJobs // replay: CAR import job outcomes (carjobs.go)
}

// New opens the cassette name (".yaml" is appended) in the given mode.
// Replaying a cassette that does not exist is an error.
func New(name string, mode Mode, opts ...Option) (*Recorder, error) {
	r := &Recorder{name: name}
	for _, o := range opts {
		o(&r.cfg)
	}
	if r.cfg.transport == nil {
		r.cfg.transport = cleanhttp.DefaultPooledTransport()
	}
	vmode := recorder.ModeReplayOnly
	if mode == Record {
		vmode = recorder.ModeRecordOnly
	}
	rec, err := recorder.New(name,
		recorder.WithMode(vmode),
		recorder.WithRealTransport(r.cfg.transport),
		recorder.WithSkipRequestLatency(true),
		recorder.WithMatcher(r.match),
		recorder.WithHook(r.scrubInteraction, recorder.BeforeSaveHook),
	)
	if err != nil {
		return nil, fmt.Errorf("qbrecord: opening cassette %s: %w", name, err)
	}
	r.rec = rec
	if mode == Replay {
		r.jobs = loadCARJobs(name)
	}
	return r, nil
}

// CAR's import job polling is timing-dependent: when replaying, importstatus
// is answered from the job outcomes the recording proves (carjobs.go).

// Client returns an HTTP client that goes through the recorder, for the
// clients' WithHTTPClient. It follows no redirect, as the clients do not.
func (r *Recorder) Client() *http.Client {
	return &http.Client{Transport: roundTripper{r}, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// Stop ends the recording; in Record mode it writes the cassette.
func (r *Recorder) Stop() error {
	if err := r.rec.Stop(); err != nil {
		return fmt.Errorf("qbrecord: saving cassette %s: %w", r.name, err)
	}
	return nil
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
	if resp := t.r.jobs.answer(req); resp != nil {
		return resp, nil
	}
	resp, err := t.r.rec.RoundTrip(req)
	if errors.Is(err, cassette.ErrInteractionNotFound) {
		body := ""
		if req.GetBody != nil {
			if rc, gerr := req.GetBody(); gerr == nil {
				b, _ := io.ReadAll(io.LimitReader(rc, 4096))
				rc.Close()
				body = t.r.scrub(string(b))
				if len(body) > 500 {
					body = body[:500]
				}
			}
		}
		nerr := &NoRecordingError{Cassette: t.r.name, Method: req.Method, Path: req.URL.Path, Body: body}
		t.r.mu.Lock()
		t.r.miss = append(t.r.miss, nerr)
		t.r.mu.Unlock()
		return nil, nerr
	}
	return resp, err
}

// scrub removes secrets and applies placeholders to a string.
func (r *Recorder) scrub(s string) string {
	s = redact.Scrub(s, r.cfg.secrets...)
	for _, p := range r.cfg.placeholders {
		s = strings.ReplaceAll(s, p[0], p[1])
	}
	return s
}

// sensitiveHeaders are replaced whole.
var sensitiveHeaders = []string{"Authorization", "Cookie", "Set-Cookie", "Proxy-Authorization", "X-Api-Key"}

func (r *Recorder) scrubHeaders(h http.Header) {
	for _, name := range sensitiveHeaders {
		vals := h.Values(name)
		if len(vals) == 0 {
			continue
		}
		out := make([]string, len(vals))
		for i, v := range vals {
			scheme, _, found := strings.Cut(v, " ")
			if found && (strings.EqualFold(scheme, "Basic") || strings.EqualFold(scheme, "Bearer") || strings.EqualFold(scheme, "car-token")) {
				out[i] = scheme + " [REDACTED]"
			} else {
				out[i] = "[REDACTED]"
			}
		}
		h[http.CanonicalHeaderKey(name)] = out
	}
	for k, vals := range h {
		for i, v := range vals {
			vals[i] = r.scrub(v)
		}
		h[k] = vals
	}
}

// scrubInteraction runs on each exchange right before the cassette is
// written (not when it is captured: the client being recorded must get the
// real answer, tokens included).
func (r *Recorder) scrubInteraction(i *cassette.Interaction) error {
	r.scrubHeaders(i.Request.Headers)
	r.scrubHeaders(i.Response.Headers)
	i.Request.URL = r.scrub(i.Request.URL)
	i.Request.Host = r.scrub(i.Request.Host)
	i.Request.RequestURI = r.scrub(i.Request.RequestURI)
	i.Request.Body = r.scrub(i.Request.Body)
	i.Response.Body = r.scrub(i.Response.Body)
	if u, err := url.Parse(i.Request.URL); err == nil && strings.HasSuffix(u.Path, "/auth") && i.Response.Code/100 == 2 {
		// The Qualys gateway answers its token as the whole body.
		i.Response.Body = "[REDACTED]"
	}
	for k, vals := range i.Request.Form {
		for j, v := range vals {
			if secretField(k) {
				vals[j] = "[REDACTED]"
			} else {
				vals[j] = r.scrub(v)
			}
		}
	}
	i.Request.ContentLength = int64(len(i.Request.Body))
	i.Response.ContentLength = int64(len(i.Response.Body))
	return nil
}

func secretField(k string) bool {
	switch strings.ToLower(k) {
	case "password", "passwd", "client_secret", "secret", "access_token", "refresh_token", "id_token", "token", "api_key":
		return true
	}
	return false
}

// match compares a live request with a recorded one: method, path, query
// and body, after scrubbing the live request as the recorded one was.
func (r *Recorder) match(req *http.Request, rec cassette.Request) bool {
	if req.Method != rec.Method {
		return false
	}
	ru, err := url.Parse(rec.URL)
	if err != nil || ru.Path != req.URL.Path {
		return false
	}
	if !sameQuery(req.URL.Query(), ru.Query(), r) {
		return false
	}
	var body []byte
	if req.Body != nil && req.GetBody != nil {
		if rc, err := req.GetBody(); err == nil {
			body, _ = io.ReadAll(rc)
			rc.Close()
		}
	} else if req.Body != nil {
		body, _ = io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	return sameBody(r.scrub(string(body)), rec.Body, req.Header.Get("Content-Type"), r)
}

func sameQuery(live, recorded url.Values, r *Recorder) bool {
	return reflect.DeepEqual(normalForm(live, r), normalForm(recorded, r))
}

// normalForm puts form values in the form they are compared in: secrets
// redacted, and the values that differ between two runs of the same code
// without changing what is asked blanked: who logs in (username, email,
// client_id; a replay may use other credentials) and a search list's title
// (the ThreatQ operation makes it unique per run).
func normalForm(v url.Values, r *Recorder) url.Values {
	out := url.Values{}
	for k, vals := range v {
		for _, x := range vals {
			switch {
			case secretField(k):
				x = "[REDACTED]"
			case identityField(k):
				x = "[IDENTITY]"
			default:
				x = r.scrub(x)
			}
			out[k] = append(out[k], x)
		}
	}
	if out.Get("action") == "create" && out.Has("title") {
		out.Set("title", "[TITLE]")
	}
	return out
}

func identityField(k string) bool {
	switch strings.ToLower(k) {
	case "username", "user", "email", "client_id":
		return true
	}
	return false
}

func sameBody(live, recorded, contentType string, r *Recorder) bool {
	if live == recorded {
		return true
	}
	switch {
	case strings.HasPrefix(contentType, "application/x-www-form-urlencoded"):
		lv, err1 := url.ParseQuery(live)
		rv, err2 := url.ParseQuery(recorded)
		return err1 == nil && err2 == nil && reflect.DeepEqual(normalForm(lv, r), normalForm(rv, r))
	case strings.Contains(contentType, "json"):
		var lj, rj any
		if json.Unmarshal([]byte(live), &lj) != nil || json.Unmarshal([]byte(recorded), &rj) != nil {
			return false
		}
		return reflect.DeepEqual(normalJSON(lj), normalJSON(rj))
	}
	return false
}

// volatileJSON are CAR fields that carry the time of the run (the import
// report's key and timestamp, the edges' timestamps, the model state): a
// replay at another time sends other values for the same request.
var volatileJSON = map[string]bool{"report": true, "timestamp": true, "model_state_id": true}

// normalJSON blanks the identity, secret and volatile fields of a JSON
// body (see normalForm).
func normalJSON(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if identityField(k) || secretField(k) || volatileJSON[k] {
				x[k] = "[BLANK]"
			} else {
				x[k] = normalJSON(val)
			}
		}
	case []any:
		for i := range x {
			x[i] = normalJSON(x[i])
		}
	}
	return v
}
