package qbrecord_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/qualysbridge/qualysbridge/qbrecord"
	"github.com/qualysbridge/qualysbridge/qualys"
	"github.com/qualysbridge/qualysbridge/qualys/qualystest"
)

// Record a run against a service (here the fake Qualys; with real
// credentials against your subscription), then replay it with no network:
// the client only gets the recorder's HTTP client. In a test,
// qbrecordtest.ForTest(t, name) does both: it replays unless the tests run
// with QBRECORD=record.
func Example() {
	dir, _ := os.MkdirTemp("", "qbrecord-example")
	defer os.RemoveAll(dir)
	cassette := filepath.Join(dir, "detections")
	ctx := context.Background()
	count := func(c *qualys.Client) int {
		n := 0
		for _, err := range c.Detections.List(ctx, nil) {
			if err != nil {
				panic(err)
			}
			n++
		}
		return n
	}

	// Record.
	srv := qualystest.NewServer(qualystest.WithTenant(qualystest.Generate(1, 4)))
	rec, err := qbrecord.New(cassette, qbrecord.Record)
	if err != nil {
		panic(err)
	}
	c, _ := srv.NewClient(qualys.WithHTTPClient(rec.Client()))
	recorded := count(c)
	if err := rec.Stop(); err != nil {
		panic(err)
	}
	srv.Close() // the service is gone: the replay needs none

	// Replay, with any credentials.
	rep, err := qbrecord.New(cassette, qbrecord.Replay)
	if err != nil {
		panic(err)
	}
	defer rep.Stop()
	c, _ = qualys.NewClient(srv.URL, qualys.WithCredentials("someone", "anything"), qualys.WithInsecureLoopback(), qualys.WithHTTPClient(rep.Client()))
	fmt.Println(recorded, count(c), len(rep.Misses()))
	// Output: 4 4 0
}
