// Package clientopt holds what the qualys, car and threatq clients share in
// their construction: the common options (HTTP client, logger, user agent,
// retry bounds, backoff, insecure loopback), their checks and defaults, and
// the one rule for a base URL. Each client keeps its own exported Option
// and ConfigError types and converts a *Problem into its ConfigError.
package clientopt

import (
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hashicorp/go-cleanhttp"
	"github.com/qualysbridge/qualysbridge/internal/retry"
	"github.com/qualysbridge/qualysbridge/internal/safehttp"
)

// Problem is an option value a client refuses: the option and why.
type Problem struct {
	Option string
	Reason string
}

func (p *Problem) Error() string { return "invalid " + p.Option + ": " + p.Reason }

// Common is the part of a client's configuration shared by the three
// clients. The zero value means "default" for every field.
type Common struct {
	HTTPClient    *http.Client
	Logger        *slog.Logger
	UserAgent     string
	MaxAttempts   int
	MaxWait       time.Duration
	Backoff       func(attempt int) time.Duration
	AllowLoopback bool
	// IdleTimeout bounds each wait for the server (headers, and between
	// two body reads); idleSet tells an explicit 0 (no bound) from unset.
	IdleTimeout time.Duration
	idleSet     bool
}

// SetIdleTimeout is WithIdleTimeout: d >= 0, 0 for no bound.
func (c *Common) SetIdleTimeout(d time.Duration) error {
	if d < 0 {
		return &Problem{"WithIdleTimeout", "must not be negative"}
	}
	c.IdleTimeout, c.idleSet = d, true
	return nil
}

// SetHTTPClient is WithHTTPClient.
func (c *Common) SetHTTPClient(hc *http.Client) error {
	if hc == nil {
		return &Problem{"WithHTTPClient", "nil *http.Client"}
	}
	c.HTTPClient = hc
	return nil
}

// SetLogger is WithLogger.
func (c *Common) SetLogger(l *slog.Logger) error {
	if l == nil {
		return &Problem{"WithLogger", "nil *slog.Logger"}
	}
	c.Logger = l
	return nil
}

// SetUserAgent is WithUserAgent.
func (c *Common) SetUserAgent(ua string) error {
	if strings.TrimSpace(ua) == "" {
		return &Problem{"WithUserAgent", "empty user agent"}
	}
	if strings.ContainsAny(ua, "\r\n") {
		return &Problem{"WithUserAgent", "a line break in the user agent"}
	}
	c.UserAgent = ua
	return nil
}

// SetRetry is WithRetry.
func (c *Common) SetRetry(maxAttempts int, maxWait time.Duration) error {
	if maxAttempts < 1 {
		return &Problem{"WithRetry", "maxAttempts must be at least 1"}
	}
	if maxWait < 0 {
		return &Problem{"WithRetry", "maxWait must not be negative"}
	}
	c.MaxAttempts, c.MaxWait = maxAttempts, maxWait
	return nil
}

// SetBackoff is WithBackoff.
func (c *Common) SetBackoff(f func(attempt int) time.Duration) error {
	if f == nil {
		return &Problem{"WithBackoff", "nil function"}
	}
	c.Backoff = f
	return nil
}

// Defaults are a client's defaults for the common options.
type Defaults struct {
	UserAgent   string
	MaxAttempts int
	MaxWait     time.Duration
	// BackoffBase is the first wait of the default exponential backoff.
	BackoffBase time.Duration
	// IdleTimeout is WithIdleTimeout's default.
	IdleTimeout time.Duration
}

// Finish fills what the options left unset from d and makes the HTTP
// client refuse redirects (so credentials never follow one): a pooled
// cleanhttp client with no whole-request timeout (deadlines come from the
// caller's context), a logger that discards, exponential backoff with
// jitter capped by MaxWait.
func (c *Common) Finish(d Defaults) {
	if c.UserAgent == "" {
		c.UserAgent = d.UserAgent
	}
	if !c.idleSet {
		c.IdleTimeout = d.IdleTimeout
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts, c.MaxWait = d.MaxAttempts, d.MaxWait
	}
	if c.HTTPClient == nil {
		c.HTTPClient = cleanhttp.DefaultPooledClient()
	}
	c.HTTPClient = safehttp.NoRedirects(c.HTTPClient)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Backoff == nil {
		base, maxWait := d.BackoffBase, c.MaxWait
		c.Backoff = func(attempt int) time.Duration { return retry.Backoff(attempt, base, maxWait) }
	}
}

// ParseBaseURL applies the one base-URL rule of the three clients: an
// absolute http(s) URL; https:// unless allowLoopback and the host is a
// loopback address; no user information (credentials go in options), no
// query and no fragment. A path prefix is kept, without a trailing slash.
// what names the URL in the problem ("base URL", "gateway URL"); example is
// a valid URL for the message.
func ParseBaseURL(what, raw string, allowLoopback bool, example string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, &Problem{what, "want an absolute URL such as " + example + ", got " + quote(RedactURL(raw))}
	}
	if u.User != nil {
		return nil, &Problem{what, "must not contain credentials; give them as an option"}
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return nil, &Problem{what, "must not contain a query or fragment"}
	}
	if u.Scheme == "http" {
		if !allowLoopback {
			return nil, &Problem{what, "must be https:// (http:// is allowed only for loopback hosts with WithInsecureLoopback)"}
		}
		if !IsLoopback(u.Hostname()) {
			return nil, &Problem{what, "http:// is allowed only for loopback hosts; use https:// for " + u.Hostname()}
		}
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// IsLoopback reports whether host is localhost or a loopback address.
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// RedactURL drops any user information, query and fragment from a
// URL-like string before it is quoted in an error: tokens travel in both.
func RedactURL(raw string) string {
	if i := strings.LastIndex(raw, "@"); i >= 0 {
		if j := strings.Index(raw, "://"); j >= 0 && j < i {
			raw = raw[:j+3] + "[REDACTED]@" + raw[i+1:]
		} else {
			raw = "[REDACTED]@" + raw[i+1:]
		}
	}
	if i := strings.IndexAny(raw, "?#"); i >= 0 {
		raw = raw[:i] + "[REDACTED]"
	}
	return raw
}

func quote(s string) string {
	const max = 80
	if len(s) > max {
		s = s[:max] + "..."
	}
	return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"`
}
