// Package car writes graphs into IBM Connected Assets and Risk (CAR)
// through its REST API, as the public CAR connector framework does, and
// fixes that framework's known weaknesses: ids are always strings, keyed
// edge ends carry their collection prefix, job polling backs off instead of
// spinning, PATCH is never retried blindly, and memory is bounded by a
// batch, not by the graph.
//
// The low-level calls (DatabaseStatus, ModelStateID, Import, ImportStatus,
// SoftDelete, DisableEdge, Query, ...) map one to one onto the API. The
// high-level Import type (Client.NewImport) streams a graph in requests
// that follow its bytes: each carries several collections (the import
// schema takes every collection as a property of one envelope), about a
// quarter of WithBufferBytes (3 MiB by default, never more than
// MaxReportBytes, under CAR's 8 MB report limit), so a run makes about
// bytes / 3 MiB requests whatever its objects; one importstatus request
// asks about every outstanding job, about one for two requests; requests
// are sent while Add goes on. It keeps at most 20 jobs outstanding,
// brackets a full import with full-import-in-progress, and saves the model
// state only after every job succeeded.
//
// # Vertices before the edges that name them
//
// Whether CAR imports the vertices of an envelope before its edges, or
// what it does with an edge whose vertex a job running beside it brings,
// is not documented. The Import takes the strict reading: an edge travels
// only in a request posted after CAR reported complete the jobs of every
// vertex it names (cartest fails an edge naming a vertex no finished job
// imported). So a request carries the vertices of its generation and the
// edges of earlier ones, never an edge with its own vertices.
//
// # Retries
//
// One policy for the qualys, car and threatq clients (written once, in
// the module's internal retry package). A call the server refused before
// doing anything (429; a 409 or 503 that says how long to wait) is
// retried whatever it is. Otherwise only a call that is safe to repeat
// (a read, an idempotent write such as an import or a delete; never a
// PATCH, whose first attempt may have taken effect) is retried, on 5xx
// but 501 and on a transport error before or without an answer (the
// connection refused, reset or timed out, the server idle past
// WithIdleTimeout); never on a certificate failure or a host name that
// does not resolve. The wait is the server's (Retry-After) when it gives
// one, and a wait longer than WithRetry's maxWait ends the retries; else
// the backoff (WithBackoff: jittered and growing). WithRetry's
// maxAttempts bounds the sends of one call.
//
// # Every wait ends
//
// Job waits end on any status that is not a known running or done one
// (CANCELLED, an empty or unknown status, ERROR: a *JobError naming the
// job, its status and the step) and at a deadline (WithWaitDeadline,
// WithJobDeadline; ErrJobDeadline).
package car

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/qualysbridge/qualysbridge/internal/clientopt"
	"github.com/qualysbridge/qualysbridge/internal/redact"
	"github.com/qualysbridge/qualysbridge/internal/retry"
	"github.com/qualysbridge/qualysbridge/internal/safehttp"
)

// Client talks to one CAR service. It is safe for concurrent use.
type Client struct {
	base, v3    *url.URL
	hc          *http.Client
	auth        *credentials
	logger      *slog.Logger
	userAgent   string
	maxAttempts int
	maxWait     time.Duration
	backoff     func(int) time.Duration
	idle        time.Duration
	pollMin     time.Duration
	pollMax     time.Duration
	waitLimit   time.Duration
}

// credentials is held by pointer so that formatting a Client never shows
// a secret.
type credentials struct {
	key, password, token string
}

func (c *credentials) String() string   { return "car credentials [REDACTED]" }
func (c *credentials) GoString() string { return c.String() }

type config struct {
	clientopt.Common // HTTP client, logger, user agent, retry, backoff, loopback
	auth             *credentials
	pollMin          time.Duration
	pollMax          time.Duration
	waitLimit        time.Duration
}

// Option configures a Client.
type Option func(*config) error

// WithAPIKey authenticates with a CAR API key and password (HTTP Basic).
func WithAPIKey(key, password string) Option {
	return func(c *config) error {
		if key == "" || password == "" {
			return &ConfigError{Option: "WithAPIKey", Reason: "empty API key or password"}
		}
		c.auth = &credentials{key: key, password: password}
		return nil
	}
}

// WithToken authenticates with a CAR token (Authorization: car-token).
func WithToken(token string) Option {
	return func(c *config) error {
		if token == "" {
			return &ConfigError{Option: "WithToken", Reason: "empty token"}
		}
		c.auth = &credentials{token: token}
		return nil
	}
}

// WithHTTPClient sets the HTTP client (default
// cleanhttp.DefaultPooledClient(), no whole-request timeout).
func WithHTTPClient(hc *http.Client) Option {
	return func(c *config) error { return configError(c.SetHTTPClient(hc)) }
}

// WithLogger sets the logger; the client logs nothing by default.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error { return configError(c.SetLogger(l)) }
}

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option {
	return func(c *config) error { return configError(c.SetUserAgent(ua)) }
}

// WithRetry bounds retries: maxAttempts sends of one call in all (default
// DefaultMaxAttempts), maxWait the longest wait before one retry (default
// DefaultMaxWait).
func WithRetry(maxAttempts int, maxWait time.Duration) Option {
	return func(c *config) error { return configError(c.SetRetry(maxAttempts, maxWait)) }
}

// WithIdleTimeout bounds each wait for the server: for the response
// headers, and between two reads of a body (default DefaultIdleTimeout; 0
// for no bound). A server that accepts the connection and never answers,
// or drips a byte now and then, fails the attempt (retried when the call
// is safe to repeat) instead of holding the caller until its own deadline.
func WithIdleTimeout(d time.Duration) Option {
	return func(c *config) error { return configError(c.SetIdleTimeout(d)) }
}

// WithBackoff replaces the wait between retries when the server gives no
// Retry-After (attempt is 1 for the first retry).
func WithBackoff(f func(attempt int) time.Duration) Option {
	return func(c *config) error { return configError(c.SetBackoff(f)) }
}

// WithPolling sets how job and import status polling backs off: from min,
// doubling, up to max (default DefaultPollMin to DefaultPollMax).
func WithPolling(min, max time.Duration) Option {
	return func(c *config) error {
		if min <= 0 || max < min {
			return &ConfigError{Option: "WithPolling", Reason: "want 0 < min <= max"}
		}
		c.pollMin, c.pollMax = min, max
		return nil
	}
}

// WithWaitDeadline bounds every wait for a CAR job: creating or indexing
// the database, entering or leaving a full import (jobstatus), and, unless
// an import sets its own WithJobDeadline, each import job (default
// DefaultJobDeadline). A job still running past it fails the wait with a
// *JobError matching ErrJobDeadline.
func WithWaitDeadline(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return &ConfigError{Option: "WithWaitDeadline", Reason: fmt.Sprintf("%s: want a positive duration", d)}
		}
		c.waitLimit = d
		return nil
	}
}

// WithInsecureLoopback allows an http:// base URL on a loopback host, for
// tests against a local fake.
func WithInsecureLoopback() Option {
	return func(c *config) error { c.AllowLoopback = true; return nil }
}

// ConfigError reports an invalid option or argument.
type ConfigError struct {
	Option string
	Reason string
}

// Error describes the invalid option.
func (e *ConfigError) Error() string { return "car: invalid " + e.Option + ": " + e.Reason }

// NewClient returns a client for the CAR API at baseURL, which must end in
// /api/car/v2 (the v3 endpoints are derived from it), for example
// https://cp4s.example.com/api/car/v2.
func NewClient(baseURL string, opts ...Option) (*Client, error) {
	cfg := config{pollMin: DefaultPollMin, pollMax: DefaultPollMax, waitLimit: DefaultJobDeadline}
	for _, o := range opts {
		if o == nil {
			return nil, &ConfigError{Option: "Option", Reason: "nil option"}
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	u, err := clientopt.ParseBaseURL("base URL", baseURL, cfg.AllowLoopback, "https://cp4s.example.com/api/car/v2")
	if err != nil {
		return nil, configError(err)
	}
	if !strings.HasSuffix(u.Path, "/api/car/v2") {
		return nil, &ConfigError{Option: "base URL", Reason: "must end in /api/car/v2 (got path " + fmt.Sprintf("%q", u.Path) + "); the v3 endpoints are derived from it"}
	}
	if cfg.auth == nil {
		return nil, &ConfigError{Option: "credentials", Reason: "none given; use WithAPIKey(key, password) or WithToken(token)"}
	}
	cfg.Finish(clientopt.Defaults{UserAgent: DefaultUserAgent, MaxAttempts: DefaultMaxAttempts, MaxWait: DefaultMaxWait, BackoffBase: DefaultBackoffBase, IdleTimeout: DefaultIdleTimeout})
	v3 := *u
	v3.Path = strings.TrimSuffix(u.Path, "/v2") + "/v3"
	return &Client{base: u, v3: &v3, hc: cfg.HTTPClient, auth: cfg.auth, logger: cfg.Logger, userAgent: cfg.UserAgent,
		maxAttempts: cfg.MaxAttempts, maxWait: cfg.MaxWait, backoff: cfg.Backoff, idle: cfg.IdleTimeout, pollMin: cfg.pollMin, pollMax: cfg.pollMax, waitLimit: cfg.waitLimit}, nil
}

// The defaults of the options.
const (
	// DefaultUserAgent is the User-Agent sent unless WithUserAgent.
	DefaultUserAgent = "qualysbridge-go/0.1"
	// DefaultMaxAttempts is WithRetry's default maxAttempts.
	DefaultMaxAttempts = 4
	// DefaultIdleTimeout is WithIdleTimeout's default: how long the client
	// waits for the server's headers, or for more of a body, before the
	// attempt fails.
	DefaultIdleTimeout = 5 * time.Minute
	// DefaultMaxWait is WithRetry's default maxWait.
	DefaultMaxWait = 2 * time.Minute
	// DefaultBackoffBase is the first wait of the default backoff.
	DefaultBackoffBase = 2 * time.Second
	// DefaultPollMin and DefaultPollMax are WithPolling's defaults.
	DefaultPollMin = time.Second
	DefaultPollMax = time.Minute
)

// Sentinel errors callers branch on.
var (
	// ErrUnauthorized matches HTTP 401 and 403.
	ErrUnauthorized = errors.New("car: unauthorized")
	// ErrNotFound matches HTTP 404.
	ErrNotFound = errors.New("car: not found")
	// ErrRateLimited matches HTTP 429 after retries.
	ErrRateLimited = errors.New("car: rate limited")
	// ErrIdleTimeout matches a call on which the server sent nothing for
	// the idle timeout (WithIdleTimeout): no headers, or a body that
	// stalled.
	ErrIdleTimeout = errors.New("car: no data from the server within the idle timeout")
)

// Error is a failure reported by CAR: a non-2xx status with CAR's
// {"errors":[{"code","message"}],"trace"} body when there is one. It never
// carries credentials.
type Error struct {
	StatusCode int
	Method     string
	Endpoint   string
	// Code is CAR's error code (database_not_found, data_mal_formed, ...).
	Code    string
	Message string
	// Trace is CAR's trace id, for its support.
	Trace string
	// Err is an underlying transport error, if any.
	Err error
}

// Error describes the failure, without credentials.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "car: %s %s", e.Method, e.Endpoint)
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.StatusCode)
	}
	// Server text is cleaned: no newline or escape sequence from CAR
	// reaches a log line or a terminal.
	if e.Code != "" {
		b.WriteString(" " + redact.Clean(e.Code, 64))
	}
	if e.Message != "" {
		b.WriteString(": " + redact.Clean(e.Message, 0))
	}
	if e.Trace != "" {
		b.WriteString(" (trace " + redact.Clean(e.Trace, 128) + ")")
	}
	return b.String()
}

// Unwrap returns the transport error, if any.
func (e *Error) Unwrap() error { return e.Err }

// Is matches the sentinels.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrUnauthorized:
		return e.StatusCode == 401 || e.StatusCode == 403
	case ErrNotFound:
		return e.StatusCode == 404
	case ErrRateLimited:
		return e.StatusCode == 429
	}
	return false
}

// Recoverable reports whether the failure is one the framework treats as
// recoverable (the next run may simply try again): transport errors and
// HTTP 302, 400, 401, 403, 408, 429, 500, 502, 503, 504.
func (e *Error) Recoverable() bool {
	switch e.StatusCode {
	case 0, 302, 400, 401, 403, 408, 429, 500, 502, 503, 504:
		return true
	}
	return false
}

type request struct {
	method string
	segs   []string // path segments after the v2 (or v3) base, unescaped
	v3     bool
	query  url.Values
	body   any
	// parts, when set, is the body, written piece after piece (size
	// bytes in all) without being copied into one buffer.
	parts [][]byte
	size  int
	// idempotent calls are retried on transport errors and 5xx; others
	// only when the server refused them (429, 503 with Retry-After).
	idempotent bool
}

// call sends a request with bounded retries and decodes a JSON response
// into out (if not nil).
func (c *Client) call(ctx context.Context, r *request, out any) error {
	endpoint, u, newReq, err := c.prepare(ctx, r)
	if err != nil {
		return err
	}
	res := c.policy().Do(ctx, endpoint, r.idempotent, newReq, c.hc)
	if err := c.failure(ctx, r, endpoint, u, res); err != nil {
		return err
	}
	if out == nil || len(bytes.TrimSpace(res.Body)) == 0 {
		return nil
	}
	if err := json.Unmarshal(res.Body, out); err != nil {
		return &Error{Method: r.method, Endpoint: endpoint, StatusCode: res.Status, Message: "unexpected response body: " + redact.ScrubbedSnippet(res.Body, 120, c.secrets()...)}
	}
	return nil
}

// open sends a request as call does and leaves a 2xx answer's body open
// for the caller to stream (and close).
func (c *Client) open(ctx context.Context, r *request) (string, io.ReadCloser, error) {
	endpoint, u, newReq, err := c.prepare(ctx, r)
	if err != nil {
		return "", nil, err
	}
	res, body := c.policy().Open(ctx, endpoint, r.idempotent, newReq, c.hc)
	if err := c.failure(ctx, r, endpoint, u, res); err != nil {
		return "", nil, err
	}
	return endpoint, body, nil
}

// prepare builds a request's URL and a function that makes each attempt.
func (c *Client) prepare(ctx context.Context, r *request) (endpoint string, u *url.URL, newReq func() (*http.Request, error), err error) {
	var body []byte
	if r.body != nil {
		if raw, ok := r.body.(json.RawMessage); ok {
			body = raw
		} else if body, err = json.Marshal(r.body); err != nil {
			return "", nil, nil, err
		}
	}
	base := c.base
	if r.v3 {
		base = c.v3
	}
	esc := make([]string, len(r.segs))
	for i, s := range r.segs {
		esc[i] = url.PathEscape(s)
	}
	u = base.JoinPath(esc...)
	if len(r.query) > 0 {
		u.RawQuery = r.query.Encode()
	}
	return u.Path, u, func() (*http.Request, error) {
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		if r.parts != nil {
			rds := make([]io.Reader, len(r.parts))
			for i, p := range r.parts {
				rds[i] = bytes.NewReader(p)
			}
			rd = io.MultiReader(rds...)
		}
		req, err := http.NewRequestWithContext(ctx, r.method, u.String(), rd)
		if err != nil {
			return nil, err
		}
		if r.parts != nil {
			req.ContentLength = int64(r.size)
		}
		req.Header.Set("Accept", "application/json")
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", c.userAgent)
		if c.auth.token != "" {
			req.Header.Set("Authorization", "car-token "+c.auth.token)
		} else {
			req.SetBasicAuth(c.auth.key, c.auth.password)
		}
		return req, nil
	}, nil
}

// failure turns a final answer that is not a success into an *Error (nil
// for a 2xx answer).
func (c *Client) failure(ctx context.Context, r *request, endpoint string, u *url.URL, res retry.Result) error {
	if res.Err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &Error{Method: r.method, Endpoint: endpoint, StatusCode: res.Status,
			Message: "transport error: " + safehttp.ScrubError(res.Err, c.secrets()...), Err: safehttp.URLError(res.Err)}
	}
	if res.Status >= 200 && res.Status < 300 {
		return nil
	}
	e := &Error{Method: r.method, Endpoint: endpoint, StatusCode: res.Status}
	fillError(e, res.Body, c.secrets())
	if safehttp.IsRedirect(res.Status) {
		e.Code, e.Message = "", safehttp.RedirectMessage(res.Status, res.Header, u)
	}
	e.Message = redact.Scrub(e.Message, c.secrets()...)
	e.Trace = redact.Scrub(e.Trace, c.secrets()...)
	return e
}

// secrets are the values to scrub from anything quoted from outside.
func (c *Client) secrets() []string {
	return []string{c.auth.password, c.auth.token, redact.Basic(c.auth.key, c.auth.password)}
}

func (c *Client) policy() retry.Policy {
	return retry.Policy{MaxAttempts: c.maxAttempts, MaxWait: c.maxWait, Backoff: c.backoff, Logger: c.logger.With("client", "car"), IdleTimeout: c.idle, IdleError: ErrIdleTimeout, MaxBody: 64 << 20}
}

func fillError(e *Error, b []byte, secrets []string) {
	var j struct {
		Errors []struct {
			Code    string `json:"code"`
			Message any    `json:"message"`
		} `json:"errors"`
		Error   any    `json:"error"`
		Message string `json:"message"`
		Trace   string `json:"trace"`
	}
	if json.Unmarshal(b, &j) == nil {
		e.Trace = j.Trace
		if len(j.Errors) > 0 {
			e.Code = j.Errors[0].Code
			e.Message = fmt.Sprint(j.Errors[0].Message)
			if s, ok := j.Errors[0].Message.(string); ok {
				e.Message = s
			}
		} else if j.Error != nil {
			e.Message = fmt.Sprint(j.Error)
		} else {
			e.Message = j.Message
		}
		if len(e.Message) > 2000 {
			e.Message = e.Message[:2000] + "…"
		}
		if e.Message != "" || e.Code != "" {
			return
		}
	}
	e.Message = http.StatusText(e.StatusCode)
	if s := redact.ScrubbedSnippet(b, 120, secrets...); s != "" {
		e.Message += ": " + s
	}
}

// configError turns a shared option's problem into a *ConfigError.
func configError(err error) error {
	var p *clientopt.Problem
	if errors.As(err, &p) {
		return &ConfigError{Option: p.Option, Reason: p.Reason}
	}
	return err
}
