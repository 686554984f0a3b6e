// Command fakes serves a generated fake Qualys and a fake CAR over TLS, in
// their own process, so that a connector run can be measured alone. It
// prints the URLs and credentials as shell assignments and serves until
// its standard input closes.
//
//	go run ./bench/fakes -hosts 20000 -detections 30
//
// Every FO API allows -concurrency calls at once (default 3; the fake
// Qualys enforces it and says so in X-Concurrency-Limit-Limit). With
// -latency the fake answers like a busy subscription (issue 20's model):
// Host List Detection 2 s to first byte at 4 MB/s per call, QPS and the
// gateway 0.5 s, the KnowledgeBase 1 s.
//
//	go run ./bench/fakes -hosts 20000 -latency -concurrency 3
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/qualysbridge/qualysbridge/car/cartest"
	"github.com/qualysbridge/qualysbridge/qualys/qualystest"
)

func main() {
	hosts := flag.Int("hosts", 2000, "hosts in the tenant")
	dets := flag.Int("detections", 30, "average detections per host")
	slow := flag.Bool("latency", false, "answer with a real subscription's latency (see the command's doc)")
	conc := flag.Int("concurrency", 3, "the concurrency limit of every FO API")
	flag.Parse()
	opts := []qualystest.Option{qualystest.WithTLS(), qualystest.WithTenant(qualystest.Generate(1, *hosts, qualystest.WithDetectionsPerHost(*dets)))}
	if *slow {
		opts = append(opts,
			qualystest.WithLatency(qualystest.APIDetections, 2*time.Second, 4<<20),
			qualystest.WithLatency(qualystest.APIHostAssets, 500*time.Millisecond, 0),
			qualystest.WithLatency(qualystest.APIGatewayAssets, 500*time.Millisecond, 0),
			qualystest.WithLatency(qualystest.APIKnowledgeBase, time.Second, 0))
	}
	for _, api := range []string{qualystest.APIDetections, qualystest.APIKnowledgeBase, qualystest.APISearchLists, qualystest.APIAssetGroups} {
		opts = append(opts, qualystest.WithLimit(api, qualystest.Limit{Concurrency: *conc}))
	}
	q := qualystest.NewServer(opts...)
	defer q.Close()
	c := cartest.NewServer(cartest.WithTLS(), cartest.WithJobPolls(0))
	defer c.Close()
	user, pass := q.Credentials()
	fmt.Printf("QUALYS_URL=%s\nQUALYS_GATEWAY=%s\nQUALYS_USER=%s\nQUALYS_PASSWORD=%s\nCAR_URL=%s\nCAR_API_KEY=%s\nCAR_PASSWORD=%s\nREADY=1\n",
		q.URL, q.GatewayURL, user, pass, c.URL, cartest.DefaultAPIKey, cartest.DefaultPassword)
	io.Copy(io.Discard, os.Stdin)
}
