package threatq_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"

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
