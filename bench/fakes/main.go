// Command fakes serves a generated fake Qualys and a fake CAR over TLS, in
// their own process, so that a connector run can be measured alone. It
// prints the URLs and credentials as shell assignments and serves until
// its standard input closes.
//
//	go run ./bench/fakes -hosts 20000 -detections 30
package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/qualysbridge/qualysbridge/car/cartest"
	"github.com/qualysbridge/qualysbridge/qualys/qualystest"
)

func main() {
	hosts := flag.Int("hosts", 2000, "hosts in the tenant")
	dets := flag.Int("detections", 30, "average detections per host")
	flag.Parse()
	q := qualystest.NewServer(qualystest.WithTLS(), qualystest.WithTenant(qualystest.Generate(1, *hosts, qualystest.WithDetectionsPerHost(*dets))))
	defer q.Close()
	c := cartest.NewServer(cartest.WithTLS(), cartest.WithJobPolls(0))
	defer c.Close()
	user, pass := q.Credentials()
	fmt.Printf("QUALYS_URL=%s\nQUALYS_GATEWAY=%s\nQUALYS_USER=%s\nQUALYS_PASSWORD=%s\nCAR_URL=%s\nCAR_API_KEY=%s\nCAR_PASSWORD=%s\nREADY=1\n",
		q.URL, q.GatewayURL, user, pass, c.URL, cartest.DefaultAPIKey, cartest.DefaultPassword)
	io.Copy(io.Discard, os.Stdin)
}
