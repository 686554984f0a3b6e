package carsync_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/qualysbridge/qualysbridge/car/cartest"
	"github.com/qualysbridge/qualysbridge/carsync"
	"github.com/qualysbridge/qualysbridge/internal/leakcheck"
	"github.com/qualysbridge/qualysbridge/qualys"
	"github.com/qualysbridge/qualysbridge/qualys/qualystest"
)

const qualysError = "<SIMPLE_RETURN><RESPONSE><CODE>999</CODE><TEXT>Internal error</TEXT></RESPONSE></SIMPLE_RETURN>"

// A run that is cancelled, or whose stage fails, returns only once every
// stage has ended: no goroutine of the engine or the clients is left, and
// every Qualys body is closed. (Not parallel: other tests' runs would be
// counted.)
func TestNoLeakOnCancelOrFailure(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(e *env)
		want  func(err error) bool
	}{
		{"page stage fails", func(e *env) {
			e.q.InjectFault(qualystest.Fault{API: qualystest.APIHostAssets, Call: 2, Status: 400, Body: "boom"})
		}, isQualysError},
		{"applications stage fails", func(e *env) {
			e.q.InjectFault(qualystest.Fault{API: qualystest.APIGatewayAssets, Call: 1, Times: 20, Status: 400, Body: `{"errorMessage":"bad"}`})
		}, isQualysError},
		{"a detection call fails", func(e *env) {
			e.q.InjectFault(qualystest.Fault{API: qualystest.APIDetections, Call: 3, Status: 400, Body: qualysError})
		}, isQualysError},
		{"a detection body is cut", func(e *env) {
			e.q.InjectFault(qualystest.Fault{API: qualystest.APIDetections, Times: 20, DropAfter: 4000})
		}, func(err error) bool { return err != nil }},
		{"KB stage fails", func(e *env) {
			e.q.InjectFault(qualystest.Fault{API: qualystest.APIKnowledgeBase, Call: 1, Status: 400, Body: qualysError})
		}, isQualysError},
		{"write stage fails", func(e *env) {
			e.c.InjectFault(cartest.Fault{Route: "/imports", Call: 4, Status: 400, Body: `{"message":"refused"}`})
		}, func(err error) bool { return err != nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, 300, qualystest.WithLimit(qualystest.APIDetections, qualystest.Limit{Concurrency: 3}))
			bodies := withBodyCount(t, e)
			tc.setup(e)
			_, err := carsync.Run(context.Background(), e.cfg)
			if !tc.want(err) {
				t.Fatalf("err = %v", err)
			}
			leakcheck.Goroutines(t)
			if n := bodies.Open(); n != 0 {
				t.Errorf("%d Qualys bodies left open", n)
			}
		})
	}
	t.Run("cancelled while detection calls stream", func(t *testing.T) {
		e := newEnv(t, 300, qualystest.WithLimit(qualystest.APIDetections, qualystest.Limit{Concurrency: 3}))
		bodies := withBodyCount(t, e)
		learnLimit(t, e)
		b := e.q.HoldCalls(qualystest.APIDetections, 100, time.Hour) // held until the test is done
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { _, err := carsync.Run(ctx, e.cfg); done <- err }()
		if !b.WaitArrived(context.Background(), 3) {
			t.Fatal("no detection calls")
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		leakcheck.Goroutines(t)
		if n := bodies.Open(); n != 0 {
			t.Errorf("%d Qualys bodies left open", n)
		}
	})
}

func isQualysError(err error) bool {
	var qe *qualys.Error
	return errors.As(err, &qe)
}

// withBodyCount rebuilds the env's Qualys client on a transport that
// counts open bodies.
func withBodyCount(t *testing.T, e *env) *leakcheck.Bodies {
	t.Helper()
	bodies := &leakcheck.Bodies{}
	user, pass := e.q.Credentials()
	qc, err := qualys.NewClient(e.q.URL, qualys.WithCredentials(user, pass), qualys.WithGateway(e.q.GatewayURL), qualys.WithInsecureLoopback(),
		qualys.WithBackoff(func(int) time.Duration { return 5 * time.Millisecond }), qualys.WithRetry(3, 3*time.Second),
		qualys.WithHTTPClient(bodies.Client()))
	if err != nil {
		t.Fatal(err)
	}
	e.cfg.Qualys = qc
	return bodies
}
