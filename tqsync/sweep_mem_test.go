package tqsync_test

import (
	"context"
	"runtime"
	"testing"

	"github.com/qualysbridge/qualysbridge/qualys/qualystest"
	"github.com/qualysbridge/qualysbridge/tqsync"
)

// TestSweepMemoryFlat: the live heap a sweep adds while 6,000 vulnerable
// hosts stream by stays flat: measured after a collection every 500 hosts
// (so garbage not yet collected does not count), the last sample is within
// 2 MB of the first, and every sample within 16 MB of the heap before the
// sweep (the fake's tenant included in that baseline).
func TestSweepMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("generates 6,000 hosts")
	}
	const hosts = 6000
	tn := qualystest.Generate(5, hosts, qualystest.WithVulnerableTo(cve, 1))
	w := newWorld(t, tn)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var samples []uint64
	n := 0
	sum, err := tqsync.Sweep(context.Background(), tqsync.SweepConfig{Config: tqsync.Config{
		Qualys: w.qc, CVEs: []string{cve, "CVE-2020-1472", "CVE-2021-44228"},
		OnHost: func(tqsync.Host) {
			n++
			if n%500 == 0 {
				runtime.GC()
				runtime.ReadMemStats(&ms)
				samples = append(samples, ms.HeapAlloc)
			}
		},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if sum.CVEs[0].Hosts < hosts*9/10 || len(samples) < 10 {
		t.Fatalf("%d hosts, %d samples", sum.CVEs[0].Hosts, len(samples))
	}
	const mb = 1 << 20
	first, last := samples[0], samples[len(samples)-1]
	if last > first+2*mb {
		t.Errorf("live heap grew from %d to %d KB while hosts streamed", first/1024, last/1024)
	}
	for i, s := range samples {
		if s > base+16*mb {
			t.Errorf("sample %d: live heap %d KB over a %d KB baseline", i, s/1024, base/1024)
		}
	}
	t.Logf("baseline %d KB, samples %d..%d KB", base/1024, first/1024, last/1024)
}
