package threatq_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/qualysbridge/qualysbridge/threatq"
	"github.com/qualysbridge/qualysbridge/threatq/threatqtest"
)

func setup(t *testing.T, srvOpts []threatqtest.Option, opts ...threatq.Option) (*threatqtest.Server, *threatq.Client, *bytes.Buffer) {
	t.Helper()
	srv := threatqtest.NewServer(srvOpts...)
	t.Cleanup(srv.Close)
	var logs bytes.Buffer
	all := append([]threatq.Option{threatq.WithPasswordGrant(threatq.PasswordGrant{ClientID: threatqtest.ClientID, Email: threatqtest.Email, Password: threatqtest.Password}),
		threatq.WithInsecureLoopback(), threatq.WithBackoff(func(int) time.Duration { return time.Millisecond }),
		threatq.WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))}, opts...)
	c, err := threatq.NewClient(srv.URL, all...)
	if err != nil {
		t.Fatal(err)
	}
	return srv, c, &logs
}

func vulnerableHost(ip string, cveID int64) threatq.Asset {
	return threatq.Asset{
		Value:   ip,
		Sources: []threatq.Source{{Name: "Qualys"}},
		Tags:    []string{"windows", "production", "windows"},
		Attributes: []threatq.Attribute{
			{Name: "Last Scan Date", Value: "2026-02-28 23:10:05"},
			{Name: "Qualys ID", Value: "38170"},
			{Name: "Severity", Value: "2"},
			{Name: "Qualys ID", Value: "38170"}, // duplicate on purpose
		},
		Indicators: []int64{cveID},
	}
}

func writeTwice(t *testing.T, srv *threatqtest.Server, c *threatq.Client) {
	t.Helper()
	ctx := context.Background()
	for range 2 {
		cve, err := c.EnsureIndicator(ctx, threatq.Indicator{Type: "CVE", Value: "CVE-2019-17053", Sources: []threatq.Source{{Name: "Qualys"}}})
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.UpsertAssets(ctx, []threatq.Asset{vulnerableHost("10.0.0.5", cve.ID), vulnerableHost("10.0.0.6", cve.ID)})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].ID == 0 {
			t.Fatalf("upserted %+v", got)
		}
	}
	assets := srv.Assets()
	if len(assets) != 2 {
		t.Fatalf("%d assets, want 2", len(assets))
	}
	inds := srv.Indicators()
	if len(inds) != 1 || inds[0].Type != "CVE" {
		t.Fatalf("indicators %+v, want one CVE", inds)
	}
	want := [][2]string{{"Last Scan Date", "2026-02-28 23:10:05"}, {"Qualys ID", "38170"}, {"Severity", "2"}}
	for _, a := range assets {
		if d := cmp.Diff(want, a.Attributes); d != "" {
			t.Errorf("asset %s attributes (-want +got):\n%s", a.Value, d)
		}
		if !cmp.Equal(a.Tags, []string{"production", "windows"}) {
			t.Errorf("asset %s tags %v", a.Value, a.Tags)
		}
		if !cmp.Equal(a.Indicators, []int64{inds[0].ID}) {
			t.Errorf("asset %s relations %v, want exactly one to the CVE", a.Value, a.Indicators)
		}
	}
}

func TestWrittenTwiceLeavesOneOfEverything(t *testing.T) {
	srv, c, _ := setup(t, nil)
	writeTwice(t, srv, c)
	for _, r := range srv.Requests() {
		if strings.HasSuffix(r.Path, "/consume") {
			return
		}
	}
	t.Error("consume was not used")
}

func TestFallbackWithoutConsumeIsIdempotent(t *testing.T) {
	srv, c, _ := setup(t, []threatqtest.Option{threatqtest.WithoutConsume()})
	writeTwice(t, srv, c)
}

func TestAssetCollectionResolvedFromObjects(t *testing.T) {
	srv, c, _ := setup(t, []threatqtest.Option{threatqtest.WithAssetCollection("asset_object")})
	coll, err := c.AssetCollection(context.Background())
	if err != nil || coll != "asset_object" {
		t.Fatalf("collection %q err %v", coll, err)
	}
	writeTwice(t, srv, c)
}

func TestTokenExpiryMidBatchReLogsInOnce(t *testing.T) {
	srv, c, _ := setup(t, nil)
	ctx := context.Background()
	cve, err := c.EnsureIndicator(ctx, threatq.Indicator{Type: "CVE", Value: "CVE-2019-17053"})
	if err != nil {
		t.Fatal(err)
	}
	srv.InjectFault(threatqtest.Fault{Method: "POST", Route: "asset/consume", Call: 1, ExpireToken: true})
	if _, err := c.UpsertAssets(ctx, []threatq.Asset{vulnerableHost("10.0.0.5", cve.ID)}); err != nil {
		t.Fatalf("upsert across an expired token: %v", err)
	}
	if srv.Logins() != 2 {
		t.Errorf("%d logins, want 2 (one, and one after the 401)", srv.Logins())
	}
}

func TestTokenRefreshedBeforeExpiry(t *testing.T) {
	// A token that lives less than the renewal margin is refreshed on the
	// next call, with the refresh token, not by a new login.
	srv, c, _ := setup(t, []threatqtest.Option{threatqtest.WithTokenLifetime(30 * time.Second)})
	ctx := context.Background()
	for range 3 {
		if _, err := c.IndicatorTypeID(ctx, "CVE"); err != nil {
			t.Fatal(err)
		}
		if _, err := c.FindIndicator(ctx, "CVE", "CVE-2000-0001"); err != nil {
			t.Fatal(err)
		}
	}
	if srv.Logins() != 1 || srv.Refreshes() < 2 {
		t.Errorf("%d logins, %d refreshes; want 1 login and refreshes after it", srv.Logins(), srv.Refreshes())
	}
}

func TestClientCredentials(t *testing.T) {
	srv := threatqtest.NewServer()
	defer srv.Close()
	c, _ := threatq.NewClient(srv.URL, threatq.WithClientCredentials(threatqtest.ClientID, threatqtest.ClientSecret), threatq.WithInsecureLoopback())
	if _, err := c.IndicatorTypeID(context.Background(), "CVE"); err != nil {
		t.Fatal(err)
	}
	bad, _ := threatq.NewClient(srv.URL, threatq.WithClientCredentials(threatqtest.ClientID, "wrong-secret-xyz"), threatq.WithInsecureLoopback())
	_, err := bad.IndicatorTypeID(context.Background(), "CVE")
	if !errors.Is(err, threatq.ErrUnauthorized) || strings.Contains(err.Error(), "wrong-secret-xyz") {
		t.Fatalf("err = %v, want ErrUnauthorized without the secret", err)
	}
}

func TestErrorShapes(t *testing.T) {
	srv, c, _ := setup(t, nil)
	ctx := context.Background()
	srv.InjectFault(threatqtest.Fault{Route: "indicator/types", Call: 1, Status: 400, Body: `{"data":{"errors":{"name":["The name has already been taken."]}}}`})
	_, err := c.IndicatorTypeID(ctx, "CVE")
	var te *threatq.Error
	if !errors.As(err, &te) || te.StatusCode != 400 || !strings.Contains(err.Error(), "name: The name has already been taken.") {
		t.Fatalf("err = %v", err)
	}
	srv.InjectFault(threatqtest.Fault{Route: "indicator/types", Call: 1, Status: 400, Body: `{"errors":["First Error",["Second error - part 1","Second error - part 2"]]}`})
	_, err = c.IndicatorTypeID(ctx, "CVE")
	if !errors.As(err, &te) || len(te.Messages) != 3 {
		t.Fatalf("err = %v, want 3 messages", err)
	}
	srv.InjectFault(threatqtest.Fault{Route: "indicator/types", Call: 1, ErrorIn2xx: true})
	_, err = c.IndicatorTypeID(ctx, "CVE")
	if !errors.As(err, &te) || te.StatusCode != 200 || !strings.Contains(err.Error(), "Internal service error") {
		t.Fatalf("2xx with errors: err = %v", err)
	}
	if _, err := c.IndicatorTypeID(ctx, "No Such Type"); !errors.As(err, &te) || !strings.Contains(err.Error(), "no indicator type") {
		t.Fatalf("unknown type: err = %v", err)
	}
}

func TestRetries(t *testing.T) {
	srv, c, _ := setup(t, nil)
	ctx := context.Background()
	srv.InjectFault(threatqtest.Fault{Route: "indicator/types", Call: 1, Status: 503})
	if _, err := c.IndicatorTypeID(ctx, "CVE"); err != nil {
		t.Fatalf("GET after a 503: %v", err)
	}
	// Adding attributes is not safe to repeat after a 503.
	cve, _ := c.EnsureIndicator(ctx, threatq.Indicator{Type: "CVE", Value: "CVE-2019-17053"})
	assets, _ := c.UpsertAssets(ctx, []threatq.Asset{{Value: "10.0.0.1", Indicators: []int64{cve.ID}}})
	srv.InjectFault(threatqtest.Fault{Method: "POST", Route: "asset/", Call: 1, Status: 503})
	before := len(srv.Requests())
	err := c.AddAttributes(ctx, "asset", assets[0].ID, []threatq.Attribute{{Name: "a", Value: "b"}})
	posts := 0
	for _, r := range srv.Requests()[before:] {
		if r.Method == "POST" {
			posts++
		}
	}
	if err == nil || posts != 1 {
		t.Errorf("err %v after %d POSTs; want the 503 reported after one", err, posts)
	}
}

func TestObjectsIterator(t *testing.T) {
	srv, c, _ := setup(t, nil)
	var batch []threatq.Asset
	for i := range 1203 {
		batch = append(batch, threatq.Asset{Value: fmt.Sprintf("10.1.%d.%d", i/256, i%256)})
	}
	if _, err := c.UpsertAssets(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	n := 0
	for o, err := range c.Objects(context.Background(), "asset", nil) {
		if err != nil {
			t.Fatal(err)
		}
		if o.ID == 0 || o.Value == "" {
			t.Fatalf("object %+v", o)
		}
		n++
	}
	if n != 1203 || len(srv.Assets()) != 1203 {
		t.Errorf("listed %d of %d", n, len(srv.Assets()))
	}
}

func TestRedactionAndConfig(t *testing.T) {
	srv, c, logs := setup(t, nil)
	writeTwice(t, srv, c)
	for _, s := range []string{logs.String(), fmt.Sprintf("%+v %#v", c, c)} {
		if strings.Contains(s, threatqtest.Password) {
			t.Errorf("password leaked: %.200s", s)
		}
	}
	for _, tc := range []struct {
		url  string
		opts []threatq.Option
		want string
	}{
		{"http://threatq.example.com", []threatq.Option{threatq.WithPasswordGrant(threatq.PasswordGrant{ClientID: "a", Email: "b", Password: "c"})}, "https"},
		{"https://threatq.example.com", nil, "WithPassword"},
		{"https://threatq.example.com", []threatq.Option{threatq.WithPasswordGrant(threatq.PasswordGrant{ClientID: "a", Email: "", Password: "c"})}, "required"},
	} {
		if _, err := threatq.NewClient(tc.url, tc.opts...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.url, err, tc.want)
		}
	}
}
