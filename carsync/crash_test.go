package carsync_test

import (
	"context"
	"flag"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/qualysbridge/qualysbridge/car"
	"github.com/qualysbridge/qualysbridge/car/cartest"
	"github.com/qualysbridge/qualysbridge/carsync"
	"github.com/qualysbridge/qualysbridge/qualys/qualystest"
)

var crashEvery = flag.Int("crash.every", 0, "TestCrashConsistency faults every n-th CAR request of each run (1: every request, the full form; 0: a short default sample)")

// crashScenario is a run to be failed at each of its CAR requests: prepare
// brings a fresh CAR to the run's starting point, cfg is the run.
type crashScenario struct {
	name    string
	prepare func(t *testing.T, c *cartest.Server)
	cfg     func(t *testing.T, c *cartest.Server, retries bool) carsync.Config
}

// TestCrashConsistency: a full or an incremental run failed at any CAR
// request, the request refused (not applied) or applied with its answer
// lost (the client killed while CAR worked), then followed by one normal
// run, leaves CAR with the graph one clean run leaves, and the model state
// of a successful run. The incremental scenarios are those of
// TestIncrementalEqualsFull, every kind of change at once (a host removed,
// one added, an address renumbered, accounts changed, a detection fixed,
// one vanished, one found, an application added and one removed).
func TestCrashConsistency(t *testing.T) {
	t.Parallel()
	every := *crashEvery
	if every <= 0 {
		every = 5
		if testing.Short() {
			every = 17
		}
	}
	scenarios := []crashScenario{fullScenario(t, false)}
	for seq := range 2 {
		scenarios = append(scenarios, incrementalScenario(t, seq))
	}
	scenarios = append(scenarios, fullScenario(t, true))
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			ref := cartest.NewServer(cartest.WithJobPolls(0))
			t.Cleanup(ref.Close)
			sc.prepare(t, ref)
			before := len(ref.Requests())
			mustRun(t, sc.cfg(t, ref, true))
			n := len(ref.Requests()) - before
			want := activeGraph(ref)
			wantState := ref.ModelState("Qualys")
			tried, failed := 0, 0
			for k := 1; k <= n; k++ {
				if k%every != 1 && every > 1 && k != n {
					continue
				}
				for _, applied := range []bool{false, true} {
					c := cartest.NewServer(cartest.WithJobPolls(0))
					sc.prepare(t, c)
					c.InjectFault(cartest.Fault{Name: "crash", Call: k, Status: 500, Body: `{"errors":[{"code":"crash","message":"injected"}]}`, Applied: applied})
					_, err := carsync.Run(context.Background(), sc.cfg(t, c, false))
					if c.FaultsFired()["crash"] != 1 {
						t.Fatalf("request %d (applied %v): the fault did not fire (run err %v)", k, applied, err)
					}
					tried++
					if err != nil {
						failed++
					}
					c.ClearFaults()
					mustRun(t, sc.cfg(t, c, true))
					if d := cmp.Diff(want, activeGraph(c)); d != "" {
						t.Fatalf("request %d of %d failed (applied %v, run err %v), then a normal run: CAR differs from one clean run (-clean +got):\n%s", k, n, applied, err, d)
					}
					if st := c.ModelState("Qualys"); st != wantState {
						t.Errorf("request %d: model state %q, want %q", k, st, wantState)
					}
					c.Close()
				}
			}
			t.Logf("%s: %d CAR requests in a clean run; %d faulted runs (%d failed), each followed by a normal run: the clean graph every time", sc.name, n, tried, failed)
		})
	}
}

// crashConfig is a run's configuration against c; without retries, a
// faulted request fails the run.
func crashConfig(t *testing.T, q *qualystest.Server, c *cartest.Server, retries bool, now time.Time, seq bool) carsync.Config {
	cfg := config(t, q, c)
	if !retries {
		cc, err := car.NewClient(c.URL, car.WithAPIKey(cartest.DefaultAPIKey, cartest.DefaultPassword), car.WithInsecureLoopback(),
			car.WithPolling(time.Millisecond, 5*time.Millisecond), car.WithRetry(1, time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		cfg.CAR = cc
	}
	cfg.PageSize = 7
	cfg.Sequential = seq
	cfg.Now = func() time.Time { return now }
	return cfg
}

func fullScenario(t *testing.T, overlap bool) crashScenario {
	tn := qualystest.Generate(300, 16, qualystest.WithVulnerableTo("CVE-2019-17053", 0.3), qualystest.WithDetectionsPerHost(4))
	q := qualystest.NewServer(qualystest.WithTenant(tn))
	t.Cleanup(q.Close)
	now := time.Date(2026, 1, 1, 1, 0, 0, 0, time.UTC)
	return crashScenario{
		name:    fmt.Sprintf("full (overlap %v)", overlap),
		prepare: func(*testing.T, *cartest.Server) {},
		cfg: func(t *testing.T, c *cartest.Server, retries bool) carsync.Config {
			return crashConfig(t, q, c, retries, now, !overlap)
		},
	}
}

// incrementalScenario: a full run against the tenant before the changes,
// then every kind of change; the run to fault is the incremental one.
func incrementalScenario(t *testing.T, seq int) crashScenario {
	gen := func() *qualystest.Tenant {
		return qualystest.Generate(int64(200+seq), 16, qualystest.WithVulnerableTo("CVE-2019-17053", 0.3), qualystest.WithDetectionsPerHost(4))
	}
	pre := qualystest.NewServer(qualystest.WithTenant(gen()))
	t.Cleanup(pre.Close)
	tn := gen()
	post := qualystest.NewServer(qualystest.WithTenant(tn))
	t.Cleanup(post.Close)
	base := time.Date(2026, 1, 1, 1, 0, 0, 0, time.UTC)
	m := newMutator(uint64(seq), post, tn)
	for kind := range 9 {
		m.change(kind, m.pick(), base.Add(time.Hour))
		m.change(kind, m.pick(), base.Add(time.Hour))
	}
	return crashScenario{
		name: fmt.Sprintf("incremental %d (overlap %v)", seq, seq%2 == 1),
		prepare: func(t *testing.T, c *cartest.Server) {
			mustRun(t, crashConfig(t, pre, c, true, base, true))
		},
		cfg: func(t *testing.T, c *cartest.Server, retries bool) carsync.Config {
			cfg := crashConfig(t, post, c, retries, base.Add(2*time.Hour), seq%2 == 0)
			cfg.Mode = carsync.Incremental
			return cfg
		},
	}
}
