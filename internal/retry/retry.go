// Package retry holds what the clients share about retrying: the backoff
// and wait helpers (Backoff, Sleep, RetryAfter, Seconds) used by all three,
// and Policy (http.go), the retry policy of the CAR and ThreatQ clients,
// whose services answer refusals with plain HTTP statuses; it also bounds
// each wait for their servers (IdleTimeout) and the bodies it reads. The
// qualys client keeps its own policy (its rate-limit headers and body codes
// decide what may be repeated) and uses only the helpers.
package retry

import (
	"context"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Backoff returns how long to wait before retry number attempt (1 for the
// first retry). It grows exponentially from base, is capped at max, and is
// jittered over its upper half ("equal jitter") so that clients blocked at
// the same moment do not come back at the same moment, while the wait never
// collapses to zero.
func Backoff(attempt int, base, max time.Duration) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	if base <= 0 {
		base = time.Second
	}
	d := base
	for i := 1; i < attempt && d < max; i++ {
		d *= 2
	}
	if max > 0 && d > max {
		d = max
	}
	half := d / 2
	if half <= 0 {
		return d
	}
	return half + rand.N(half+1)
}

// Sleep waits for d, or returns the context's error as soon as it is done.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// RetryAfter parses an HTTP Retry-After header, in seconds or as an HTTP
// date. It reports false when the header is absent or unreadable.
func RetryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if d, ok := Seconds(v); ok {
		return d, true
	}
	if t, err := http.ParseTime(v); err == nil {
		d := t.Sub(now)
		if d < 0 {
			d = 0
		}
		return d, true
	}
	return 0, false
}

// MaxWait is the longest wait Seconds returns: anything longer (or a
// number too large to hold) is this, so that a huge server-given wait is
// never wrapped around into a short one.
const MaxWait = 100 * 365 * 24 * time.Hour

// Seconds parses a non-negative whole number of seconds, as the
// X-RateLimit-ToWait-Sec, SECONDS_TO_WAIT and Retry-After values are sent,
// without overflow: a value beyond MaxWait (even one beyond int64) is
// MaxWait. It reports false for anything that is not such a number.
func Seconds(v string) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	for _, r := range v {
		if r < '0' || r > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n > int64(MaxWait/time.Second) {
		return MaxWait, true // digits only: too large
	}
	return time.Duration(n) * time.Second, true
}
