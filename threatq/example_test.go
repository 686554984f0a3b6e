package threatq_test

import (
	"context"
	"fmt"

	"github.com/qualysbridge/qualysbridge/threatq"
	"github.com/qualysbridge/qualysbridge/threatq/threatqtest"
)

// Store a vulnerable host as an Asset related to its CVE indicator.
func Example() {
	srv := threatqtest.NewServer()
	defer srv.Close()
	c, err := threatq.NewClient(srv.URL, threatq.WithPassword(threatqtest.ClientID, threatqtest.Email, threatqtest.Password), threatq.WithInsecureLoopback())
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	cve, err := c.EnsureIndicator(ctx, threatq.Indicator{Type: "CVE", Value: "CVE-2019-17053", Sources: []threatq.Source{{Name: "Qualys"}}})
	if err != nil {
		panic(err)
	}
	assets, err := c.UpsertAssets(ctx, []threatq.Asset{{
		Value:      "10.10.10.11",
		Sources:    []threatq.Source{{Name: "Qualys"}},
		Tags:       []string{"windows"},
		Attributes: []threatq.Attribute{{Name: "Qualys ID", Value: "38170"}, {Name: "Severity", Value: "2"}},
		Indicators: []int64{cve.ID},
	}})
	if err != nil {
		panic(err)
	}
	fmt.Println(assets[0].Value, len(srv.Assets()[0].Attributes), srv.Assets()[0].Indicators[0] == cve.ID)
	// Output: 10.10.10.11 2 true
}
