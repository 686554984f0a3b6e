package car_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/qualysbridge/qualysbridge/car"
	"github.com/qualysbridge/qualysbridge/car/cartest"
)

var src = car.Source{Key: "Qualys", Name: "Qualys", Description: "Qualys VMDR"}

func setup(t *testing.T, opts ...cartest.Option) (*cartest.Server, *car.Client, *bytes.Buffer) {
	t.Helper()
	srv := cartest.NewServer(opts...)
	t.Cleanup(srv.Close)
	var logs bytes.Buffer
	c, err := car.NewClient(srv.URL, car.WithAPIKey(cartest.DefaultAPIKey, cartest.DefaultPassword), car.WithInsecureLoopback(),
		car.WithPolling(time.Millisecond, 5*time.Millisecond), car.WithBackoff(func(int) time.Duration { return time.Millisecond }),
		car.WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	if err != nil {
		t.Fatal(err)
	}
	return srv, c, &logs
}

// assetWithIP is host i of a streamed graph: an asset (with a description
// of desc bytes), an address in 10.<net>.0.0/16 and the edge between them.
func assetWithIP(i, net, desc int) car.Graph {
	id := fmt.Sprint(i)
	ip := fmt.Sprintf("10.%d.%d.%d", net, i>>8, i&255)
	return car.Graph{Vertices: []car.Vertex{&car.Asset{ExternalID: id, Name: "h" + id, Description: strings.Repeat("d", desc)}, &car.IPAddress{Key: ip}},
		Edges: []car.Edge{{Collection: "asset_ipaddress", From: id, To: ip}}}
}

func host(id string, ip, mac string) car.Graph {
	return car.Graph{
		Vertices: []car.Vertex{
			&car.Asset{ExternalID: id, Name: "host-" + id},
			&car.IPAddress{Key: ip},
			&car.MACAddress{Key: mac},
			&car.Vulnerability{ExternalID: "38170", Name: "SSL Certificate"},
			&car.Account{ExternalID: "root", Name: "root"},
			&car.User{ExternalID: "root", Username: "root"},
		},
		Edges: []car.Edge{
			{Collection: "asset_ipaddress", From: id, To: ip},
			{Collection: "asset_macaddress", From: id, To: mac},
			{Collection: "ipaddress_macaddress", From: ip, To: mac},
			{Collection: "asset_vulnerability", From: id, To: "38170", Properties: map[string]any{"risk_score": 4}},
			{Collection: "user_account", From: "root", To: "root"},
		},
	}
}

func TestEdgeJSONShapes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		e    car.Edge
		want string
	}{
		{car.Edge{Collection: "asset_ipaddress", From: "1", To: "10.0.0.1"}, `{"_from_external_id":"1","_to":"ipaddress/10.0.0.1","active":true}`},
		{car.Edge{Collection: "ipaddress_macaddress", From: "10.0.0.1", To: "02:00:00:00:00:01"}, `{"_from":"ipaddress/10.0.0.1","_to":"macaddress/02:00:00:00:00:01","active":true}`},
		{car.Edge{Collection: "user_account", From: "root", To: "root", Disabled: true}, `{"_from_external_id":"root","_to_external_id":"root","active":false}`},
		{car.Edge{Collection: "ipaddress_vulnerability", From: "fd00::1", To: "38170", Source: "Q"}, `{"_from":"ipaddress/fd00::1","_to_external_id":"38170","active":true,"source":"Q"}`},
	}
	for _, c := range cases {
		b, err := json.Marshal(c.e)
		if err != nil || string(b) != c.want {
			t.Errorf("%s: %s, want %s (%v)", c.e.Collection, b, c.want, err)
		}
	}
}

func TestValidationNamesObjectAndField(t *testing.T) {
	t.Parallel()
	cases := []struct {
		v     car.Vertex
		field string
	}{
		{&car.Asset{ExternalID: "1"}, "name"},
		{&car.Asset{ExternalID: "1", Name: "a", Risk: ptr(11.0)}, "risk"},
		{&car.IPAddress{Key: "10.0.0.999"}, "_key"},
		{&car.MACAddress{Key: "zz:00"}, "_key"},
		{&car.Hostname{Key: "a|b", HostName: "a"}, "_key"},
		{&car.Vulnerability{ExternalID: "1"}, "name"},
		{&car.Geolocation{ExternalID: "x"}, "region"},
	}
	for _, c := range cases {
		err := c.v.Validate()
		var ve *car.ValidationError
		if !errors.As(err, &ve) || ve.Field != c.field || ve.Collection != c.v.Collection() {
			t.Errorf("%T: err = %v, want field %s", c.v, err, c.field)
		}
	}
	for _, v := range []car.Vertex{&car.IPAddress{Key: "fd00::7"}, &car.MACAddress{Key: "02:00:00:AA:BB:01"}, &car.Hostname{Key: "web-01.corp.example", HostName: "web-01"}} {
		if err := v.Validate(); err != nil {
			t.Errorf("%T %s refused: %v", v, v.ID(), err)
		}
	}
	e := car.Edge{Collection: "assetipaddress", From: "1", To: "2"}
	if err := e.Validate(); err == nil {
		t.Error("edge collection without end1_end2 accepted")
	}
	if err := (&car.Source{Key: "has space"}).Validate(); err == nil {
		t.Error("source key with a space accepted")
	}
}

func ptr[T any](v T) *T { return &v }

func TestFullImportEndToEnd(t *testing.T) {
	t.Parallel()
	srv, c, _ := setup(t)
	ctx := context.Background()
	im, err := c.NewImport(ctx, src, car.Full, car.WithModelStateID("2026-03-01T00:00:00Z"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := im.Add(context.Background(), host(fmt.Sprint(100+i), fmt.Sprintf("10.0.0.%d", i+1), fmt.Sprintf("02:00:00:00:00:0%d", i+1))); err != nil {
			t.Fatal(err)
		}
	}
	sum, err := im.Close(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	g := srv.Graph("Qualys")
	want := map[string]int{"asset": 3, "ipaddress": 3, "macaddress": 3, "vulnerability": 1, "account": 1, "user": 1,
		"asset_ipaddress": 3, "asset_macaddress": 3, "ipaddress_macaddress": 3, "asset_vulnerability": 3, "user_account": 1}
	if d := cmp.Diff(want, g.Counts()); d != "" {
		t.Errorf("graph counts (-want +got):\n%s", d)
	}
	if sum.Duplicates != 2*4 || sum.Objects["vulnerability"] != 1 {
		t.Errorf("summary %+v", sum)
	}
	if srv.ModelState("Qualys") != "2026-03-01T00:00:00Z" {
		t.Errorf("model state %q", srv.ModelState("Qualys"))
	}
	if rs := g.Vertices["asset"]["100"].Fields["source"]; rs != "Qualys" {
		t.Errorf("asset source %v", rs)
	}
	// The request sequence: bracket in, init envelope, vertices, edges, bracket out, state.
	var seq []string
	for _, r := range srv.Requests() {
		if r.Method == "GET" {
			continue
		}
		what := r.Method + " " + strings.TrimPrefix(r.Path, "/api/car/v2/")
		if strings.HasSuffix(r.Path, "/imports") {
			var env map[string]json.RawMessage
			json.Unmarshal(r.Body, &env)
			coll := "init"
			for k := range env {
				if k != "source" && k != "report" {
					coll = k
				}
			}
			what = "import " + coll
		}
		seq = append(seq, what)
	}
	if seq[0] != "POST source/Qualys/full-import-in-progress" || seq[1] != "import init" ||
		seq[len(seq)-2] != "DELETE source/Qualys/full-import-in-progress" || seq[len(seq)-1] != "PATCH source" {
		t.Errorf("request sequence %v", seq)
	}
	lastVertex, firstEdge := 0, len(seq)
	for i, s := range seq {
		if strings.HasPrefix(s, "import ") && s != "import init" {
			if strings.Contains(s, "_") {
				firstEdge = min(firstEdge, i)
			} else {
				lastVertex = i
			}
		}
	}
	if lastVertex > firstEdge {
		t.Errorf("a vertex import came after an edge import: %v", seq)
	}
}

func TestFullImportDeactivatesUnreportedEdges(t *testing.T) {
	t.Parallel()
	srv, c, _ := setup(t)
	ctx := context.Background()
	run := func(hosts ...car.Graph) {
		im, err := c.NewImport(ctx, src, car.Full)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hosts {
			if err := im.Add(context.Background(), h); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := im.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	run(host("1", "10.0.0.1", "02:00:00:00:00:01"), host("2", "10.0.0.2", "02:00:00:00:00:02"))
	run(host("1", "10.0.0.9", "02:00:00:00:00:01"))
	g := srv.Graph("Qualys")
	if got := g.ActiveEdges("asset_ipaddress", "1"); !cmp.Equal(got, []string{"10.0.0.9"}) {
		t.Errorf("active asset_ipaddress edges of asset 1: %v", got)
	}
	if got := g.ActiveEdges("asset_ipaddress", "2"); len(got) != 0 {
		t.Errorf("edges of a host no longer reported are still active: %v", got)
	}
}

func TestBatchBoundaries(t *testing.T) {
	t.Parallel()
	for _, n := range []int{1999, 2000, 2001} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			srv, c, _ := setup(t)
			im, err := c.NewImport(context.Background(), src, car.Incremental, car.WithBatchSize(2000))
			if err != nil {
				t.Fatal(err)
			}
			g := car.Graph{}
			for i := range n {
				g.Vertices = append(g.Vertices, &car.Account{ExternalID: fmt.Sprint("acct-", i), Name: "a"})
			}
			if err := im.Add(context.Background(), g); err != nil {
				t.Fatal(err)
			}
			if _, err := im.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			var sizes []int
			for _, r := range srv.Imports() {
				sizes = append(sizes, r.Objects)
			}
			slices.Sort(sizes) // requests are sent concurrently
			want := []int{n}
			if n > 2000 {
				want = []int{n - 2000, 2000}
			}
			if !cmp.Equal(sizes, want) {
				t.Errorf("batches %v, want %v", sizes, want)
			}
		})
	}
}

func TestReportSizeLimitSplitsBatches(t *testing.T) {
	t.Parallel()
	srv, c, _ := setup(t)
	im, _ := c.NewImport(context.Background(), src, car.Incremental)
	big := strings.Repeat("x", 10000)
	g := car.Graph{}
	for i := range 1500 { // 15 MB in all
		g.Vertices = append(g.Vertices, &car.Vulnerability{ExternalID: fmt.Sprint(i), Name: "v", Description: big})
	}
	if err := im.Add(context.Background(), g); err != nil {
		t.Fatal(err)
	}
	if _, err := im.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	recs := srv.Imports()
	total := 0
	for _, r := range recs {
		total += r.Objects
		if r.Bytes > 8<<20 {
			t.Errorf("request of %d bytes, over the 8 MB report limit", r.Bytes)
		}
	}
	if total != 1500 || len(recs) < 2 {
		t.Errorf("%d objects in %d requests", total, len(recs))
	}
}

func TestJobLimit(t *testing.T) {
	t.Parallel()
	srv, c, _ := setup(t, cartest.WithJobPolls(3))
	im, _ := c.NewImport(context.Background(), src, car.Incremental, car.WithBatchSize(10))
	g := car.Graph{}
	for i := range 500 { // 50 requests
		g.Vertices = append(g.Vertices, &car.Account{ExternalID: fmt.Sprint(i), Name: "a"})
	}
	if err := im.Add(context.Background(), g); err != nil {
		t.Fatal(err)
	}
	if _, err := im.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if p := srv.PeakOutstandingJobs(); p > car.MaxOutstandingJobs || p < 10 {
		t.Errorf("peak outstanding jobs %d, want at most %d (and the limit used)", p, car.MaxOutstandingJobs)
	}
}

func TestFailedJobFailsCloseAndResetsState(t *testing.T) {
	t.Parallel()
	srv, c, _ := setup(t)
	srv.SetModelState("Qualys", "previous")
	srv.InjectFault(cartest.Fault{Route: "/imports", FailJob: true, Collection: "macaddress"})
	im, _ := c.NewImport(context.Background(), src, car.Incremental)
	im.Add(context.Background(), host("1", "10.0.0.1", "02:00:00:00:00:01"))
	_, err := im.Close(context.Background())
	var jf *car.JobFailedError
	if !errors.As(err, &jf) || !strings.Contains(jf.Collection, "macaddress") || !strings.Contains(err.Error(), "simulated import failure") {
		t.Fatalf("err = %v, want a JobFailedError for macaddress", err)
	}
	if st := srv.ModelState("Qualys"); st != "" {
		t.Errorf("model state %q after a failed job, want it reset", st)
	}
}

func TestAbortKeepsPreviousState(t *testing.T) {
	t.Parallel()
	srv, c, _ := setup(t)
	srv.SetModelState("Qualys", "previous")
	im, _ := c.NewImport(context.Background(), src, car.Incremental)
	im.Add(context.Background(), host("1", "10.0.0.1", "02:00:00:00:00:01"))
	im.Abort()
	if _, err := im.Close(context.Background()); err == nil {
		t.Error("Close after Abort succeeded")
	}
	if st := srv.ModelState("Qualys"); st != "previous" {
		t.Errorf("model state %q, want the previous one kept", st)
	}
}

func TestSchemaRejectionsFromTheFake(t *testing.T) {
	t.Parallel()
	_, c, _ := setup(t)
	// An integer external_id, as the replaced connector sent.
	_, err := c.PostImport(context.Background(), &car.Envelope{Source: src, Report: car.Report{Key: "1", Timestamp: 1},
		Collection: "asset", Objects: []json.RawMessage{json.RawMessage(`{"external_id":13263514,"name":"h"}`)}})
	var ce *car.Error
	if !errors.As(err, &ce) || ce.Code != "data_mal_formed" || !strings.Contains(ce.Message, "must be string") {
		t.Fatalf("err = %v, want data_mal_formed", err)
	}
	_, err = c.PostImport(context.Background(), &car.Envelope{Source: src, Report: car.Report{Key: "1", Timestamp: 1},
		Collection: "hostname", Objects: []json.RawMessage{json.RawMessage(`{"_key":"h","external_id":"1","host_name":"h"}`)}})
	if !errors.As(err, &ce) || !strings.Contains(ce.Message, "cannot be both") {
		t.Fatalf("err = %v, want the _key+external_id rule", err)
	}
}

func TestRetriesAndPatchPolicy(t *testing.T) {
	t.Parallel()
	srv, c, _ := setup(t)
	srv.InjectFault(cartest.Fault{Method: "POST", Route: "/imports", Call: 1, Status: 503})
	im, _ := c.NewImport(context.Background(), src, car.Incremental)
	im.Add(context.Background(), host("1", "10.0.0.1", "02:00:00:00:00:01"))
	if _, err := im.Close(context.Background()); err != nil {
		t.Fatalf("import after one 503: %v", err)
	}
	// PATCH: a 503 without Retry-After is not retried; with it, it is.
	srv.InjectFault(cartest.Fault{Method: "PATCH", Route: "/asset_ipaddress", Call: 1, Status: 503})
	before := len(srv.Requests())
	if err := c.DisableEdge(context.Background(), "Qualys", "asset_ipaddress", "1", "10.0.0.1"); err == nil {
		t.Error("PATCH 503 not reported")
	}
	if n := len(srv.Requests()) - before; n != 1 {
		t.Errorf("PATCH sent %d times after a 503", n)
	}
	srv.InjectFault(cartest.Fault{Method: "PATCH", Route: "/asset_ipaddress", Call: 2, Status: 429, Header: http.Header{"Retry-After": {"0"}}})
	if err := c.DisableEdge(context.Background(), "Qualys", "asset_ipaddress", "1", "10.0.0.1"); err != nil {
		t.Errorf("PATCH after a 429: %v", err)
	}
	if got := srv.Graph("Qualys").ActiveEdges("asset_ipaddress", "1"); len(got) != 0 {
		t.Errorf("edge still active: %v", got)
	}
}

func TestModelStateAndDatabase(t *testing.T) {
	t.Parallel()
	srv, c, _ := setup(t, cartest.WithDatabaseMissing())
	ctx := context.Background()
	st, err := c.DatabaseStatus(ctx)
	if err != nil || !st.NotFound {
		t.Fatalf("status %+v err %v", st, err)
	}
	created, err := c.EnsureDatabase(ctx)
	if err != nil || !created {
		t.Fatalf("EnsureDatabase = %v, %v", created, err)
	}
	if st, _ := c.DatabaseStatus(ctx); !st.Ready {
		t.Error("database not ready after creation")
	}
	if _, ok, err := c.ModelStateID(ctx, "Qualys"); ok || err != nil {
		t.Errorf("new source has a state? %v %v", ok, err)
	}
	c.SaveModelStateID(ctx, "Qualys", "s1")
	if id, ok, _ := c.ModelStateID(ctx, "Qualys"); !ok || id != "s1" {
		t.Errorf("state %q %v", id, ok)
	}
	c.ResetModelStateID(ctx, "Qualys")
	if _, ok, _ := c.ModelStateID(ctx, "Qualys"); ok {
		t.Error("reset state still present")
	}
	_ = srv
}

func TestSoftDeleteChunkedAndEncoded(t *testing.T) {
	t.Parallel()
	srv, c, _ := setup(t)
	var ids []string
	for i := range 400 {
		ids = append(ids, fmt.Sprintf("user %d&x", i))
	}
	if err := c.SoftDelete(context.Background(), "Qualys", "user", ids); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range srv.Requests() {
		if r.Method == "DELETE" {
			n++
			if len(r.Query) > 2600 || !strings.Contains(r.Query, "external_ids=user+") && !strings.Contains(r.Query, "external_ids=user%20") {
				t.Errorf("query %d bytes: %.80s", len(r.Query), r.Query)
			}
		}
	}
	if n < 2 {
		t.Errorf("%d DELETE calls for 400 ids, want chunks", n)
	}
}

func TestQueryEdgesOfAsset(t *testing.T) {
	t.Parallel()
	_, c, _ := setup(t)
	im, _ := c.NewImport(context.Background(), src, car.Incremental)
	im.Add(context.Background(), host("7", "10.0.0.7", "02:00:00:00:00:07"))
	if _, err := im.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	var out struct {
		Rows []map[string]string `json:"asset_ipaddress"`
	}
	err := c.Query(context.Background(), `{ asset_ipaddress(where: {asset_id: {_eq: "Qualys/7"}}) { source, asset_id, ipaddress_id } }`, &out)
	if err != nil || len(out.Rows) != 1 || out.Rows[0]["ipaddress_id"] != "Qualys/0/10.0.0.7" {
		t.Fatalf("rows %v err %v", out.Rows, err)
	}
}

func TestErrorsTypedAndRedacted(t *testing.T) {
	t.Parallel()
	srv := cartest.NewServer()
	defer srv.Close()
	var logs bytes.Buffer
	c, _ := car.NewClient(srv.URL, car.WithAPIKey("key", "Sup3rSecretPw"), car.WithInsecureLoopback(),
		car.WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	_, err := c.DatabaseStatus(context.Background())
	if !errors.Is(err, car.ErrUnauthorized) {
		t.Fatalf("err = %v, want ErrUnauthorized", err)
	}
	for _, s := range []string{err.Error(), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), logs.String()} {
		if strings.Contains(s, "Sup3rSecretPw") {
			t.Errorf("secret leaked: %.200s", s)
		}
	}
	for _, tc := range []struct{ url, want string }{
		{"https://cp4s.example.com/api/car", "must end in /api/car/v2"},
		{"http://cp4s.example.com/api/car/v2", "must be https"},
		{"cp4s.example.com", "absolute URL"},
	} {
		_, err := car.NewClient(tc.url, car.WithToken("t"))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v", tc.url, err)
		}
	}
	if _, err := car.NewClient("https://x/api/car/v2"); err == nil || !strings.Contains(err.Error(), "WithAPIKey") {
		t.Errorf("no credentials: err = %v", err)
	}
}

func TestTokenAuth(t *testing.T) {
	t.Parallel()
	srv := cartest.NewServer()
	defer srv.Close()
	c, _ := car.NewClient(srv.URL, car.WithToken(cartest.DefaultToken), car.WithInsecureLoopback())
	if _, err := c.DatabaseStatus(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestImportMemoryIsFlat streams many vertices and edges through Import
// against a server that discards them, and checks the client's heap stays
// bounded by a batch, not the graph.
func TestImportMemoryIsFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("large graph")
	}
	var jobs atomic.Int64
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/imports"):
			fmt.Fprintf(w, `{"id":"job-%d","status":"INPROGRESS"}`, jobs.Add(1))
		case strings.HasSuffix(r.URL.Path, "/importstatus"):
			var done []string
			for _, id := range strings.Split(r.URL.Query().Get("ids"), ",") {
				done = append(done, fmt.Sprintf(`{"id":%q}`, id))
			}
			fmt.Fprintf(w, `{"complete_imports":[%s],"incomplete_imports":[],"error_imports":[]}`, strings.Join(done, ","))
		default:
			fmt.Fprint(w, `{"result":"OK"}`)
		}
	}))
	defer hs.Close()
	c, _ := car.NewClient(hs.URL+"/api/car/v2", car.WithAPIKey("k", "p"), car.WithInsecureLoopback(), car.WithPolling(time.Millisecond, time.Millisecond))
	im, err := c.NewImport(context.Background(), src, car.Incremental)
	if err != nil {
		t.Fatal(err)
	}
	const hosts = 60000 // about 40 MB of encoded objects
	var peak uint64
	var ms runtime.MemStats
	for i := range hosts {
		id := fmt.Sprint(i)
		ip := fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
		g := car.Graph{Vertices: []car.Vertex{&car.Asset{ExternalID: id, Name: "h" + id, Description: strings.Repeat("d", 200)}, &car.IPAddress{Key: ip}},
			Edges: []car.Edge{{Collection: "asset_ipaddress", From: id, To: ip}}}
		if err := im.Add(context.Background(), g); err != nil {
			t.Fatal(err)
		}
		if i%20000 == 0 {
			runtime.GC()
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}
	}
	sum, err := im.Close(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d hosts, %d requests, peak heap %.1f MB", hosts, sum.Requests, float64(peak)/(1<<20))
	if peak > 16<<20 {
		t.Errorf("peak heap %d MB for a streamed graph", peak>>20)
	}
}

// TestCheckpointOnlyOnProvenSuccess: job states that do not prove success
// fail the import, and the model state never moves to the new one.
func TestCheckpointOnlyOnProvenSuccess(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		fault cartest.Fault
		opts  []car.ImportOption
		want  string
	}{
		"empty importstatus": {fault: cartest.Fault{Method: "GET", Route: "/importstatus", Status: 200, Body: `{}`},
			want: "does not mention the job"},
		"job not mentioned": {fault: cartest.Fault{Method: "GET", Route: "/importstatus", Status: 200, Body: `{"complete_imports":[{"id":"someone-else"}]}`},
			want: "does not mention the job"},
		"notfound_imports": {fault: cartest.Fault{Method: "GET", Route: "/importstatus", Status: 200, Body: `{"notfound_imports":["00000001-cartest-1"]}`},
			want: "notfound_imports"},
		"status error under 200": {fault: cartest.Fault{Method: "POST", Route: "/imports", Status: 200, Body: `{"id":"x","status":"error","message":"rejected"}`},
			want: `status "error"`},
		"errors under 200": {fault: cartest.Fault{Method: "POST", Route: "/imports", Status: 200, Body: `{"id":"x","errors":[{"code":"bad","message":"no"}]}`},
			want: "no"},
		"stuck past the deadline": {fault: cartest.Fault{Route: "/imports", StallJob: 1 << 20}, opts: []car.ImportOption{car.WithJobDeadline(30 * time.Millisecond)},
			want: "still incomplete"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			srv, c, _ := setup(t)
			srv.SetModelState("Qualys", "previous")
			srv.InjectFault(tc.fault)
			im, err := c.NewImport(context.Background(), src, car.Incremental, append(tc.opts, car.WithModelStateID("new-state"))...)
			if err != nil {
				t.Fatal(err)
			}
			addErr := im.Add(context.Background(), host("1", "10.0.0.1", "02:00:00:00:00:01"))
			_, err = im.Close(context.Background())
			if err == nil {
				err = addErr
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one saying %q", err, tc.want)
			}
			if st := srv.ModelState("Qualys"); st == "new-state" {
				t.Error("the model state moved on an unproven import")
			}
		})
	}
}

// Edge.MarshalJSON, written by hand for speed, writes what encoding/json
// writes for the edge as a map (the form it replaced), for every kind of
// property value, names that collide with the fixed fields, and strings
// that encoding/json escapes.
func TestEdgeJSONMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	oracle := func(e car.Edge) ([]byte, error) {
		from, to, _ := e.Ends()
		m := map[string]any{}
		for k, v := range e.Properties {
			m[k] = v
		}
		fromKey, toKey, fromVal, toVal := "_from_external_id", "_to_external_id", e.From, e.To
		if car.Keyed(from) {
			fromKey, fromVal = "_from", from+"/"+e.From
		}
		if car.Keyed(to) {
			toKey, toVal = "_to", to+"/"+e.To
		}
		m[fromKey], m[toKey], m["active"] = fromVal, toVal, !e.Disabled
		if e.Source != "" {
			m["source"] = e.Source
		}
		return json.Marshal(m)
	}
	values := []any{nil, "plain", `quote " and \ back`, "<script>&amp;</script>", "a<b", "a>b", "a&b", "tab\tnew\nline\x01", "héllo ☃", "\u2028", "bad \xff utf8",
		true, false, 0, -3, int64(1) << 60, 0.0, 3.5, -2.25, 1e-7, 1e21, 123456789.125, 1796123052990.931, []string{"a", "b"}, map[string]any{"z": 1, "a": "x"}}
	colls := []string{"asset_vulnerability", "ipaddress_vulnerability", "asset_ipaddress", "ipaddress_macaddress", "user_account", "asset_hostname"}
	for i, v := range values {
		for j, coll := range colls {
			e := car.Edge{Collection: coll, From: fmt.Sprint("from-", i), To: fmt.Sprint("to<", j, ">"), Disabled: (i+j)%2 == 0,
				Properties: map[string]any{"prop": v, "risk_score": float64(i), "zeta": v}}
			switch j % 3 {
			case 0:
				e.Source = "Qualys"
				e.Properties["source"] = "overridden"
			case 1:
				e.Properties["source"] = v // kept: the edge has no Source
				e.Properties["active"] = "overridden"
			}
			got, gerr := e.MarshalJSON()
			want, werr := oracle(e)
			if (gerr != nil) != (werr != nil) || string(got) != string(want) {
				t.Errorf("value %#v, %s:\n got %s (%v)\nwant %s (%v)", v, coll, got, gerr, want, werr)
			}
		}
	}
	// A value encoding/json refuses is refused.
	if _, err := (car.Edge{Collection: "asset_vulnerability", From: "1", To: "2", Properties: map[string]any{"x": math.NaN()}}).MarshalJSON(); err == nil {
		t.Error("NaN property: no error")
	}
}

// An import holds at most WithBufferBytes of encoded objects across its
// collections: the largest batch goes early, nothing is lost, and vertices
// still precede the edges that refer to them.
func TestImportBufferBytes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		opts   []car.ImportOption
		bigger bool // more, smaller requests than the default
	}{{"default", nil, false}, {"64 KiB", []car.ImportOption{car.WithBufferBytes(64 << 10)}, true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, c, _ := setup(t)
			im, err := c.NewImport(context.Background(), src, car.Incremental, tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			const hosts = 1500
			for i := range hosts {
				if err := im.Add(context.Background(), assetWithIP(i, 0, 300)); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := im.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			g := s.Graph("Qualys")
			if len(g.Vertices["asset"]) != hosts || len(g.Vertices["ipaddress"]) != hosts || len(g.Edges["asset_ipaddress"]) != hosts {
				t.Fatalf("CAR holds %d assets, %d addresses, %d edges; want %d each", len(g.Vertices["asset"]), len(g.Vertices["ipaddress"]), len(g.Edges["asset_ipaddress"]), hosts)
			}
			largest, requests := 0, 0
			for _, r := range s.Imports() {
				largest = max(largest, r.Bytes)
				requests++
			}
			if tc.bigger {
				if largest > 80<<10 {
					t.Errorf("largest request %d bytes with a 64 KiB buffer", largest)
				}
				if requests < 10 {
					t.Errorf("%d requests: the buffer bound did not send early", requests)
				}
			} else if requests > 6 {
				t.Errorf("%d requests for %d objects with the default buffer", requests, 3*hosts)
			}
		})
	}
}

// Edges wait for the vertex jobs before them without holding up the
// import: with jobs that take several polls to complete, requests are sent
// while Add goes on (several jobs outstanding at once), and still no edge
// arrives before its vertices (the fake fails such a job).
func TestEdgesWaitForTheirVerticesWithoutStalling(t *testing.T) {
	t.Parallel()
	srv, c, _ := setup(t, cartest.WithJobPolls(3))
	im, err := c.NewImport(context.Background(), src, car.Incremental, car.WithBufferBytes(256<<10))
	if err != nil {
		t.Fatal(err)
	}
	const hosts = 2000
	for i := range hosts {
		if err := im.Add(context.Background(), assetWithIP(i, 1, 0)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := im.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	g := srv.Graph("Qualys")
	if len(g.Vertices["asset"]) != hosts || len(g.Edges["asset_ipaddress"]) != hosts {
		t.Fatalf("CAR holds %d assets and %d edges, want %d each", len(g.Vertices["asset"]), len(g.Edges["asset_ipaddress"]), hosts)
	}
	if p := srv.PeakOutstandingJobs(); p < 3 || p > car.MaxOutstandingJobs {
		t.Errorf("peak outstanding jobs %d, want 3 to %d", p, car.MaxOutstandingJobs)
	}
}

// While CAR has not completed the vertex jobs, Add goes on until the bytes
// held reach WithBufferBytes, and no request carries an edge.
func TestAddDoesNotWaitForVertexJobs(t *testing.T) {
	t.Parallel()
	srv, c, _ := setup(t, cartest.WithJobPolls(1<<20)) // jobs never complete
	im, err := c.NewImport(context.Background(), src, car.Incremental, car.WithBufferBytes(1<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer im.Abort()
	// Generous: Add never waits for a job here, so only a bug meets it.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i := range 2500 { // about 800 KB
		if err := im.Add(ctx, assetWithIP(i, 2, 0)); err != nil {
			t.Fatalf("host %d: Add waited for CAR: %v", i, err)
		}
	}
	im.Abort() // the requests on their way are answered
	vertexRequests := 0
	for _, r := range srv.Imports() {
		if r.Collections["asset_ipaddress"] > 0 {
			t.Errorf("a request carries edges before their vertices' jobs completed: %v", r.Collections)
		}
		if r.Collections["asset"] > 0 {
			vertexRequests++
		}
	}
	if vertexRequests < 2 {
		t.Errorf("%d requests with vertices: they were not sent while edges waited", vertexRequests)
	}
}
