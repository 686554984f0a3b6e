package car_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/qualysbridge/qualysbridge/car"
	"github.com/qualysbridge/qualysbridge/car/cartest"
)

// A large GraphQL answer streams: QueryEach holds one item at a time (a 64
// MB answer once cost 181 MB of RSS, held three times over), numeric ids
// included, and Query refuses an answer past MaxQueryBytes (lowered here)
// with a message that names QueryEach.
func TestLargeGraphQLAnswerStreams(t *testing.T) {
	const items = 200_000 // about 8 MB
	// The answer is built before the baseline and served from those bytes
	// (no allocation while it streams), so that the heap measured is the
	// client's: a server generating it on the same heap made the test
	// flaky (its garbage, allocated between a collection and the reading,
	// counted as growth).
	var b strings.Builder
	b.WriteString(`{"data":{"asset":[`)
	for i := range items {
		if i > 0 {
			b.WriteByte(',')
		}
		if i%2 == 0 {
			fmt.Fprintf(&b, `{"external_id":"%d","name":"host-%09d"}`, i, i)
		} else {
			fmt.Fprintf(&b, `{"external_id":%d,"name":"host-%09d"}`, i, i) // as IBM's connector left it
		}
	}
	b.WriteString(`]}}`)
	answer := []byte(b.String())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		for rest := answer; len(rest) > 0; {
			n := min(len(rest), 32<<10)
			if _, err := w.Write(rest[:n]); err != nil {
				return
			}
			rest = rest[n:]
		}
	}))
	defer srv.Close()
	c, err := car.NewClient(srv.URL+"/api/car/v2", car.WithAPIKey("k", "p"), car.WithInsecureLoopback())
	if err != nil {
		t.Fatal(err)
	}
	// The live heap (measured after a collection, so garbage not yet
	// collected does not count) while items stream, over the live heap
	// before: a client that held the answer would hold its 8 MB.
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var peak uint64
	n := 0
	for item, err := range c.QueryItems(context.Background(), `{ asset { external_id, name } }`, "asset") {
		if err != nil {
			t.Fatal(err)
		}
		var a struct {
			ExternalID json.Number `json:"external_id"`
		}
		if err := json.Unmarshal(item, &a); err != nil {
			t.Fatal(err)
		}
		n++
		if n%50_000 == 0 {
			runtime.GC()
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
		}
	}
	if n != items {
		t.Fatalf("QueryItems: %d items, want %d", n, items)
	}
	// Stopping the loop stops the reading, with no error.
	seen := 0
	for _, err := range c.QueryItems(context.Background(), `{ asset { external_id, name } }`, "asset") {
		if err != nil {
			t.Fatal(err)
		}
		if seen++; seen == 3 {
			break
		}
	}
	if peak > base+2<<20 {
		t.Errorf("live heap grew from %d KB to %d KB while streaming an 8 MB answer", base>>10, peak>>10)
	}
	defer car.SetMaxQueryBytes(1 << 20)()
	err = c.Query(context.Background(), `{ asset { external_id, name } }`, &struct{}{})
	if err == nil || !strings.Contains(err.Error(), "QueryItems") {
		t.Errorf("Query of an 8 MB answer past a 1 MB bound: %v, want a refusal naming QueryItems", err)
	}
}

// A GraphQL error in the answer is returned, whether it comes before or
// after the data.
func TestGraphQLErrors(t *testing.T) {
	for name, body := range map[string]string{
		"before": `{"errors":[{"message":"field x unknown"}],"data":null}`,
		"after":  `{"data":{"asset":[{"external_id":"1"}]},"errors":[{"message":"field x unknown"}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body) }))
			defer srv.Close()
			c, _ := car.NewClient(srv.URL+"/api/car/v2", car.WithAPIKey("k", "p"), car.WithInsecureLoopback())
			var last error
			for _, err := range c.QueryItems(context.Background(), `{}`, "asset") {
				last = err
			}
			if last == nil || !strings.Contains(last.Error(), "field x unknown") {
				t.Errorf("QueryItems: %v", last)
			}
			if err := c.QueryEach(context.Background(), `{}`, "asset", func(json.RawMessage) error { return nil }); err == nil || !strings.Contains(err.Error(), "field x unknown") {
				t.Errorf("QueryEach: %v", err)
			}
			var out map[string]any
			if err := c.Query(context.Background(), `{}`, &out); err == nil || !strings.Contains(err.Error(), "field x unknown") {
				t.Errorf("Query: %v", err)
			}
		})
	}
}

// importstatus in the array form IBM's API documentation gives is read as
// well as the framework's object.
func TestImportStatusArrayForm(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `[{"id":"j1","status":"COMPLETE"},{"id":"j2","status":"INPROGRESS"},{"id":3,"status":"ERROR","message":"bad edge"},{"id":"j4","status":"NOT_FOUND"},{"id":"j5","status":"WEIRD"}]`)
	}))
	defer srv.Close()
	c, _ := car.NewClient(srv.URL+"/api/car/v2", car.WithAPIKey("k", "p"), car.WithInsecureLoopback())
	st, err := c.ImportStatus(context.Background(), []string{"j1", "j2", "3", "j4", "j5"})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(st.Complete, st.Incomplete, st.NotFound) != "[j1] [j2] [j4]" || len(st.Errors) != 2 || st.Errors[0].ID != "3" ||
		!strings.Contains(st.Errors[0].Message, "bad edge") || !strings.Contains(st.Errors[1].Message, "unknown status") {
		t.Errorf("status %+v", st)
	}
}

// A 404 from the query endpoint is no result, as IBM's framework reads it;
// an out that is not a pointer is refused before any call.
func TestQueryNotFoundAndOut(t *testing.T) {
	srv, c, _ := setup(t)
	srv.InjectFault(cartest.Fault{Route: "/query", Status: 404, Body: `{"errors":[{"code":"not_found"}]}`})
	var out map[string][]map[string]any
	if err := c.Query(context.Background(), `{ asset(where: {source: {_eq: "Qualys"}}) { external_id } }`, &out); err != nil || len(out) != 0 {
		t.Errorf("404: %v, %v; want no result and no error", out, err)
	}
	n := len(srv.Requests())
	var notPtr map[string]any
	err := c.Query(context.Background(), `{ asset(where: {source: {_eq: "Qualys"}}) { external_id } }`, notPtr)
	var ce *car.ConfigError
	if !errors.As(err, &ce) || len(srv.Requests()) != n {
		t.Errorf("non-pointer out: %v (%d requests); want a ConfigError before any call", err, len(srv.Requests())-n)
	}
}
