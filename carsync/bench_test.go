package carsync_test

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/qualysbridge/qualysbridge/car"
	"github.com/qualysbridge/qualysbridge/car/cartest"
	"github.com/qualysbridge/qualysbridge/carsync"
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
