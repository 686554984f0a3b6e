package qualysbridge_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/qualysbridge/qualysbridge/car"
	"github.com/qualysbridge/qualysbridge/qualys"
	"github.com/qualysbridge/qualysbridge/threatq"
)

// pathRecorder answers every request with a 503 and records its path and
// User-Agent.
type pathRecorder struct {
	mu     sync.Mutex
	paths  []string
	agents []string
}

func (p *pathRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.paths = append(p.paths, r.URL.Path)
	p.agents = append(p.agents, r.UserAgent())
	p.mu.Unlock()
	http.Error(w, "unavailable", http.StatusServiceUnavailable)
}

func (p *pathRecorder) seen() ([]string, []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.paths...), append([]string(nil), p.agents...)
}

// The three clients apply one base-URL rule: a path prefix (a reverse
// proxy's, like go-github's /api-v3) is kept in front of every API path,
// and the shared options reach the wire the same way.
func TestBaseURLPathPrefixKept(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	calls := map[string]func(base string) error{
		"qualys": func(base string) error {
			c, err := qualys.NewClient(base+"/qualys-proxy/", qualys.WithCredentials("u", "p"), qualys.WithInsecureLoopback(),
				qualys.WithRetry(1, 0), qualys.WithUserAgent("probe/1"))
			if err != nil {
				return err
			}
			for _, err := range c.Detections.List(ctx, nil) {
				return err
			}
			return errors.New("no error from a 503")
		},
		"car": func(base string) error {
			c, err := car.NewClient(base+"/proxy/api/car/v2", car.WithAPIKey("k", "p"), car.WithInsecureLoopback(),
				car.WithRetry(1, 0), car.WithUserAgent("probe/1"))
			if err != nil {
				return err
			}
			_, err = c.DatabaseStatus(ctx)
			return err
		},
		"threatq": func(base string) error {
			c, err := threatq.NewClient(base+"/tq/api", threatq.WithClientCredentials("id", "secret"), threatq.WithInsecureLoopback(),
				threatq.WithRetry(1, 0), threatq.WithUserAgent("probe/1"))
			if err != nil {
				return err
			}
			_, err = c.AssetCollection(ctx)
			return err
		},
	}
	prefixes := map[string]string{"qualys": "/qualys-proxy/api/", "car": "/proxy/api/car/v2/", "threatq": "/tq/api/"}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rec := &pathRecorder{}
			srv := httptest.NewServer(rec)
			defer srv.Close()
			if err := call(srv.URL); err == nil {
				t.Fatal("want the 503 as an error")
			}
			paths, agents := rec.seen()
			if len(paths) == 0 {
				t.Fatal("no request reached the server")
			}
			for i, p := range paths {
				if !strings.HasPrefix(p, prefixes[name]) {
					t.Errorf("request to %q, want it under %q", p, prefixes[name])
				}
				if agents[i] != "probe/1" {
					t.Errorf("User-Agent %q, want probe/1", agents[i])
				}
			}
		})
	}
}

// The three clients refuse the same base URLs, and name the option.
func TestBaseURLRuleShared(t *testing.T) {
	t.Parallel()
	bad := map[string]string{
		"query":       "https://h.example.com/api/car/v2?x=1",
		"fragment":    "https://h.example.com/api/car/v2#f",
		"credentials": "https://u:pw@h.example.com/api/car/v2",
		"plain http":  "http://h.example.com/api/car/v2",
	}
	for what, raw := range bad {
		_, qerr := qualys.NewClient(raw, qualys.WithCredentials("u", "p"))
		_, cerr := car.NewClient(raw, car.WithAPIKey("k", "p"))
		_, terr := threatq.NewClient(raw, threatq.WithClientCredentials("id", "s"))
		var qc *qualys.ConfigError
		var cc *car.ConfigError
		var tc *threatq.ConfigError
		if !errors.As(qerr, &qc) || !errors.As(cerr, &cc) || !errors.As(terr, &tc) {
			t.Errorf("%s: want a ConfigError from all three, got %v / %v / %v", what, qerr, cerr, terr)
			continue
		}
		if qc.Reason != cc.Reason || cc.Reason != tc.Reason {
			t.Errorf("%s: the clients disagree:\n qualys:  %s\n car:     %s\n threatq: %s", what, qc.Reason, cc.Reason, tc.Reason)
		}
	}
	// Credentials are checked at construction by all three.
	if _, err := qualys.NewClient("https://h.example.com"); err == nil {
		t.Error("qualys: a client without credentials was built")
	}
	if _, err := car.NewClient("https://h.example.com/api/car/v2"); err == nil {
		t.Error("car: a client without credentials was built")
	}
	if _, err := threatq.NewClient("https://h.example.com"); err == nil {
		t.Error("threatq: a client without credentials was built")
	}
}
