package qualysbridge_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qualysbridge/qualysbridge/car"
	"github.com/qualysbridge/qualysbridge/qualys"
	"github.com/qualysbridge/qualysbridge/threatq"
)

// Marker secrets: none of them, in any encoding, may reach an error, a
// log line or a server other than the configured one.
const (
	mUser       = "marker-user"
	mPass       = "Mk-pass w/ord+42&x=1"
	mAPIKey     = "marker-car-key"
	mCARPass    = "Mk-car-pass-9731"
	mCARToken   = "Mk-car-token-5517"
	mTQClient   = "marker-tq-client"
	mTQSecret   = "Mk-tq-secret-8812"
	mTQAccess   = "Mk-tq-access-4401"
	mTQRefresh  = "Mk-tq-refresh-3390"
	mGatewayJWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJtYXJrZXIiLCJleHAiOjQxMDI0NDQ4MDB9.TWstand0LXNpZw"
)

func markerForms() []string {
	var out []string
	for _, s := range []string{mPass, mCARPass, mCARToken, mTQSecret, mTQAccess, mTQRefresh, mGatewayJWT} {
		out = append(out, s, url.QueryEscape(s), base64.StdEncoding.EncodeToString([]byte(s)))
	}
	for _, up := range [][2]string{{mUser, mPass}, {mAPIKey, mCARPass}, {mTQClient, mTQSecret}} {
		out = append(out, base64.StdEncoding.EncodeToString([]byte(up[0]+":"+up[1])))
	}
	return out
}

func assertNoSecret(t *testing.T, where, text string) {
	t.Helper()
	for _, f := range markerForms() {
		if strings.Contains(text, f) {
			t.Errorf("%s leaks %q:\n%s", where, f, text)
		}
	}
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// clientCase is one client calling one API that carries credentials.
type clientCase struct {
	name string
	// run builds a client for base (and gateway, for the Qualys gateway)
	// and makes one call, returning its error.
	run func(ctx context.Context, base string, hc *http.Client, log *slog.Logger) error
	// carPath tells the redirecting server which base path to serve.
	basePath string
}

func clientCases() []clientCase {
	fast := func(int) time.Duration { return time.Millisecond }
	return []clientCase{
		{name: "qualys FO (Basic)", run: func(ctx context.Context, base string, hc *http.Client, log *slog.Logger) error {
			c, err := qualys.NewClient(base, qualys.WithCredentials(mUser, mPass), qualys.WithHTTPClient(hc), qualys.WithLogger(log), qualys.WithBackoff(fast), qualys.WithRetry(2, time.Second))
			if err != nil {
				return err
			}
			for _, err := range c.Detections.List(ctx, nil) {
				return err
			}
			return errors.New("no error")
		}},
		{name: "qualys QPS (Basic)", run: func(ctx context.Context, base string, hc *http.Client, log *slog.Logger) error {
			c, err := qualys.NewClient(base, qualys.WithCredentials(mUser, mPass), qualys.WithHTTPClient(hc), qualys.WithLogger(log), qualys.WithBackoff(fast), qualys.WithRetry(2, time.Second))
			if err != nil {
				return err
			}
			_, err = c.HostAssets.Count(ctx, nil)
			return err
		}},
		{name: "qualys gateway /auth (password in body)", run: func(ctx context.Context, base string, hc *http.Client, log *slog.Logger) error {
			c, err := qualys.NewClient(base, qualys.WithCredentials(mUser, mPass), qualys.WithGateway(base), qualys.WithHTTPClient(hc), qualys.WithLogger(log), qualys.WithBackoff(fast), qualys.WithRetry(2, time.Second))
			if err != nil {
				return err
			}
			for _, err := range c.Assets.List(ctx, nil) {
				return err
			}
			return errors.New("no error")
		}},
		{name: "car API key (Basic)", basePath: "/api/car/v2", run: func(ctx context.Context, base string, hc *http.Client, log *slog.Logger) error {
			c, err := car.NewClient(base+"/api/car/v2", car.WithAPIKey(mAPIKey, mCARPass), car.WithHTTPClient(hc), car.WithLogger(log), car.WithBackoff(fast), car.WithRetry(2, time.Second))
			if err != nil {
				return err
			}
			_, err = c.DatabaseStatus(ctx)
			return err
		}},
		{name: "car token", basePath: "/api/car/v2", run: func(ctx context.Context, base string, hc *http.Client, log *slog.Logger) error {
			c, err := car.NewClient(base+"/api/car/v2", car.WithToken(mCARToken), car.WithHTTPClient(hc), car.WithLogger(log), car.WithBackoff(fast), car.WithRetry(2, time.Second))
			if err != nil {
				return err
			}
			_, err = c.DatabaseStatus(ctx)
			return err
		}},
		{name: "threatq password grant (password in body)", run: func(ctx context.Context, base string, hc *http.Client, log *slog.Logger) error {
			c, err := threatq.NewClient(base, threatq.WithPasswordGrant(threatq.PasswordGrant{ClientID: mTQClient, Email: "analyst@example.com", Password: mPass}), threatq.WithHTTPClient(hc), threatq.WithLogger(log), threatq.WithBackoff(fast), threatq.WithRetry(2, time.Second))
			if err != nil {
				return err
			}
			_, err = c.IndicatorTypeID(ctx, "IP Address")
			return err
		}},
		{name: "threatq client credentials (Basic)", run: func(ctx context.Context, base string, hc *http.Client, log *slog.Logger) error {
			c, err := threatq.NewClient(base, threatq.WithClientCredentials(mTQClient, mTQSecret), threatq.WithHTTPClient(hc), threatq.WithLogger(log), threatq.WithBackoff(fast), threatq.WithRetry(2, time.Second))
			if err != nil {
				return err
			}
			_, err = c.IndicatorTypeID(ctx, "IP Address")
			return err
		}},
	}
}

// TestNoCredentialLeavesTheOrigin: every client, on its login and API
// calls, refuses 301/302/303/307/308 to another host, another port or
// plain http; the far side receives nothing at all.
func TestNoCredentialLeavesTheOrigin(t *testing.T) {
	var farHits atomic.Int64
	far := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		farHits.Add(1)
		io.WriteString(w, "{}")
	}))
	defer far.Close()
	farURL, _ := url.Parse(far.URL)
	targets := map[string]func(origin *url.URL) string{
		"another host": func(*url.URL) string { return "http://localhost:" + farURL.Port() },
		"another port": func(o *url.URL) string { return "https://" + o.Hostname() + ":" + farURL.Port() },
		"http":         func(o *url.URL) string { return "http://" + o.Hostname() + ":" + farURL.Port() },
	}
	for _, cc := range clientCases() {
		for tname, target := range targets {
			for _, status := range []int{301, 302, 303, 307, 308} {
				t.Run(fmt.Sprintf("%s/%s/%d", cc.name, tname, status), func(t *testing.T) {
					var origin *url.URL
					srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
						http.Redirect(w, r, target(origin)+r.URL.RequestURI(), status)
					}))
					defer srv.Close()
					origin, _ = url.Parse(srv.URL)
					before := farHits.Load()
					logs := &syncBuffer{}
					log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
					err := cc.run(context.Background(), srv.URL, srv.Client(), log)
					if err == nil || !strings.Contains(err.Error(), "redirect") {
						t.Errorf("err = %v, want a refused redirect", err)
					}
					if n := farHits.Load() - before; n != 0 {
						t.Errorf("the far side received %d requests", n)
					}
					assertNoSecret(t, "error", fmt.Sprintf("%v %+v %#v", err, err, err))
					assertNoSecret(t, "logs", logs.String())
				})
			}
		}
	}
}

// echoServer answers every request with an error whose body quotes the
// request: its URL, headers and body. Logins succeed with marker tokens so
// that the calls after them carry those tokens too.
func echoServer(t *testing.T) *httptest.Server {
	return httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch {
		case r.URL.Path == "/auth":
			w.WriteHeader(http.StatusCreated)
			io.WriteString(w, mGatewayJWT)
			return
		case r.URL.Path == "/api/token" && r.URL.Query().Get("grant_type") != "refresh_token":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"access_token":%q,"refresh_token":%q,"expires_in":3600}`, mTQAccess, mTQRefresh)
			return
		}
		var echo strings.Builder
		fmt.Fprintf(&echo, "%s %s\n", r.Method, r.URL.RequestURI())
		for k, v := range r.Header {
			fmt.Fprintf(&echo, "%s: %s\n", k, strings.Join(v, ","))
		}
		echo.Write(body)
		status := http.StatusBadRequest
		if strings.Contains(r.URL.Path, "hostasset") {
			status = http.StatusInternalServerError
		}
		w.WriteHeader(status)
		// Both as a JSON message and as plain text, so that every error
		// parser of every client quotes it.
		if r.URL.Query().Get("plain") == "" {
			fmt.Fprintf(w, `{"message":%q,"errors":[{"code":"echo","message":%q}]}`, echo.String(), echo.String())
		}
	}))
}

// TestSecretsNeverInErrorsOrLogs: servers that echo the request back in
// their error bodies; no marker secret, in any form, reaches the error (as
// text, %+v or %#v) or the debug log.
func TestSecretsNeverInErrorsOrLogs(t *testing.T) {
	srv := echoServer(t)
	defer srv.Close()
	for _, cc := range clientCases() {
		t.Run(cc.name, func(t *testing.T) {
			logs := &syncBuffer{}
			log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			err := cc.run(context.Background(), srv.URL, srv.Client(), log)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), "REDACTED") {
				t.Errorf("the echo was not quoted, so the test proves nothing: %v", err)
			}
			assertNoSecret(t, "error", fmt.Sprintf("%v\n%+v\n%#v", err, err, err))
			assertNoSecret(t, "logs", logs.String())
		})
	}
}

// TestRefreshTokenNotInTransportErrors: a refresh whose connection fails
// yields a *url.Error whose URL carried the refresh token; it is logged at
// DEBUG and must not show the token.
func TestRefreshTokenNotInTransportErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/token" {
			if r.URL.Query().Get("grant_type") == "refresh_token" {
				hj, _ := w.(http.Hijacker)
				conn, _, _ := hj.Hijack()
				conn.Close() // a transport error on the refresh
				return
			}
			fmt.Fprintf(w, `{"access_token":%q,"refresh_token":%q,"expires_in":1}`, mTQAccess, mTQRefresh)
			return
		}
		w.WriteHeader(http.StatusBadGateway)
		io.WriteString(w, `{"message":"upstream failed"}`)
	}))
	defer srv.Close()
	logs := &syncBuffer{}
	c, err := threatq.NewClient(srv.URL, threatq.WithPasswordGrant(threatq.PasswordGrant{ClientID: mTQClient, Email: "a@example.com", Password: mPass}), threatq.WithInsecureLoopback(),
		threatq.WithLogger(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))), threatq.WithRetry(1, time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ { // the first logs in; the second refreshes (the token is about to expire)
		_, err = c.IndicatorTypeID(context.Background(), "IP Address")
	}
	if !strings.Contains(logs.String(), "refresh failed") {
		t.Fatalf("the refresh was not attempted:\n%s", logs.String())
	}
	assertNoSecret(t, "logs", logs.String())
	assertNoSecret(t, "error", fmt.Sprintf("%v %+v %#v", err, err, err))
}

// TestLoginWaitRespectsCallerContext: while one goroutine's gateway login
// hangs, another caller with a short deadline returns at its deadline, not
// when the login ends.
func TestLoginWaitRespectsCallerContext(t *testing.T) {
	release := make(chan struct{})
	loggingIn := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/auth" {
			select {
			case loggingIn <- struct{}{}:
			default:
			}
			select {
			case <-release:
			case <-r.Context().Done():
			}
			w.WriteHeader(http.StatusCreated)
			io.WriteString(w, mGatewayJWT)
			return
		}
		io.WriteString(w, `{"responseCode":"SUCCESS","count":0,"hasMore":0,"assetListData":{"asset":[]}}`)
	}))
	defer srv.Close()
	defer close(release)
	c, err := qualys.NewClient(srv.URL, qualys.WithCredentials(mUser, mPass), qualys.WithGateway(srv.URL), qualys.WithInsecureLoopback())
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for range c.Assets.List(context.Background(), nil) {
		}
	}()
	<-loggingIn // the first login is now hanging, until the test ends
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	for _, err = range c.Assets.List(ctx, nil) {
		break
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v; want the caller's deadline", err)
	}
}
