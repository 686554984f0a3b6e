package threatq_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/qualysbridge/qualysbridge/threatq"
	"github.com/qualysbridge/qualysbridge/threatq/threatqtest"
)

func TestQueryIndicatorsPagesAndFilters(t *testing.T) {
	srv, c, _ := setup(t, nil)
	now := time.Now()
	for i, score := range []float64{1, 6, 7, 9, 10} {
		srv.SeedIndicator(threatqtest.IndicatorSeed{Type: "CVE", Value: "CVE-2026-000" + string(rune('1'+i)), Score: score, UpdatedAt: now})
	}
	var got []string
	for ind, err := range c.QueryIndicators(context.Background(), &threatq.IndicatorQuery{Type: "CVE", MinScore: 6, PageSize: 2}) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ind.Value)
		if ind.UpdatedAt.IsZero() || ind.Score < 6 {
			t.Errorf("%+v", ind)
		}
	}
	if !slices.Equal(got, []string{"CVE-2026-0002", "CVE-2026-0003", "CVE-2026-0004", "CVE-2026-0005"}) {
		t.Errorf("got %v", got)
	}
	// An unknown status name is an error, not an empty selection.
	for _, err := range c.QueryIndicators(context.Background(), &threatq.IndicatorQuery{Type: "CVE", Statuses: []string{"Nope"}}) {
		if err == nil {
			t.Fatal("no error for an unknown status")
		}
		break
	}
	for _, err := range c.QueryIndicators(context.Background(), nil) {
		var ce *threatq.ConfigError
		if !errors.As(err, &ce) {
			t.Fatalf("nil query: %v", err)
		}
	}
}

// TestFakeQueryAndUnrelateAreStrict: the fake refuses a filter field it
// does not know and a pivot that is not the object's, removing nothing.
func TestFakeQueryAndUnrelateAreStrict(t *testing.T) {
	srv, c, _ := setup(t, nil)
	ctx := context.Background()
	ind := srv.AddIndicator("CVE", "CVE-2026-1000")
	coll, err := c.AssetCollection(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.UpsertAssets(ctx, []threatq.Asset{{Value: "192.0.2.1", Sources: []threatq.Source{{Name: "Qualys"}}, Indicators: []int64{ind}}}); err != nil {
		t.Fatal(err)
	}
	var rels []*threatq.Related
	for r, err := range c.Related(ctx, threatq.CollectionIndicators, ind, coll) {
		if err != nil {
			t.Fatal(err)
		}
		rels = append(rels, r)
	}
	if len(rels) != 1 || rels[0].Value != "192.0.2.1" || !slices.Contains(rels[0].Sources, "Qualys") || rels[0].PivotID == 0 {
		t.Fatalf("related %+v", rels)
	}
	err = c.Unrelate(ctx, threatq.CollectionIndicators, ind, coll, []int64{rels[0].PivotID, 999999})
	var te *threatq.Error
	if !errors.As(err, &te) || te.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown pivot: %v", err)
	}
	if srv.Unrelated() != 0 {
		t.Fatal("a refused delete removed a relation")
	}
	if err := c.Unrelate(ctx, threatq.CollectionIndicators, ind, coll, []int64{rels[0].PivotID}); err != nil {
		t.Fatal(err)
	}
	if srv.Unrelated() != 1 || len(srv.Assets()[0].Indicators) != 0 {
		t.Errorf("relation not removed: %+v", srv.Assets())
	}
}

// TestQueryIndicatorsBadDate: an updated_at that is not ThreatQ's date
// form is a typed error that does not quote the server's text.
func TestQueryIndicatorsBadDate(t *testing.T) {
	srv, c, _ := setup(t, nil)
	srv.InjectFault(threatqtest.Fault{Method: "POST", Route: "indicators/query", Status: 200,
		Body: `{"total":1,"data":[{"id":5,"value":"CVE-2026-0001","status_id":1,"score":9,"updated_at":"secret-looking text"}]}`})
	for _, err := range c.QueryIndicators(context.Background(), &threatq.IndicatorQuery{Type: "CVE"}) {
		var te *threatq.Error
		if !errors.As(err, &te) {
			t.Fatalf("err %v is not a *threatq.Error", err)
		}
		if strings.Contains(err.Error(), "secret-looking") || !strings.Contains(err.Error(), "updated_at") {
			t.Errorf("error %q", err)
		}
		break
	}
}
