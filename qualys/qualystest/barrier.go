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
	b := &Barrier{api: api, n: max(n, 1), timeout: timeout, open: make(chan struct{})}
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

// join takes a call into the barrier if it still holds calls, and returns
// the channel that opens when the call may be answered (nil: not held).
func (b *Barrier) join() chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.arrived >= b.n {
		return nil
	}
	b.arrived++
	if b.arrived == 1 {
		b.timer = time.AfterFunc(b.timeout, func() {
			b.mu.Lock()
			defer b.mu.Unlock()
			if !b.reached && !b.timedOut {
				b.timedOut = true
				b.arrived = b.n // later calls are not held
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
