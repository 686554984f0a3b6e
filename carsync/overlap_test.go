package carsync_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/qualysbridge/qualysbridge/car"
	"github.com/qualysbridge/qualysbridge/car/cartest"
	"github.com/qualysbridge/qualysbridge/carsync"
	"github.com/qualysbridge/qualysbridge/qualys"
	"github.com/qualysbridge/qualysbridge/qualys/qualystest"
)

// Without Sequential (the default), a full import writes the same graph with the same
// detection, host asset and gateway calls as without; KnowledgeBase calls
// depend on when QIDs are first seen and stay within their budget.
func TestOverlapSameGraphSameCalls(t *testing.T) {
	t.Parallel()
	seq := newEnv(t, 180)
	seq.cfg.Sequential = true
	sumSeq := mustRun(t, seq.cfg)
	ovl := newEnv(t, 180)
	sumOvl := mustRun(t, ovl.cfg)
	if d := cmp.Diff(activeGraph(seq.c), activeGraph(ovl.c)); d != "" {
		t.Errorf("concurrent graph differs (-sequential +overlapped):\n%s", d)
	}
	kbPath := "/api/4.0/fo/knowledge_base/vuln/"
	noKB := cmpopts.IgnoreMapEntries(func(k string, _ int64) bool { return k == kbPath })
	if d := cmp.Diff(sumSeq.QualysCalls, sumOvl.QualysCalls, noKB); d != "" {
		t.Errorf("concurrent Qualys calls differ (-sequential +overlapped):\n%s", d)
	}
	pages := (180 + 49) / 50
	qids := len(seq.tenant.KB)
	for _, s := range []*carsync.Summary{sumSeq, sumOvl} {
		if n, limit := s.QualysCalls[kbPath], int64(pages+(qids+999)/1000+1); n == 0 || n > limit {
			t.Errorf("KnowledgeBase calls = %d, want 1 to pages + ceil(QIDs/1000) + 1 = %d", n, limit)
		}
	}
	if sumSeq.Hosts != sumOvl.Hosts || sumSeq.Detections != sumOvl.Detections || sumSeq.Applications != sumOvl.Applications {
		t.Errorf("summaries differ: %+v vs %+v", sumSeq, sumOvl)
	}
}

// barrierTimeout bounds how long a barrier waits for calls that a correct
// pipeline starts at once: it is only spent when the claim is false.
const barrierTimeout = 60 * time.Second

// An overlapped run keeps as many detection calls in flight as the server's
// X-Concurrency-Limit-Limit allows, and never more, while the gateway, QPS
// and KnowledgeBase calls run beside them. The fake holds the first
// answers until limit calls are in flight (a barrier, not a race), and
// refuses (409) any call beyond the limit. With fewer pages than the
// limit, pages are split to use it.
func TestOverlapUsesTheConcurrencyLimit(t *testing.T) {
	t.Parallel()
	// 4 pages each time; with a limit of 5, each page is split in 2 (at
	// least 100 hosts a call).
	for _, tc := range []struct{ limit, hosts, calls int }{{2, 400, 4}, {3, 400, 4}, {5, 800, 8}} {
		t.Run(fmt.Sprint(tc.limit), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, tc.hosts,
				qualystest.WithLimit(qualystest.APIDetections, qualystest.Limit{Concurrency: tc.limit}),
				qualystest.WithLimit(qualystest.APIKnowledgeBase, qualystest.Limit{Concurrency: tc.limit}))
			e.cfg.PageSize = tc.hosts / 4
			before := learnLimit(t, e)
			b := e.q.HoldCalls(qualystest.APIDetections, tc.limit, barrierTimeout)
			sum := mustRun(t, e.cfg)
			if !b.Reached() {
				t.Errorf("the run never had %d detection calls in flight at once", tc.limit)
			}
			checkWithinLimits(t, e, tc.limit)
			if sum.Hosts != tc.hosts {
				t.Errorf("hosts = %d, want %d", sum.Hosts, tc.hosts)
			}
			if n := e.q.Calls(qualystest.APIDetections) - before; n != tc.calls {
				t.Errorf("detection calls = %d, want %d", n, tc.calls)
			}
		})
	}
}

// checkWithinLimits fails the test if the run ever had more detection
// calls in flight than the limit, or if the fake refused a call.
func checkWithinLimits(t *testing.T, e *env, limit int) {
	t.Helper()
	if got := e.q.PeakConcurrency(qualystest.APIDetections); got > limit {
		t.Errorf("peak detection calls in flight = %d, above the limit %d", got, limit)
	}
	for _, api := range []string{qualystest.APIDetections, qualystest.APIKnowledgeBase} {
		if n := e.q.Refusals(api); n != 0 {
			t.Errorf("%s refused %d calls over its limits", api, n)
		}
	}
}

// With fewer pages than the concurrency limit, a page's hosts are split by
// host id range so that the limit is in use; the split stays within
// pages x 2 calls, writes the same graph, DetectionSplit 1 turns it off,
// and a call budget the split cannot afford (X-RateLimit-Remaining) turns
// it off too.
func TestDetectionSplit(t *testing.T) {
	t.Parallel()
	ref := newEnv(t, 400)
	ref.cfg.PageSize = 200
	mustRun(t, ref.cfg)
	for _, tc := range []struct {
		name        string
		split       int
		budget      int // calls an hour (0: not limited)
		calls, peak int
	}{
		// 2 pages of 200 hosts: the learned limit (3) needs 2 calls a page.
		{"auto", 0, 0, 4, 3},
		{"off", 1, 0, 2, 2},
		{"four", 4, 0, 8, 3},
		// 3 calls left after the first: splitting 2 pages (4 calls) needs
		// 8 left, the last page alone (2 calls) 4.
		{"budget", 0, 4, 2, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, 400, qualystest.WithLimit(qualystest.APIDetections,
				qualystest.Limit{Concurrency: 3, Calls: tc.budget, Window: time.Hour}))
			e.cfg.DetectionSplit, e.cfg.PageSize = tc.split, 200
			before := learnLimit(t, e)
			b := e.q.HoldCalls(qualystest.APIDetections, tc.peak, barrierTimeout)
			sum := mustRun(t, e.cfg)
			if n := e.q.Calls(qualystest.APIDetections) - before; n != tc.calls {
				t.Errorf("detection calls = %d, want %d", n, tc.calls)
			}
			if !b.Reached() {
				t.Errorf("the run never had %d detection calls in flight at once", tc.peak)
			}
			checkWithinLimits(t, e, 3)
			if d := cmp.Diff(activeGraph(ref.c), activeGraph(e.c)); d != "" {
				t.Errorf("graph with split differs:\n%s", d)
			}
			if sum.Detections == 0 {
				t.Error("no detections")
			}
		})
	}
}

// The last wave of detection calls is filled: when the pages are not a
// multiple of the limit, the run's last min(tail, limit - tail) pages are
// cut in two (tail = pages mod limit), and nothing else is. Pages of 120
// hosts (enough for two calls of at least 100 hosts each). That a split
// writes the same graph is TestDetectionSplit's.
func TestDetectionSplitFillsTheLastWave(t *testing.T) {
	t.Parallel()
	const page = 120
	for _, tc := range []struct {
		name         string
		limit, pages int
		budget       int // calls an hour (0: not limited)
		calls        int
	}{
		// tail 2, limit - tail 1: one page cut.
		{"limit 3, 5 pages: the last in two", 3, 5, 0, 6},
		{"limit 2, 2 pages fill a wave", 2, 2, 0, 2},
		// 3 calls are left in the hour once the limit is learned, 3 pages
		// need them all, and cutting the last page would need 4 left
		// (twice its 2 calls), whenever it is listed.
		{"budget", 2, 3, 4, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, tc.pages*page, qualystest.WithLimit(qualystest.APIDetections,
				qualystest.Limit{Concurrency: tc.limit, Calls: tc.budget, Window: time.Hour}))
			e.cfg.PageSize = page
			before := learnLimit(t, e)
			sum := mustRun(t, e.cfg)
			if n := e.q.Calls(qualystest.APIDetections) - before; n != tc.calls {
				t.Errorf("detection calls = %d, want %d", n, tc.calls)
			}
			if sum.Hosts != tc.pages*page {
				t.Errorf("hosts = %d, want %d", sum.Hosts, tc.pages*page)
			}
			checkWithinLimits(t, e, tc.limit)
		})
	}
}

// A subscription whose limit exceeds the pages to fetch is not split when
// the pages alone use the limit: 10 pages and a limit of 10 make 10 calls.
func TestNoSplitWhenPagesUseTheLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 500, qualystest.WithLimit(qualystest.APIDetections, qualystest.Limit{Concurrency: 10}))
	e.cfg.PageSize = 50
	before := learnLimit(t, e)
	mustRun(t, e.cfg)
	if n := e.q.Calls(qualystest.APIDetections) - before; n != 10 {
		t.Errorf("detection calls = %d, want one per page (10)", n)
	}
	checkWithinLimits(t, e, 10)
}

func TestOverlapFailures(t *testing.T) {
	t.Parallel()
	t.Run("Qualys side", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, 180)
		e.q.InjectFault(qualystest.Fault{API: qualystest.APIDetections, Call: 3, Status: 400,
			Body: "<SIMPLE_RETURN><RESPONSE><CODE>999</CODE><TEXT>Internal error</TEXT></RESPONSE></SIMPLE_RETURN>"})
		_, err := carsync.Run(context.Background(), e.cfg)
		var qe *qualys.Error
		if !errors.As(err, &qe) || qe.Code != "999" {
			t.Fatalf("err = %v, want the Qualys error", err)
		}
		if st := e.c.ModelState("Qualys"); st != "" {
			t.Errorf("a failed run saved state %q", st)
		}
	})
	t.Run("CAR side", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, 180)
		e.c.InjectFault(cartest.Fault{Route: "/imports", Call: 3, FailJob: true})
		_, err := carsync.Run(context.Background(), e.cfg)
		var jf *car.JobFailedError
		if !errors.As(err, &jf) {
			t.Fatalf("err = %v, want the CAR job failure", err)
		}
		if st := e.c.ModelState("Qualys"); st != "" {
			t.Errorf("a failed run saved state %q", st)
		}
	})
	t.Run("deadline while fetching ahead", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, 180)
		// Detection answers are held for an hour: only the deadline ends
		// the run, so returning at all proves it ends every stage.
		e.q.HoldCalls(qualystest.APIDetections, 100, time.Hour)
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		if _, err := carsync.Run(ctx, e.cfg); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want context.DeadlineExceeded", err)
		}
		if st := e.c.ModelState("Qualys"); st != "" {
			t.Errorf("a cancelled run saved state %q", st)
		}
	})
}

// learnLimit makes one detection call, so that the client knows the
// subscription's concurrency limit as a long-lived client does, and
// returns the detection calls made so far.
func learnLimit(t *testing.T, e *env) int {
	t.Helper()
	for _, err := range e.cfg.Qualys.Detections.List(context.Background(), &qualys.DetectionQuery{IDs: []int64{1}}) {
		if err != nil {
			t.Fatal(err)
		}
	}
	return e.q.Calls(qualystest.APIDetections)
}

// TestBackPressureCannotLoseAWakeup widens the pipeline's race windows, as
// the reproduction did with sleeps, by giving the processor away
// there (no wall clock: the test asserts no timing): when the join stage
// shuts the back-pressure, per host in the write stage, after the
// detection stage wakes. The valve this backlog replaced was shut there
// on a stale queue length, after the writer had drained the queue, with
// nothing left to reopen it, and the run stopped until its deadline. The
// scenario is the one that hung (ten detection calls at once, the writer
// slower than the join); every run ends, 20 times in a row, with the graph
// of a run without the hooks. The minute is a bound on a hang, never
// reached by a run that ends; TestBacklogInvariant proves the invariant
// over every interleaving of the backlog's operations.
func TestBackPressureCannotLoseAWakeup(t *testing.T) {
	t.Parallel()
	ref := newEnv(t, 100)
	ref.cfg.PageSize = 10
	mustRun(t, ref.cfg)
	want := activeGraph(ref.c)
	for i := range 20 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, 100, qualystest.WithLimit(qualystest.APIDetections, qualystest.Limit{Concurrency: 10}))
			e.cfg.PageSize = 10
			learnLimit(t, e)
			yield := func(n int) func() {
				return func() {
					for range n {
						runtime.Gosched()
					}
				}
			}
			carsync.SetRaceHooks(&e.cfg, yield(200), yield(10), yield(300))
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if _, err := carsync.Run(ctx, e.cfg); err != nil {
				t.Fatalf("run %d: %v (a minute is only reached by a pipeline that stopped)", i, err)
			}
			if d := cmp.Diff(want, activeGraph(e.c)); d != "" {
				t.Errorf("graph differs:\n%s", d)
			}
		})
	}
}
