package tqsync_test

import (
	"context"
	"testing"
	"time"

	"github.com/qualysbridge/qualysbridge/qualys/qualystest"
	"github.com/qualysbridge/qualysbridge/threatq/threatqtest"
	"github.com/qualysbridge/qualysbridge/tqsync"
)

// BenchmarkSweep500 and BenchmarkSingleRuns500 compare a sweep of 500 CVEs
// (25 a list) with 500 single-CVE runs against the fakes, reporting the
// Qualys calls each makes:
//
//	go test -run '^$' -bench '500$' -benchtime 1x ./tqsync/
func BenchmarkSweep500(b *testing.B) { benchmark500(b, true) }

// BenchmarkSingleRuns500 is the 500 single-CVE runs of BenchmarkSweep500.
func BenchmarkSingleRuns500(b *testing.B) { benchmark500(b, false) }

func benchmark500(b *testing.B, sweep bool) {
	tn, cves := sweepTenantSized(b, 500)
	for b.Loop() {
		b.StopTimer()
		w := newWorld(b, tn)
		b.StartTimer()
		if sweep {
			if _, err := tqsync.Sweep(context.Background(), tqsync.SweepConfig{Config: tqsync.Config{Qualys: w.qc, ThreatQ: w.tc, CVEs: cves, Toggles: allToggles}}); err != nil {
				b.Fatal(err)
			}
		} else {
			for _, c := range cves {
				if _, err := tqsync.Run(context.Background(), tqsync.Config{Qualys: w.qc, ThreatQ: w.tc, CVEs: []string{c}, Toggles: allToggles}); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.StopTimer()
		created, deleted := listCalls(w.q)
		b.ReportMetric(float64(w.q.TotalCalls()), "qualys-calls")
		b.ReportMetric(float64(created), "lists-created")
		b.ReportMetric(float64(deleted), "lists-deleted")
		b.StartTimer()
	}
}

// sweepTenantSized is sweepTenant for a benchmark, with enough hosts for n
// CVEs.
func sweepTenantSized(b *testing.B, n int) (*qualystest.Tenant, []string) {
	for hosts := 150; hosts <= 20000; hosts *= 2 {
		tn, cves := sweepTenantHosts(b, hosts)
		if len(cves) >= n {
			return tn, cves[:n]
		}
	}
	b.Fatalf("no tenant with %d CVEs", n)
	return nil, nil
}

// BenchmarkStore930 is issue 33's measurement: one CVE on a 930-host
// tenant, all three toggles, ThreatQ answering every request after 20 ms:
// the first store and an unchanged rerun, with their ThreatQ requests
// (before: 5,598 requests and 118 s for the first store, 942 and 20 s for
// the rerun).
//
//	go test -run '^$' -bench Store930 -benchtime 3x ./tqsync
func BenchmarkStore930(b *testing.B) {
	tn := qualystestGenerate(930)
	toggles := tqsync.Toggles{AddAssets: true, AddDiscoveredAssets: true, AddTagsToCVEs: true}
	for _, rerun := range []bool{false, true} {
		name := "first-store"
		if rerun {
			name = "unchanged-rerun"
		}
		b.Run(name, func(b *testing.B) {
			var requests float64
			for b.Loop() {
				b.StopTimer()
				w := newWorld(b, tn, threatqtest.WithLatency(20*time.Millisecond))
				cfg := tqsync.Config{Qualys: w.qc, ThreatQ: w.tc, CVEs: []string{cve}, Toggles: toggles}
				if rerun {
					if _, err := tqsync.Run(context.Background(), cfg); err != nil {
						b.Fatal(err)
					}
				}
				before := len(w.t.Requests())
				b.StartTimer()
				if _, err := tqsync.Run(context.Background(), cfg); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				requests = float64(len(w.t.Requests()) - before)
				b.StartTimer()
			}
			b.ReportMetric(requests, "threatq-requests/op")
		})
	}
}
