package car_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/qualysbridge/qualysbridge/car"
)

// Every ImportOption refuses a bad value, and NewImport returns its error.
func TestImportOptionsValidate(t *testing.T) {
	_, c, _ := setup(t)
	for name, opt := range map[string]car.ImportOption{
		"batch 0":          car.WithBatchSize(0),
		"batch too large":  car.WithBatchSize(car.MaxBatch + 1),
		"jobs 0":           car.WithMaxJobs(0),
		"jobs too many":    car.WithMaxJobs(car.MaxOutstandingJobs + 1),
		"buffer too small": car.WithBufferBytes(1024),
		"deadline 0":       car.WithJobDeadline(0),
		"empty state":      car.WithModelStateID(" "),
		"nil option":       nil,
	} {
		t.Run(name, func(t *testing.T) {
			im, err := c.NewImport(context.Background(), src, car.Incremental, opt)
			var ce *car.ConfigError
			if im != nil || !errors.As(err, &ce) {
				t.Fatalf("NewImport = %v, %v; want a *car.ConfigError", im, err)
			}
		})
	}
}

// Add leaves the caller's graph as it was: the edge's Properties map gets
// no report or timestamp and a vertex without a source keeps none, while
// CAR receives both.
func TestAddDoesNotModifyTheGraph(t *testing.T) {
	srv, c, _ := setup(t)
	ctx := context.Background()
	im, err := c.NewImport(ctx, src, car.Incremental)
	if err != nil {
		t.Fatal(err)
	}
	props := map[string]any{"risk_score": 4.0}
	g := car.Graph{Vertices: []car.Vertex{&car.Asset{ExternalID: "1", Name: "a"}, &car.Vulnerability{ExternalID: "38170", Name: "v"}},
		Edges: []car.Edge{{Collection: "asset_vulnerability", From: "1", To: "38170", Properties: props}}}
	before := fmt.Sprintf("%+v %+v %+v", *g.Vertices[0].(*car.Asset), *g.Vertices[1].(*car.Vulnerability), g.Edges)
	if err := im.Add(ctx, g); err != nil {
		t.Fatal(err)
	}
	if _, err := im.Close(ctx); err != nil {
		t.Fatal(err)
	}
	after := fmt.Sprintf("%+v %+v %+v", *g.Vertices[0].(*car.Asset), *g.Vertices[1].(*car.Vulnerability), g.Edges)
	if d := cmp.Diff(before, after); d != "" || len(props) != 1 {
		t.Errorf("Add changed the caller's graph:\n%s\nproperties %v", d, props)
	}
	var sawSource, sawReport bool
	for _, r := range srv.Requests() {
		body := string(r.Body)
		sawSource = sawSource || strings.Contains(body, `"external_id":"1","name":"a","source":"Qualys"`)
		sawReport = sawReport || (strings.Contains(body, `"asset_vulnerability"`) && strings.Contains(body, `"report":"`) && strings.Contains(body, `"timestamp":`))
	}
	if !sawSource || !sawReport {
		t.Errorf("CAR did not receive the source (%v) or the edge's report and timestamp (%v)", sawSource, sawReport)
	}
}

// An object that cannot be encoded ends the import: Add and Close return
// that error from then on.
func TestEncodingErrorIsLatched(t *testing.T) {
	_, c, _ := setup(t)
	ctx := context.Background()
	im, err := c.NewImport(ctx, src, car.Incremental)
	if err != nil {
		t.Fatal(err)
	}
	bad := car.Graph{Vertices: []car.Vertex{&car.Asset{ExternalID: "1", Name: "a"}},
		Edges: []car.Edge{{Collection: "asset_ipaddress", From: "1", To: "10.0.0.1", Properties: map[string]any{"x": make(chan int)}}}}
	first := im.Add(ctx, bad)
	if first == nil {
		t.Fatal("an edge property that cannot be encoded was accepted")
	}
	if err := im.Add(ctx, assetWithIP(2, 0, 0)); !errors.Is(err, first) && (err == nil || err.Error() != first.Error()) {
		t.Errorf("the next Add returned %v, want the latched %v", err, first)
	}
	if _, err := im.Close(ctx); err == nil || err.Error() != first.Error() {
		t.Errorf("Close returned %v, want the latched %v", err, first)
	}
}

// Vertices are deduplicated on their whole identity: 50,000 distinct ids
// are all sent (a hash could take two for one), repeats are not.
func TestDedupeOnWholeIdentity(t *testing.T) {
	_, c, _ := setup(t)
	ctx := context.Background()
	im, err := c.NewImport(ctx, src, car.Incremental)
	if err != nil {
		t.Fatal(err)
	}
	const n = 50000
	for i := range n {
		id := fmt.Sprint(i)
		if err := im.Add(ctx, car.Graph{Vertices: []car.Vertex{&car.Asset{ExternalID: id, Name: id}, &car.Account{ExternalID: "root", Name: "root"}}}); err != nil {
			t.Fatal(err)
		}
	}
	sum, err := im.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Objects["asset"] != n || sum.Objects["account"] != 1 || sum.Duplicates != n-1 {
		t.Errorf("objects %v, duplicates %d; want %d assets, 1 account, %d duplicates", sum.Objects, sum.Duplicates, n, n-1)
	}
}

// The collections go out in the same order every time: in each request,
// vertices in their documented order, then edge collections sorted by
// name.
func TestCloseOrderIsDeterministic(t *testing.T) {
	order := func() []string {
		srv, c, _ := setup(t)
		ctx := context.Background()
		im, err := c.NewImport(ctx, src, car.Incremental)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 5 {
			if err := im.Add(ctx, host(fmt.Sprint(i), fmt.Sprintf("10.0.0.%d", i+1), fmt.Sprintf("00:11:22:33:44:%02d", i+1))); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := im.Close(ctx); err != nil {
			t.Fatal(err)
		}
		var colls []string
		for _, r := range srv.Requests() {
			if !strings.HasSuffix(r.Path, "/imports") || r.Method != "POST" {
				continue
			}
			// The envelope's keys in the order they were written.
			dec := json.NewDecoder(bytes.NewReader(r.Body))
			dec.Token()
			for dec.More() {
				k, _ := dec.Token()
				var skip json.RawMessage
				dec.Decode(&skip)
				if k != "source" && k != "report" {
					colls = append(colls, k.(string))
				}
			}
		}
		return colls
	}
	first := order()
	var edges []string
	for _, c := range first {
		if strings.Contains(c, "_") {
			edges = append(edges, c)
		}
	}
	if !slices.IsSorted(edges) || len(edges) < 4 {
		t.Errorf("edge collections went out as %v, want sorted", edges)
	}
	for range 5 {
		if again := order(); !slices.Equal(again, first) {
			t.Fatalf("batch order differs between runs:\n%v\n%v", first, again)
		}
	}
}

// Add refuses an edge whose keyed end its vertex would refuse (an
// asset_ipaddress edge to "not-an-ip"), naming the edge and the field, as
// it refuses the vertex: nothing Add accepted fails at Close.
func TestAddValidatesEdgeEnds(t *testing.T) {
	_, c, _ := setup(t)
	im, err := c.NewImport(context.Background(), src, car.Incremental)
	if err != nil {
		t.Fatal(err)
	}
	defer im.Abort()
	for _, e := range []car.Edge{
		{Collection: "asset_ipaddress", From: "1", To: "not-an-ip"},
		{Collection: "ipaddress_macaddress", From: "10.0.0.1", To: "zz:zz"},
		{Collection: "asset_hostname", From: "1", To: "a b"},
		{Collection: "asset_vulnerability", From: "1", To: ""},
	} {
		err := im.Add(context.Background(), car.Graph{Edges: []car.Edge{e}})
		var ve *car.ValidationError
		if !errors.As(err, &ve) || !strings.Contains(err.Error(), e.Collection) {
			t.Errorf("%+v: err = %v, want a ValidationError naming it", e, err)
		}
	}
	if err := im.Add(context.Background(), car.Graph{Edges: []car.Edge{{Collection: "asset_ipaddress", From: "1", To: "10.0.0.1"}}}); err != nil {
		t.Errorf("a good edge: %v", err)
	}
}
