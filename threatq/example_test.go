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
	c, err := threatq.NewClient(srv.URL, threatq.WithPasswordGrant(threatq.PasswordGrant{ClientID: threatqtest.ClientID, Email: threatqtest.Email, Password: threatqtest.Password}), threatq.WithInsecureLoopback())
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

// Store many hosts related to one CVE with an AssetWriter: consume batches
// of 500 with their attributes inline, WithConcurrency requests at once,
// and the hosts' current-state attributes brought in line from one paged
// read (a rescan updates them in place).
func ExampleAssetWriter() {
	srv := threatqtest.NewServer()
	defer srv.Close()
	c, err := threatq.NewClient(srv.URL, threatq.WithPasswordGrant(threatq.PasswordGrant{ClientID: threatqtest.ClientID, Email: threatqtest.Email, Password: threatqtest.Password}),
		threatq.WithInsecureLoopback(), threatq.WithConcurrency(8))
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	cve, err := c.EnsureIndicator(ctx, threatq.Indicator{Type: "CVE", Value: "CVE-2021-44228"})
	if err != nil {
		panic(err)
	}
	store := func(status string) *threatq.WriteSummary {
		w := c.NewAssetWriter(cve.ID)
		var hosts []threatq.Asset
		for i := range 1200 {
			hosts = append(hosts, threatq.Asset{Value: fmt.Sprintf("10.1.%d.%d", i/250, i%250),
				Attributes: []threatq.Attribute{{Name: "Qualys ID", Value: fmt.Sprint(7000 + i)}, {Name: "Scan Status", Value: status}},
				Current:    []string{"Scan Status"}})
		}
		if err := w.Write(ctx, hosts, nil); err != nil {
			panic(err)
		}
		sum, err := w.Close(ctx)
		if err != nil {
			panic(err)
		}
		return sum
	}
	first := store("Active")
	again := store("Fixed")
	fmt.Println(first.Assets, first.ConsumeRequests, again.RowsUpdated)
	// Output: 1200 3 1200
}
