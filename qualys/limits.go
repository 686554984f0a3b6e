package qualys

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/qualysbridge/qualysbridge/internal/retry"
	"golang.org/x/time/rate"
)

// apiState is the client's view of one API's limits: a pacer tuned from the
// X-RateLimit-* headers and a gate sized from X-Concurrency-Limit-Limit.
type apiState struct {
	gate *gate

	mu           sync.Mutex
	lim          *rate.Limiter
	blockedUntil time.Time
	last         Rate
	seen         bool
}

func (s *apiState) rate() (Rate, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last, s.seen
}

// reserve returns how long the caller must wait before sending the next
// request, and a function that gives the reservation back if it does not.
func (s *apiState) reserve(now time.Time) (time.Duration, func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var wait time.Duration
	if s.blockedUntil.After(now) {
		wait = s.blockedUntil.Sub(now)
	}
	cancel := func() {}
	if s.lim != nil {
		r := s.lim.ReserveN(now.Add(wait), 1)
		if r.OK() {
			wait += r.DelayFrom(now.Add(wait))
			cancel = r.Cancel
		}
	}
	return wait, cancel
}

// observe retunes the pacer and the gate from one response's headers.
func (s *apiState) observe(api string, h http.Header, userCap int, now time.Time) (Rate, bool) {
	r, ok := parseRate(h)
	if !ok {
		return Rate{}, false
	}
	r.API = api
	r.Observed = now
	s.mu.Lock()
	s.last = r
	s.seen = true
	if r.Limit > 0 && r.Window > 0 {
		// Calls left now may be spent at once; beyond them, calls come
		// back at the window's average rate. A fresh limiter each time
		// keeps the server's count authoritative.
		burst := max(r.Remaining, 1)
		s.lim = rate.NewLimiter(rate.Limit(float64(r.Limit)/r.Window.Seconds()), burst)
		if r.Remaining == 0 {
			// Take the one token so the next call waits for a refill.
			s.lim.AllowN(now, 1)
		}
	}
	if r.ToWait > 0 {
		if until := now.Add(r.ToWait); until.After(s.blockedUntil) {
			s.blockedUntil = until
		}
	}
	s.mu.Unlock()
	if r.ConcurrencyLimit > 0 {
		n := r.ConcurrencyLimit
		if userCap > 0 && userCap < n {
			n = userCap
		}
		s.gate.setLimit(n)
	}
	return r, true
}

// block records a wait the server asked for in a body (SECONDS_TO_WAIT) so
// that other goroutines calling the same API wait too.
func (s *apiState) block(until time.Time) {
	s.mu.Lock()
	if until.After(s.blockedUntil) {
		s.blockedUntil = until
	}
	s.mu.Unlock()
}

func parseRate(h http.Header) (Rate, bool) {
	var r Rate
	found := false
	num := func(name string) int {
		v := strings.TrimSpace(h.Get(name))
		if v == "" {
			return 0
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return 0
		}
		found = true
		return n
	}
	secs := func(name string) time.Duration {
		d, ok := retry.Seconds(h.Get(name))
		if ok {
			found = true
		}
		return d
	}
	r.Limit = num("X-RateLimit-Limit")
	r.Window = secs("X-RateLimit-Window-Sec")
	r.Remaining = num("X-RateLimit-Remaining")
	r.ToWait = secs("X-RateLimit-ToWait-Sec")
	r.ConcurrencyLimit = num("X-Concurrency-Limit-Limit")
	r.ConcurrencyRunning = num("X-Concurrency-Limit-Running")
	return r, found
}

// gate is a counting semaphore whose size can change while it is in use.
type gate struct {
	mu       sync.Mutex
	limit    int
	inFlight int
	wake     chan struct{}
}

func newGate(limit int) *gate {
	return &gate{limit: limit, wake: make(chan struct{})}
}

func (g *gate) acquire(ctx context.Context) error {
	for {
		g.mu.Lock()
		if g.inFlight < g.limit {
			g.inFlight++
			g.mu.Unlock()
			return nil
		}
		wake := g.wake
		g.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (g *gate) release() {
	g.mu.Lock()
	g.inFlight--
	close(g.wake)
	g.wake = make(chan struct{})
	g.mu.Unlock()
}

func (g *gate) current() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.limit
}

func (g *gate) setLimit(n int) {
	g.mu.Lock()
	if n != g.limit {
		g.limit = n
		close(g.wake)
		g.wake = make(chan struct{})
	}
	g.mu.Unlock()
}
