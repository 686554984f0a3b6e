package carsync_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/qualysbridge/qualysbridge/carsync"
	"github.com/qualysbridge/qualysbridge/qualys"
	"github.com/qualysbridge/qualysbridge/qualys/qualystest"
)

// TestRiskScoresInCAR: a default full run writes asset.risk = TruRisk /
// 100 and asset.business_value = 2 x ACS on every asset whose host the
// Host List names, and risk_score = the QID's highest QDS / 10 on every
// active asset_vulnerability edge, with at most one Host List call per
// host asset page (and none more); SeverityScores writes IBM's values:
// SEVERITY x 2, no asset risk nor business value, no Host List call.
func TestRiskScoresInCAR(t *testing.T) {
	t.Parallel()
	for _, seq := range []bool{false, true} {
		e := newEnv(t, 130)
		e.cfg.Sequential = seq
		sum := mustRun(t, e.cfg)
		pages := int64((130 + e.cfg.PageSize - 1) / e.cfg.PageSize)
		if n := sum.QualysCalls[qualystest.APIHosts]; n < 1 || n > pages {
			t.Errorf("sequential %v: %d Host List calls for %d pages", seq, n, pages)
		}

		// What Qualys says, read from the fake directly.
		c, err := e.q.NewClient()
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		yes := qualys.Bool(true)
		hosts := map[int64]*qualys.Host{} // by asset id
		for h, err := range c.Hosts.List(ctx, &qualys.HostQuery{ShowTruRisk: yes, ShowAssetID: yes}) {
			if err != nil {
				t.Fatal(err)
			}
			hosts[h.AssetID] = h
		}
		qds := map[string]int{} // asset id / QID -> highest QDS
		sev := map[string]int{}
		assetOf := map[int64]int64{}
		for _, a := range e.tenant.HostAssets {
			assetOf[a.QWebHostID] = a.ID
		}
		for h, err := range c.Detections.List(ctx, &qualys.DetectionQuery{ShowQDS: yes}) {
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range h.Detections {
				k := fmt.Sprintf("%d/%d", assetOf[h.ID], d.QID)
				qds[k], sev[k] = max(qds[k], d.QDS), max(sev[k], d.Severity)
			}
		}

		g := e.c.Graph("Qualys")
		scored := 0
		for id, v := range g.Vertices["asset"] {
			aid, _ := strconv.ParseInt(id, 10, 64)
			h := hosts[aid]
			risk, value := v.Fields["risk"], v.Fields["business_value"]
			if h == nil {
				if risk != nil || value != nil {
					t.Errorf("asset %s has no VM host but risk %v, business_value %v", id, risk, value)
				}
				continue
			}
			scored++
			if want := float64(*h.TruRisk) / 100; risk != want {
				t.Errorf("asset %s: risk %v, want TruRisk %d / 100", id, risk, *h.TruRisk)
			}
			if want := float64(2 * *h.AssetCriticality); value != want {
				t.Errorf("asset %s: business_value %v, want 2 x %d", id, value, *h.AssetCriticality)
			}
		}
		if scored < 100 {
			t.Errorf("%d assets scored of 130", scored)
		}
		edges := 0
		for _, ed := range g.Edges["asset_vulnerability"] {
			k := ed.From + "/" + ed.To
			if !ed.Active || qds[k] == 0 {
				continue
			}
			edges++
			if want := float64(qds[k]) / 10; ed.Fields["risk_score"] != want {
				t.Errorf("edge %s: risk_score %v, want QDS %d / 10", k, ed.Fields["risk_score"], qds[k])
			}
		}
		if edges < 200 {
			t.Errorf("%d active edges with a QDS checked", edges)
		}

		// IBM's values.
		ibm := newEnv(t, 130)
		ibm.cfg.Sequential, ibm.cfg.RiskScores = seq, carsync.SeverityScores
		sum = mustRun(t, ibm.cfg)
		if n := sum.QualysCalls[qualystest.APIHosts]; n != 0 {
			t.Errorf("SeverityScores: %d Host List calls", n)
		}
		for _, r := range ibm.q.Requests() {
			if r.Form.Get("show_qds") != "" {
				t.Fatalf("SeverityScores asked for QDS: %v", r.Form)
			}
		}
		g = ibm.c.Graph("Qualys")
		for id, v := range g.Vertices["asset"] {
			if v.Fields["risk"] != nil || v.Fields["business_value"] != nil {
				t.Fatalf("SeverityScores: asset %s carries risk %v, business_value %v", id, v.Fields["risk"], v.Fields["business_value"])
			}
		}
		for _, ed := range g.Edges["asset_vulnerability"] {
			k := ed.From + "/" + ed.To
			if want := float64(2 * sev[k]); ed.Active && sev[k] > 0 && ed.Fields["risk_score"] != want {
				t.Errorf("SeverityScores: edge %s risk_score %v, want SEVERITY x 2 = %v", k, ed.Fields["risk_score"], want)
			}
		}
	}
}

// TestScoresCallsOverlap: the pages' Host List calls run beside each
// other (within the subscription's limit), not one at a time behind the
// detection calls: a page's scores are asked for when it is listed. A
// barrier holds the Host List calls until two are in flight at once,
// which a stage that waits for one answer before its next call never
// reaches (no timing: the barrier's timeout is spent only on failure).
func TestScoresCallsOverlap(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 200, qualystest.WithLimit(qualystest.APIHosts, qualystest.Limit{Concurrency: 3}))
	e.cfg.PageSize = 25
	// One call first, so that the client knows the limit (3) as a
	// long-lived client does; until an answer says it, an FO API gets 1.
	for _, err := range e.cfg.Qualys.Hosts.List(context.Background(), &qualys.HostQuery{IDs: []int64{1}}) {
		if err != nil {
			t.Fatal(err)
		}
	}
	barrier := e.q.HoldCalls(qualystest.APIHosts, 2, 30*time.Second)
	sum := mustRun(t, e.cfg)
	if n := sum.QualysCalls[qualystest.APIHosts]; n != 8 {
		t.Errorf("%d Host List calls for 8 pages", n)
	}
	if !barrier.Reached() {
		t.Error("the pages' Host List calls ran one at a time; want them beside each other")
	}
}
