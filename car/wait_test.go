package car_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/qualysbridge/qualysbridge/car"
	"github.com/qualysbridge/qualysbridge/car/cartest"
)

// TestWaitsEnd: a jobstatus wait ends on any status that is not a known
// running or done one, with an error naming the job, its status and the
// step, and a job that stays running ends the wait at the deadline.
func TestWaitsEnd(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ name, body, want string }{
		{"cancelled", `{"id":"j","status":"CANCELLED"}`, "(entering a full import) ended with status CANCELLED"},
		{"empty", `{"id":"j","status":""}`, "ended with an empty status"},
		{"no status", `{"id":"j"}`, "ended with an empty status"},
		{"error", `{"id":"j","status":"ERROR","error":"boom"}`, "ended with status ERROR: boom"},
		{"unknown", `{"id":"j","status":"PAUSED"}`, "ended with status PAUSED"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			srv, cl, _ := setup(t)
			srv.InjectFault(cartest.Fault{Route: "/jobstatus", Status: 200, Body: c.body})
			err := cl.EnterFullImport(context.Background(), "Qualys")
			var je *car.JobError
			if !errors.As(err, &je) || je.Step != "entering a full import" || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want a *car.JobError saying %q", err, c.want)
			}
			if errors.Is(err, car.ErrJobDeadline) {
				t.Error("a failed job matches ErrJobDeadline")
			}
		})
	}
	t.Run("deadline", func(t *testing.T) {
		t.Parallel()
		srv := cartest.NewServer()
		t.Cleanup(srv.Close)
		cl, err := car.NewClient(srv.URL, car.WithAPIKey(cartest.DefaultAPIKey, cartest.DefaultPassword), car.WithInsecureLoopback(),
			car.WithPolling(time.Millisecond, 20*time.Millisecond), car.WithWaitDeadline(150*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		if err := cl.EnterFullImport(context.Background(), "Qualys"); err != nil {
			t.Fatal(err)
		}
		srv.InjectFault(cartest.Fault{Route: "/jobstatus", Status: 200, Body: `{"id":"j","status":"INPROGRESS"}`})
		start := time.Now()
		err = cl.ExitFullImport(context.Background(), "Qualys")
		if !errors.Is(err, car.ErrJobDeadline) || !strings.Contains(err.Error(), "(leaving a full import) is still in status INPROGRESS after") {
			t.Fatalf("err = %v, want ErrJobDeadline naming the step", err)
		}
		if took := time.Since(start); took > 30*time.Second {
			t.Errorf("the wait took %s", took)
		}
		if _, err := car.NewClient(srv.URL, car.WithAPIKey("k", "p"), car.WithWaitDeadline(0)); err == nil {
			t.Error("WithWaitDeadline(0) accepted")
		}
	})
}
