package threatq_test

import (
	"context"
	"flag"
	"fmt"
	"testing"
	"time"

	"github.com/qualysbridge/qualysbridge/threatq"
	"github.com/qualysbridge/qualysbridge/threatq/threatqtest"
)

var writerHosts = flag.Int("threatq.hosts", 20000, "BenchmarkAssetWriter: vulnerable hosts stored")

// hostAssets are n Assets as the operation maps vulnerable hosts: a
// Qualys ID and the five current-state attributes.
func hostAssets(n int, scan time.Time) []threatq.Asset {
	out := make([]threatq.Asset, n)
	for i := range out {
		out[i] = threatq.Asset{Value: fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255), Sources: []threatq.Source{{Name: "Qualys"}},
			Description: fmt.Sprintf("Qualys host %d", 5000000+i),
			Attributes: []threatq.Attribute{{Name: "Qualys ID", Value: fmt.Sprint(5000000 + i)}, {Name: "Severity", Value: fmt.Sprint(1 + i%5)},
				{Name: "Scan Status", Value: "Active"}, {Name: "Scan Type", Value: "Confirmed"},
				{Name: "Last Scan Date", Value: scan.Format(time.RFC3339)}, {Name: "Last Found Date", Value: scan.Format(time.RFC3339)}},
			Current: []string{"Severity", "Scan Status", "Scan Type", "Last Scan Date", "Last Found Date"}}
	}
	return out
}

// BenchmarkAssetWriter stores 20,000 vulnerable hosts (-threatq.hosts)
// related to one CVE into threatqtest answering every request after 50 ms,
// the first time and again unchanged, and reports the ThreatQ requests,
// the peak in flight and the floor: requests x 50 ms / the client's
// concurrency (4). ns/op against floor-ns/op is the write path's distance
// from it.
//
//	go test -run '^$' -bench AssetWriter -benchtime 2x ./threatq
func BenchmarkAssetWriter(b *testing.B) {
	const latency = 50 * time.Millisecond
	scan := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	assets := hostAssets(*writerHosts, scan)
	for _, rerun := range []bool{false, true} {
		name := "first-store"
		if rerun {
			name = "unchanged-rerun"
		}
		b.Run(name, func(b *testing.B) {
			var requests, peak float64
			for b.Loop() {
				b.StopTimer()
				srv := threatqtest.NewServer(threatqtest.WithLatency(latency))
				c, err := threatq.NewClient(srv.URL, threatq.WithPasswordGrant(threatq.PasswordGrant{ClientID: threatqtest.ClientID, Email: threatqtest.Email, Password: threatqtest.Password}), threatq.WithInsecureLoopback())
				if err != nil {
					b.Fatal(err)
				}
				ctx := context.Background()
				ind, err := c.EnsureIndicator(ctx, threatq.Indicator{Type: "CVE", Value: "CVE-2021-44228"})
				if err != nil {
					b.Fatal(err)
				}
				store := func() {
					w := c.NewAssetWriter(ind.ID)
					for start := 0; start < len(assets); start += threatq.BulkBatch {
						if err := w.Write(ctx, assets[start:min(start+threatq.BulkBatch, len(assets))], nil); err != nil {
							b.Fatal(err)
						}
					}
					if _, err := w.Close(ctx); err != nil {
						b.Fatal(err)
					}
				}
				if rerun {
					store()
				}
				before := len(srv.Requests())
				b.StartTimer()
				store()
				b.StopTimer()
				requests = float64(len(srv.Requests()) - before)
				peak = float64(srv.PeakConcurrency())
				srv.Close()
				b.StartTimer()
			}
			b.ReportMetric(requests, "requests/op")
			b.ReportMetric(peak, "peak-in-flight")
			b.ReportMetric(requests*float64(latency)/float64(threatq.DefaultConcurrency), "floor-ns/op")
		})
	}
}
