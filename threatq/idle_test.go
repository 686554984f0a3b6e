package threatq_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/qualysbridge/qualysbridge/threatq"
)

// A ThreatQ that accepts the connection and never answers, or answers and
// then drips its body, fails the call with ErrIdleTimeout; the caller has
// no deadline, so only the idle timeout can end the call.
func TestIdleTimeout(t *testing.T) {
	for _, mode := range []string{"silent", "drip"} {
		t.Run(mode, func(t *testing.T) {
			release := make(chan struct{})
			defer close(release)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if strings.HasSuffix(r.URL.Path, "/token") {
					w.Header().Set("Content-Type", "application/json")
					io.WriteString(w, `{"access_token":"a","refresh_token":"b","expires_in":3600}`)
					return
				}
				if mode == "drip" {
					w.Header().Set("Content-Type", "application/json")
					io.WriteString(w, "{")
					w.(http.Flusher).Flush()
				}
				select {
				case <-release:
				case <-r.Context().Done():
				}
			}))
			defer srv.Close()
			c, err := threatq.NewClient(srv.URL, threatq.WithClientCredentials("id", "secret-value"), threatq.WithInsecureLoopback(),
				threatq.WithIdleTimeout(100*time.Millisecond), threatq.WithRetry(2, time.Second), threatq.WithBackoff(func(int) time.Duration { return time.Millisecond }))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.AssetCollection(context.Background()); !errors.Is(err, threatq.ErrIdleTimeout) {
				t.Fatalf("err = %v, want threatq.ErrIdleTimeout", err)
			}
		})
	}
}
