package qualys

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/qualysbridge/qualysbridge/internal/clientopt"
)

// Option configures a Client. Options validate their arguments and return
// an error (never panic) when one is unusable.
type Option func(*config) error

type config struct {
	clientopt.Common // HTTP client, logger, user agent, retry, backoff, loopback
	gateway          string
	creds            *credentials
	concurrency      int
	versions         map[Endpoint]string
	idleTimeout      time.Duration
}

// credentials is held by pointer so that printing a config or Client with
// %+v shows an address, never the password.
type credentials struct {
	user, pass string
}

// String hides the secret from any accidental formatting.
func (c *credentials) String() string { return "qualys credentials [REDACTED]" }

// GoString hides the secret from %#v.
func (c *credentials) GoString() string { return c.String() }

// The defaults of the options.
const (
	// DefaultUserAgent is the User-Agent sent unless WithUserAgent.
	DefaultUserAgent = "qualysbridge-go/0.1"
	// DefaultMaxAttempts is WithRetry's default maxAttempts.
	DefaultMaxAttempts = 5
	// DefaultMaxWait is WithRetry's default maxWait.
	DefaultMaxWait = 5 * time.Minute
	// DefaultIdleTimeout is WithIdleTimeout's default.
	DefaultIdleTimeout = 5 * time.Minute
	// DefaultBackoffBase is the first wait of the default backoff.
	DefaultBackoffBase = 2 * time.Second
)

const (
	// defaultConcurrency is the concurrency of the QPS and gateway APIs,
	// which send no X-Concurrency-Limit-Limit header: the Standard
	// subscription's limit.
	defaultConcurrency = 2
	// foConcurrencyUntilKnown is the concurrency of an FO API until an
	// answer of that API has carried X-Concurrency-Limit-Limit: the
	// Express subscription's limit, so that not even the first calls of
	// a client exceed what a subscription allows.
	foConcurrencyUntilKnown = 1
)

// WithCredentials sets the Qualys user name and password sent with HTTP
// Basic authentication (and to the gateway's /auth for a JWT). They are
// never logged or included in errors.
func WithCredentials(user, pass string) Option {
	return func(c *config) error {
		if user == "" {
			return &ConfigError{Option: "WithCredentials", Reason: "empty user name"}
		}
		if pass == "" {
			return &ConfigError{Option: "WithCredentials", Reason: "empty password"}
		}
		c.creds = &credentials{user: user, pass: pass}
		return nil
	}
}

// WithGateway sets the Qualys gateway URL (https://gateway.qgN.apps...),
// needed by the Assets service. Platform returns it for a platform name.
func WithGateway(gatewayURL string) Option {
	return func(c *config) error {
		if strings.TrimSpace(gatewayURL) == "" {
			return &ConfigError{Option: "WithGateway", Reason: "empty URL"}
		}
		c.gateway = gatewayURL
		return nil
	}
}

// WithHTTPClient sets the HTTP client. The default is
// cleanhttp.DefaultPooledClient() with no whole-request timeout: detection
// bodies stream for minutes, so deadlines come from the caller's context.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *config) error { return configError(c.SetHTTPClient(hc)) }
}

// WithUserAgent sets the User-Agent header sent with every request.
func WithUserAgent(ua string) Option {
	return func(c *config) error { return configError(c.SetUserAgent(ua)) }
}

// WithLogger sets the logger. The client logs nothing unless one is given:
// requests at Debug, retries and waits at Warn. Credentials never appear.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error { return configError(c.SetLogger(l)) }
}

// WithRetry bounds retries: maxAttempts is the number of times one call may
// be sent in all (1 disables retries; default 5), maxWait the longest the
// client waits before one retry (default 5 minutes). When the server asks
// for a longer wait than maxWait (a daily budget used up), the call fails
// at once with an error matching ErrRateLimited whose RetryAfter says how
// long to wait, rather than spending a call that would be refused again.
func WithRetry(maxAttempts int, maxWait time.Duration) Option {
	return func(c *config) error { return configError(c.SetRetry(maxAttempts, maxWait)) }
}

// WithBackoff replaces the wait used between retries when the server gives
// no wait of its own (the first blocked response often lacks
// X-RateLimit-ToWait-Sec). attempt is 1 for the first retry. The default is
// exponential from 2 s with jitter, capped by WithRetry's maxWait.
func WithBackoff(f func(attempt int) time.Duration) Option {
	return func(c *config) error { return configError(c.SetBackoff(f)) }
}

// WithConcurrency caps the number of requests in flight per API. The
// effective cap is the smaller of n and the server's
// X-Concurrency-Limit-Limit (for an FO API, 1 until an answer of that API
// has said; 2 for the QPS and gateway APIs, which do not say).
func WithConcurrency(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return &ConfigError{Option: "WithConcurrency", Reason: "must be at least 1"}
		}
		c.concurrency = n
		return nil
	}
}

// WithInsecureLoopback allows http:// base URLs whose host is a loopback
// address (127.0.0.0/8, ::1, localhost), for tests against a local fake.
// Without it every URL must be https://.
func WithInsecureLoopback() Option {
	return func(c *config) error {
		c.AllowLoopback = true
		return nil
	}
}

// WithIdleTimeout sets how long a response body may send nothing before the
// read fails (default 5 minutes; 0 disables). Qualys sends keep-alive
// comments during long pulls, so a stream that stays silent this long is
// dead, not slow.
func WithIdleTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return &ConfigError{Option: "WithIdleTimeout", Reason: "must not be negative"}
		}
		c.idleTimeout = d
		return nil
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
