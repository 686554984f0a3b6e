package retry

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/qualysbridge/qualysbridge/internal/safehttp"
)

// Policy is the retry policy shared by the CAR and ThreatQ clients, whose
// services answer refusals with plain HTTP statuses: 429 (and 503 with a
// Retry-After) are refusals and always retried; 502, 503 and 504 and
// transport errors are ambiguous and retried only for calls that are safe
// to repeat; nothing else is retried. A server-given wait longer than
// MaxWait ends the retries.
type Policy struct {
	MaxAttempts int
	MaxWait     time.Duration
	// Backoff is the wait before retry number attempt when the server
	// gave none.
	Backoff func(attempt int) time.Duration
	Logger  *slog.Logger
	// MaxBody bounds how much of a response body is read.
	MaxBody int64
}

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
	for attempt := 1; ; attempt++ {
		req, err := newReq()
		if err != nil {
			return Result{Err: err}
		}
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return Result{Err: ctx.Err()}
			}
			if idempotent && attempt < p.MaxAttempts && !safehttp.Final(err) {
				d := p.Backoff(attempt)
				p.Logger.Warn("retrying after transport error", "endpoint", endpoint, "attempt", attempt, "wait", d)
				if err := Sleep(ctx, d); err != nil {
					return Result{Err: err}
				}
				continue
			}
			return Result{Err: err}
		}
		b, rerr := io.ReadAll(io.LimitReader(resp.Body, p.MaxBody))
		resp.Body.Close()
		p.Logger.Debug("response", "method", req.Method, "endpoint", endpoint, "status", resp.StatusCode, "attempt", attempt, "elapsed", time.Since(start))
		if rerr != nil {
			if idempotent && attempt < p.MaxAttempts {
				if err := Sleep(ctx, p.Backoff(attempt)); err != nil {
					return Result{Err: err}
				}
				continue
			}
			return Result{Status: resp.StatusCode, Header: resp.Header, Err: rerr}
		}
		res := Result{Status: resp.StatusCode, Header: resp.Header, Body: b}
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			return res
		}
		wait, said := RetryAfter(resp.Header, time.Now())
		retryable := resp.StatusCode == 429 || (resp.StatusCode == 503 && (idempotent || said)) ||
			(idempotent && (resp.StatusCode == 502 || resp.StatusCode == 504))
		if !retryable || attempt >= p.MaxAttempts {
			return res
		}
		if !said {
			wait = p.Backoff(attempt)
		}
		if wait > p.MaxWait {
			if said {
				return res
			}
			wait = p.MaxWait
		}
		p.Logger.Warn("retrying", "endpoint", endpoint, "status", resp.StatusCode, "attempt", attempt, "wait", wait)
		if err := Sleep(ctx, wait); err != nil {
			return Result{Err: err}
		}
	}
}
