package carsync_test

import (
	"context"
	"testing"

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
