package car_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/qualysbridge/qualysbridge/car"
)

// A CAR that accepts the connection and never answers, or answers and
// then drips its body, fails the call with ErrIdleTimeout instead of
// holding it until the caller's deadline (the caller here has none: only
// the idle timeout can end the call).
func TestIdleTimeout(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("ids") {
		case "silent":
		default: // drip: headers, a byte, then nothing more
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
	c, err := car.NewClient(srv.URL+"/api/car/v2", car.WithAPIKey("k", "p"), car.WithInsecureLoopback(),
		car.WithIdleTimeout(100*time.Millisecond), car.WithRetry(2, time.Second), car.WithBackoff(func(int) time.Duration { return time.Millisecond }))
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"silent", "drip"} {
		t.Run(mode, func(t *testing.T) {
			_, err := c.ImportStatus(context.Background(), []string{mode})
			if !errors.Is(err, car.ErrIdleTimeout) {
				t.Fatalf("err = %v, want car.ErrIdleTimeout", err)
			}
		})
	}
}
