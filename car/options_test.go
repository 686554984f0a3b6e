package car_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/qualysbridge/qualysbridge/car"
	"github.com/qualysbridge/qualysbridge/car/cartest"
)

// WithUserAgent reaches CAR; WithMaxJobs bounds the jobs in flight; a TLS
// fake is reached with its Client.
func TestClientAndImportOptions(t *testing.T) {
	srv := cartest.NewServer(cartest.WithTLS(), cartest.WithJobPolls(2))
	defer srv.Close()
	ua := &agentRecorder{next: srv.Client().Transport}
	hc := &http.Client{Transport: ua}
	c, err := car.NewClient(srv.URL, car.WithAPIKey(cartest.DefaultAPIKey, cartest.DefaultPassword), car.WithHTTPClient(hc),
		car.WithUserAgent("my-tool/2.0"), car.WithPolling(time.Millisecond, 5*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	im, err := c.NewImport(ctx, car.Source{Key: "Opt"}, car.Incremental, car.WithMaxJobs(2), car.WithBatchSize(1))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 6; i++ {
		id := string(rune('a' + i))
		if err := im.Add(ctx, car.Graph{Vertices: []car.Vertex{&car.Asset{ExternalID: id, Name: id}}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := im.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if p := srv.PeakOutstandingJobs(); p > 2 {
		t.Errorf("%d jobs outstanding, want at most 2", p)
	}
	agents := ua.seen()
	if len(agents) == 0 {
		t.Fatal("no requests went through the client")
	}
	for _, a := range agents {
		if a != "my-tool/2.0" {
			t.Errorf("User-Agent %q, want my-tool/2.0", a)
		}
	}
}

// agentRecorder records the User-Agent of every request it forwards.
type agentRecorder struct {
	next   http.RoundTripper
	mu     sync.Mutex
	agents []string
}

func (a *agentRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	a.mu.Lock()
	a.agents = append(a.agents, r.Header.Get("User-Agent"))
	a.mu.Unlock()
	return a.next.RoundTrip(r)
}

func (a *agentRecorder) seen() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.agents...)
}
