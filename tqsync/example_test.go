package tqsync_test

import (
	"context"
	"fmt"

	"github.com/qualysbridge/qualysbridge/qualys"
	"github.com/qualysbridge/qualysbridge/qualys/qualystest"
	"github.com/qualysbridge/qualysbridge/threatq"
	"github.com/qualysbridge/qualysbridge/threatq/threatqtest"
	"github.com/qualysbridge/qualysbridge/tqsync"
)

// The operation against the fakes: hosts with a confirmed detection of
// the CVE are stored; those with only potential ones are reported with the
// toggle that would store them.
func ExampleRun() {
	qsrv := qualystest.NewServer(qualystest.WithTenant(qualystest.Generate(7, 40, qualystest.WithVulnerableTo("CVE-2019-17053", 0.25))))
	defer qsrv.Close()
	tsrv := threatqtest.NewServer()
	defer tsrv.Close()
	user, pass := qsrv.Credentials()
	qc, _ := qualys.NewClient(qsrv.URL, qualys.WithCredentials(user, pass), qualys.WithInsecureLoopback())
	tc, _ := threatq.NewClient(tsrv.URL, threatq.WithPasswordGrant(threatq.PasswordGrant{ClientID: threatqtest.ClientID, Email: threatqtest.Email, Password: threatqtest.Password}), threatq.WithInsecureLoopback())

	sum, err := tqsync.Run(context.Background(), tqsync.Config{
		Qualys: qc, ThreatQ: tc, CVEs: []string{"CVE-2019-17053"},
		Toggles: tqsync.Toggles{AddAssets: true},
		OnHost: func(h tqsync.Host) {
			if h.Stored {
				fmt.Println(h.Detection.ID, h.Detection.IP, "stored")
			} else {
				fmt.Println(h.Detection.ID, h.Detection.IP, "not stored; needs", h.NeedsToggle)
			}
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	cs := sum.CVEs[0]
	fmt.Printf("%d hosts, %d stored, %d left for AddDiscoveredAssets\n", cs.Hosts, cs.Stored, cs.NotStoredPotential)
	fmt.Println("search lists left:", len(qsrv.SearchLists()))
	// Output:
	// 5000000 10.0.0.0 stored
	// 5000008 10.0.0.4 not stored; needs AddDiscoveredAssets
	// 5000030 10.0.0.15 stored
	// 5000042 10.0.0.21 stored
	// 5000046 10.0.0.23 stored
	// 5000054 10.0.0.27 stored
	// 5000058 10.0.0.29 stored
	// 7 hosts, 6 stored, 1 left for AddDiscoveredAssets
	// search lists left: 0
}

// Sweep every CVE ThreatQ watches with one search list per batch of
// CVEs: the CVEs are the CVE indicators ThreatQ holds, each vulnerable
// host is stored once and related to its CVEs.
func ExampleSweep() {
	qsrv := qualystest.NewServer(qualystest.WithTenant(qualystest.Generate(7, 40, qualystest.WithVulnerableTo("CVE-2019-17053", 0.25))))
	defer qsrv.Close()
	tsrv := threatqtest.NewServer()
	defer tsrv.Close()
	qc, _ := qsrv.NewClient()
	tc, _ := tsrv.NewClient()
	ctx := context.Background()
	for _, cve := range []string{"CVE-2019-17053", "CVE-2021-44228"} {
		if _, err := tc.EnsureIndicator(ctx, threatq.Indicator{Type: "CVE", Value: cve}); err != nil {
			fmt.Println(err)
			return
		}
	}

	sum, err := tqsync.Sweep(ctx, tqsync.SweepConfig{
		Config: tqsync.Config{Qualys: qc, ThreatQ: tc, Toggles: tqsync.Toggles{AddAssets: true}},
		Select: &threatq.IndicatorQuery{},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, cs := range sum.CVEs {
		fmt.Printf("%s: %d hosts, %d stored\n", cs.CVE, cs.Hosts, cs.Stored)
	}
	fmt.Println("search lists:", sum.SearchLists, "left:", len(qsrv.SearchLists()))
	// Output:
	// CVE-2019-17053: 7 hosts, 6 stored
	// CVE-2021-44228: 0 hosts, 0 stored
	// search lists: 1 left: 0
}
