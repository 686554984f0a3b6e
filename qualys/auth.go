package qualys

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/qualysbridge/qualysbridge/internal/flight"
)

// jwtLifetime is the documented lifetime of a gateway token, used when the
// token's own exp claim cannot be read.
const jwtLifetime = 4 * time.Hour

// jwtMargin is how long before expiry a token is renewed.
const jwtMargin = 5 * time.Minute

// tokenCache holds the gateway JWT. It is never logged or formatted. One
// login runs at a time, without a lock held across it: goroutines that need
// a token meanwhile wait for that login or for their own context.
type tokenCache struct {
	mu      sync.Mutex
	token   string
	expires time.Time
	login   flight.Group[string]
}

// get returns a valid token, logging in to the gateway when there is none or
// it is about to expire.
func (t *tokenCache) get(ctx context.Context, c *Client) (string, error) {
	if tok := t.valid(); tok != "" {
		return tok, nil
	}
	return t.login.Do(ctx, func() (string, error) {
		if tok := t.valid(); tok != "" {
			return tok, nil // another login finished meanwhile
		}
		tok, err := c.gatewayLogin(ctx)
		if err != nil {
			return "", err
		}
		t.mu.Lock()
		t.token, t.expires = tok, jwtExpiry(tok, time.Now())
		t.mu.Unlock()
		return tok, nil
	})
}

// valid returns the cached token if it is not about to expire.
func (t *tokenCache) valid() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.token != "" && time.Now().Add(jwtMargin).Before(t.expires) {
		return t.token
	}
	return ""
}

// current returns the cached token ("" when none), for scrubbing.
func (t *tokenCache) current() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.token
}

// gatewayLogin posts the credentials to the gateway's /auth and returns the
// JWT it answers.
func (c *Client) gatewayLogin(ctx context.Context) (string, error) {
	form := url.Values{}
	form.Set("username", c.cfg.creds.user)
	form.Set("password", c.cfg.creds.pass)
	form.Set("token", "true")
	resp, err := c.do(ctx, &apiRequest{
		method:      "POST",
		path:        c.gateway.Path + "/auth",
		gateway:     true,
		body:        []byte(form.Encode()),
		contentType: "application/x-www-form-urlencoded",
		action:      "auth",
		idempotent:  true,
	})
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return "", &Error{Endpoint: resp.Request.URL.Path, Action: "auth", Message: "reading token: " + c.scrubErr(err), Err: err, kind: kindTransport}
	}
	tok := string(bytes.TrimSpace(b))
	if resp.StatusCode != 201 && resp.StatusCode != 200 || tok == "" || strings.ContainsAny(tok, " \t\r\n<{") {
		return "", &Error{StatusCode: resp.StatusCode, Endpoint: resp.Request.URL.Path, Action: "auth", Message: "gateway /auth did not return a token (want HTTP 201 with the JWT as the body)", kind: kindBadBody}
	}
	return tok, nil
}

// invalidate drops the token if it is still the one the caller used, so a
// 401 causes one new login even when several requests see it at once.
func (t *tokenCache) invalidate(used string) {
	t.mu.Lock()
	if t.token == used {
		t.token = ""
	}
	t.mu.Unlock()
}

// jwtExpiry reads the exp claim of a JWT without verifying it (the gateway
// verifies; the client only needs to know when to renew).
func jwtExpiry(tok string, now time.Time) time.Time {
	parts := strings.Split(tok, ".")
	if len(parts) == 3 {
		if payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "=")); err == nil {
			var claims struct {
				Exp json.Number `json:"exp"`
			}
			if json.Unmarshal(payload, &claims) == nil {
				if n, err := claims.Exp.Int64(); err == nil && n > 0 {
					if exp := time.Unix(n, 0); exp.After(now) && exp.Before(now.Add(24*time.Hour)) {
						return exp
					}
				}
			}
		}
	}
	return now.Add(jwtLifetime)
}
