package carsync

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"
)

// TestBacklogInvariant drives the backlog through random interleavings of
// the join stage's counts (add) and the write stage's (done), as any
// schedule of the stages can order them, and checks after every step the
// invariant that makes a lost wakeup impossible: shut implies more than
// backlogLow hosts not yet taken, and open is closed exactly while not
// shut. A waiter parked while it is shut is released by the done that
// brings the count to backlogLow, whichever goroutine's step came last.
// (The valve it replaced decided "shut" from a queue length read before
// the writer drained the queue: the schedule join-checks, writer-drains,
// join-shuts left it shut over an empty queue.)
func TestBacklogInvariant(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	for walk := 0; walk < 2000; walk++ {
		b := newBacklog(nil)
		n := 0
		for step := 0; step < 60; step++ {
			if n == 0 || (n < writeQueue+1 && rng.IntN(2) == 0) {
				b.add()
				n++
			} else {
				b.done()
				n--
			}
			b.mu.Lock()
			shut, open, count := b.shut, b.open, b.n
			b.mu.Unlock()
			closed := false
			select {
			case <-open:
				closed = true
			default:
			}
			if count != n || (shut && count <= backlogLow) || closed == shut {
				t.Fatalf("walk %d step %d: n=%d shut=%v open closed=%v: the invariant broke", walk, step, count, shut, closed)
			}
		}
	}
	// The schedule: the join counts backlogHigh hosts (shutting),
	// a waiter parks, the writer takes them all; the waiter is released.
	b := newBacklog(nil)
	for range backlogHigh {
		b.add()
	}
	released := make(chan error, 1)
	go func() { released <- b.wait(context.Background()) }()
	for range backlogHigh {
		b.done()
	}
	select {
	case err := <-released:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the waiter was not released when the writer took every host")
	}
}
