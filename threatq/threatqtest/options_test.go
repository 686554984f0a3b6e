package threatqtest_test

import (
	"context"
	"testing"

	"github.com/qualysbridge/qualysbridge/threatq"
	"github.com/qualysbridge/qualysbridge/threatq/threatqtest"
)

// The fake's knobs: a TLS server reached with its Client, a renamed Asset
// collection, tokens expired on demand, indicators stored beforehand.
func TestServerKnobs(t *testing.T) {
	srv := threatqtest.NewServer(threatqtest.WithTLS(), threatqtest.WithAssetCollection("assets-v2"))
	defer srv.Close()
	c, err := threatq.NewClient(srv.URL, threatq.WithPasswordGrant(threatq.PasswordGrant{ClientID: threatqtest.ClientID, Email: threatqtest.Email, Password: threatqtest.Password}),
		threatq.WithHTTPClient(srv.Client()), threatq.WithAssetCollection("assets-v2"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	id := srv.AddIndicator("CVE", "CVE-2019-17053")
	found, err := c.FindIndicator(ctx, "CVE", "CVE-2019-17053")
	if err != nil || found == nil || found.ID != id {
		t.Fatalf("indicator stored with AddIndicator: %+v, %v", found, err)
	}
	if coll, err := c.AssetCollection(ctx); err != nil || coll != "assets-v2" {
		t.Errorf("asset collection %q, %v", coll, err)
	}
	if _, err := c.UpsertAssets(ctx, []threatq.Asset{{Value: "10.0.0.1"}}); err != nil {
		t.Fatal(err)
	}
	srv.ExpireTokens()
	if _, err := c.UpsertAssets(ctx, []threatq.Asset{{Value: "10.0.0.2"}}); err != nil {
		t.Fatalf("after ExpireTokens: %v", err)
	}
	if n := len(srv.Assets()); n != 2 {
		t.Errorf("%d assets", n)
	}
}
