package carsync_test

import (
	"context"
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
		user, pass := q.Credentials()
		qc, err := qualys.NewClient(q.URL, qualys.WithCredentials(user, pass), qualys.WithGateway(q.GatewayURL), qualys.WithInsecureLoopback())
		if err != nil {
			b.Fatal(err)
		}
		cc, err := car.NewClient(c.URL, car.WithAPIKey(cartest.DefaultAPIKey, cartest.DefaultPassword), car.WithInsecureLoopback(), car.WithPolling(time.Millisecond, 5*time.Millisecond))
		if err != nil {
			b.Fatal(err)
		}
		cfg := carsync.Config{Qualys: qc, CAR: cc, Source: car.Source{Key: "Qualys"}}
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
