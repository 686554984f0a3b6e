package qualystest_test

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/qualysbridge/qualysbridge/qualys"
	"github.com/qualysbridge/qualysbridge/qualys/qualystest"
)

// A user's test against the fake: a generated tenant, a client pointed at
// the fake, and assertions on what the code under test did.
func Example() {
	srv := qualystest.NewServer(qualystest.WithTenant(qualystest.Generate(1, 50)))
	defer srv.Close()

	user, pass := srv.Credentials()
	c, err := qualys.NewClient(srv.URL, qualys.WithCredentials(user, pass), qualys.WithInsecureLoopback())
	if err != nil {
		panic(err)
	}
	hosts := 0
	for _, err := range c.Detections.List(context.Background(), &qualys.DetectionQuery{TruncationLimit: 20}) {
		if err != nil {
			panic(err)
		}
		hosts++
	}
	fmt.Println("hosts with detections:", hosts)
	fmt.Println("calls:", srv.Calls(qualystest.APIDetections))
	// Output:
	// hosts with detections: 46
	// calls: 3
}

// Inject the failures and limits a real subscription has: a 1965 refusal
// with its wait header, and a concurrency limit of 2 on the detection API.
// The client retries the refusal after the wait and keeps within the
// limit; FaultsFired proves the fault was met. (One of the ten generated
// hosts has no detection.)
func Example_faultsAndLimits() {
	srv := qualystest.NewServer(
		qualystest.WithTenant(qualystest.Generate(1, 10)),
		qualystest.WithLimit(qualystest.APIDetections, qualystest.Limit{Calls: 300, Window: 24 * time.Hour, Concurrency: 2}),
	)
	defer srv.Close()
	srv.InjectFault(qualystest.Fault{Name: "busy", API: qualystest.APIDetections, Call: 1, Status: http.StatusConflict,
		Header: http.Header{"X-Ratelimit-Towait-Sec": {"0"}},
		Body:   `<SIMPLE_RETURN><RESPONSE><CODE>1965</CODE><TEXT>This API cannot be run again until the wait is over.</TEXT></RESPONSE></SIMPLE_RETURN>`})
	c, err := srv.NewClient()
	if err != nil {
		fmt.Println(err)
		return
	}
	n := 0
	for _, err := range c.Detections.List(context.Background(), nil) {
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		n++
	}
	fmt.Println("hosts:", n, "fault fired:", srv.FaultsFired()["busy"], "calls:", srv.Calls(qualystest.APIDetections))
	// Output: hosts: 9 fault fired: 1 calls: 2
}
