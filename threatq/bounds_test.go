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
	c, _ := threatq.NewClient(srv.URL, threatq.WithPassword("id", "a@example.com", "pw-123"), threatq.WithInsecureLoopback(), threatq.WithRetry(1, time.Second))
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
