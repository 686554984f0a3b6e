package qualysbridge_test

import (
	"context"
	"fmt"

	"github.com/qualysbridge/qualysbridge/qualys"
	"github.com/qualysbridge/qualysbridge/qualys/qualystest"
)

// The README's quick start, run against the fake Qualys.
func Example_quickStart() {
	srv := qualystest.NewServer(qualystest.WithTenant(qualystest.Generate(1, 3)))
	defer srv.Close()
	user, pass := srv.Credentials()
	ctx := context.Background()

	c, err := qualys.NewClient(srv.URL, qualys.WithCredentials(user, pass), qualys.WithInsecureLoopback())
	if err != nil {
		fmt.Println(err)
		return
	}
	for h, err := range c.Detections.List(ctx, &qualys.DetectionQuery{ShowTags: qualys.Bool(true)}) {
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(h.ID, h.IP, len(h.Detections))
	}
	// Output:
	// 5000000 10.0.0.0 9
	// 5000002 10.0.0.1 5
	// 5000004 10.0.0.2 10
}
