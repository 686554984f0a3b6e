package qualystest

import (
	"context"
	"net/http"
	"time"
)

// latency is one API's answer timing: the wait before the first byte and
// the body's pace, per call.
type latency struct {
	ttfb        time.Duration
	bytesPerSec int
}

// WithLatency makes every answer of one API (one of the API* constants, as
// for WithLimit) slow the way a busy subscription's are: the response
// starts ttfb after the request was admitted, and its body is paced at
// bytesPerSecond (0: unpaced) for each call on its own, so that calls in
// parallel each get the rate. The call holds its concurrency slot (see
// WithLimit) for the whole answer, so the two together behave like a
// subscription whose limit is in use. A caller's cancel ends the wait.
func WithLatency(api string, ttfb time.Duration, bytesPerSecond int) Option {
	return func(s *Server) {
		if ttfb < 0 {
			ttfb = 0
		}
		s.latency[api] = latency{ttfb: ttfb, bytesPerSec: max(bytesPerSecond, 0)}
	}
}

// sleepCtx waits d or until ctx is done, and reports whether d passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// pacedWriter writes a body no faster than rate bytes per second, in small
// flushed pieces so that the client sees a stream, not bursts.
type pacedWriter struct {
	http.ResponseWriter
	ctx     context.Context
	rate    int
	start   time.Time
	written int64
}

func (p *pacedWriter) Write(b []byte) (int, error) {
	if p.start.IsZero() {
		p.start = time.Now()
	}
	piece := max(p.rate/50, 512)
	n := 0
	for len(b) > 0 {
		k := min(len(b), piece)
		w, err := p.ResponseWriter.Write(b[:k])
		n += w
		p.written += int64(w)
		if err != nil {
			return n, err
		}
		if f, ok := p.ResponseWriter.(http.Flusher); ok {
			f.Flush()
		}
		due := p.start.Add(time.Duration(float64(p.written) / float64(p.rate) * float64(time.Second)))
		if !sleepCtx(p.ctx, time.Until(due)) {
			return n, p.ctx.Err()
		}
		b = b[k:]
	}
	return n, nil
}

// Flush passes a flush through.
func (p *pacedWriter) Flush() {
	if f, ok := p.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap gives http.ResponseController the underlying writer.
func (p *pacedWriter) Unwrap() http.ResponseWriter { return p.ResponseWriter }
