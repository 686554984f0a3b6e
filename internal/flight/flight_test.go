package flight

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestOneCallManyWaiters(t *testing.T) {
	var g Group[int]
	waiting := make(chan struct{}, 10)
	g.onWait = func() { waiting <- struct{}{} }
	var calls atomic.Int32
	release := make(chan struct{})
	var wg sync.WaitGroup
	results := make([]int, 10)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := g.Do(context.Background(), func() (int, error) {
				calls.Add(1)
				<-release
				return 42, nil
			})
			if err != nil {
				t.Error(err)
			}
			results[i] = v
		}()
	}
	for range len(results) - 1 { // one runs the call, the others wait for it
		<-waiting
	}
	close(release)
	wg.Wait()
	if n := calls.Load(); n != 1 {
		t.Errorf("%d calls, want 1", n)
	}
	for _, v := range results {
		if v != 42 {
			t.Errorf("result %d", v)
		}
	}
}

// A waiter's own deadline ends its wait, although the call runs on.
func TestWaiterRespectsItsContext(t *testing.T) {
	var g Group[int]
	release := make(chan struct{})
	defer close(release)
	started := make(chan struct{})
	go g.Do(context.Background(), func() (int, error) { close(started); <-release; return 1, nil })
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	// The running call ends only when the test does: returning at all
	// proves the wait ended with the waiter's context.
	_, err := g.Do(ctx, func() (int, error) { t.Error("second call ran"); return 0, nil })
	if err != context.DeadlineExceeded {
		t.Errorf("err %v, want context.DeadlineExceeded", err)
	}
}

// A call that failed because its caller was cancelled is run again by a
// waiter whose context is alive.
func TestCancelledLeaderDoesNotFailWaiters(t *testing.T) {
	var g Group[int]
	waiting := make(chan struct{}, 1)
	g.onWait = func() { waiting <- struct{}{} }
	lctx, lcancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	go g.Do(lctx, func() (int, error) { close(started); <-lctx.Done(); return 0, lctx.Err() })
	<-started
	done := make(chan int)
	go func() {
		v, err := g.Do(context.Background(), func() (int, error) { return 7, nil })
		if err != nil {
			t.Error(err)
		}
		done <- v
	}()
	<-waiting // the waiter waits for the leader's call
	lcancel()
	if v := <-done; v != 7 {
		t.Errorf("waiter got %d", v)
	}
}
