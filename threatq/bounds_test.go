package threatq_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qualysbridge/qualysbridge/threatq"
)

// A server whose total grows with every page stops at the first total.
func TestObjectsStopAtTheFirstTotal(t *testing.T) {
	var pages atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/token" {
			io.WriteString(w, `{"access_token":"a-token-123","expires_in":3600}`)
			return
		}
		n := pages.Add(1)
		fmt.Fprintf(w, `{"total":%d,"data":[{"id":%d,"value":"v"}]}`, 2+int(n)*1000, n)
	}))
	defer srv.Close()
	c, err := threatq.NewClient(srv.URL, threatq.WithClientCredentials("id", "secret-1"), threatq.WithInsecureLoopback())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, err := range c.Objects(context.Background(), "assets", url.Values{}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 1002 {
		t.Errorf("%d objects from %d pages, want the first total (1002)", n, pages.Load())
	}
}

// Errors tell the truth: a login refused with 400 keeps its status and
// still matches ErrUnauthorized; an id that does not parse is an error,
// never 0.
func TestErrorsTellTheTruth(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/api/token" && r.URL.Query().Get("grant_type") == "password":
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":"invalid_grant","error_description":"bad credentials"}`)
		case r.URL.Path == "/api/token":
			io.WriteString(w, `{"access_token":"tok-12345678","expires_in":3600}`)
		case r.URL.Path == "/api/indicator/types":
			io.WriteString(w, `{"total":1,"data":[{"id":4,"name":"CVE"}]}`)
		case r.URL.Path == "/api/indicator/statuses":
			io.WriteString(w, `{"total":1,"data":[{"id":1,"name":"Active"}]}`)
		case r.URL.Path == "/api/indicators" && r.Method == "GET":
			io.WriteString(w, `{"total":0,"data":[]}`)
		case r.URL.Path == "/api/indicators":
			io.WriteString(w, `{"data":[{"id":0,"value":"CVE-2019-17053"}]}`)
		}
	}))
	defer srv.Close()
	c, _ := threatq.NewClient(srv.URL, threatq.WithPasswordGrant(threatq.PasswordGrant{ClientID: "id", Email: "a@example.com", Password: "pw-123"}), threatq.WithInsecureLoopback(), threatq.WithRetry(1, time.Second))
	_, err := c.IndicatorTypeID(context.Background(), "CVE")
	var te *threatq.Error
	if !errors.Is(err, threatq.ErrUnauthorized) || !errors.As(err, &te) || te.StatusCode != 400 {
		t.Errorf("refused login: %v (status %d), want ErrUnauthorized with the 400 the server sent", err, te.StatusCode)
	}
	c2, _ := threatq.NewClient(srv.URL, threatq.WithClientCredentials("id", "secret-123"), threatq.WithInsecureLoopback(), threatq.WithRetry(1, time.Second))
	ind, err := c2.EnsureIndicator(context.Background(), threatq.Indicator{Type: "CVE", Value: "CVE-2019-17053"})
	if err == nil || ind != nil || !strings.Contains(err.Error(), "invalid object id") {
		t.Errorf("unparsable id: %+v, %v", ind, err)
	}
}

// pagingServer answers listings from items (1,200 objects by default) as
// page(offset, limit) shapes the answer, counting the pages asked for.
func pagingServer(t *testing.T, page func(offset, limit int) string) (*threatq.Client, *atomic.Int32) {
	t.Helper()
	var pages atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/token" {
			io.WriteString(w, `{"access_token":"a-token-123","expires_in":3600}`)
			return
		}
		pages.Add(1)
		var off, lim int
		fmt.Sscan(r.URL.Query().Get("offset"), &off)
		fmt.Sscan(r.URL.Query().Get("limit"), &lim)
		io.WriteString(w, page(off, lim))
	}))
	t.Cleanup(srv.Close)
	c, err := threatq.NewClient(srv.URL, threatq.WithClientCredentials("id", "secret-1"), threatq.WithInsecureLoopback())
	if err != nil {
		t.Fatal(err)
	}
	return c, &pages
}

func items(from, to int) string {
	var b strings.Builder
	for i := from; i < to; i++ {
		if i > from {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":%d,"value":"v%d"}`, i+1, i)
	}
	return b.String()
}

// TestPagingCannotLie: a listing without total follows full pages and
// ends at the short one (1,200 objects: 3 pages); a "data": {} page ends a
// listing as an empty one does; a server that answers the same page at
// every offset ends the listing at the second page with ErrPageRepeated.
func TestPagingCannotLie(t *testing.T) {
	const n = 1200
	count := func(c *threatq.Client) (int, error) {
		got := 0
		for _, err := range c.Objects(context.Background(), "assets", url.Values{}) {
			if err != nil {
				return got, err
			}
			got++
		}
		return got, nil
	}
	t.Run("no total", func(t *testing.T) {
		c, pages := pagingServer(t, func(off, lim int) string {
			return `{"data":[` + items(off, min(off+lim, n)) + `]}`
		})
		if got, err := count(c); err != nil || got != n || pages.Load() != 3 {
			t.Errorf("%d objects in %d pages (%v), want %d in 3", got, pages.Load(), err, n)
		}
	})
	t.Run("data object", func(t *testing.T) {
		c, pages := pagingServer(t, func(off, lim int) string {
			if off >= n {
				return `{"total":0,"data":{}}`
			}
			return `{"data":[` + items(off, min(off+lim, n)) + `]}`
		})
		// 1,000 is a multiple of the page: the third page is the {} one.
		c2, pages2 := pagingServer(t, func(off, lim int) string {
			if off >= 1000 {
				return `{"data":{}}`
			}
			return `{"data":[` + items(off, off+lim) + `]}`
		})
		if got, err := count(c); err != nil || got != n {
			t.Errorf("%d objects (%v), want %d (%d pages)", got, err, n, pages.Load())
		}
		if got, err := count(c2); err != nil || got != 1000 || pages2.Load() != 3 {
			t.Errorf("%d objects in %d pages (%v), want 1000 in 3: a data {} page ends the listing", got, pages2.Load(), err)
		}
	})
	t.Run("repeated page", func(t *testing.T) {
		c, pages := pagingServer(t, func(off, lim int) string {
			return `{"total":1000000000,"data":[` + items(0, lim) + `]}`
		})
		got, err := count(c)
		if !errors.Is(err, threatq.ErrPageRepeated) || got != 500 || pages.Load() != 2 {
			t.Errorf("%d objects in %d pages, err %v; want 500 in 2 and ErrPageRepeated", got, pages.Load(), err)
		}
	})
}
