package qualystest

import (
	"context"
	"sync"
	"time"
)

// Barrier holds the answers of one API's calls until a number of them are
// in flight together (see Server.HoldCalls).
type Barrier struct {
	api     string
	n       int
	timeout time.Duration

	mu       sync.Mutex
	arrived  int
	reached  bool
	timedOut bool
	open     chan struct{}
	timer    *time.Timer
	// arrival is closed and replaced at each arrival.
	arrival chan struct{}
}

// HoldCalls arms a barrier on the next n calls to api (one of the API*
// constants) that the server admits: each is held, after the API's limits
// and faults are applied and before it is answered, until all n are in
// flight at once; then all n are answered. Calls after the n-th are not
// held.
//
// It proves a claim about concurrency without depending on timing: a
// client that keeps n calls in flight reaches the barrier whatever the
// scheduling, since none of its calls can finish before the others start;
// one that cannot (it waits for an answer before its next call) is let go
// once timeout has passed since the first held call, and Reached reports
// false. Use a generous timeout (tens of seconds): it is only spent when
// the claim is false.
func (s *Server) HoldCalls(api string, n int, timeout time.Duration) *Barrier {
	b := &Barrier{api: api, n: max(n, 1), timeout: timeout, open: make(chan struct{}), arrival: make(chan struct{})}
	s.mu.Lock()
	s.barriers = append(s.barriers, b)
	s.mu.Unlock()
	return b
}

// Reached reports whether n calls were in flight together.
func (b *Barrier) Reached() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.reached
}

// Wait blocks until the barrier opens (reached or timed out) or ctx ends,
// and reports whether it was reached.
func (b *Barrier) Wait(ctx context.Context) bool {
	select {
	case <-b.open:
	case <-ctx.Done():
	}
	return b.Reached()
}

// WaitArrived blocks until k calls are held at the barrier (or have been),
// or ctx ends, and reports whether they are. A test uses it to act while
// calls are in flight: HoldCalls(api, n, long) with n larger than the
// calls the client can make holds them until the test is done with them.
func (b *Barrier) WaitArrived(ctx context.Context, k int) bool {
	for {
		b.mu.Lock()
		arrived, next := b.arrived, b.arrival
		b.mu.Unlock()
		if arrived >= k {
			return true
		}
		select {
		case <-next:
		case <-ctx.Done():
			return false
		}
	}
}

// join takes a call into the barrier if it still holds calls, and returns
// the channel that opens when the call may be answered (nil: not held).
func (b *Barrier) join() chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.timedOut || b.arrived >= b.n {
		return nil // not held: the barrier is spent
	}
	b.arrived++
	close(b.arrival)
	b.arrival = make(chan struct{})
	if b.arrived == 1 {
		b.timer = time.AfterFunc(b.timeout, func() {
			b.mu.Lock()
			defer b.mu.Unlock()
			if !b.reached && !b.timedOut {
				b.timedOut = true // later calls are not held
				close(b.open)
			}
		})
	}
	if b.arrived == b.n && !b.timedOut {
		b.reached = true
		b.timer.Stop()
		close(b.open)
	}
	return b.open
}

// hold waits at the barriers armed on api, in the order they were armed;
// false means the request's context ended first.
func (s *Server) hold(ctx context.Context, api string) bool {
	s.mu.Lock()
	var waits []chan struct{}
	for _, b := range s.barriers {
		if b.api != api {
			continue
		}
		if ch := b.join(); ch != nil {
			waits = append(waits, ch)
			break // one barrier per call
		}
	}
	s.mu.Unlock()
	for _, ch := range waits {
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		}
	}
	return true
}
