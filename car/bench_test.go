package car_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qualysbridge/qualysbridge/car"
)

// BenchmarkEnvelopeEncoding measures encoding one import request of the
// raw call: 2,000 edges (IBM's page size) with their source and report.
func BenchmarkEnvelopeEncoding(b *testing.B) {
	objs := make([]json.RawMessage, 0, 2000)
	for i := range 2000 {
		e := car.Edge{Collection: "asset_ipaddress", From: fmt.Sprint(31000000 + i), To: fmt.Sprintf("10.0.%d.%d", i/256, i%256), Source: "Qualys",
			Properties: map[string]any{"report": "1795340908183.439", "timestamp": 1795340908183.439}}
		raw, err := json.Marshal(e)
		if err != nil {
			b.Fatal(err)
		}
		objs = append(objs, raw)
	}
	env := &car.Envelope{Source: car.Source{Key: "Qualys"}, Report: car.Report{Key: "1795340908183.439", Timestamp: 1795340908183.439}, Collection: "asset_ipaddress", Objects: objs}
	out, _ := env.MarshalJSON()
	b.SetBytes(int64(len(out)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := env.MarshalJSON(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEdgeMarshal measures encoding one edge as the import schema
// wants it.
func BenchmarkEdgeMarshal(b *testing.B) {
	e := car.Edge{Collection: "asset_vulnerability", From: "31000001", To: "38170", Source: "Qualys", Properties: map[string]any{"risk_score": 4}}
	b.ReportAllocs()
	for range b.N {
		if _, err := json.Marshal(e); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkImportHosts measures the write path per host: Add of a host's
// graph (an asset, two addresses, 30 vulnerabilities with an edge from the
// asset and one from each address, as a Qualys host maps) and its share of
// the requests, against a server that answers at once (the network is not
// measured). Reported per host.
func BenchmarkImportHosts(b *testing.B) {
	var jobs atomic.Int64
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
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
	c, err := car.NewClient(hs.URL+"/api/car/v2", car.WithAPIKey("k", "p"), car.WithInsecureLoopback(), car.WithPolling(time.Millisecond, time.Millisecond))
	if err != nil {
		b.Fatal(err)
	}
	const hosts = 2000
	graphs := make([]car.Graph, hosts)
	for i := range graphs {
		id := fmt.Sprint(31000000 + i)
		ips := []string{fmt.Sprintf("10.1.%d.%d", i>>8, i&255), fmt.Sprintf("10.2.%d.%d", i>>8, i&255)}
		g := car.Graph{Vertices: []car.Vertex{&car.Asset{ExternalID: id, Name: "host-" + id, Description: "Linux host " + id}, &car.IPAddress{Key: ips[0]}, &car.IPAddress{Key: ips[1]}}}
		for q := range 30 {
			qid := fmt.Sprint(38000 + (i*7+q*13)%4000)
			g.Edges = append(g.Edges, car.Edge{Collection: "asset_vulnerability", From: id, To: qid, Properties: map[string]any{"risk_score": 8}})
			for _, ip := range ips {
				g.Edges = append(g.Edges, car.Edge{Collection: "ipaddress_vulnerability", From: ip, To: qid})
			}
		}
		for _, ip := range ips {
			g.Edges = append(g.Edges, car.Edge{Collection: "asset_ipaddress", From: id, To: ip})
		}
		graphs[i] = g
	}
	b.ReportAllocs()
	for b.Loop() {
		im, err := c.NewImport(context.Background(), car.Source{Key: "Qualys"}, car.Incremental)
		if err != nil {
			b.Fatal(err)
		}
		for _, g := range graphs {
			if err := im.Add(context.Background(), g); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := im.Close(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*hosts), "ns/host")
}
