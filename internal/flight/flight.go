// Package flight runs one call at a time for many waiters (a login shared
// by the goroutines that need its token) without holding a lock across the
// call: each waiter waits for the result or its own context, whichever
// comes first.
package flight

import (
	"context"
	"errors"
	"sync"
)

// Group runs at most one call at a time.
type Group[T any] struct {
	mu  sync.Mutex
	cur *call[T]
	// onWait, when set (tests), is called when a caller starts waiting for
	// a running call.
	onWait func()
}

type call[T any] struct {
	done chan struct{}
	val  T
	err  error
}

// Do runs fn, or, when a call is already running, waits for its result.
// A waiter returns ctx.Err() as soon as its own context ends. When the call
// it waited for failed only because the running caller's context ended,
// the waiter runs fn itself rather than inherit someone else's
// cancellation.
func (g *Group[T]) Do(ctx context.Context, fn func() (T, error)) (T, error) {
	for {
		g.mu.Lock()
		if c := g.cur; c != nil {
			onWait := g.onWait
			g.mu.Unlock()
			if onWait != nil {
				onWait()
			}
			select {
			case <-c.done:
				if ctxError(c.err) && ctx.Err() == nil {
					continue
				}
				return c.val, c.err
			case <-ctx.Done():
				var zero T
				return zero, ctx.Err()
			}
		}
		c := &call[T]{done: make(chan struct{})}
		g.cur = c
		g.mu.Unlock()
		func() {
			defer func() {
				g.mu.Lock()
				g.cur = nil
				g.mu.Unlock()
				close(c.done)
			}()
			c.val, c.err = fn()
		}()
		return c.val, c.err
	}
}

func ctxError(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
