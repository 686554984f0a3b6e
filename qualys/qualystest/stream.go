package qualystest

import (
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/qualysbridge/qualysbridge/qualys"
)

// DetectionStream returns a reader that produces a Host List Detection
// document of the given number of hosts, each with detectionsPerHost
// detections, generated on the fly in constant memory (for benchmarks and
// memory tests over documents of any size). The document is deterministic
// for a seed. With indent, it is pretty-printed.
func DetectionStream(seed int64, hosts, detectionsPerHost int, indent bool) io.Reader {
	pr, pw := io.Pipe()
	go func() {
		rng := rand.New(rand.NewPCG(uint64(seed), 7))
		base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		w := NewDetectionWriter(pw, indent)
		h := &qualys.DetectionHost{TrackingMethod: "AGENT", DNSData: qualys.DNSData{Domain: "corp.example"},
			LastScan: base, LastVMScanned: base, LastVMScannedDuration: 300 * time.Second,
			Tags: []qualys.Tag{{ID: 1, Name: "production"}}}
		h.Detections = make([]qualys.Detection, detectionsPerHost)
		for i := 0; i < hosts; i++ {
			h.ID = int64(1000000 + i)
			h.IP = fmt.Sprintf("10.%d.%d.%d", (i>>16)&255, (i>>8)&255, i&255)
			h.OS = "Ubuntu Linux 22.04.4"
			h.DNS = fmt.Sprintf("host-%d.corp.example", i)
			h.DNSData.Hostname = fmt.Sprintf("host-%d", i)
			h.DNSData.FQDN = h.DNS
			h.QGHostID = fmt.Sprintf("%08x-0000-4000-8000-%012x", rng.Uint32(), i)
			for k := range h.Detections {
				d := &h.Detections[k]
				*d = qualys.Detection{UniqueVulnID: h.ID*1000 + int64(k), QID: int64(10000 + rng.IntN(5000)), Type: "Confirmed",
					Severity: 1 + rng.IntN(5), SSL: false, Status: "Active",
					Results:    fmt.Sprintf("Vulnerable version of package %d detected\nInstalled: %d.%d.%d\nRequired: %d.%d", rng.IntN(900), rng.IntN(9), rng.IntN(9), rng.IntN(9), rng.IntN(9), rng.IntN(9)),
					FirstFound: base.Add(-time.Duration(rng.IntN(1e7)) * time.Second), LastFound: base, TimesFound: rng.IntN(300),
					LastTest: base, LastUpdate: base, LastProcessed: base}
				if k%3 == 0 {
					d.Port, d.Protocol = 443, "tcp"
				}
			}
			if err := w.WriteHost(h, true); err != nil {
				pw.CloseWithError(err)
				return
			}
		}
		pw.CloseWithError(w.Close(nil))
	}()
	return pr
}
