package carsync_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/qualysbridge/qualysbridge/car"
	"github.com/qualysbridge/qualysbridge/car/cartest"
	"github.com/qualysbridge/qualysbridge/carsync"
	"github.com/qualysbridge/qualysbridge/qualys"
	"github.com/qualysbridge/qualysbridge/qualys/qualystest"
)

// With Overlap, a full import writes the same graph with the same calls as
// without, and a failure on either side ends the run with that failure and
// no saved state.
func TestOverlapSameGraphSameCalls(t *testing.T) {
	t.Parallel()
	seq := newEnv(t, 180)
	sumSeq := mustRun(t, seq.cfg)
	ovl := newEnv(t, 180)
	ovl.cfg.Overlap = true
	sumOvl := mustRun(t, ovl.cfg)
	if d := cmp.Diff(activeGraph(seq.c), activeGraph(ovl.c)); d != "" {
		t.Errorf("graph with Overlap differs (-sequential +overlapped):\n%s", d)
	}
	if d := cmp.Diff(sumSeq.QualysCalls, sumOvl.QualysCalls); d != "" {
		t.Errorf("Qualys calls with Overlap differ (-sequential +overlapped):\n%s", d)
	}
	if sumSeq.Hosts != sumOvl.Hosts || sumSeq.Detections != sumOvl.Detections || sumSeq.Applications != sumOvl.Applications {
		t.Errorf("summaries differ: %+v vs %+v", sumSeq, sumOvl)
	}
}

func TestOverlapFailures(t *testing.T) {
	t.Parallel()
	t.Run("Qualys side", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, 180)
		e.cfg.Overlap = true
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
		e.cfg.Overlap = true
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
		e.cfg.Overlap = true
		e.q.InjectFault(qualystest.Fault{API: qualystest.APIDetections, Call: 2, Delay: time.Minute})
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		if _, err := carsync.Run(ctx, e.cfg); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want context.DeadlineExceeded", err)
		}
		if d := time.Since(start); d > 20*time.Second {
			t.Errorf("the run took %v to end after its deadline", d)
		}
		if st := e.c.ModelState("Qualys"); st != "" {
			t.Errorf("a cancelled run saved state %q", st)
		}
	})
}
