package qualys

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/qualysbridge/qualysbridge/internal/clientopt"
)

// Client talks to one Qualys subscription: the FO API (/api/N.N/fo/, the
// version per endpoint: see Endpoint), the
// QPS portal API (/qps/rest/2.0/) and, when a gateway URL is configured,
// the gateway APIs. It is safe for concurrent use.
//
// Every call goes through one pipeline: Basic (or gateway Bearer)
// authentication, the X-Requested-With header, pacing from the
// X-RateLimit-* headers, a per-API concurrency cap from
// X-Concurrency-Limit-Limit, and bounded retries that honour the server's
// wait headers and never repeat a call that is not safe to repeat.
type Client struct {
	// HostAssets reads Asset Management host assets (QPS API).
	HostAssets *HostAssetService
	// Assets reads gateway (CSAM) assets with their installed software.
	Assets *AssetService
	// Detections lists VM detections (Host List Detection API).
	Detections *DetectionService
	// SearchLists manages QID search lists.
	SearchLists *SearchListService
	// KnowledgeBase lists vulnerabilities from the Qualys KnowledgeBase.
	KnowledgeBase *KnowledgeBaseService
	// AssetGroups lists asset groups, to resolve titles to ids.
	AssetGroups *AssetGroupService
	// Hosts lists VM hosts with their TruRisk, criticality and risk
	// scores (Host List API).
	Hosts *HostService

	cfg     config
	base    *url.URL
	gateway *url.URL

	mu    sync.Mutex
	apis  map[string]*apiState
	calls map[string]int64
	last  atomic.Pointer[Rate]
	jwt   tokenCache

	eosWarned sync.Map // endpoint paths whose end-of-service notice was logged
}

// NewClient returns a client for the Qualys API server at baseURL (for
// example https://qualysapi.qg3.apps.qualys.com; see Platform). The URL
// must be https:// unless WithInsecureLoopback is given and the host is a
// loopback address, and must not carry credentials; WithCredentials is
// required, as the car and threatq clients require theirs.
func NewClient(baseURL string, opts ...Option) (*Client, error) {
	cfg := config{idleTimeout: DefaultIdleTimeout}
	for _, o := range opts {
		if o == nil {
			return nil, &ConfigError{Option: "Option", Reason: "nil option"}
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	base, err := parseBaseURL("base URL", baseURL, cfg.AllowLoopback)
	if err != nil {
		return nil, err
	}
	if err := checkServerURL("base URL", base, false); err != nil {
		return nil, err
	}
	if cfg.creds == nil {
		return nil, &ConfigError{Option: "credentials", Reason: "none given; use WithCredentials"}
	}
	c := &Client{cfg: cfg, base: base, apis: map[string]*apiState{}, calls: map[string]int64{}}
	if cfg.gateway != "" {
		if c.gateway, err = parseBaseURL("gateway URL", cfg.gateway, cfg.AllowLoopback); err != nil {
			return nil, err
		}
		if err := checkServerURL("gateway URL", c.gateway, true); err != nil {
			return nil, err
		}
	}
	c.HostAssets = &HostAssetService{c: c}
	c.Assets = &AssetService{c: c}
	c.Detections = &DetectionService{c: c}
	c.SearchLists = &SearchListService{c: c}
	c.KnowledgeBase = &KnowledgeBaseService{c: c}
	c.AssetGroups = &AssetGroupService{c: c}
	c.Hosts = &HostService{c: c}
	c.cfg.Finish(clientopt.Defaults{UserAgent: DefaultUserAgent, MaxAttempts: DefaultMaxAttempts, MaxWait: DefaultMaxWait, BackoffBase: DefaultBackoffBase})
	return c, nil
}

// ErrBaseURL is matched (errors.Is) by a *BaseURLError.
var ErrBaseURL = errors.New("qualys: wrong base URL")

// BaseURLError reports a base URL (or gateway URL) that cannot be the one
// meant: it carries an API path, or names the other server (the gateway
// given as the API server, or the reverse), or the server it names answers
// that it has no such API. It is reported instead of a refused API
// version, which it would otherwise look like.
type BaseURLError struct {
	// Which is "base URL" or "gateway URL".
	Which string
	// URL is the URL given, without credentials or query.
	URL    string
	Reason string
	// Err is the server's answer, when one told.
	Err error
}

// Error names the URL and what to give instead.
func (e *BaseURLError) Error() string {
	msg := "qualys: " + e.Which + " " + e.URL + ": " + e.Reason
	if e.Err != nil {
		msg += " (the server answered: " + strings.TrimPrefix(e.Err.Error(), "qualys: ") + ")"
	}
	return msg
}

// Unwrap returns the server's answer, if any.
func (e *BaseURLError) Unwrap() error { return e.Err }

// Is matches ErrBaseURL.
func (e *BaseURLError) Is(target error) bool { return target == ErrBaseURL }

// apiPaths are the paths the client adds to a base URL: a base URL that
// already carries one was given with an API path.
var apiPaths = []string{"/api/", "/qps/", "/rest/", "/msp/"}

// checkServerURL refuses a base URL that carries an API path, or that names
// the other server by Qualys' host names (qualysapi.* is the API server,
// gateway.* the gateway).
func checkServerURL(which string, u *url.URL, gateway bool) error {
	p := strings.ToLower(u.Path) + "/"
	for _, ap := range apiPaths {
		if i := strings.Index(p, ap); i >= 0 {
			return &BaseURLError{Which: which, URL: safeURL(u), Reason: fmt.Sprintf("it carries an API path (%s); give the server only, such as %s://%s%s (the client adds the API paths)",
				strings.TrimSuffix(u.Path[i:], "/"), u.Scheme, u.Host, u.Path[:i])}
		}
	}
	host := strings.ToLower(u.Hostname())
	switch {
	case !gateway && strings.HasPrefix(host, "gateway."):
		return &BaseURLError{Which: which, URL: safeURL(u), Reason: "this is a Qualys gateway; give the API server (qualysapi.…, see Platform) as the base URL and this one with WithGateway"}
	case gateway && strings.HasPrefix(host, "qualysapi."):
		return &BaseURLError{Which: which, URL: safeURL(u), Reason: "this is a Qualys API server; give the gateway (gateway.…, see Platform) with WithGateway and this one as the base URL"}
	}
	return nil
}

// safeURL is a URL as an error may quote it: scheme, host and path.
func safeURL(u *url.URL) string { return u.Scheme + "://" + u.Host + u.EscapedPath() }

func parseBaseURL(what, raw string, allowLoopback bool) (*url.URL, error) {
	u, err := clientopt.ParseBaseURL(what, raw, allowLoopback, "https://qualysapi.qualys.com")
	return u, configError(err)
}

// Rate is what the server last said about one API's limits, from the
// X-RateLimit-* and X-Concurrency-Limit-* headers. Zero fields were not
// sent. The QPS and gateway APIs send none of them.
type Rate struct {
	// API is the path of the API the headers came with; limits are per
	// API and per subscription.
	API string
	// Limit is X-RateLimit-Limit: calls allowed per Window.
	Limit int
	// Window is X-RateLimit-Window-Sec.
	Window time.Duration
	// Remaining is X-RateLimit-Remaining: calls left in the window.
	Remaining int
	// ToWait is X-RateLimit-ToWait-Sec: how long before the next call
	// will not be blocked.
	ToWait time.Duration
	// ConcurrencyLimit is X-Concurrency-Limit-Limit.
	ConcurrencyLimit int
	// ConcurrencyRunning is X-Concurrency-Limit-Running, this call
	// included.
	ConcurrencyRunning int
	// Observed is when the response carrying these headers arrived.
	Observed time.Time
}

// Rate returns the limits most recently reported by any API, and false when
// no response has carried rate-limit headers yet.
func (c *Client) Rate() (Rate, bool) {
	r := c.last.Load()
	if r == nil {
		return Rate{}, false
	}
	return *r, true
}

// RateFor returns the limits most recently reported for one API path (such
// as "/api/5.0/fo/asset/host/vm/detection/"; see EndpointPath).
func (c *Client) RateFor(api string) (Rate, bool) {
	c.mu.Lock()
	st := c.apis[api]
	c.mu.Unlock()
	if st == nil {
		return Rate{}, false
	}
	return st.rate()
}

// Concurrency returns how many requests the client lets run at once on
// one API path (such as EndpointPath(EndpointDetections)) now: the
// server's X-Concurrency-Limit-Limit once a response of that path has
// carried it (until then 1 for an FO API, 2 for the QPS and gateway APIs,
// which never carry it), capped by WithConcurrency. Every call of the
// client to that path shares these slots, so a caller that keeps this many
// requests outstanding uses what the subscription allows and never more;
// HoldSlot lets a caller wait for a slot before it starts work.
func (c *Client) Concurrency(api string) int {
	return c.api(api).gate.current()
}

// Calls returns how many HTTP requests the client has sent, per API path,
// retries included: the number the subscription's call budget is charged.
func (c *Client) Calls() map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int64, len(c.calls))
	for k, v := range c.calls {
		out[k] = v
	}
	return out
}

func (c *Client) api(key string) *apiState {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.apis[key]
	if st == nil {
		limit := defaultConcurrency
		if strings.HasPrefix(key, "/api/") {
			limit = foConcurrencyUntilKnown
		}
		if c.cfg.concurrency > 0 && c.cfg.concurrency < limit {
			limit = c.cfg.concurrency
		}
		st = &apiState{gate: newGate(limit)}
		c.apis[key] = st
	}
	return st
}

func (c *Client) countCall(key string) {
	c.mu.Lock()
	c.calls[key]++
	c.mu.Unlock()
}
