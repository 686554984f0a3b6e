package tqsync_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/qualysbridge/qualysbridge/internal/leakcheck"
	"github.com/qualysbridge/qualysbridge/qualys"
	"github.com/qualysbridge/qualysbridge/qualys/qualystest"
	"github.com/qualysbridge/qualysbridge/threatq"
	"github.com/qualysbridge/qualysbridge/threatq/threatqtest"
	"github.com/qualysbridge/qualysbridge/tqsync"
)

// The operation leaves nothing behind when it is cancelled mid-listing or
// a step fails: no goroutine of the engine or the clients, no Qualys or
// ThreatQ body open, and no search list. (Not parallel: other tests' runs
// would be counted.)
func TestNoLeakOnCancelOrFailure(t *testing.T) {
	tenant := qualystest.Generate(4, 200, qualystest.WithVulnerableTo(cve, 0.5))
	type setup struct {
		w      *world
		qb, tb *leakcheck.Bodies
	}
	newSetup := func(t *testing.T) *setup {
		w := newWorld(t, tenant)
		s := &setup{w: w, qb: &leakcheck.Bodies{}, tb: &leakcheck.Bodies{}}
		user, pass := w.q.Credentials()
		var err error
		if w.qc, err = qualys.NewClient(w.q.URL, qualys.WithCredentials(user, pass), qualys.WithInsecureLoopback(),
			qualys.WithBackoff(func(int) time.Duration { return time.Millisecond }), qualys.WithHTTPClient(s.qb.Client())); err != nil {
			t.Fatal(err)
		}
		if w.tc, err = threatq.NewClient(w.t.URL, threatq.WithPasswordGrant(threatq.PasswordGrant{ClientID: threatqtest.ClientID, Email: threatqtest.Email, Password: threatqtest.Password}),
			threatq.WithInsecureLoopback(), threatq.WithHTTPClient(s.tb.Client())); err != nil {
			t.Fatal(err)
		}
		return s
	}
	check := func(t *testing.T, s *setup) {
		t.Helper()
		leakcheck.Goroutines(t)
		if n := s.qb.Open() + s.tb.Open(); n != 0 {
			t.Errorf("%d bodies left open", n)
		}
		if lists := s.w.q.SearchLists(); len(lists) != 0 {
			t.Errorf("search lists left: %v", lists)
		}
	}
	cfg := func(s *setup) tqsync.Config {
		return tqsync.Config{Qualys: s.w.qc, ThreatQ: s.w.tc, CVEs: []string{cve}, Toggles: tqsync.Toggles{AddAssets: true}, BatchSize: 10}
	}
	engines := []struct {
		name string
		run  func(context.Context, tqsync.Config) error
	}{
		{"run", func(ctx context.Context, c tqsync.Config) error { _, err := tqsync.Run(ctx, c); return err }},
		{"sweep", func(ctx context.Context, c tqsync.Config) error {
			_, err := tqsync.Sweep(ctx, tqsync.SweepConfig{Config: c})
			return err
		}},
	}
	for _, e := range engines {
		t.Run(e.name+"/detection listing fails", func(t *testing.T) {
			s := newSetup(t)
			s.w.q.InjectFault(qualystest.Fault{API: qualystest.APIDetections, Call: 1, DropAfter: 3000})
			s.w.q.InjectFault(qualystest.Fault{API: qualystest.APIDetections, Call: 2, Status: 400,
				Body: "<SIMPLE_RETURN><RESPONSE><CODE>999</CODE><TEXT>Internal error</TEXT></RESPONSE></SIMPLE_RETURN>"})
			if err := e.run(context.Background(), cfg(s)); err == nil {
				t.Fatal("no error")
			}
			check(t, s)
		})
		t.Run(e.name+"/ThreatQ fails", func(t *testing.T) {
			s := newSetup(t)
			s.w.t.InjectFault(threatqtest.Fault{Method: "POST", Route: "asset", Status: 400, Body: `{"errors":["boom"]}`})
			if err := e.run(context.Background(), cfg(s)); err == nil {
				t.Fatal("no error")
			}
			check(t, s)
		})
		t.Run(e.name+"/cancelled while hosts stream", func(t *testing.T) {
			s := newSetup(t)
			b := s.w.q.HoldCalls(qualystest.APIDetections, 100, time.Hour) // held until cancelled
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- e.run(ctx, cfg(s)) }()
			if !b.WaitArrived(context.Background(), 1) {
				t.Fatal("no detection call")
			}
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Fatalf("err = %v, want context.Canceled", err)
			}
			check(t, s)
		})
	}
}
