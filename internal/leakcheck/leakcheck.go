// Package leakcheck lets tests prove that a run left nothing behind: no
// goroutine of the module's client-side packages still running, and no
// HTTP response body left open. It is imported by tests only.
package leakcheck

import (
	"io"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// module is the import path prefix whose goroutines are looked for.
const module = "github.com/qualysbridge/qualysbridge/"

// Goroutines fails the test if a goroutine other than the caller's runs
// code of the module outside its fakes and their HTTP servers: client-side
// code (carsync's stages, the clients' iterators and prefetchers) must
// have ended when the call that started it returned.
//
// A goroutine that signals its end from a deferred call (close(done))
// has not quite returned when its waiter wakes: it is still leaving its
// function, runnable, and on a loaded machine the scheduler may not run
// it again for a while. So while every goroutine found is runnable or
// running, Goroutines looks again, up to Settle, until none is left. A
// goroutine found blocked (in a channel operation, a select, a read, a
// lock) is reported at once: nothing the call waited for is still
// blocked after it returned. Settle is a generous bound on how long a
// goroutine that is leaving waits to be scheduled, not a margin the
// verdict depends on: a clean run passes at the first look that finds
// nothing, and a goroutine that goes on to block is reported when it does.
func Goroutines(t testing.TB) {
	t.Helper()
	if leaked := settle(running, Settle); len(leaked) > 0 {
		t.Errorf("%d goroutines left running:\n\n%s", len(leaked), strings.Join(leaked, "\n\n"))
	}
}

// Settle bounds how long Goroutines waits for runnable goroutines that
// are leaving their function.
const Settle = 20 * time.Second

// settle calls look until it returns nothing, or a blocked goroutine, or
// timeout has passed, and returns its last answer.
func settle(look func() []string, timeout time.Duration) []string {
	deadline := time.Now().Add(timeout)
	wait := 100 * time.Microsecond
	for {
		leaked := look()
		if len(leaked) == 0 || slices.ContainsFunc(leaked, blocked) || time.Now().After(deadline) {
			return leaked
		}
		runtime.Gosched()
		time.Sleep(wait)
		if wait < 50*time.Millisecond {
			wait *= 2
		}
	}
}

// blocked reports whether a goroutine's stack says it waits (its state in
// "goroutine N [state]:" is neither runnable, running, in a system call
// nor being preempted or moved).
func blocked(stack string) bool {
	header, _, _ := strings.Cut(stack, "\n")
	_, state, ok := strings.Cut(header, "[")
	if !ok {
		return true
	}
	state, _, _ = strings.Cut(strings.TrimSuffix(strings.TrimSpace(state), "]:"), ",")
	switch state {
	case "runnable", "running", "syscall", "preempted", "copystack":
		return false
	}
	return true
}

// running returns the stacks of the goroutines Goroutines looks for.
func running() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	stacks := strings.Split(string(buf), "\n\n")
	var out []string
	for _, s := range stacks[1:] { // the first is the caller's
		if !strings.Contains(s, module) || strings.Contains(s, "net/http.(*conn).serve") || strings.Contains(s, "testing.tRunner") {
			continue
		}
		if strings.Contains(s, "/qualystest.") || strings.Contains(s, "/cartest.") || strings.Contains(s, "/threatqtest.") {
			continue // the fakes' own goroutines
		}
		out = append(out, s)
	}
	return out
}

// Bodies counts the response bodies a transport hands out and not closed.
type Bodies struct {
	// Next is the transport the requests go to (default
	// http.DefaultTransport).
	Next http.RoundTripper
	mu   sync.Mutex
	open int
}

// RoundTrip sends the request and counts its body as open until closed.
func (b *Bodies) RoundTrip(r *http.Request) (*http.Response, error) {
	next := b.Next
	if next == nil {
		next = http.DefaultTransport
	}
	resp, err := next.RoundTrip(r)
	if err != nil || resp.Body == nil {
		return resp, err
	}
	b.mu.Lock()
	b.open++
	b.mu.Unlock()
	resp.Body = &countedBody{ReadCloser: resp.Body, b: b}
	return resp, nil
}

// Open is the number of bodies not closed.
func (b *Bodies) Open() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.open
}

// Client returns an HTTP client that goes through b and follows no
// redirect.
func (b *Bodies) Client() *http.Client {
	return &http.Client{Transport: b, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

type countedBody struct {
	io.ReadCloser
	b    *Bodies
	once sync.Once
}

func (c *countedBody) Close() error {
	err := c.ReadCloser.Close()
	c.once.Do(func() {
		c.b.mu.Lock()
		c.b.open--
		c.b.mu.Unlock()
	})
	return err
}
