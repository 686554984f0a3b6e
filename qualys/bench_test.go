package qualys_test

import (
	"bytes"
	"flag"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/qualysbridge/qualysbridge/qualys"
	"github.com/qualysbridge/qualysbridge/qualys/qualystest"
)

var bigStreamMB = flag.Int("qualys.bigstream", 40, "size in MB of the generated detection stream in TestDecodeBoundedMemory")

// countingReader counts bytes read.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// TestDecodeBoundedMemory decodes a generated large stream (40 MB, 5 x the bound,
// by default; -qualys.bigstream=500 for the closing-note figure) through an
// io.Reader, never a file, and checks that the heap stays bounded by a host,
// not the document.
func TestDecodeBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("large stream")
	}
	// About 8.9 KB per host with 12 detections.
	hosts := *bigStreamMB * 1000 * 1000 / 8900
	cr := &countingReader{r: qualystest.DetectionStream(1, hosts, 12, false)}
	runtime.GC()
	var peak uint64
	var ms runtime.MemStats
	n := 0
	start := time.Now()
	for h, err := range qualys.DecodeDetections(cr) {
		if err != nil {
			t.Fatal(err)
		}
		if len(h.Detections) != 12 {
			t.Fatalf("host %d has %d detections", h.ID, len(h.Detections))
		}
		n++
		if n%1000 == 0 {
			// The live heap: after a collection, so that garbage the
			// collector has not reached yet (more of it on a loaded
			// machine) does not count.
			runtime.GC()
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
		}
	}
	el := time.Since(start)
	if n != hosts {
		t.Fatalf("%d hosts decoded, want %d", n, hosts)
	}
	const bound = 8 << 20
	t.Logf("decoded %d hosts, %.0f MB in %v (%.0f MB/s incl. generation); peak live heap %.1f MB",
		n, float64(cr.n)/1e6, el.Round(time.Millisecond), float64(cr.n)/1e6/el.Seconds(), float64(peak)/(1<<20))
	if peak > bound {
		t.Errorf("peak live heap %d MB, want under %d MB", peak>>20, bound>>20)
	}
}

func benchDoc(b *testing.B, hosts, dets int, indent bool) []byte {
	b.Helper()
	doc, err := io.ReadAll(qualystest.DetectionStream(1, hosts, dets, indent))
	if err != nil {
		b.Fatal(err)
	}
	return doc
}

// BenchmarkDecodeDetections reports MB/s and allocations per detection for
// a compact document (as the API sends) and an indented one.
func BenchmarkDecodeDetections(b *testing.B) {
	for _, tc := range []struct {
		name   string
		indent bool
	}{{"compact", false}, {"indented", true}} {
		b.Run(tc.name, func(b *testing.B) {
			const hosts, dets = 2000, 30
			doc := benchDoc(b, hosts, dets, tc.indent)
			b.SetBytes(int64(len(doc)))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				n := 0
				for h, err := range qualys.DecodeDetections(bytes.NewReader(doc)) {
					if err != nil {
						b.Fatal(err)
					}
					n += len(h.Detections)
				}
				if n != hosts*dets {
					b.Fatalf("%d detections", n)
				}
			}
			b.StopTimer()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			b.ReportMetric(float64(testing.AllocsPerRun(1, func() {
				for range qualys.DecodeDetections(bytes.NewReader(doc)) {
				}
			}))/float64(hosts*dets), "allocs/detection")
		})
	}
}

// BenchmarkDecodeHostAssets measures the QPS JSON page decoder on a page of
// 1,000 generated host assets.
func BenchmarkDecodeHostAssets(b *testing.B) {
	srv := qualystest.NewServer(qualystest.WithTenant(qualystest.Generate(1, 1000)))
	defer srv.Close()
	user, pass := srv.Credentials()
	body := `{"ServiceRequest":{"preferences":{"limitResults":1000}}}`
	req, _ := http.NewRequest("POST", srv.URL+qualystest.APIHostAssets, strings.NewReader(body))
	req.SetBasicAuth(user, pass)
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	b.SetBytes(int64(len(page)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		n := 0
		for _, err := range qualys.DecodeHostAssets(bytes.NewReader(page)) {
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != 1000 {
			b.Fatalf("%d assets", n)
		}
	}
}
