package qualys

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/qualysbridge/qualysbridge/internal/redact"
	"github.com/qualysbridge/qualysbridge/internal/retry"
	"github.com/qualysbridge/qualysbridge/internal/safehttp"
)

// maxErrorBody bounds how much of an error or SIMPLE_RETURN body is read.
const maxErrorBody = 64 << 10

// apiRequest describes one logical API call; do may send it several times.
type apiRequest struct {
	method      string
	path        string // absolute path on the server
	api         string // the API the call is counted and limited under, when not path
	gateway     bool   // send to the gateway host
	bearer      bool   // gateway JWT instead of Basic auth
	query       url.Values
	body        []byte
	contentType string
	accept      string
	action      string
	// idempotent marks calls that are safe to send again after an
	// ambiguous failure (a transport error, a 503). Calls that are not
	// are retried only when the response proves the server did nothing.
	idempotent bool
	// fo marks FO API calls, whose 2xx bodies may still be SIMPLE_RETURN
	// errors.
	fo bool
	// ep is the versioned FO endpoint called, when there is one.
	ep Endpoint
}

func (r *apiRequest) key() string {
	k := r.path
	if r.api != "" {
		k = r.api
	}
	if r.gateway {
		return "gateway:" + k
	}
	return k
}

func (r *apiRequest) endpoint() string { return r.path }

// response is a successful reply; its Body must be closed. For FO calls
// whose body was a SIMPLE_RETURN without an error code, simple holds it.
type response struct {
	*http.Response
	simple *simpleReturn
}

// do sends the request with pacing, the concurrency cap and retries, and
// returns the first 2xx response that is not an error in disguise. The
// concurrency slot is held until the body is closed. For a versioned FO
// endpoint, a refusal of the version becomes a *VersionError and an
// end-of-service notice in the headers is logged once.
func (c *Client) do(ctx context.Context, r *apiRequest) (*response, error) {
	resp, err := c.doRetried(ctx, r)
	var qe *Error
	if err != nil && errors.As(err, &qe) && qe.kind != kindTransport && qe.kind != kindPaced {
		if be := c.wrongServer(r, qe); be != nil {
			return nil, be
		}
		if r.ep != "" && versionRefused(qe) {
			return nil, &VersionError{Endpoint: r.ep, Version: c.Version(r.ep), Err: qe}
		}
	}
	if r.ep == "" {
		return resp, err
	}
	if resp != nil {
		c.warnEndOfService(r.path, endOfServiceNotice(resp.Header))
	}
	return resp, err
}

// wrongServer tells a base URL problem from a refused version or a
// missing API: an API call answered with the gateway's "No such gateway
// API" (the gateway given as the API server), a gateway call answered with
// the API server's "Unrecognized API path" (the reverse), or a versioned
// path refused under a base URL that carries a path of its own.
func (c *Client) wrongServer(r *apiRequest, qe *Error) error {
	t := strings.ToLower(qe.Message)
	switch {
	case !r.gateway && strings.Contains(t, "no such gateway api"):
		return &BaseURLError{Which: "base URL", URL: safeURL(c.base), Err: qe,
			Reason: "it answers as a Qualys gateway; give the API server (qualysapi.…, see Platform) as the base URL and the gateway with WithGateway"}
	case r.gateway && c.gateway != nil && (strings.Contains(t, "unrecognized api path") || qe.StatusCode == http.StatusNotFound && !strings.Contains(t, "no such gateway api")):
		return &BaseURLError{Which: "gateway URL", URL: safeURL(c.gateway), Err: qe,
			Reason: "it does not answer as a Qualys gateway (an API server, or another server, answers " + r.path + "); give the gateway (gateway.…, see Platform) with WithGateway"}
	case !r.gateway && c.base.Path != "" && versionRefused(qe):
		return &BaseURLError{Which: "base URL", URL: safeURL(c.base), Err: qe,
			Reason: fmt.Sprintf("the server does not know %s under the base URL's path %s; give the server only (%s://%s) unless a proxy needs that path", r.path, c.base.Path, c.base.Scheme, c.base.Host)}
	}
	return nil
}

// doRetried runs the attempts of one call: acquire (pacing, the
// concurrency slot, the bearer token), exchange (send and record), then
// decide (accept, or wait and retry, or fail). A gateway 401 logs in again
// once without counting as an attempt.
func (c *Client) doRetried(ctx context.Context, r *apiRequest) (*response, error) {
	if c.cfg.creds == nil {
		return nil, &ConfigError{Option: "credentials", Reason: "no credentials; use WithCredentials"}
	}
	if r.gateway && c.gateway == nil {
		return nil, &ConfigError{Option: "gateway URL", Reason: "the " + r.path + " API is on the gateway; use WithGateway (see Platform)"}
	}
	key := r.key()
	st := c.api(key)
	refreshed := false
	for attempt := 1; ; {
		token, release, err := c.acquire(ctx, r, key, st)
		if err != nil {
			return nil, err
		}
		resp, final, err := c.exchange(ctx, r, key, st, token, attempt, release)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || !r.idempotent || final || attempt >= c.cfg.MaxAttempts {
				return nil, err
			}
			d := c.cfg.Backoff(attempt)
			c.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "qualys: retrying after transport error", slog.String("endpoint", key), slog.Int("attempt", attempt), slog.Duration("wait", d), slog.String("error", e.Message))
			if err := retry.Sleep(ctx, d); err != nil {
				return nil, err
			}
			attempt++
			continue
		}
		if r.bearer && resp.StatusCode == http.StatusUnauthorized && !refreshed {
			// The JWT expired or was revoked: log in again once.
			drain(resp.Body)
			release()
			c.jwt.invalidate(token)
			refreshed = true
			continue
		}
		apiErr, out := c.classify(r, resp, release)
		if apiErr == nil {
			return out, nil
		}
		d, err := c.decide(ctx, r, key, st, apiErr, attempt)
		if err != nil {
			return nil, err
		}
		if err := retry.Sleep(ctx, d); err != nil {
			return nil, err
		}
		attempt++
	}
}

// acquire waits for the API's pacing, takes its concurrency slot (or uses
// the one the context holds: see HoldSlot) and, for a gateway call, a
// bearer token. On success the caller holds the slot until it calls
// release; on failure nothing is held. A wait longer than WithRetry's
// maxWait is a paced *Error: no call is sent.
func (c *Client) acquire(ctx context.Context, r *apiRequest, key string, st *apiState) (token string, release func(), err error) {
	if err := ctx.Err(); err != nil {
		return "", nil, err
	}
	wait, cancelRes := st.reserve(time.Now())
	if wait > c.cfg.MaxWait {
		cancelRes()
		return "", nil, &Error{Method: r.method, Endpoint: r.endpoint(), Action: r.action,
			Message: "the subscription's call budget for this API is used up (counted by the client from the server's rate-limit headers); no call was sent", RetryAfter: wait, kind: kindPaced}
	}
	if wait > 0 {
		c.cfg.Logger.LogAttrs(ctx, slog.LevelDebug, "qualys: pacing", slog.String("endpoint", key), slog.Duration("wait", wait))
		if err := retry.Sleep(ctx, wait); err != nil {
			cancelRes()
			return "", nil, err
		}
	}
	if release, err = st.take(ctx); err != nil {
		return "", nil, err
	}
	if r.bearer {
		if token, err = c.jwt.get(ctx, c); err != nil {
			release()
			return "", nil, err
		}
	}
	return token, release, nil
}

// exchange sends one attempt, holding the slot: it counts the call,
// records the server's rate-limit headers and logs the response. A
// transport failure releases the slot and is a transport *Error (or the
// context's error); final reports that it must not be repeated.
func (c *Client) exchange(ctx context.Context, r *apiRequest, key string, st *apiState, token string, attempt int, release func()) (resp *http.Response, final bool, err error) {
	start := time.Now()
	c.countCall(key)
	resp, err = c.send(ctx, r, token)
	if err != nil {
		release()
		if ctx.Err() != nil {
			return nil, true, ctx.Err()
		}
		return nil, safehttp.Final(err), &Error{Method: r.method, Endpoint: r.endpoint(), Action: r.action, Message: "transport error: " + c.scrubErr(err), Err: safehttp.URLError(err), kind: kindTransport}
	}
	now := time.Now()
	if rt, ok := st.observe(r.path, resp.Header, c.cfg.concurrency, now); ok {
		c.last.Store(&rt)
	}
	c.cfg.Logger.LogAttrs(ctx, slog.LevelDebug, "qualys: response", slog.String("method", r.method), slog.String("endpoint", key), slog.String("action", r.action), slog.Int("status", resp.StatusCode), slog.Int("attempt", attempt), slog.Duration("elapsed", now.Sub(start)))
	return resp, false, nil
}

// decide returns how long to wait before retrying a call the API refused
// (apiErr), or the error to return: the context's error when it is done
// (the body was cut by the caller's cancel), apiErr when the call is not
// safe or not worth repeating, the attempts are spent, or the server asks
// for a wait longer than WithRetry's maxWait. A wait the server asked for
// blocks every call to the API until it has passed.
func (c *Client) decide(ctx context.Context, r *apiRequest, key string, st *apiState, apiErr *Error, attempt int) (time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if !c.retryable(r, apiErr) || attempt >= c.cfg.MaxAttempts {
		return 0, apiErr
	}
	d, fromServer := c.waitFor(apiErr, attempt)
	if fromServer && d > c.cfg.MaxWait {
		return 0, apiErr
	}
	if fromServer {
		st.block(time.Now().Add(d))
	}
	c.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "qualys: retrying", slog.String("endpoint", key), slog.String("action", r.action), slog.Int("status", apiErr.StatusCode), slog.String("code", apiErr.Code), slog.Int("attempt", attempt), slog.Duration("wait", d))
	return d, nil
}

func (c *Client) send(ctx context.Context, r *apiRequest, token string) (*http.Response, error) {
	base := c.base
	if r.gateway {
		base = c.gateway
	}
	u := *base
	u.Path = r.path
	if len(r.query) > 0 {
		u.RawQuery = r.query.Encode()
	}
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u.String(), body)
	if err != nil {
		return nil, err
	}
	if r.body != nil {
		b := r.body
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	}
	if r.bearer {
		req.Header.Set("Authorization", "Bearer "+token)
	} else {
		req.SetBasicAuth(c.cfg.creds.user, c.cfg.creds.pass)
	}
	req.Header.Set("X-Requested-With", c.cfg.UserAgent)
	req.Header.Set("User-Agent", c.cfg.UserAgent)
	if r.contentType != "" {
		req.Header.Set("Content-Type", r.contentType)
	}
	if r.accept != "" {
		req.Header.Set("Accept", r.accept)
	}
	return c.sendWithHeaderTimeout(ctx, req)
}

// sendWithHeaderTimeout sends req and fails it with ErrIdleTimeout when no
// response headers arrive within the idle timeout: a server that accepts
// the connection and never answers does not hold the call until the
// caller's own deadline. The body's reads are bounded by the same timeout
// (see body).
func (c *Client) sendWithHeaderTimeout(ctx context.Context, req *http.Request) (*http.Response, error) {
	idle := c.cfg.idleTimeout
	if idle <= 0 {
		return c.cfg.HTTPClient.Do(req)
	}
	rctx, cancel := context.WithCancel(ctx)
	var timedOut atomic.Bool
	timer := time.AfterFunc(idle, func() {
		timedOut.Store(true)
		cancel()
	})
	resp, err := c.cfg.HTTPClient.Do(req.WithContext(rctx))
	timer.Stop()
	if err != nil {
		cancel()
		if timedOut.Load() && ctx.Err() == nil {
			return nil, fmt.Errorf("%w: no response headers within %s", ErrIdleTimeout, idle)
		}
		return nil, err
	}
	resp.Body = cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// cancelOnClose releases a request's context when its body is closed.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b cancelOnClose) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// classify turns a response into either a usable response or an *Error.
func (c *Client) classify(r *apiRequest, resp *http.Response, releaseSlot func()) (*Error, *response) {
	base := &Error{StatusCode: resp.StatusCode, Method: r.method, Endpoint: r.endpoint(), Action: r.action}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		drain(resp.Body)
		releaseSlot()
		fillError(base, resp.Header.Get("Content-Type"), body)
		if safehttp.IsRedirect(resp.StatusCode) {
			base.Message, base.Snippet, base.kind = safehttp.RedirectMessage(resp.StatusCode, resp.Header, resp.Request.URL), "", kindAPI
		}
		base.Message = c.scrub(base.Message)
		base.finishSnippet(c.scrub)
		setRetryAfter(base, resp.Header)
		return base, nil
	}
	var once sync.Once
	release := func() { once.Do(releaseSlot) }
	rc := newBody(resp.Body, release, c.cfg.idleTimeout)
	if !r.fo {
		// A JSON API answering an HTML page (a proxy or maintenance
		// page) under 2xx is a failure, retried like a 503.
		br := bufio.NewReaderSize(rc, 32<<10)
		head, _ := br.Peek(512)
		if _, kind := rootElement(head); kind == bodyHTML {
			rc.Close()
			base.Message = "expected a JSON response, got " + describeBody(resp.Header.Get("Content-Type"), kind)
			base.setSnippet(head)
			base.finishSnippet(c.scrub)
			base.kind = kindBadBody
			return base, nil
		}
		resp.Body = struct {
			io.Reader
			io.Closer
		}{br, rc}
		return nil, &response{Response: resp}
	}
	// FO responses: a 2xx body may be a SIMPLE_RETURN (a success message,
	// or an error such as 2001 or a 1965 block), an HTML page, or empty.
	br := bufio.NewReaderSize(rc, 64<<10)
	head, _ := br.Peek(4096)
	root, kind := rootElement(head)
	switch {
	case kind == bodyEmpty:
		rc.Close()
		base.Message = "empty body where an XML response was expected"
		base.kind = kindBadBody
		return base, nil
	case kind == bodyHTML, kind == bodyOther:
		rc.Close()
		base.Message = "expected an XML response, got " + describeBody(resp.Header.Get("Content-Type"), kind)
		base.setSnippet(head)
		base.finishSnippet(c.scrub)
		base.kind = kindBadBody
		return base, nil
	case root == "SIMPLE_RETURN":
		body, err := io.ReadAll(io.LimitReader(br, maxErrorBody))
		rc.Close()
		sr, perr := parseSimpleReturn(body)
		if err != nil || perr != nil {
			base.Message = "unreadable SIMPLE_RETURN body"
			base.setSnippet(body)
			base.finishSnippet(c.scrub)
			base.kind = kindBadBody
			return base, nil
		}
		if sr.Code != "" {
			base.Code = sr.Code
			base.Message = c.scrub(sr.Text)
			base.RetryAfter = sr.secondsToWait()
			setRetryAfter(base, resp.Header)
			return base, nil
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		return nil, &response{Response: resp, simple: sr}
	}
	resp.Body = struct {
		io.Reader
		io.Closer
	}{br, rc}
	return nil, &response{Response: resp}
}

// retryable applies the retry rules (written once in internal/retry):
// codes that prove the server refused the call before doing anything are
// always retried; ambiguous failures (5xx but 501, a 409 without a code, a
// maintenance page) only for calls that are safe to repeat; client errors
// never.
func (c *Client) retryable(r *apiRequest, e *Error) bool {
	if limitCode(e.Code) {
		return true
	}
	if !r.idempotent {
		return false
	}
	switch e.StatusCode {
	case 409:
		// A 409 without a known code is most likely a limit whose body
		// was lost; a 409 with another code (2003) is permanent.
		return e.Code == ""
	case 200:
		return e.kind == kindBadBody // an HTML maintenance page or an empty body
	}
	return retry.Status(e.StatusCode, true, e.RetryAfter > 0)
}

// waitFor returns the wait before the next attempt and whether the server
// asked for it.
func (c *Client) waitFor(e *Error, attempt int) (time.Duration, bool) {
	if e.RetryAfter > 0 {
		return e.RetryAfter, true
	}
	d := c.cfg.Backoff(attempt)
	if d > c.cfg.MaxWait {
		d = c.cfg.MaxWait
	}
	return d, false
}

func setRetryAfter(e *Error, h http.Header) {
	if d, ok := retry.Seconds(h.Get("X-RateLimit-ToWait-Sec")); ok && d > 0 {
		e.RetryAfter = d
		return
	}
	if d, ok := retry.RetryAfter(h, time.Now()); ok && d > 0 {
		e.RetryAfter = d
	}
}

func drain(rc io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(rc, maxErrorBody))
	rc.Close()
}

// scrub removes the client's secrets, in every form they travel in, and
// anything shaped like a credential from text quoted from outside.
func (c *Client) scrub(s string) string {
	if c.cfg.creds == nil {
		return redact.Scrub(s)
	}
	return redact.Scrub(s, c.cfg.creds.pass, redact.Basic(c.cfg.creds.user, c.cfg.creds.pass), c.jwt.current())
}

// sanitize scrubs, in place, the texts of every *Error in err's tree, some
// of which quote response bodies decoded after the transport saw them.
func (c *Client) sanitize(err error) error {
	var walk func(error)
	walk = func(e error) {
		switch x := e.(type) {
		case nil:
			return
		case *Error:
			x.Message = c.scrub(x.Message)
			x.finishSnippet(c.scrub)
		case interface{ Unwrap() []error }:
			for _, inner := range x.Unwrap() {
				walk(inner)
			}
			return
		}
		walk(errors.Unwrap(e))
	}
	walk(err)
	return err
}

// scrubbed wraps an iterator's yield so that every error it yields is
// sanitized.
func scrubbed[T any](c *Client, yield func(T, error) bool) func(T, error) bool {
	return func(v T, err error) bool {
		if err != nil {
			err = c.sanitize(err)
		}
		return yield(v, err)
	}
}

// scrubErr is scrub for a transport error, whose URL is cut to scheme, host
// and path.
func (c *Client) scrubErr(err error) string {
	return c.scrub(safehttp.ScrubError(err))
}

// errKind distinguishes failures that need different retry treatment.
type errKind int

const (
	kindAPI       errKind = iota // the API said so
	kindTransport                // no response
	kindBadBody                  // a 2xx body of the wrong kind
	kindPaced                    // refused locally: the server said to wait longer than allowed
)
