package qualys

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func hostileClient(t *testing.T, url string, opts ...Option) *Client {
	t.Helper()
	c, err := NewClient(url, append([]Option{WithCredentials("u", "p"), WithInsecureLoopback(), WithBackoff(func(int) time.Duration { return time.Millisecond })}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func firstErr[T any](seq func(func(T, error) bool)) error {
	var err error
	seq(func(_ T, e error) bool {
		err = e
		return e == nil
	})
	return err
}

// A server that accepts the request and never answers: the idle timeout
// ends the call, not the caller's (absent) deadline.
func TestHeaderWaitBoundedByIdleTimeout(t *testing.T) {
	t.Parallel()
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-stop:
		}
	}))
	defer srv.Close()
	defer close(stop)
	c := hostileClient(t, srv.URL, WithIdleTimeout(100*time.Millisecond), WithRetry(1, time.Second))
	// The handler never answers: only the idle timeout ends the call.
	err := firstErr(c.Detections.List(context.Background(), nil))
	if !errors.Is(err, ErrIdleTimeout) {
		t.Errorf("err = %v, want ErrIdleTimeout", err)
	}
}

// X-RateLimit-ToWait-Sec: 18446744074 once wrapped to a 300 ms wait; it is
// far beyond maxWait, so the call fails at once with ErrRateLimited.
func TestHugeWaitDoesNotOverflow(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("X-RateLimit-ToWait-Sec", "18446744074")
		w.WriteHeader(http.StatusConflict)
		io.WriteString(w, `<SIMPLE_RETURN><RESPONSE><CODE>1965</CODE><TEXT>wait</TEXT><ITEM_LIST><ITEM><KEY>SECONDS_TO_WAIT</KEY><VALUE>99999999999999999999999</VALUE></ITEM></ITEM_LIST></RESPONSE></SIMPLE_RETURN>`)
	}))
	defer srv.Close()
	c := hostileClient(t, srv.URL, WithRetry(5, time.Minute))
	err := firstErr(c.Detections.List(context.Background(), nil))
	var qe *Error
	if !errors.Is(err, ErrRateLimited) || !errors.As(err, &qe) || qe.RetryAfter < 365*24*time.Hour || calls.Load() != 1 {
		t.Errorf("err %v (RetryAfter %v) after %d calls", err, qe.RetryAfter, calls.Load())
	}
	h := http.Header{"X-Ratelimit-Towait-Sec": {"18446744074"}}
	if got, _ := parseRate(h); got.ToWait < 365*24*time.Hour {
		t.Errorf("parsed ToWait %v", got.ToWait)
	}
}

// Pages that announce more but hold nothing end the listing with an error.
func TestEmptyPagesEndTheListing(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		fmt.Fprintf(w, `{"ServiceResponse":{"responseCode":"SUCCESS","count":0,"hasMoreRecords":"true","lastId":%d}}`, 1000*n)
	}))
	defer srv.Close()
	c := hostileClient(t, srv.URL)
	err := firstErr(c.HostAssets.List(context.Background(), nil))
	if err == nil || !strings.Contains(err.Error(), "without a record") || calls.Load() > maxEmptyPages+1 {
		t.Errorf("err %v after %d calls", err, calls.Load())
	}
}

func TestRecordTooLarge(t *testing.T) {
	defer func(old int) { recordItemsLimit = old }(recordItemsLimit)
	recordItemsLimit = 1000
	t.Run("detections per host (XML)", func(t *testing.T) {
		var b bytes.Buffer
		b.WriteString("<HOST_LIST_VM_DETECTION_OUTPUT><RESPONSE><HOST_LIST><HOST><ID>1</ID><DETECTION_LIST>")
		for i := 0; i <= recordItemsLimit; i++ {
			b.WriteString("<DETECTION/>")
		}
		b.WriteString("</DETECTION_LIST></HOST></HOST_LIST></RESPONSE></HOST_LIST_VM_DETECTION_OUTPUT>")
		err := firstErr(DecodeDetections(&b))
		var de *DecodeError
		if !errors.Is(err, ErrRecordTooLarge) || !errors.As(err, &de) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("bytes per host (XML)", func(t *testing.T) {
		defer func(old int64) { recordBytesLimit = old }(recordBytesLimit)
		recordBytesLimit = 1 << 20
		var b bytes.Buffer
		b.WriteString("<HOST_LIST_VM_DETECTION_OUTPUT><RESPONSE><HOST_LIST><HOST><ID>1</ID><DETECTION_LIST>")
		for b.Len() < 2<<20 {
			b.WriteString("<DETECTION><RESULTS>" + strings.Repeat("x", 1000) + "</RESULTS></DETECTION>")
		}
		b.WriteString("</DETECTION_LIST></HOST></HOST_LIST></RESPONSE></HOST_LIST_VM_DETECTION_OUTPUT>")
		if err := firstErr(DecodeDetections(&b)); !errors.Is(err, ErrRecordTooLarge) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("items per host asset (JSON)", func(t *testing.T) {
		var b bytes.Buffer
		b.WriteString(`{"ServiceResponse":{"responseCode":"SUCCESS","data":[{"HostAsset":{"id":1,"tags":{"list":[`)
		for i := 0; i <= recordItemsLimit; i++ {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`{"TagSimple":{}}`)
		}
		b.WriteString(`]}}}]}}`)
		if err := firstErr(DecodeHostAssets(&b)); !errors.Is(err, ErrRecordTooLarge) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("bytes per host asset (JSON), read no further", func(t *testing.T) {
		defer func(old int64) { recordBytesLimit = old }(recordBytesLimit)
		recordBytesLimit = 1 << 20
		// An endless record: the decoder must stop reading near the bound.
		head := strings.NewReader(`{"ServiceResponse":{"responseCode":"SUCCESS","data":[{"HostAsset":{"id":1,"name":"`)
		endless := &countingReader{r: io.MultiReader(head, endlessByte('a'))}
		if err := firstErr(DecodeHostAssets(endless)); !errors.Is(err, ErrRecordTooLarge) {
			t.Errorf("err = %v", err)
		}
		if endless.n > 4<<20 {
			t.Errorf("read %d bytes for a 1 MB bound", endless.n)
		}
	})
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	c.n += int64(k)
	return k, err
}

type endlessByte byte

func (r endlessByte) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
	}
	return len(p), nil
}

func TestStrictNumbersAndDates(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"-1", "9223372036854775808", "99999999999999999999", "1e3", "0x10"} {
		if _, err := parseInt([]byte(in)); err == nil {
			t.Errorf("parseInt(%q) accepted", in)
		}
	}
	if n, err := parseInt([]byte("9223372036854775807")); err != nil || n != 1<<63-1 {
		t.Errorf("max int64: %d, %v", n, err)
	}
	for _, in := range []string{"2026-02-31T00:00:00Z", "2026-04-31", "2025-02-29T10:00:00Z"} {
		if _, err := parseTime([]byte(in)); err == nil {
			t.Errorf("parseTime(%q) accepted", in)
		}
	}
	if _, err := parseTime([]byte("2024-02-29T10:00:00Z")); err != nil {
		t.Errorf("a leap day refused: %v", err)
	}
	// The same bounds in JSON: a negative count, a date that is not one.
	for _, doc := range []string{
		`{"ServiceResponse":{"responseCode":"SUCCESS","count":-5}}`,
		`{"ServiceResponse":{"responseCode":"SUCCESS","data":[{"HostAsset":{"id":1,"created":"2026-02-31T00:00:00Z"}}]}}`,
		`{"ServiceResponse":{"responseCode":"SUCCESS","data":[{"HostAsset":{"id":-4}}]}}`,
	} {
		if err := firstErr(DecodeHostAssets(strings.NewReader(doc))); err == nil {
			t.Errorf("%s accepted", doc)
		}
	}
	if err := firstErr(DecodeDetections(strings.NewReader(`<HOST_LIST_VM_DETECTION_OUTPUT><RESPONSE><HOST_LIST><HOST><ID>-3</ID></HOST></HOST_LIST></RESPONSE></HOST_LIST_VM_DETECTION_OUTPUT>`))); err == nil {
		t.Error("a negative host id accepted")
	}
}

func detectionPage(ids []int, warning string) string {
	var b strings.Builder
	b.WriteString("<HOST_LIST_VM_DETECTION_OUTPUT><RESPONSE><HOST_LIST>")
	for _, id := range ids {
		fmt.Fprintf(&b, "<HOST><ID>%d</ID><DETECTION_LIST><DETECTION><QID>1</QID></DETECTION></DETECTION_LIST></HOST>", id)
	}
	b.WriteString("</HOST_LIST>" + warning + "</RESPONSE></HOST_LIST_VM_DETECTION_OUTPUT>")
	return b.String()
}

func TestTruncationHostility(t *testing.T) {
	t.Parallel()
	t.Run("1980 without URL", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, detectionPage([]int{1, 2}, "<WARNING><CODE>1980</CODE><TEXT>2 record limit exceeded.</TEXT></WARNING>"))
		}))
		defer srv.Close()
		err := firstErr(hostileClient(t, srv.URL).Detections.List(context.Background(), nil))
		if err == nil || !strings.Contains(err.Error(), "without the URL") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("URL query cannot change the filters", func(t *testing.T) {
		var forms []string
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r.ParseForm()
			forms = append(forms, r.PostForm.Encode())
			if r.PostForm.Get("id_min") == "" {
				io.WriteString(w, detectionPage([]int{1, 2}, `<WARNING><CODE>1980</CODE><TEXT>more</TEXT><URL><![CDATA[https://x/api/5.0/fo/asset/host/vm/detection/?action=list&severities=1&status=Fixed&ips=0.0.0.0-255.255.255.255&id_min=3]]></URL></WARNING>`))
				return
			}
			io.WriteString(w, detectionPage([]int{3}, ""))
		}))
		defer srv.Close()
		c := hostileClient(t, srv.URL)
		n := 0
		for _, err := range c.Detections.List(context.Background(), &DetectionQuery{Severities: []int{5}}) {
			if err != nil {
				t.Fatal(err)
			}
			n++
		}
		if n != 3 || len(forms) != 2 {
			t.Fatalf("%d hosts in %d calls", n, len(forms))
		}
		if want := "action=list&id_min=3&severities=5"; forms[1] != want {
			t.Errorf("second request %q, want %q", forms[1], want)
		}
	})
	t.Run("repeated page", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// The server ignores id_min and sends the same hosts again,
			// with a URL that advances.
			r.ParseForm()
			next := 10
			if v := r.PostForm.Get("id_min"); v != "" {
				fmt.Sscan(v, &next)
				next += 10
			}
			io.WriteString(w, detectionPage([]int{1, 2}, fmt.Sprintf(`<WARNING><CODE>1980</CODE><URL><![CDATA[?id_min=%d]]></URL></WARNING>`, next)))
		}))
		defer srv.Close()
		seen := map[int64]int{}
		var err error
		for h, e := range hostileClient(t, srv.URL).Detections.List(context.Background(), nil) {
			if e != nil {
				err = e
				break
			}
			seen[h.ID]++
		}
		for id, n := range seen {
			if n > 1 {
				t.Errorf("host %d yielded %d times", id, n)
			}
		}
		// The repeated hosts are skipped; pages that bring nothing new end
		// the listing after maxEmptyPages.
		if err == nil || !strings.Contains(err.Error(), "without a record") {
			t.Errorf("err = %v", err)
		}
	})
}

// A certificate the client does not trust fails once: retrying cannot
// help.
func TestCertificateFailureNotRetried(t *testing.T) {
	t.Parallel()
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Config.ErrorLog = nil
	srv.StartTLS()
	defer srv.Close()
	c := hostileClient(t, srv.URL, WithRetry(5, time.Second)) // the default pool does not trust httptest's certificate
	err := firstErr(c.Detections.List(context.Background(), nil))
	if err == nil || conns.Load() != 1 {
		t.Errorf("%d connections, err %v", conns.Load(), err)
	}
}

// A host nothing listens on fails at once: no 30 s of retries.
func TestRefusedIsRetried(t *testing.T) {
	t.Parallel()
	c, err := NewClient("http://127.0.0.1:1", WithCredentials("u", "p"), WithInsecureLoopback(), WithRetry(3, time.Second),
		WithBackoff(func(int) time.Duration { return time.Millisecond }))
	if err != nil {
		t.Fatal(err)
	}
	err = firstErr(c.Detections.List(context.Background(), nil))
	if n := c.Calls()[c.EndpointPath(EndpointDetections)]; err == nil || n != 3 || !errors.Is(err, ErrUnreachable) {
		t.Errorf("%d attempts, err %v; want three attempts (WithRetry) and ErrUnreachable", n, err)
	}
}

// An HTTP 500 on a call safe to repeat (the detection listing) is retried
// within WithRetry; 501 is not.
func TestServerErrorsRetried(t *testing.T) {
	t.Parallel()
	for status, want := range map[int]int32{500: 3, 501: 1} {
		var n atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n.Add(1)
			w.WriteHeader(status)
			io.WriteString(w, `<SIMPLE_RETURN><RESPONSE><CODE>999</CODE><TEXT>Internal error</TEXT></RESPONSE></SIMPLE_RETURN>`)
		}))
		c := hostileClient(t, srv.URL, WithRetry(3, time.Second))
		if err := firstErr(c.Detections.List(context.Background(), nil)); err == nil || n.Load() != want {
			t.Errorf("HTTP %d: %d attempts (%v), want %d", status, n.Load(), err, want)
		}
		srv.Close()
	}
}

// A budget the client counted itself as spent says so; it is not the
// server asking for a wait.
func TestOwnBudgetMessage(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("X-RateLimit-Limit", "300")
		w.Header().Set("X-RateLimit-Window-Sec", "3600")
		w.Header().Set("X-RateLimit-Remaining", "0")
		w.Header().Set("X-RateLimit-ToWait-Sec", "3000")
		io.WriteString(w, `<HOST_LIST_VM_DETECTION_OUTPUT><RESPONSE></RESPONSE></HOST_LIST_VM_DETECTION_OUTPUT>`)
	}))
	defer srv.Close()
	c := hostileClient(t, srv.URL, WithRetry(3, time.Minute))
	if err := firstErr(c.Detections.List(context.Background(), nil)); err != nil {
		t.Fatal(err)
	}
	err := firstErr(c.Detections.List(context.Background(), nil))
	if !errors.Is(err, ErrRateLimited) || calls.Load() != 1 {
		t.Fatalf("err %v after %d calls", err, calls.Load())
	}
	msg := err.Error()
	if strings.Contains(msg, "server asks") || !strings.Contains(msg, "call budget") || !strings.Contains(msg, "no call was sent") {
		t.Errorf("message %q", msg)
	}
}

// Hosts out of ascending id order within one answer (as a public recorded
// answer has them) are all yielded, once: paging rests on id_min moving past
// every id yielded, not on the order inside a page. A host the server
// repeats in the same answer is skipped. An unordered answer cut short is
// asked for again from its start, and the hosts already yielded are not
// yielded again.
func TestDetectionsOutOfOrder(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		n := calls.Add(1)
		switch r.PostForm.Get("id_min") {
		case "":
			page := detectionPage([]int{5, 3, 9, 3}, `<WARNING><CODE>1980</CODE><URL><![CDATA[?id_min=10]]></URL></WARNING>`)
			if n == 1 {
				// The first try is cut after the third host.
				i := strings.Index(page, "<ID>9</ID>")
				page = page[:i+len("<ID>9</ID>")+5]
				w.Header().Set("Content-Length", fmt.Sprint(len(page)+100))
			}
			io.WriteString(w, page)
		case "10":
			io.WriteString(w, detectionPage([]int{12, 11}, ""))
		default:
			t.Errorf("unexpected id_min %q", r.PostForm.Get("id_min"))
		}
	}))
	defer srv.Close()
	var got []int64
	for h, err := range hostileClient(t, srv.URL).Detections.List(context.Background(), nil) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, h.ID)
	}
	if want := []int64{5, 3, 9, 12, 11}; !slices.Equal(got, want) {
		t.Errorf("hosts %v, want %v (each once)", got, want)
	}
	if n := calls.Load(); n != 3 {
		t.Errorf("%d calls, want 3 (the cut answer asked for again from its start)", n)
	}
}
