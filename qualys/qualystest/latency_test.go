package qualystest

import (
	"net/url"
	"sync"
	"testing"
	"time"
)

// WithLatency delays the first byte and paces the body per call: two calls
// in parallel each take about as long as one, and each holds its
// concurrency slot for the whole answer.
func TestWithLatency(t *testing.T) {
	t.Parallel()
	const ttfb = 60 * time.Millisecond
	const rate = 1 << 20 // bytes per second
	srv := NewServer(WithTenant(Generate(2, 40)), WithLatency(APIDetections, ttfb, rate), WithLimit(APIDetections, Limit{Concurrency: 2}))
	defer srv.Close()
	list := url.Values{"action": {"list"}}

	start := time.Now()
	resp, body := post(t, srv, APIDetections, list, nil)
	one := time.Since(start)
	if resp.StatusCode != 200 || len(body) < 20<<10 {
		t.Fatalf("status %d, %d bytes; want a 200 with a body of 20 KiB or more for the pacing to show", resp.StatusCode, len(body))
	}
	floor := ttfb + time.Duration(float64(len(body))/rate*float64(time.Second))
	if one < floor*9/10 {
		t.Errorf("one call took %v, want at least %v (%d bytes at %d B/s after %v)", one, floor, len(body), rate, ttfb)
	}

	// Two calls held until both are admitted, then paced: each takes at
	// least one call's time and holds its slot for all of it. (That they
	// are paced each on its own, not sharing a rate, is a matter of
	// speed: bench/run.sh's latency run measures it.)
	srv.HoldCalls(APIDetections, 2, time.Minute)
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			if resp, _ := post(t, srv, APIDetections, list, nil); resp.StatusCode != 200 {
				t.Errorf("status %d", resp.StatusCode)
			}
			if took := time.Since(start); took < floor*9/10 {
				t.Errorf("a parallel call took %v, want at least %v", took, floor)
			}
		}()
	}
	wg.Wait()
	if p := srv.PeakConcurrency(APIDetections); p != 2 {
		t.Errorf("peak concurrency %d, want 2: each call holds its slot while it is slow", p)
	}
}

// BytesServed counts each API's answer bytes, paced or not.
func TestBytesServed(t *testing.T) {
	t.Parallel()
	srv := NewServer(WithTenant(Generate(2, 30)), WithLatency(APIDetections, 0, 4<<20))
	defer srv.Close()
	var want int64
	for range 2 {
		_, body := post(t, srv, APIDetections, url.Values{"action": {"list"}}, nil)
		want += int64(len(body))
	}
	_, kb := post(t, srv, APIKnowledgeBase, url.Values{"action": {"list"}, "ids": {"10000"}}, nil)
	if got := srv.BytesServed(APIDetections); got != want || want == 0 {
		t.Errorf("detections: BytesServed %d, want the %d bytes read", got, want)
	}
	if got := srv.BytesServed(APIKnowledgeBase); got != int64(len(kb)) {
		t.Errorf("KnowledgeBase: BytesServed %d, want %d", got, len(kb))
	}
}
