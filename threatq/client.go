// Package threatq writes to ThreatQ (ThreatQuotient) through its REST API,
// as ThreatQ's own Python SDK does: OAuth2 tokens from /api/token (password
// or client-credentials grant) renewed before they expire, indicators
// found or created by value, Asset objects upserted through the bulk
// consume endpoint (with a per-object fallback), attributes, tags, sources
// and relations added without duplicates, so that writing the same data
// twice changes nothing. Many Assets related to one indicator are written
// in bulk by an AssetWriter (its doc says which request each step sends,
// and the public record each rests on).
//
// # Retries
//
// One policy for the qualys, car and threatq clients (written once, in
// the module's internal retry package). A call the server refused before
// doing anything (429; a 409 or 503 that says how long to wait) is
// retried whatever it is. Otherwise only a call that is safe to repeat
// (a read, an idempotent write such as an upsert or a delete; never a
// create nor a PATCH, whose first attempt may have taken effect) is
// retried, on 5xx but 501 and on a transport error before or without
// an answer (the connection refused, reset or timed out, the server idle
// past WithIdleTimeout); never on a certificate failure or a host name
// that does not resolve. The wait is the server's (Retry-After) when it
// gives one, and a wait longer than WithRetry's maxWait ends the retries;
// else the backoff (WithBackoff: jittered and growing). WithRetry's
// maxAttempts bounds the sends of one call.
package threatq

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/qualysbridge/qualysbridge/internal/clientopt"
	"github.com/qualysbridge/qualysbridge/internal/flight"
	"github.com/qualysbridge/qualysbridge/internal/redact"
	"github.com/qualysbridge/qualysbridge/internal/retry"
	"github.com/qualysbridge/qualysbridge/internal/safehttp"
)

// TimeLayout is ThreatQ's date format (always UTC).
const TimeLayout = "2006-01-02 15:04:05"

// FormatTime formats t as ThreatQ expects, in UTC.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeLayout) }

// Client talks to one ThreatQ instance. It is safe for concurrent use.
type Client struct {
	base        *url.URL
	hc          *http.Client
	creds       *credentials
	logger      *slog.Logger
	userAgent   string
	maxAttempts int
	maxWait     time.Duration
	backoff     func(int) time.Duration
	idle        time.Duration
	assetColl   string
	concurrency int

	login   flight.Group[string]
	tokMu   sync.Mutex
	token   string
	refresh string
	expires time.Time

	cacheMu  sync.Mutex
	typeIDs  map[string]int64
	statuses map[string]int64
	objColl  map[string]string
	noBulk   map[string]bool
}

type credentials struct {
	clientID, email, password, secret string
}

func (c *credentials) String() string   { return "threatq credentials [REDACTED]" }
func (c *credentials) GoString() string { return c.String() }

type config struct {
	clientopt.Common // HTTP client, logger, user agent, retry, backoff, loopback
	creds            *credentials
	assetColl        string
	concurrency      int
}

// Option configures a Client.
type Option func(*config) error

// ConfigError reports an invalid option or argument.
type ConfigError struct {
	Option string
	Reason string
}

// Error describes the invalid option.
func (e *ConfigError) Error() string { return "threatq: invalid " + e.Option + ": " + e.Reason }

// PasswordGrant is a ThreatQ user's OAuth2 password grant: the UI's
// client id (ThreatQ's login page sends it; an administrator finds it
// under the OAuth clients), the user's email and password. Named fields,
// because three positional strings are easy to swap.
type PasswordGrant struct {
	ClientID string
	Email    string
	Password string
}

// WithPasswordGrant authenticates a user with the OAuth2 password grant.
func WithPasswordGrant(g PasswordGrant) Option {
	return func(c *config) error {
		if g.ClientID == "" || g.Email == "" || g.Password == "" {
			return &ConfigError{Option: "WithPasswordGrant", Reason: "ClientID, Email and Password are all required"}
		}
		c.creds = &credentials{clientID: g.ClientID, email: g.Email, password: g.Password}
		return nil
	}
}

// WithPassword is WithPasswordGrant(PasswordGrant{clientID, email,
// password}).
//
// Deprecated: use WithPasswordGrant, whose fields are named; WithPassword
// will be removed in the next release.
func WithPassword(clientID, email, password string) Option {
	return WithPasswordGrant(PasswordGrant{ClientID: clientID, Email: email, Password: password})
}

// WithClientCredentials authenticates a private OAuth client (the
// client-credentials grant).
func WithClientCredentials(clientID, clientSecret string) Option {
	return func(c *config) error {
		if clientID == "" || clientSecret == "" {
			return &ConfigError{Option: "WithClientCredentials", Reason: "client id and secret are required"}
		}
		c.creds = &credentials{clientID: clientID, secret: clientSecret}
		return nil
	}
}

// WithHTTPClient sets the HTTP client.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *config) error { return configError(c.SetHTTPClient(hc)) }
}

// WithLogger sets the logger; the client logs nothing by default.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error { return configError(c.SetLogger(l)) }
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
// Retry-After.
func WithBackoff(f func(attempt int) time.Duration) Option {
	return func(c *config) error { return configError(c.SetBackoff(f)) }
}

// WithUserAgent sets the User-Agent header (default DefaultUserAgent).
func WithUserAgent(ua string) Option {
	return func(c *config) error { return configError(c.SetUserAgent(ua)) }
}

// WithAssetCollection sets the API collection of Asset objects instead of
// resolving it from GET /api/objects (its name differs between versions).
func WithAssetCollection(name string) Option {
	return func(c *config) error {
		if name == "" || strings.ContainsAny(name, "/?# ") {
			return &ConfigError{Option: "WithAssetCollection", Reason: "want a collection name such as asset"}
		}
		c.assetColl = name
		return nil
	}
}

// WithInsecureLoopback allows an http:// URL on a loopback host, for tests.
func WithInsecureLoopback() Option {
	return func(c *config) error { c.AllowLoopback = true; return nil }
}

// NewClient returns a client for the ThreatQ instance at baseURL (for
// example https://threatq.example.com).
func NewClient(baseURL string, opts ...Option) (*Client, error) {
	var cfg config
	for _, o := range opts {
		if o == nil {
			return nil, &ConfigError{Option: "Option", Reason: "nil option"}
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	u, err := clientopt.ParseBaseURL("base URL", baseURL, cfg.AllowLoopback, "https://threatq.example.com")
	if err != nil {
		return nil, configError(err)
	}
	u.Path = strings.TrimSuffix(u.Path, "/api")
	if cfg.creds == nil {
		return nil, &ConfigError{Option: "credentials", Reason: "none given; use WithPassword or WithClientCredentials"}
	}
	cfg.Finish(clientopt.Defaults{UserAgent: DefaultUserAgent, MaxAttempts: DefaultMaxAttempts, MaxWait: DefaultMaxWait, BackoffBase: DefaultBackoffBase, IdleTimeout: DefaultIdleTimeout})
	return &Client{base: u, hc: cfg.HTTPClient, creds: cfg.creds, logger: cfg.Logger, userAgent: cfg.UserAgent,
		maxAttempts: cfg.MaxAttempts, maxWait: cfg.MaxWait, backoff: cfg.Backoff, idle: cfg.IdleTimeout, assetColl: cfg.assetColl,
		typeIDs: map[string]int64{}, statuses: map[string]int64{}, objColl: map[string]string{}, noBulk: map[string]bool{},
		concurrency: cmp.Or(cfg.concurrency, DefaultConcurrency)}, nil
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
	DefaultMaxWait = time.Minute
	// DefaultBackoffBase is the first wait of the default backoff.
	DefaultBackoffBase = time.Second
)

// Sentinel errors.
var (
	ErrUnauthorized = errors.New("threatq: unauthorized")
	ErrNotFound     = errors.New("threatq: not found")
	ErrRateLimited  = errors.New("threatq: rate limited")
	// ErrIdleTimeout matches a call on which the server sent nothing for
	// the idle timeout (WithIdleTimeout): no headers, or a body that
	// stalled.
	ErrIdleTimeout = errors.New("threatq: no data from the server within the idle timeout")
)

// Error is a failure reported by ThreatQ: a non-2xx status, or a 2xx body
// that carries "errors". Messages flattens both documented error shapes.
type Error struct {
	StatusCode int
	Method     string
	Endpoint   string
	Messages   []string
	Err        error

	login bool // a refused login (matches ErrUnauthorized)
}

// Error describes the failure, without credentials.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "threatq: %s %s", e.Method, e.Endpoint)
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.StatusCode)
	}
	if len(e.Messages) > 0 {
		// Server text is cleaned: no newline or escape sequence from
		// ThreatQ reaches a log line or a terminal.
		msgs := make([]string, len(e.Messages))
		for i, m := range e.Messages {
			msgs[i] = redact.Clean(m, 0)
		}
		b.WriteString(": " + strings.Join(msgs, "; "))
	}
	return b.String()
}

// Unwrap returns the transport error, if any.
func (e *Error) Unwrap() error { return e.Err }

// Is matches the sentinels.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrUnauthorized:
		return e.login || e.StatusCode == 401 || e.StatusCode == 403
	case ErrNotFound:
		return e.StatusCode == 404
	case ErrRateLimited:
		return e.StatusCode == 429
	}
	return false
}

// errorMessages flattens ThreatQ's two error shapes:
// {"data":{"errors":{"field":["msg"]}}} and {"errors":["a",["b","c"]]}.
func errorMessages(b []byte) ([]string, bool) {
	var j struct {
		Errors json.RawMessage `json:"errors"`
		Data   json.RawMessage `json:"data"`
	}
	if json.Unmarshal(b, &j) != nil {
		return nil, false
	}
	raw := j.Errors
	if len(raw) == 0 && len(j.Data) > 0 && j.Data[0] == '{' {
		var d struct {
			Errors json.RawMessage `json:"errors"`
		}
		if json.Unmarshal(j.Data, &d) == nil {
			raw = d.Errors
		}
	}
	if len(raw) == 0 || string(raw) == "null" || string(raw) == "[]" || string(raw) == "{}" {
		return nil, false
	}
	var out []string
	var walk func(v any, prefix string)
	walk = func(v any, prefix string) {
		switch x := v.(type) {
		case string:
			out = append(out, prefix+x)
		case []any:
			for _, e := range x {
				walk(e, prefix)
			}
		case map[string]any:
			for k, e := range x {
				walk(e, k+": ")
			}
		default:
			out = append(out, prefix+fmt.Sprint(x))
		}
	}
	var v any
	json.Unmarshal(raw, &v)
	walk(v, "")
	return out, len(out) > 0
}

type request struct {
	method     string
	path       string // after /api/
	query      url.Values
	body       any
	idempotent bool
	noAuth     bool
	basic      bool // client credentials as Basic auth (token endpoint)
	bearer     string
}

// call sends an API request with the bearer token, bounded retries and one
// re-login on 401, and decodes the JSON body into out.
func (c *Client) call(ctx context.Context, r *request, out any) error {
	relogged := false
	var body []byte
	if r.body != nil {
		var err error
		if body, err = json.Marshal(r.body); err != nil {
			return err
		}
	}
	u := c.base.JoinPath("api", r.path)
	if len(r.query) > 0 {
		u.RawQuery = r.query.Encode()
	}
	endpoint := u.Path
	for {
		var tok string
		if !r.noAuth {
			var err error
			if tok, err = c.accessToken(ctx); err != nil {
				return err
			}
		}
		res := c.policy().Do(ctx, endpoint, r.idempotent, func() (*http.Request, error) {
			return c.newRequest(ctx, r, u, body, tok)
		}, c.hc)
		if res.Err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return &Error{Method: r.method, Endpoint: endpoint, StatusCode: res.Status,
				Messages: []string{"transport error: " + safehttp.ScrubError(res.Err, c.secrets()...)}, Err: safehttp.URLError(res.Err)}
		}
		if res.Status == http.StatusUnauthorized && !r.noAuth && r.bearer == "" && !relogged {
			// The token expired or was revoked: log in again, once.
			c.invalidate(tok)
			relogged = true
			continue
		}
		return c.outcome(r, u, res, out)
	}
}

// newRequest builds one attempt of r: the body (re-read for every
// attempt), the headers and the authorisation (the client's Basic
// credentials for the token call, a given bearer, or the session token).
func (c *Client) newRequest(ctx context.Context, r *request, u *url.URL, body []byte, tok string) (*http.Request, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u.String(), rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	switch {
	case r.basic:
		req.SetBasicAuth(c.creds.clientID, c.creds.secret)
	case r.bearer != "":
		req.Header.Set("Authorization", "Bearer "+r.bearer)
	case !r.noAuth:
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	return req, nil
}

// outcome reads a final response: a 2xx body is decoded into out (a 2xx
// that carries "errors", or a body that does not decode, is an *Error);
// any other status is an *Error with the messages the server sent, in any
// of ThreatQ's error shapes, scrubbed of credentials.
func (c *Client) outcome(r *request, u *url.URL, res retry.Result, out any) error {
	e := &Error{Method: r.method, Endpoint: u.Path, StatusCode: res.Status}
	if res.Status >= 200 && res.Status < 300 {
		if msgs, ok := errorMessages(res.Body); ok {
			e.Messages = c.scrubAll(msgs)
			return e
		}
		if out != nil && len(bytes.TrimSpace(res.Body)) > 0 {
			if err := json.Unmarshal(res.Body, out); err != nil {
				e.Messages = c.scrubAll([]string{"unexpected response body: " + redact.ScrubbedSnippet(res.Body, 120, c.secrets()...)})
				return e
			}
		}
		return nil
	}
	if safehttp.IsRedirect(res.Status) {
		e.Messages = c.scrubAll([]string{safehttp.RedirectMessage(res.Status, res.Header, u)})
	} else if msgs, ok := errorMessages(res.Body); ok {
		e.Messages = c.scrubAll(msgs)
	} else {
		var m struct {
			Message          string `json:"message"`
			Error            string `json:"error"`
			ErrorDescription string `json:"error_description"`
		}
		if json.Unmarshal(res.Body, &m) == nil && (m.Message != "" || m.Error != "") {
			e.Messages = c.scrubAll([]string{strings.TrimSpace(m.Error + " " + m.ErrorDescription + " " + m.Message)})
		} else if s := redact.ScrubbedSnippet(res.Body, 120, c.secrets()...); s != "" {
			e.Messages = c.scrubAll([]string{http.StatusText(res.Status) + ": " + s})
		}
	}
	return e
}

func (c *Client) policy() retry.Policy {
	return retry.Policy{MaxAttempts: c.maxAttempts, MaxWait: c.maxWait, Backoff: c.backoff, Logger: c.logger.With("client", "threatq"), IdleTimeout: c.idle, IdleError: ErrIdleTimeout, MaxBody: 32 << 20}
}

// secrets are the values to scrub from anything quoted from outside: the
// password, the client secret and its Basic form, and the current tokens.
func (c *Client) secrets() []string {
	out := []string{c.creds.password, c.creds.secret}
	if c.creds.secret != "" {
		out = append(out, redact.Basic(c.creds.clientID, c.creds.secret))
	}
	c.tokMu.Lock()
	out = append(out, c.token, c.refresh)
	c.tokMu.Unlock()
	return out
}

func (c *Client) scrubAll(msgs []string) []string {
	sec := c.secrets()
	for i := range msgs {
		msgs[i] = redact.Scrub(msgs[i], sec...)
	}
	return msgs
}

// tokenMargin renews a token this long before it expires.
const tokenMargin = 60 * time.Second

type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
}

// accessToken returns a valid token: the cached one, or one from a refresh
// or a new login. One login runs at a time, without a lock held across the
// network call: callers that need a token meanwhile wait for it or for
// their own context.
func (c *Client) accessToken(ctx context.Context) (string, error) {
	if tok := c.validToken(); tok != "" {
		return tok, nil
	}
	return c.login.Do(ctx, func() (string, error) {
		if tok := c.validToken(); tok != "" {
			return tok, nil
		}
		return c.obtainToken(ctx)
	})
}

func (c *Client) validToken() string {
	c.tokMu.Lock()
	defer c.tokMu.Unlock()
	if c.token != "" && time.Now().Add(tokenMargin).Before(c.expires) {
		return c.token
	}
	return ""
}

// obtainToken refreshes the token when a refresh token is held, and logs in
// otherwise (or when the refresh fails).
func (c *Client) obtainToken(ctx context.Context) (string, error) {
	now := time.Now()
	c.tokMu.Lock()
	token, refresh := c.token, c.refresh
	c.tokMu.Unlock()
	if token != "" && refresh != "" {
		var tr tokenResponse
		q := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}
		err := c.call(ctx, &request{method: "POST", path: "token", query: q, noAuth: true, bearer: token, basic: c.creds.secret != ""}, &tr)
		if err == nil && tr.AccessToken != "" {
			c.store(tr, now)
			return tr.AccessToken, nil
		}
		c.logger.Debug("threatq: token refresh failed; logging in again", "error", err)
	}
	var tr tokenResponse
	var err error
	if c.creds.secret != "" {
		err = c.call(ctx, &request{method: "POST", path: "token", query: url.Values{"grant_type": {"client_credentials"}}, noAuth: true, basic: true}, &tr)
	} else {
		err = c.call(ctx, &request{method: "POST", path: "token", query: url.Values{"grant_type": {"password"}, "client_id": {c.creds.clientID}},
			body: map[string]string{"email": c.creds.email, "password": c.creds.password}, noAuth: true}, &tr)
	}
	if err != nil {
		var te *Error
		if errors.As(err, &te) && (te.StatusCode == 400 || te.StatusCode == 401) {
			// A refused login matches ErrUnauthorized whatever status the
			// server chose for it; the status stays the one it sent.
			te.login = true
			te.Messages = append([]string{"login failed: check the client id and credentials"}, te.Messages...)
		}
		return "", err
	}
	if tr.AccessToken == "" {
		return "", &Error{Method: "POST", Endpoint: c.base.Path + "/api/token", StatusCode: 200, Messages: []string{"token response without access_token"}}
	}
	c.store(tr, now)
	return tr.AccessToken, nil
}

func (c *Client) store(tr tokenResponse, now time.Time) {
	c.tokMu.Lock()
	defer c.tokMu.Unlock()
	c.token = tr.AccessToken
	if tr.RefreshToken != "" {
		c.refresh = tr.RefreshToken
	}
	life := time.Duration(tr.ExpiresIn) * time.Second
	if life <= 0 {
		life = 30 * time.Minute
	}
	c.expires = now.Add(life)
}

func (c *Client) invalidate(used string) {
	c.tokMu.Lock()
	if c.token == used {
		c.token = ""
		c.refresh = ""
	}
	c.tokMu.Unlock()
}

// configError turns a shared option's problem into a *ConfigError.
func configError(err error) error {
	var p *clientopt.Problem
	if errors.As(err, &p) {
		return &ConfigError{Option: p.Option, Reason: p.Reason}
	}
	return err
}
