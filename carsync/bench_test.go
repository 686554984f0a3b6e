package carsync_test

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/qualysbridge/qualysbridge/car"
	"github.com/qualysbridge/qualysbridge/car/cartest"
	"github.com/qualysbridge/qualysbridge/carsync"
	"github.com/qualysbridge/qualysbridge/qualys"
	"github.com/qualysbridge/qualysbridge/qualys/qualystest"
)

// BenchmarkRun3000 is a full import of 3,000 hosts (3 pages, a detection
// limit of 3) against the in-process fakes, whose own work is counted too:
// compare runs of the same commit's fakes only. bench/run.sh measures the
// connector alone, in its own process.
func BenchmarkRun3000(b *testing.B) {
	tenant := qualystest.Generate(5, 3000)
	for b.Loop() {
		b.StopTimer()
		q := qualystest.NewServer(qualystest.WithTenant(tenant), qualystest.WithLimit(qualystest.APIDetections, qualystest.Limit{Concurrency: 3}))
		c := cartest.NewServer()
		cfg := config(b, q, c)
		cfg.PageSize = 0 // the QPS maximum, as the connector
		b.StartTimer()
		if _, err := carsync.Run(context.Background(), cfg); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		q.Close()
		c.Close()
		b.StartTimer()
	}
}

// BenchmarkCARLatency is a full import of 3,000 hosts x 30 detections into
// cartest with and without 50 ms per CAR request (issue 36's measurement):
// it reports the import requests, the status polls, the bytes imported and
// the bound 4 x ceil(bytes / 8 MiB) + 10. Compare the two sub-benchmarks'
// ns/op: the latency costs its requests, not its objects.
//
//	go test -run '^$' -bench CARLatency -benchtime 3x ./carsync
func BenchmarkCARLatency(b *testing.B) {
	tenant := qualystest.Generate(1, 3000, qualystest.WithDetectionsPerHost(30))
	for _, lat := range []time.Duration{0, 50 * time.Millisecond} {
		b.Run(fmt.Sprintf("car=%s", lat), func(b *testing.B) {
			var imports, polls, other, bytes float64
			for b.Loop() {
				b.StopTimer()
				q := qualystest.NewServer(qualystest.WithTenant(tenant), qualystest.WithLimit(qualystest.APIDetections, qualystest.Limit{Concurrency: 3}))
				c := cartest.NewServer(cartest.WithLatency(lat))
				cfg := config(b, q, c)
				cfg.PageSize = 0
				cc, err := car.NewClient(c.URL, car.WithAPIKey(cartest.DefaultAPIKey, cartest.DefaultPassword), car.WithInsecureLoopback())
				if err != nil {
					b.Fatal(err)
				}
				cfg.CAR = cc // the default polling, as the connector polls
				b.StartTimer()
				sum, err := carsync.Run(context.Background(), cfg)
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				counts := c.RequestCounts()
				imports, polls = float64(counts["POST imports"]), float64(counts["GET importstatus"])
				other = -imports - polls
				for _, n := range counts {
					other += float64(n)
				}
				bytes = float64(sum.Import.Bytes)
				q.Close()
				c.Close()
				b.StartTimer()
			}
			b.ReportMetric(imports, "imports/op")
			b.ReportMetric(polls, "polls/op")
			b.ReportMetric(other, "other-car-requests/op")
			b.ReportMetric(bytes/(1<<20), "MiB/op")
			b.ReportMetric(4*math.Ceil(bytes/(8<<20))+10, "import-bound/op")
		})
	}
}

// BenchmarkIncremental3000 is an incremental run after changes to a tenth
// of 3,000 hosts (100 addresses renumbered, 100 detections fixed, 100
// hosts removed): it reports the CAR requests of the incremental run by
// kind (GraphQL queries, imports, status polls, edge PATCHes, soft
// deletes) and the edges disabled.
//
//	go test -run '^$' -bench Incremental3000 -benchtime 3x ./carsync
func BenchmarkIncremental3000(b *testing.B) {
	var counts map[string]int
	var disabled int
	for b.Loop() {
		b.StopTimer()
		tenant := qualystest.Generate(1, 3000, qualystest.WithDetectionsPerHost(30))
		q := qualystest.NewServer(qualystest.WithTenant(tenant), qualystest.WithLimit(qualystest.APIDetections, qualystest.Limit{Concurrency: 3}))
		c := cartest.NewServer()
		cfg := config(b, q, c)
		cfg.PageSize = 0
		clk := useClock(&cfg)
		if _, err := carsync.Run(context.Background(), cfg); err != nil {
			b.Fatal(err)
		}
		at := clk.step()
		for i, a := range tenant.HostAssets[:300] {
			switch {
			case i < 100:
				cp := *a
				cp.NetworkInterfaces = []qualys.NetworkInterface{{Address: fmt.Sprintf("172.30.%d.%d", i/250, i%250+1), InterfaceName: "eth0"}}
				cp.Modified = at
				q.AddHostAsset(&cp)
			case i < 200:
				for _, h := range tenant.Detections {
					if h.ID == a.QWebHostID && len(h.Detections) > 0 {
						cp := *h
						cp.Detections = slices.Clone(h.Detections)
						for j := range cp.Detections {
							if cp.Detections[j].QID == h.Detections[0].QID {
								cp.Detections[j].Status, cp.Detections[j].LastUpdate = "Fixed", at
							}
						}
						q.SetDetectionHost(&cp)
					}
				}
			default:
				q.RemoveHostAsset(a.ID)
				q.RemoveDetectionHost(a.QWebHostID)
				q.RemoveAsset(a.ID)
			}
		}
		before := c.RequestCounts()
		b.StartTimer()
		sum, err := carsync.Run(context.Background(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		counts = c.RequestCounts()
		for k, n := range before {
			counts[k] -= n
		}
		disabled = sum.DisabledEdges
		q.Close()
		c.Close()
		b.StartTimer()
	}
	patches := 0
	for k, n := range counts {
		if strings.HasPrefix(k, "PATCH ") && k != "PATCH source" {
			patches += n
		}
	}
	b.ReportMetric(float64(counts["POST v3/query"]), "queries/op")
	b.ReportMetric(float64(counts["POST imports"]), "imports/op")
	b.ReportMetric(float64(counts["GET importstatus"]), "polls/op")
	b.ReportMetric(float64(patches), "edge-patches/op")
	b.ReportMetric(float64(counts["DELETE source"]), "soft-deletes/op")
	b.ReportMetric(float64(disabled), "disabled-edges/op")
}
