package qualystest_test

import (
	"context"
	"fmt"

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
