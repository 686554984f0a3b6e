// Command fakes serves a generated fake Qualys and a fake CAR over TLS, in
// their own process, so that a connector run can be measured alone. It
// prints the URLs and credentials as shell assignments and serves until
// its standard input closes.
//
//	go run ./bench/fakes -hosts 20000 -detections 30
//
// With -car_latency the fake CAR answers every request after that long (a
// Cloud Pak for Security that far away); the stats file then also has the
// CAR requests by kind under "car".
//
//	go run ./bench/fakes -hosts 20000 -latency -car_latency 50ms
//
// Every FO API allows -concurrency calls at once (default 3; the fake
// Qualys enforces it and says so in X-Concurrency-Limit-Limit). With
// -latency the fake answers like a busy subscription (issue 20's model):
// Host List Detection 2 s to first byte at 4 MB/s per call, QPS and the
// gateway 0.5 s, the KnowledgeBase 1 s, the Host List 1 s at 4 MB/s.
//
//	go run ./bench/fakes -hosts 20000 -latency -concurrency 3
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/qualysbridge/qualysbridge/car/cartest"
	"github.com/qualysbridge/qualysbridge/qualys/qualystest"
)

func main() {
	hosts := flag.Int("hosts", 2000, "hosts in the tenant")
	dets := flag.Int("detections", 30, "average detections per host")
	slow := flag.Bool("latency", false, "answer with a real subscription's latency (see the command's doc)")
	conc := flag.Int("concurrency", 3, "the concurrency limit of every FO API")
	carLatency := flag.Duration("car_latency", 0, "answer every CAR request after this long")
	stats := flag.String("stats", "", "when standard input closes, write each Qualys API's calls, answer bytes, peak concurrency and latency model to this file (JSON)")
	flag.Parse()
	opts := []qualystest.Option{qualystest.WithTLS(), qualystest.WithTenant(qualystest.Generate(1, *hosts, qualystest.WithDetectionsPerHost(*dets)))}
	model := map[string]latency{}
	if *slow {
		model = map[string]latency{
			qualystest.APIDetections:    {TTFB: 2, BytesPerSecond: 4 << 20},
			qualystest.APIHostAssets:    {TTFB: 0.5},
			qualystest.APIGatewayAssets: {TTFB: 0.5},
			qualystest.APIKnowledgeBase: {TTFB: 1},
			qualystest.APIHosts:         {TTFB: 1, BytesPerSecond: 4 << 20},
		}
		for api, l := range model {
			opts = append(opts, qualystest.WithLatency(api, time.Duration(l.TTFB*float64(time.Second)), l.BytesPerSecond))
		}
	}
	for _, api := range []string{qualystest.APIDetections, qualystest.APIKnowledgeBase, qualystest.APISearchLists, qualystest.APIAssetGroups, qualystest.APIHosts} {
		opts = append(opts, qualystest.WithLimit(api, qualystest.Limit{Concurrency: *conc}))
	}
	q := qualystest.NewServer(opts...)
	defer q.Close()
	c := cartest.NewServer(cartest.WithTLS(), cartest.WithJobPolls(0), cartest.WithLatency(*carLatency))
	defer c.Close()
	user, pass := q.Credentials()
	fmt.Printf("QUALYS_URL=%s\nQUALYS_GATEWAY=%s\nQUALYS_USER=%s\nQUALYS_PASSWORD=%s\nCAR_URL=%s\nCAR_API_KEY=%s\nCAR_PASSWORD=%s\nREADY=1\n",
		q.URL, q.GatewayURL, user, pass, c.URL, cartest.DefaultAPIKey, cartest.DefaultPassword)
	io.Copy(io.Discard, os.Stdin)
	if *stats != "" {
		out := map[string]any{}
		for _, api := range []string{qualystest.APIDetections, qualystest.APIKnowledgeBase, qualystest.APIHostAssets, qualystest.APIGatewayAssets, qualystest.APIHosts} {
			st := apiStats{Calls: q.Calls(api), Bytes: q.BytesServed(api), PeakConcurrency: q.PeakConcurrency(api), Latency: model[api]}
			if strings.HasPrefix(api, "/api/") {
				st.Limit = *conc
			}
			out[api] = st
		}
		out["car"] = map[string]any{"latency_seconds": carLatency.Seconds(), "requests": c.RequestCounts()}
		b, _ := json.MarshalIndent(out, "", "  ")
		if err := os.WriteFile(*stats, b, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "fakes:", err)
			os.Exit(1)
		}
	}
}

// latency is one API's latency model: seconds to the first byte and the
// body's pace per call (0: unpaced).
type latency struct {
	TTFB           float64 `json:"ttfb_seconds"`
	BytesPerSecond int     `json:"bytes_per_second"`
}

// apiStats is what the fakes saw of one API during a run.
type apiStats struct {
	Calls           int     `json:"calls"`
	Bytes           int64   `json:"bytes"`
	PeakConcurrency int     `json:"peak_concurrency"`
	Limit           int     `json:"concurrency_limit,omitempty"`
	Latency         latency `json:"latency"`
}
