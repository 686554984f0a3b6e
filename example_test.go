package qualysbridge_test

import (
	"context"
	"fmt"

	"github.com/qualysbridge/qualysbridge/car"
	"github.com/qualysbridge/qualysbridge/car/cartest"
	"github.com/qualysbridge/qualysbridge/mapping"
	"github.com/qualysbridge/qualysbridge/qualys"
	"github.com/qualysbridge/qualysbridge/qualys/qualystest"
	"github.com/qualysbridge/qualysbridge/threatq"
	"github.com/qualysbridge/qualysbridge/threatq/threatqtest"
)

// The README's quick start, as written there: against the fake Qualys;
// for a subscription, the commented line makes the client instead.
func Example_quickStart() {
	ctx := context.Background()
	srv := qualystest.NewServer(qualystest.WithTenant(qualystest.Generate(1, 3)))
	defer srv.Close()
	c, err := srv.NewClient()
	// apiURL, _, _ := qualys.Platform("US3"); c, err := qualys.NewClient(apiURL, qualys.WithCredentials(user, pass))
	if err != nil {
		fmt.Println(err)
		return
	}
	for h, err := range c.Detections.List(ctx, &qualys.DetectionQuery{ShowTags: qualys.Bool(true)}) {
		if err != nil {
			fmt.Println(err) // typed: *qualys.Error, *qualys.DecodeError; errors.Is(err, qualys.ErrRateLimited)
			return
		}
		fmt.Println(h.ID, h.IP, len(h.Detections))
	}
	// Output:
	// 5000000 10.0.0.0 9
	// 5000002 10.0.0.1 5
	// 5000004 10.0.0.2 10
}

// The Qualys to CAR flow by hand: stream a page of host assets, their
// detections in one call, map each host and stream the graph into CAR.
// (carsync.Run does this, incrementally and with applications and the
// KnowledgeBase; this shows the pieces.)
func Example_carFlow() {
	qsrv := qualystest.NewServer(qualystest.WithTenant(qualystest.Generate(2, 20)))
	defer qsrv.Close()
	csrv := cartest.NewServer(cartest.WithJobPolls(0))
	defer csrv.Close()
	ctx := context.Background()
	user, pass := qsrv.Credentials()
	qc, _ := qualys.NewClient(qsrv.URL, qualys.WithCredentials(user, pass), qualys.WithInsecureLoopback())
	cc, _ := car.NewClient(csrv.URL, car.WithAPIKey(cartest.DefaultAPIKey, cartest.DefaultPassword), car.WithInsecureLoopback())

	im, err := cc.NewImport(ctx, car.Source{Key: "Qualys"}, car.Full)
	if err != nil {
		fmt.Println(err)
		return
	}
	for page, err := range qc.HostAssets.Pages(ctx, &qualys.HostAssetQuery{PageSize: 10}) {
		if err != nil {
			fmt.Println(err)
			return
		}
		var ids []int64
		for _, a := range page.Assets {
			if a.QWebHostID > 0 { // hosts unknown to VM have none
				ids = append(ids, a.QWebHostID)
			}
		}
		dets := map[int64]*qualys.DetectionHost{}
		for h, err := range qc.Detections.List(ctx, &qualys.DetectionQuery{IDs: ids}) {
			if err != nil {
				fmt.Println(err)
				return
			}
			dets[h.ID] = h
		}
		for _, a := range page.Assets {
			if err := im.Add(context.Background(), mapping.CAR(mapping.Host{Asset: a, Detections: dets[a.QWebHostID]}, "Qualys")); err != nil {
				fmt.Println(err)
				return
			}
		}
	}
	sum, err := im.Close(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("assets:", sum.Objects["asset"], "asset_vulnerability edges > 0:", sum.Objects["asset_vulnerability"] > 0)
	// Output: assets: 20 asset_vulnerability edges > 0: true
}

// The ThreatQ operation's flow: hosts vulnerable to a CVE, stored as Assets
// related to the CVE indicator.
func Example_threatQFlow() {
	qsrv := qualystest.NewServer(qualystest.WithTenant(qualystest.Generate(3, 40, qualystest.WithVulnerableTo("CVE-2019-17053", 0.5))))
	defer qsrv.Close()
	tsrv := threatqtest.NewServer()
	defer tsrv.Close()
	ctx := context.Background()
	user, pass := qsrv.Credentials()
	qc, _ := qualys.NewClient(qsrv.URL, qualys.WithCredentials(user, pass), qualys.WithInsecureLoopback())
	tc, _ := threatq.NewClient(tsrv.URL, threatq.WithPasswordGrant(threatq.PasswordGrant{ClientID: threatqtest.ClientID, Email: threatqtest.Email, Password: threatqtest.Password}), threatq.WithInsecureLoopback())

	cve, err := tc.EnsureIndicator(ctx, threatq.Indicator{Type: "CVE", Value: "CVE-2019-17053"})
	if err != nil {
		fmt.Println(err)
		return
	}
	var assets []threatq.Asset
	for h, err := range qc.VulnerableHosts(ctx, &qualys.VulnerableHostsQuery{CVEs: []string{"CVE-2019-17053"}}) {
		if err != nil {
			fmt.Println(err)
			return
		}
		assets = append(assets, mapping.ThreatQ(h, mapping.ThreatQOptions{IndicatorIDs: []int64{cve.ID}}))
	}
	if _, err := tc.UpsertAssets(ctx, assets); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("stored:", len(tsrv.Assets()) == len(assets), "search lists left:", len(qsrv.SearchLists()))
	// Output: stored: true search lists left: 0
}
