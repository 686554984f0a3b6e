package retry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/qualysbridge/qualysbridge/internal/safehttp"
)

// The retry policy of the three clients, written once:
//
//   - Which calls: every call on a refusal the server made before doing
//     anything (429, a 409 or 503 that says how long to wait, Qualys'
//     limit codes); otherwise only calls that are safe to repeat (reads,
//     idempotent writes such as upserts and deletes; never a PATCH or a
//     create, whose first attempt may have taken effect).
//   - Which answers: 429; 409 with a wait header; 5xx except 501 (not
//     implemented: it will not change); Qualys adds its limit codes, a 409
//     without a code and an HTML maintenance page answered 200.
//   - Which transport errors: those before or without an answer (the
//     connection refused, reset or timed out, the server idle past the
//     idle timeout); never a certificate failure nor a host name that does
//     not resolve, which do not heal by themselves.
//   - How long: the server's wait (Retry-After, X-RateLimit-ToWait-Sec)
//     when it gives one, and ends the retries when it is longer than the
//     budget's MaxWait; else the client's backoff (jittered, growing).
//   - How many: MaxAttempts sends of one call in all (WithRetry).

// Status reports whether an answer with this status is retried (see
// above): idempotent says the call is safe to repeat, said that the server
// gave a wait.
func Status(status int, idempotent, said bool) bool {
	switch {
	case status == http.StatusTooManyRequests:
		return true
	case status == http.StatusConflict:
		return said
	case status == http.StatusServiceUnavailable:
		return idempotent || said
	case status == http.StatusNotImplemented:
		return false
	case status >= 500 && status <= 599:
		return idempotent
	}
	return false
}

// Policy is the retry policy of the CAR and ThreatQ clients, whose
// services answer refusals with plain HTTP statuses (see Status). A
// server-given wait longer than MaxWait ends the retries.
type Policy struct {
	MaxAttempts int
	MaxWait     time.Duration
	// Backoff is the wait before retry number attempt when the server
	// gave none.
	Backoff func(attempt int) time.Duration
	Logger  *slog.Logger
	// MaxBody bounds how much of a response body is read; a longer body
	// is an error (ErrBodyTooLarge), never silently cut.
	MaxBody int64
	// IdleTimeout bounds each wait for the server: for the response
	// headers, and between two reads of the body. A server that accepts
	// the connection and never answers, or drips a byte now and then,
	// fails the attempt with ErrIdle (retried like a transport error when
	// the call is safe to repeat). Zero: no bound.
	IdleTimeout time.Duration
	// IdleError is the sentinel an idle attempt's error wraps (default
	// ErrIdle), so that each client's errors match its own
	// ErrIdleTimeout and no other's.
	IdleError error
}

// idleErr is the sentinel of an idle attempt.
func (p Policy) idleErr() error {
	if p.IdleError != nil {
		return p.IdleError
	}
	return ErrIdle
}

// ErrIdle is the error of an attempt on which the server sent nothing for
// Policy.IdleTimeout.
var ErrIdle = errors.New("no data from the server within the idle timeout")

// ErrBodyTooLarge is the error of a response body longer than
// Policy.MaxBody.
var ErrBodyTooLarge = errors.New("response body larger than the client accepts")

// Result is the final answer of a call: a status with its body, or a
// transport error.
type Result struct {
	Status int
	Header http.Header
	Body   []byte
	// Err is a transport or body-read error after the retries; Status is
	// then the last status seen (0 when there was no response).
	Err error
}

// Do sends a request built by newReq until it succeeds (2xx), fails for
// good, or the attempts run out. newReq is called for every attempt, so
// that the body can be sent again.
func (p Policy) Do(ctx context.Context, endpoint string, idempotent bool, newReq func() (*http.Request, error), client *http.Client) Result {
	res, _ := p.do(ctx, endpoint, idempotent, newReq, client, false)
	return res
}

// Open is Do for an answer read as a stream: a 2xx answer's body is left
// open for the caller to read and close (its reads bounded by the idle
// timeout, not by MaxBody); any other answer is read and returned as Do
// returns it, with a nil body.
func (p Policy) Open(ctx context.Context, endpoint string, idempotent bool, newReq func() (*http.Request, error), client *http.Client) (Result, io.ReadCloser) {
	return p.do(ctx, endpoint, idempotent, newReq, client, true)
}

func (p Policy) do(ctx context.Context, endpoint string, idempotent bool, newReq func() (*http.Request, error), client *http.Client, stream bool) (Result, io.ReadCloser) {
	for attempt := 1; ; attempt++ {
		req, err := newReq()
		if err != nil {
			return Result{Err: err}, nil
		}
		start := time.Now()
		w := newWatchdog(ctx, p.IdleTimeout)
		resp, err := client.Do(req.WithContext(w.ctx))
		if err != nil {
			w.stop()
			if ctx.Err() != nil {
				return Result{Err: ctx.Err()}, nil
			}
			if w.fired() {
				err = fmt.Errorf("%w (%s): no response headers", p.idleErr(), p.IdleTimeout)
			}
			if idempotent && attempt < p.MaxAttempts && !safehttp.Final(err) {
				d := p.Backoff(attempt)
				p.Logger.Warn("retrying after transport error", "endpoint", endpoint, "attempt", attempt, "wait", d)
				if err := Sleep(ctx, d); err != nil {
					return Result{Err: err}, nil
				}
				continue
			}
			return Result{Err: err}, nil
		}
		if stream && resp.StatusCode >= 200 && resp.StatusCode < 300 {
			p.Logger.Debug("response", "method", req.Method, "endpoint", endpoint, "status", resp.StatusCode, "attempt", attempt, "elapsed", time.Since(start))
			return Result{Status: resp.StatusCode, Header: resp.Header}, &streamBody{r: w.reader(resp.Body), body: resp.Body, w: w, idleErr: p.idleErr()}
		}
		b, rerr := io.ReadAll(w.reader(io.LimitReader(resp.Body, p.limit()+1)))
		resp.Body.Close()
		w.stop()
		switch {
		case rerr != nil && ctx.Err() != nil:
			return Result{Err: ctx.Err()}, nil
		case rerr != nil && w.fired():
			rerr = fmt.Errorf("%w (%s): the body stalled after %d bytes", p.idleErr(), p.IdleTimeout, len(b))
		case rerr == nil && int64(len(b)) > p.limit():
			return Result{Status: resp.StatusCode, Header: resp.Header, Err: fmt.Errorf("%w: more than %d bytes", ErrBodyTooLarge, p.limit())}, nil
		}
		p.Logger.Debug("response", "method", req.Method, "endpoint", endpoint, "status", resp.StatusCode, "attempt", attempt, "elapsed", time.Since(start))
		if rerr != nil {
			if idempotent && attempt < p.MaxAttempts {
				if err := Sleep(ctx, p.Backoff(attempt)); err != nil {
					return Result{Err: err}, nil
				}
				continue
			}
			return Result{Status: resp.StatusCode, Header: resp.Header, Err: rerr}, nil
		}
		res := Result{Status: resp.StatusCode, Header: resp.Header, Body: b}
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			return res, nil
		}
		wait, said := RetryAfter(resp.Header, time.Now())
		if !Status(resp.StatusCode, idempotent, said) || attempt >= p.MaxAttempts {
			return res, nil
		}
		if !said {
			wait = p.Backoff(attempt)
		}
		if wait > p.MaxWait {
			if said {
				return res, nil
			}
			wait = p.MaxWait
		}
		p.Logger.Warn("retrying", "endpoint", endpoint, "status", resp.StatusCode, "attempt", attempt, "wait", wait)
		if err := Sleep(ctx, wait); err != nil {
			return Result{Err: err}, nil
		}
	}
}

// limit is MaxBody, or 64 MiB when unset.
func (p Policy) limit() int64 {
	if p.MaxBody > 0 {
		return p.MaxBody
	}
	return 64 << 20
}

// watchdog cancels an attempt's context when the server has sent nothing
// for the idle timeout: armed while waiting for the headers and during
// each body read, disarmed in between.
type watchdog struct {
	ctx    context.Context
	cancel context.CancelFunc
	idle   time.Duration
	timer  *time.Timer
	hit    chan struct{}
	once   sync.Once
}

func newWatchdog(ctx context.Context, idle time.Duration) *watchdog {
	w := &watchdog{idle: idle}
	w.ctx, w.cancel = context.WithCancel(ctx)
	if idle > 0 {
		w.hit = make(chan struct{})
		w.timer = time.AfterFunc(idle, func() { w.once.Do(func() { close(w.hit) }); w.cancel() })
	}
	return w
}

// fired reports whether the idle timeout ended the attempt.
func (w *watchdog) fired() bool {
	if w.hit == nil {
		return false
	}
	select {
	case <-w.hit:
		return true
	default:
		return false
	}
}

func (w *watchdog) stop() {
	if w.timer != nil {
		w.timer.Stop()
	}
	w.cancel()
}

// reader re-arms the watchdog around each read of r.
func (w *watchdog) reader(r io.Reader) io.Reader {
	if w.timer == nil {
		return r
	}
	w.timer.Stop() // the headers are in: the body's reads are timed one by one
	return readerFunc(func(p []byte) (int, error) {
		w.timer.Reset(w.idle)
		n, err := r.Read(p)
		w.timer.Stop()
		return n, err
	})
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// streamBody is an open answer: reads go through the watchdog; Close
// closes the body and stops the watchdog.
type streamBody struct {
	r       io.Reader
	body    io.ReadCloser
	w       *watchdog
	idleErr error
}

func (b *streamBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF && b.w.fired() {
		err = fmt.Errorf("%w (%s): the body stalled", b.idleErr, b.w.idle)
	}
	return n, err
}

func (b *streamBody) Close() error {
	err := b.body.Close()
	b.w.stop()
	return err
}
