package qualys

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const testUser, testPass = "apiuser", "s3cr3t-P4ss-marker"

// setup starts an httptest server with a mux and a client pointed at it,
// with fast retries and a log buffer the test can search.
func setup(t *testing.T, opts ...Option) (*Client, *http.ServeMux, *bytes.Buffer) {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&lockedWriter{w: &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	all := append([]Option{
		WithCredentials(testUser, testPass),
		WithInsecureLoopback(),
		WithGateway(srv.URL),
		WithLogger(logger),
		WithRetry(4, 2*time.Second),
		WithBackoff(func(int) time.Duration { return time.Millisecond }),
	}, opts...)
	c, err := NewClient(srv.URL, all...)
	if err != nil {
		t.Fatal(err)
	}
	return c, mux, &logs
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

const simpleOK = `<?xml version="1.0" encoding="UTF-8" ?>
<!DOCTYPE SIMPLE_RETURN SYSTEM "https://qualysapi.example/api/2.0/simple_return.dtd">
<SIMPLE_RETURN><RESPONSE><DATETIME>2026-01-01T00:00:00Z</DATETIME><TEXT>New search list created successfully</TEXT>
<ITEM_LIST><ITEM><KEY>ID</KEY><VALUE>1784903</VALUE></ITEM></ITEM_LIST></RESPONSE></SIMPLE_RETURN>`

func simpleErr(code, text string) string {
	return fmt.Sprintf(`<!DOCTYPE SIMPLE_RETURN SYSTEM "x.dtd">
<SIMPLE_RETURN>
  <RESPONSE>
    <DATETIME>2026-01-01T00:00:00Z</DATETIME>
    <CODE>%s</CODE>
    <TEXT>%s</TEXT>
  </RESPONSE>
</SIMPLE_RETURN>`, code, text)
}

func foRequest(c *Client, idempotent bool) *apiRequest {
	return &apiRequest{method: "POST", path: c.base.Path + "/api/2.0/fo/test/", body: []byte("action=list"), contentType: "application/x-www-form-urlencoded", action: "list", idempotent: idempotent, fo: true}
}

func call(t *testing.T, c *Client, r *apiRequest) (string, error) {
	t.Helper()
	resp, err := c.do(context.Background(), r)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func TestRequestHeaders(t *testing.T) {
	t.Parallel()
	c, mux, _ := setup(t, WithUserAgent("my-tool/1.0"))
	mux.HandleFunc("/api/2.0/fo/test/", func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		got := map[string]string{
			"auth":   fmt.Sprint(ok, u, p),
			"xrw":    r.Header.Get("X-Requested-With"),
			"ua":     r.Header.Get("User-Agent"),
			"ct":     r.Header.Get("Content-Type"),
			"method": r.Method,
		}
		r.ParseForm()
		got["action"] = r.PostForm.Get("action")
		want := map[string]string{
			"auth": fmt.Sprint(true, testUser, testPass), "xrw": "my-tool/1.0", "ua": "my-tool/1.0",
			"ct": "application/x-www-form-urlencoded", "method": "POST", "action": "list",
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("request (-want +got):\n%s", d)
		}
		io.WriteString(w, "<OK/>")
	})
	if _, err := call(t, c, foRequest(c, true)); err != nil {
		t.Fatal(err)
	}
}

func TestRetry409WithoutToWaitBacksOff(t *testing.T) {
	t.Parallel()
	var backoffs []int
	c, mux, _ := setup(t, WithBackoff(func(a int) time.Duration { backoffs = append(backoffs, a); return time.Millisecond }))
	var n atomic.Int32
	mux.HandleFunc("/api/2.0/fo/test/", func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) <= 2 {
			w.WriteHeader(409)
			io.WriteString(w, simpleErr("1960", "This API cannot be run again until 1 currently running API instance has finished."))
			return
		}
		io.WriteString(w, "<OK/>")
	})
	if _, err := call(t, c, foRequest(c, false)); err != nil {
		t.Fatal(err)
	}
	if n.Load() != 3 {
		t.Errorf("server saw %d calls, want 3", n.Load())
	}
	if d := cmp.Diff([]int{1, 2}, backoffs); d != "" {
		t.Errorf("backoff attempts (-want +got):\n%s", d)
	}
}

func TestRetryHonoursToWait(t *testing.T) {
	t.Parallel()
	c, mux, _ := setup(t, WithBackoff(func(int) time.Duration { t.Error("backoff used although the server said how long to wait"); return 0 }))
	var n atomic.Int32
	var first time.Time
	var gap time.Duration
	mux.HandleFunc("/api/2.0/fo/test/", func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			first = time.Now()
			w.Header().Set("X-RateLimit-ToWait-Sec", "1")
			w.Header().Set("X-RateLimit-Remaining", "0")
			w.WriteHeader(409)
			io.WriteString(w, simpleErr("1965", "This API cannot be run again for another 1 second."))
			return
		}
		gap = time.Since(first)
		io.WriteString(w, "<OK/>")
	})
	if _, err := call(t, c, foRequest(c, true)); err != nil {
		t.Fatal(err)
	}
	if gap < 900*time.Millisecond {
		t.Errorf("retried after %v, want at least the 1s ToWait-Sec", gap)
	}
}

func TestRetry1965Under200(t *testing.T) {
	t.Parallel()
	c, mux, _ := setup(t)
	var n atomic.Int32
	mux.HandleFunc("/api/2.0/fo/test/", func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			io.WriteString(w, simpleErr("1965", "This API cannot be run again for another 0 seconds."))
			return
		}
		io.WriteString(w, "<OK/>")
	})
	body, err := call(t, c, foRequest(c, false))
	if err != nil {
		t.Fatal(err)
	}
	if body != "<OK/>" || n.Load() != 2 {
		t.Errorf("body %q after %d calls, want <OK/> after 2", body, n.Load())
	}
}

func TestNoRetryOnClientErrors(t *testing.T) {
	t.Parallel()
	for _, status := range []int{400, 401, 403, 404} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			c, mux, _ := setup(t)
			var n atomic.Int32
			mux.HandleFunc("/api/2.0/fo/test/", func(w http.ResponseWriter, r *http.Request) {
				n.Add(1)
				w.WriteHeader(status)
				io.WriteString(w, simpleErr("1905", "parameter ids has invalid value: abc"))
			})
			_, err := call(t, c, foRequest(c, true))
			var qe *Error
			if !errors.As(err, &qe) || qe.StatusCode != status || qe.Code != "1905" {
				t.Fatalf("err = %v, want *Error with status %d code 1905", err, status)
			}
			if n.Load() != 1 {
				t.Errorf("server saw %d calls, want 1", n.Load())
			}
		})
	}
}

func TestNonIdempotentNotRepeatedAfter503(t *testing.T) {
	t.Parallel()
	c, mux, _ := setup(t)
	var n atomic.Int32
	mux.HandleFunc("/api/2.0/fo/test/", func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.WriteHeader(503)
	})
	_, err := call(t, c, foRequest(c, false))
	var qe *Error
	if !errors.As(err, &qe) || qe.StatusCode != 503 {
		t.Fatalf("err = %v, want 503 *Error", err)
	}
	if n.Load() != 1 {
		t.Errorf("non-idempotent call sent %d times after a 503, want 1", n.Load())
	}
	// The same failure on an idempotent call is retried up to the limit.
	n.Store(0)
	_, err = call(t, c, foRequest(c, true))
	if err == nil || n.Load() != 4 {
		t.Errorf("idempotent call: err=%v after %d calls, want an error after 4", err, n.Load())
	}
}

func TestRetriesBoundedAndTyped(t *testing.T) {
	t.Parallel()
	c, mux, _ := setup(t)
	var n atomic.Int32
	mux.HandleFunc("/api/2.0/fo/test/", func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.WriteHeader(409)
		io.WriteString(w, simpleErr("1960", "This API cannot be run again until 1 currently running API instance has finished."))
	})
	_, err := call(t, c, foRequest(c, true))
	if !errors.Is(err, ErrRateLimited) {
		t.Fatalf("err = %v, want ErrRateLimited", err)
	}
	if n.Load() != 4 {
		t.Errorf("server saw %d calls, want 4 (WithRetry(4, ...))", n.Load())
	}
}

func TestServerWaitLongerThanMaxWaitFailsAtOnce(t *testing.T) {
	t.Parallel()
	c, mux, _ := setup(t)
	var n atomic.Int32
	mux.HandleFunc("/api/2.0/fo/test/", func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Header().Set("X-RateLimit-ToWait-Sec", "86000")
		w.WriteHeader(409)
		io.WriteString(w, simpleErr("1965", "This API cannot be run again for another 23 hours, 53 minutes and 20 seconds."))
	})
	_, err := call(t, c, foRequest(c, true))
	var qe *Error
	if !errors.Is(err, ErrRateLimited) || !errors.As(err, &qe) || qe.RetryAfter != 86000*time.Second {
		t.Fatalf("err = %v, want ErrRateLimited with RetryAfter 86000s", err)
	}
	if n.Load() != 1 { // returning at all proves no 24-hour wait
		t.Errorf("%d calls; want 1 call and an immediate error", n.Load())
	}
	// The next call is refused locally: the server said to wait.
	_, err = call(t, c, foRequest(c, true))
	if !errors.Is(err, ErrRateLimited) || n.Load() != 1 {
		t.Errorf("second call: err=%v, server calls %d; want ErrRateLimited without a call", err, n.Load())
	}
}

func TestContextCancelDuringWait(t *testing.T) {
	t.Parallel()
	c, mux, _ := setup(t, WithRetry(5, time.Hour), WithBackoff(func(int) time.Duration { return time.Hour }))
	mux.HandleFunc("/api/2.0/fo/test/", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(503)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	// The backoff is an hour: returning at all proves the wait ends with
	// the context.
	_, err := c.do(ctx, foRequest(c, true))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}
}

func TestTransportErrorRetriedOnlyWhenIdempotent(t *testing.T) {
	t.Parallel()
	c, mux, _ := setup(t)
	var n atomic.Int32
	mux.HandleFunc("/api/2.0/fo/test/", func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			hj, _ := w.(http.Hijacker)
			conn, _, _ := hj.Hijack()
			conn.Close()
			return
		}
		io.WriteString(w, "<OK/>")
	})
	if _, err := call(t, c, foRequest(c, true)); err != nil {
		t.Fatalf("idempotent call after a dropped connection: %v", err)
	}
	n.Store(0)
	_, err := call(t, c, foRequest(c, false))
	var qe *Error
	if !errors.As(err, &qe) || qe.Err == nil || n.Load() != 1 {
		t.Fatalf("non-idempotent: err=%v calls=%d; want a transport *Error after 1 call", err, n.Load())
	}
}

func TestRateHeadersParsedAndPaced(t *testing.T) {
	t.Parallel()
	c, mux, _ := setup(t)
	mux.HandleFunc("/api/2.0/fo/test/", func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-RateLimit-Limit", "300")
		h.Set("X-RateLimit-Window-Sec", "3600")
		h.Set("X-RateLimit-Remaining", "0")
		h.Set("X-RateLimit-ToWait-Sec", "0")
		h.Set("X-Concurrency-Limit-Limit", "2")
		h.Set("X-Concurrency-Limit-Running", "1")
		io.WriteString(w, "<OK/>")
	})
	if _, err := call(t, c, foRequest(c, true)); err != nil {
		t.Fatal(err)
	}
	got, ok := c.Rate()
	if !ok {
		t.Fatal("Rate() reports no headers seen")
	}
	got.Observed = time.Time{}
	want := Rate{API: "/api/2.0/fo/test/", Limit: 300, Window: time.Hour, Remaining: 0, ConcurrencyLimit: 2, ConcurrencyRunning: 1}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("Rate (-want +got):\n%s", d)
	}
	// No calls left: the next one must wait about Window/Limit = 12s,
	// which is longer than maxWait (2s), so it is refused locally.
	before := c.Calls()["/api/2.0/fo/test/"]
	_, err := call(t, c, foRequest(c, true))
	var qe *Error
	if !errors.Is(err, ErrRateLimited) || !errors.As(err, &qe) || qe.RetryAfter < 10*time.Second {
		t.Fatalf("err = %v, want ErrRateLimited with RetryAfter about 12s", err)
	}
	if after := c.Calls()["/api/2.0/fo/test/"]; after != before {
		t.Errorf("paced call was sent anyway (%d -> %d calls)", before, after)
	}
}

// heldServer answers the FO test path only when told to: each request
// reports on entered and waits for a token on proceed, so that a test
// decides when each answer goes and needs no sleep.
type heldServer struct {
	entered chan struct{}
	proceed chan struct{}
	inside  atomic.Int32
	peak    atomic.Int32
}

func newHeldServer(mux *http.ServeMux, limit string) *heldServer {
	h := &heldServer{entered: make(chan struct{}, 64), proceed: make(chan struct{})}
	mux.HandleFunc("/api/2.0/fo/test/", func(w http.ResponseWriter, r *http.Request) {
		cur := h.inside.Add(1)
		for p := h.peak.Load(); cur > p && !h.peak.CompareAndSwap(p, cur); p = h.peak.Load() {
		}
		h.entered <- struct{}{}
		<-h.proceed
		h.inside.Add(-1)
		w.Header().Set("X-Concurrency-Limit-Limit", limit)
		io.WriteString(w, "<OK/>")
	})
	return h
}

// gateState is how many slots of the test API are taken and allowed.
func gateState(c *Client) (inFlight, limit int) {
	g := c.api(c.base.Path + "/api/2.0/fo/test/").gate
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.inFlight, g.limit
}

// An FO API gets one call at a time until an answer states its limit, then
// exactly as many as the header says (never more, capped by
// WithConcurrency). Proved with answers held by the test: every slot holder
// is inside the handler when it is counted.
func TestConcurrencyCapFromHeader(t *testing.T) {
	t.Parallel()
	c, mux, _ := setup(t, WithConcurrency(8))
	h := newHeldServer(mux, "3")
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := call(t, c, foRequest(c, true)); err != nil {
				t.Error(err)
			}
		}()
	}
	<-h.entered
	if in, limit := gateState(c); in != 1 || limit != 1 || h.inside.Load() != 1 {
		t.Fatalf("before the limit is known: %d slots taken of %d, %d calls inside; want 1 of 1", in, limit, h.inside.Load())
	}
	h.proceed <- struct{}{} // the first answer says 3
	for range 3 {
		<-h.entered
	}
	if in, limit := gateState(c); in != 3 || limit != 3 || h.inside.Load() != 3 {
		t.Fatalf("after the server said 3: %d slots taken of %d, %d calls inside; want 3 of 3", in, limit, h.inside.Load())
	}
	close(h.proceed)
	wg.Wait()
	if p := h.peak.Load(); p != 3 {
		t.Errorf("peak calls inside = %d, want 3", p)
	}
}

// HoldSlot takes one of the API's slots; calls made with its context use
// it instead of taking another, calls without it wait for a free slot.
func TestHoldSlot(t *testing.T) {
	t.Parallel()
	c, mux, _ := setup(t)
	h := newHeldServer(mux, "2")
	path := c.base.Path + "/api/2.0/fo/test/"
	go func() { h.proceed <- struct{}{} }()
	if _, err := call(t, c, foRequest(c, true)); err != nil { // learns the limit: 2
		t.Fatal(err)
	}
	<-h.entered
	ctx1, release1, err := c.HoldSlot(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	_, release2, err := c.HoldSlot(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	if in, limit := gateState(c); in != 2 || limit != 2 {
		t.Fatalf("two slots held: %d taken of %d", in, limit)
	}
	// A call with a held slot's context runs although every slot is taken.
	held := make(chan error, 1)
	go func() {
		resp, err := c.do(ctx1, foRequest(c, true))
		if err == nil {
			resp.Body.Close()
		}
		held <- err
	}()
	<-h.entered
	if in, _ := gateState(c); in != 2 {
		t.Errorf("a call with a held slot took another: %d slots taken", in)
	}
	h.proceed <- struct{}{}
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	// A call without one waits for a slot: released, it goes.
	free := make(chan error, 1)
	go func() { _, err := call(t, c, foRequest(c, true)); free <- err }()
	ctx3, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := c.HoldSlot(ctx3, path); !errors.Is(err, context.Canceled) {
		t.Errorf("HoldSlot with every slot taken and a cancelled context: %v", err)
	}
	release2()
	release2() // idempotent
	<-h.entered
	h.proceed <- struct{}{}
	if err := <-free; err != nil {
		t.Fatal(err)
	}
	release1()
	if in, _ := gateState(c); in != 0 {
		t.Errorf("%d slots still taken after every release", in)
	}
}

func TestErrorTyping(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		status int
		ctype  string
		body   string
		is     error
		code   string
		text   string
	}{
		{"bad login", 401, "text/xml", simpleErr("2000", "Bad Login/Password"), ErrUnauthorized, "2000", "Bad Login/Password"},
		{"expired under 200", 200, "text/xml", simpleErr("2001", "This account has expired."), ErrUnauthorized, "2001", "This account has expired."},
		{"not found", 404, "text/plain", "", ErrNotFound, "", ""},
		{"qps credentials", 200, "application/xml", `<ServiceResponse><responseCode>INVALID_CREDENTIALS</responseCode><responseErrorDetails><errorMessage>Authentication failed</errorMessage><errorResolution>Verify both, user and password credentials.</errorResolution></responseErrorDetails></ServiceResponse>`, nil, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, mux, _ := setup(t)
			mux.HandleFunc("/api/2.0/fo/test/", func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tc.ctype)
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			})
			_, err := call(t, c, foRequest(c, true))
			if tc.is == nil {
				// A QPS body on an FO path is not an FO error: it passes through.
				return
			}
			var qe *Error
			if !errors.Is(err, tc.is) || !errors.As(err, &qe) {
				t.Fatalf("err = %v, want %v", err, tc.is)
			}
			if qe.Code != tc.code || qe.Message != tc.text && tc.text != "" {
				t.Errorf("code %q text %q, want %q %q", qe.Code, qe.Message, tc.code, tc.text)
			}
			if qe.Endpoint != "/api/2.0/fo/test/" || qe.Action != "list" {
				t.Errorf("endpoint %q action %q", qe.Endpoint, qe.Action)
			}
		})
	}
}

func TestHTMLAndEmptyBodies(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, body, want string }{
		{"html", "<!DOCTYPE html><html><head><title>Scheduled Maintenance</title></head><body>Back soon</body></html>", "HTML page"},
		{"empty", "", "empty body"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, mux, _ := setup(t, WithRetry(2, time.Second))
			var n atomic.Int32
			mux.HandleFunc("/api/2.0/fo/test/", func(w http.ResponseWriter, r *http.Request) {
				n.Add(1)
				io.WriteString(w, tc.body)
			})
			_, err := call(t, c, foRequest(c, true))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
			if tc.name == "html" && !strings.Contains(err.Error(), "Scheduled Maintenance") {
				t.Errorf("err = %v, want a snippet of the page", err)
			}
			if n.Load() != 2 {
				t.Errorf("server saw %d calls; a maintenance page on an idempotent call is retried (want 2)", n.Load())
			}
		})
	}
}

func TestLongHTMLErrorIsQuotedShort(t *testing.T) {
	t.Parallel()
	c, mux, _ := setup(t)
	mux.HandleFunc("/api/2.0/fo/test/", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(400)
		io.WriteString(w, "<html><body>"+strings.Repeat("x", 100000)+"</body></html>")
	})
	_, err := call(t, c, foRequest(c, true))
	if err == nil || len(err.Error()) > 400 {
		t.Fatalf("error is %d bytes, want a short quote: %.200v", len(err.Error()), err)
	}
}

func TestCredentialsNeverLeak(t *testing.T) {
	t.Parallel()
	c, mux, logs := setup(t, WithRetry(2, time.Second))
	mux.HandleFunc("/api/2.0/fo/test/", func(w http.ResponseWriter, r *http.Request) {
		// A hostile or careless server echoes the password back.
		_, p, _ := r.BasicAuth()
		w.WriteHeader(400)
		io.WriteString(w, simpleErr("1905", "parameter password has invalid value: "+p))
	})
	mux.HandleFunc("/api/2.0/fo/html/", func(w http.ResponseWriter, r *http.Request) {
		_, p, _ := r.BasicAuth()
		io.WriteString(w, "<html>your password is "+p+"</html>")
	})
	var errs []string
	_, err := call(t, c, foRequest(c, true))
	errs = append(errs, err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err))
	r := foRequest(c, true)
	r.path = c.base.Path + "/api/2.0/fo/html/"
	_, err = call(t, c, r)
	errs = append(errs, err.Error())
	errs = append(errs, fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c.cfg))
	// A transport error against a closed port.
	dead, _ := NewClient("http://127.0.0.1:1", WithCredentials(testUser, testPass), WithInsecureLoopback(), WithRetry(1, time.Second))
	_, err = dead.do(context.Background(), foRequest(dead, true))
	errs = append(errs, err.Error())
	for _, s := range append(errs, logs.String()) {
		if strings.Contains(s, testPass) {
			t.Errorf("password leaked in: %.300s", s)
		}
	}
}

func TestNewClientValidation(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		url  string
		opts []Option
		want string
	}{
		{"http without opt-in", "http://127.0.0.1:8080", nil, "must be https"},
		{"http to a remote host", "http://qualysapi.qualys.com", []Option{WithInsecureLoopback()}, "only for loopback"},
		{"credentials in URL", "https://user:pw@qualysapi.qualys.com", nil, "must not contain credentials"},
		{"not a URL", "qualysapi.qualys.com", nil, "want an absolute URL"},
		{"nil http client", "https://qualysapi.qualys.com", []Option{WithHTTPClient(nil)}, "nil *http.Client"},
		{"negative concurrency", "https://qualysapi.qualys.com", []Option{WithConcurrency(-1)}, "at least 1"},
		{"zero attempts", "https://qualysapi.qualys.com", []Option{WithRetry(0, time.Second)}, "maxAttempts"},
		{"empty password", "https://qualysapi.qualys.com", []Option{WithCredentials("u", "")}, "empty password"},
		{"bad version", "https://qualysapi.qualys.com", []Option{WithEndpointVersion(EndpointDetections, "v2")}, "version"},
		{"unknown endpoint", "https://qualysapi.qualys.com", []Option{WithEndpointVersion("asset/ip/", "2.0")}, "unknown endpoint"},
		{"nil option", "https://qualysapi.qualys.com", []Option{nil}, "nil option"},
		{"no credentials", "https://qualysapi.qualys.com", nil, "use WithCredentials"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewClient(tc.url, tc.opts...)
			var ce *ConfigError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want *ConfigError mentioning %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "pw@") {
				t.Errorf("error quotes the URL's credentials: %v", err)
			}
		})
	}
	if _, err := NewClient("https://qualysapi.qualys.com/", WithCredentials("u", "p")); err != nil {
		t.Errorf("valid URL refused: %v", err)
	}
}

func TestPlatform(t *testing.T) {
	t.Parallel()
	api, gw, err := Platform("us3")
	if err != nil || api != "https://qualysapi.qg3.apps.qualys.com" || gw != "https://gateway.qg3.apps.qualys.com" {
		t.Errorf("Platform(us3) = %q, %q, %v", api, gw, err)
	}
	if len(PlatformNames()) != 13 {
		t.Errorf("PlatformNames() has %d entries, want 13", len(PlatformNames()))
	}
	for _, n := range PlatformNames() {
		a, g, err := Platform(n)
		if err != nil || !strings.HasPrefix(a, "https://qualysapi.") || !strings.HasPrefix(g, "https://gateway.") {
			t.Errorf("Platform(%s) = %q %q %v", n, a, g, err)
		}
	}
	if _, _, err := Platform("MARS1"); err == nil {
		t.Error("Platform(MARS1) succeeded")
	}
}

func TestRootElement(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   string
		name string
		kind bodyKind
	}{
		{`<?xml version="1.0"?><!DOCTYPE X SYSTEM "a.dtd"><HOST_LIST_VM_DETECTION_OUTPUT>`, "HOST_LIST_VM_DETECTION_OUTPUT", bodyXML},
		{"\n<!-- c --><!DOCTYPE SIMPLE_RETURN [<!ENTITY a 'b'>]>\n<SIMPLE_RETURN>", "SIMPLE_RETURN", bodyXML},
		{"<!doctype html><html>", "", bodyHTML},
		{"<HTML><body>", "HTML", bodyHTML},
		{"   ", "", bodyEmpty},
		{"{\"a\":1}", "", bodyOther},
	}
	for _, c := range cases {
		name, kind := rootElement([]byte(c.in))
		if name != c.name || kind != c.kind {
			t.Errorf("rootElement(%q) = %q, %v; want %q, %v", c.in, name, kind, c.name, c.kind)
		}
	}
}

func TestIdleTimeout(t *testing.T) {
	t.Parallel()
	c, mux, _ := setup(t, WithIdleTimeout(100*time.Millisecond))
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	mux.HandleFunc("/api/2.0/fo/test/", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "<OUTPUT><A>1</A>")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	// The body never goes on: only the idle timeout ends the call.
	_, err := call(t, c, foRequest(c, true))
	if !errors.Is(err, ErrIdleTimeout) {
		t.Fatalf("err = %v, want ErrIdleTimeout", err)
	}
}

func TestSimpleReturnSuccessPassesThrough(t *testing.T) {
	t.Parallel()
	c, mux, _ := setup(t)
	mux.HandleFunc("/api/2.0/fo/test/", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, simpleOK)
	})
	resp, err := c.do(context.Background(), foRequest(c, false))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.simple == nil {
		t.Fatal("success SIMPLE_RETURN not decoded")
	}
	if id, ok := resp.simple.item("ID"); !ok || id != "1784903" || resp.simple.Text != "New search list created successfully" {
		t.Errorf("simple = %+v", resp.simple)
	}
}

func TestEndpointVersionOption(t *testing.T) {
	t.Parallel()
	c, mux, _ := setup(t, WithEndpointVersion(EndpointDetections, "6.0"))
	var path string
	mux.HandleFunc("/api/6.0/fo/asset/host/vm/detection/", func(w http.ResponseWriter, r *http.Request) {
		path = r.URL.Path
		io.WriteString(w, `<HOST_LIST_VM_DETECTION_OUTPUT><RESPONSE></RESPONSE></HOST_LIST_VM_DETECTION_OUTPUT>`)
	})
	for _, err := range c.Detections.List(context.Background(), nil) {
		if err != nil {
			t.Fatal(err)
		}
	}
	if path != "/api/6.0/fo/asset/host/vm/detection/" {
		t.Errorf("called %q, want the 6.0 path", path)
	}
	// The other endpoints keep their defaults.
	if got := c.EndpointPath(EndpointKnowledgeBase); got != "/api/4.0/fo/knowledge_base/vuln/" {
		t.Errorf("KnowledgeBase path = %q", got)
	}
}

// An API error carries the fields the three clients name alike:
// StatusCode, Code, Message, Method and Endpoint.
func TestErrorFieldsNamedAlike(t *testing.T) {
	t.Parallel()
	c, mux, _ := setup(t)
	mux.HandleFunc("/api/2.0/fo/test/", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(400)
		io.WriteString(w, simpleErr("1905", "parameter ids has invalid value: x"))
	})
	_, err := call(t, c, foRequest(c, true))
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("err %v, want an *Error", err)
	}
	got := Error{StatusCode: e.StatusCode, Code: e.Code, Message: e.Message, Method: e.Method, Endpoint: e.Endpoint, Action: e.Action}
	want := Error{StatusCode: 400, Code: "1905", Message: "parameter ids has invalid value: x", Method: "POST", Endpoint: c.base.Path + "/api/2.0/fo/test/", Action: "list"}
	if d := cmp.Diff(want, got, cmp.AllowUnexported(Error{})); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}
