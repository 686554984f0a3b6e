package retry

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

func TestPolicy(t *testing.T) {
	cases := []struct {
		name       string
		status     int
		header     string
		idempotent bool
		wantCalls  int32
	}{
		{"429 is a refusal: retried", 429, "0", false, 3},
		{"503 on a call not safe to repeat: not retried", 503, "", false, 1},
		{"503 with Retry-After is a refusal: retried", 503, "0", false, 3},
		{"502 on a safe call: retried", 502, "", true, 3},
		{"400: never retried", 400, "", true, 1},
		{"server asks for more than MaxWait: no retry", 429, "3600", true, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var n atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n.Add(1)
				if c.header != "" {
					w.Header().Set("Retry-After", c.header)
				}
				w.WriteHeader(c.status)
			}))
			defer srv.Close()
			p := Policy{MaxAttempts: 3, MaxWait: time.Second, Backoff: func(int) time.Duration { return time.Millisecond }, Logger: slog.New(slog.DiscardHandler), MaxBody: 1 << 20}
			res := p.Do(context.Background(), "/x", c.idempotent, func() (*http.Request, error) { return http.NewRequest("POST", srv.URL, nil) }, srv.Client())
			if n.Load() != c.wantCalls || res.Status != c.status {
				t.Errorf("%d calls, status %d; want %d calls", n.Load(), res.Status, c.wantCalls)
			}
		})
	}
	t.Run("transport error on a safe call is retried", func(t *testing.T) {
		var n atomic.Int32
		// A server that drops every connection: the request reached it.
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
		}))
		defer srv.Close()
		p := Policy{MaxAttempts: 3, MaxWait: time.Second, Backoff: func(int) time.Duration { return time.Millisecond }, Logger: slog.New(slog.DiscardHandler), MaxBody: 1 << 20}
		res := p.Do(context.Background(), "/x", true, func() (*http.Request, error) {
			n.Add(1)
			return http.NewRequest("GET", srv.URL, nil)
		}, srv.Client())
		if res.Err == nil || n.Load() != 3 {
			t.Errorf("err %v after %d attempts", res.Err, n.Load())
		}
	})
	t.Run("nothing listening: retried", func(t *testing.T) {
		// A refused connection is retried (a server or proxy
		// restarting refuses for a moment), within the attempts.
		var n atomic.Int32
		p := Policy{MaxAttempts: 3, MaxWait: time.Second, Backoff: func(int) time.Duration { return time.Millisecond }, Logger: slog.New(slog.DiscardHandler), MaxBody: 1 << 20}
		res := p.Do(context.Background(), "/x", true, func() (*http.Request, error) {
			n.Add(1)
			return http.NewRequest("GET", "http://127.0.0.1:1", nil)
		}, http.DefaultClient)
		if res.Err == nil || n.Load() != 3 {
			t.Errorf("err %v after %d attempts, want 3", res.Err, n.Load())
		}
	})
	t.Run("a name that does not resolve: not retried", func(t *testing.T) {
		var n atomic.Int32
		p := Policy{MaxAttempts: 3, MaxWait: time.Second, Backoff: func(int) time.Duration { return time.Hour }, Logger: slog.New(slog.DiscardHandler), MaxBody: 1 << 20}
		res := p.Do(context.Background(), "/x", true, func() (*http.Request, error) {
			n.Add(1)
			return http.NewRequest("GET", "http://no-such-host.invalid", nil)
		}, http.DefaultClient)
		if res.Err == nil || n.Load() != 1 {
			t.Errorf("err %v after %d attempts, want 1", res.Err, n.Load())
		}
	})
	t.Run("5xx but 501", func(t *testing.T) {
		for status, want := range map[int]bool{500: true, 502: true, 503: true, 504: true, 599: true, 501: false, 400: false, 404: false, 409: false, 429: true} {
			if got := Status(status, true, false); got != want {
				t.Errorf("Status(%d, idempotent) = %v, want %v", status, got, want)
			}
		}
		if Status(500, false, false) || !Status(503, false, true) || !Status(409, false, true) || !Status(429, false, false) {
			t.Error("a call not safe to repeat: only refusals that say a wait (and 429) are retried")
		}
	})
}
