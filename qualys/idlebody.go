package qualys

import (
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"
)

// body wraps a response body: it gives the concurrency slot back when
// closed and fails a read that waits longer than the idle timeout.
type body struct {
	rc       io.ReadCloser
	release  func()
	idle     time.Duration
	timer    *time.Timer
	timedOut atomic.Bool
	closed   atomic.Bool
}

// ErrIdleTimeout is wrapped by the error of a body read that received
// nothing for longer than WithIdleTimeout.
var ErrIdleTimeout = errors.New("qualys: response body idle for too long")

func newBody(rc io.ReadCloser, release func(), idle time.Duration) *body {
	b := &body{rc: rc, release: release, idle: idle}
	if idle > 0 {
		b.timer = time.AfterFunc(idle, func() {
			b.timedOut.Store(true)
			rc.Close()
		})
		b.timer.Stop()
	}
	return b
}

func (b *body) Read(p []byte) (int, error) {
	if b.timer != nil {
		b.timer.Reset(b.idle)
	}
	n, err := b.rc.Read(p)
	if b.timer != nil {
		b.timer.Stop()
	}
	if err != nil && err != io.EOF && b.timedOut.Load() {
		return n, fmt.Errorf("%w (%s without data)", ErrIdleTimeout, b.idle)
	}
	return n, err
}

func (b *body) Close() error {
	if b.closed.Swap(true) {
		return nil
	}
	if b.timer != nil {
		b.timer.Stop()
	}
	err := b.rc.Close()
	b.release()
	return err
}
