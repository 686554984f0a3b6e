package threatqtest_test

import (
	"context"
	"fmt"

	"github.com/qualysbridge/qualysbridge/threatq"
	"github.com/qualysbridge/qualysbridge/threatq/threatqtest"
)

// A test of code that writes to ThreatQ: the fake accepts the default
// credentials and shows what was stored.
func Example() {
	srv := threatqtest.NewServer()
	defer srv.Close()
	c, _ := threatq.NewClient(srv.URL, threatq.WithPasswordGrant(threatq.PasswordGrant{ClientID: threatqtest.ClientID, Email: threatqtest.Email, Password: threatqtest.Password}), threatq.WithInsecureLoopback())
	ctx := context.Background()

	ind, err := c.EnsureIndicator(ctx, threatq.Indicator{Type: "CVE", Value: "CVE-2019-17053"})
	if err != nil {
		fmt.Println(err)
		return
	}
	c.UpsertAssets(ctx, []threatq.Asset{{Value: "10.0.0.1", Indicators: []int64{ind.ID}, Tags: []string{"prod"}}})
	for _, a := range srv.Assets() {
		fmt.Println(a.Value, a.Tags, len(a.Indicators))
	}
	// Output: 10.0.0.1 [prod] 1
}
