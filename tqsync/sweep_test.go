package tqsync_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/qualysbridge/qualysbridge/mapping"
	"github.com/qualysbridge/qualysbridge/qualys"
	"github.com/qualysbridge/qualysbridge/qualys/qualystest"
	"github.com/qualysbridge/qualysbridge/threatq"
	"github.com/qualysbridge/qualysbridge/threatq/threatqtest"
	"github.com/qualysbridge/qualysbridge/tqsync"
)

// sweepTenant is a generated tenant and n CVEs that have open detections
// in it.
func sweepTenant(t *testing.T, n int) (*qualystest.Tenant, []string) {
	t.Helper()
	tn, cves := sweepTenantHosts(t, 150)
	if len(cves) < n {
		t.Fatalf("the tenant has %d CVEs with open detections, want %d", len(cves), n)
	}
	return tn, cves[:n]
}

// sweepTenantHosts generates a tenant of that many hosts and returns it
// with its CVEs that have open detections, sorted.
func sweepTenantHosts(t testing.TB, hosts int) (*qualystest.Tenant, []string) {
	tn := qualystest.Generate(11, hosts)
	cveOf := map[int64][]string{}
	for _, v := range tn.KB {
		for _, r := range v.CVEs {
			cveOf[v.QID] = append(cveOf[v.QID], r.ID)
		}
	}
	seen := map[string]bool{}
	var cves []string
	for _, h := range tn.Detections {
		for _, d := range h.Detections {
			for _, c := range cveOf[d.QID] {
				if d.Status != qualys.StatusFixed && !seen[c] {
					seen[c] = true
					cves = append(cves, c)
				}
			}
		}
	}
	sort.Strings(cves)
	return tn, cves
}

// listCalls counts the search-list creations and deletions.
func listCalls(q *qualystest.Server) (created, deleted int) {
	for _, r := range q.Requests() {
		if r.API != qualystest.APISearchLists {
			continue
		}
		switch r.Form.Get("action") {
		case "create":
			created++
		case "delete":
			deleted++
		}
	}
	return created, deleted
}

func apiCalls(q *qualystest.Server, api string) int {
	n := 0
	for _, r := range q.Requests() {
		if r.API == api {
			n++
		}
	}
	return n
}

// state is ThreatQ's content by value: each asset's attributes, tags,
// sources and related CVEs, and each indicator's tags.
func state(s *threatqtest.Server) map[string]string {
	cveByID := map[int64]string{}
	out := map[string]string{}
	for _, ind := range s.Indicators() {
		cveByID[ind.ID] = ind.Value
		tags := slices.Clone(ind.Tags)
		slices.Sort(tags)
		out["indicator "+ind.Value] = strings.Join(tags, ",")
	}
	for _, a := range s.Assets() {
		var attrs []string
		for _, kv := range a.Attributes {
			attrs = append(attrs, kv[0]+"="+kv[1])
		}
		slices.Sort(attrs)
		var rel []string
		for _, id := range a.Indicators {
			rel = append(rel, cveByID[id])
		}
		slices.Sort(rel)
		tags := slices.Clone(a.Tags)
		slices.Sort(tags)
		out["asset "+a.Value] = fmt.Sprintf("attrs=%v tags=%v sources=%v cves=%v desc=%q", attrs, tags, a.Sources, rel, a.Description)
	}
	return out
}

var allToggles = tqsync.Toggles{AddAssets: true, AddDiscoveredAssets: true, AddTagsToCVEs: true}

// TestSweepBatchesAndMatchesSingleRuns: 50 CVEs, 25 a list, make exactly
// two list creations, two deletions, two KnowledgeBase calls and two
// detection listings, and leave ThreatQ as 50 single-CVE runs do.
func TestSweepBatchesAndMatchesSingleRuns(t *testing.T) {
	tn, cves := sweepTenant(t, 50)
	sweep := newWorld(t, tn)
	sum, err := tqsync.Sweep(context.Background(), tqsync.SweepConfig{
		Config:      tqsync.Config{Qualys: sweep.qc, ThreatQ: sweep.tc, CVEs: cves, Toggles: allToggles},
		CVEsPerList: 25,
	})
	if err != nil {
		t.Fatal(err)
	}
	created, deleted := listCalls(sweep.q)
	if created != 2 || deleted != 2 || sum.SearchLists != 2 {
		t.Errorf("%d creations, %d deletions, summary %d; want 2", created, deleted, sum.SearchLists)
	}
	if n := apiCalls(sweep.q, qualystest.APIDetections); n != 2 {
		t.Errorf("%d detection listings, want 2", n)
	}
	if n := apiCalls(sweep.q, qualystest.APIKnowledgeBase); n != 2 {
		t.Errorf("%d KnowledgeBase calls, want 2", n)
	}
	if lists := sweep.q.SearchLists(); len(lists) != 0 {
		t.Errorf("lists left: %v", lists)
	}
	if len(sum.CVEs) != 50 || sum.Stored == 0 {
		t.Fatalf("summary: %d CVEs, %d stored", len(sum.CVEs), sum.Stored)
	}
	for i, c := range sum.CVEs {
		if c.CVE != cves[i] {
			t.Fatalf("summary CVE %d is %s, want %s (the order given)", i, c.CVE, cves[i])
		}
	}

	single := newWorld(t, tn)
	for _, c := range cves {
		single.run(t, tqsync.Config{CVEs: []string{c}, Toggles: allToggles})
	}
	if created, _ := listCalls(single.q); created != 50 {
		t.Errorf("single runs created %d lists", created)
	}
	if diff := cmp.Diff(state(single.t), state(sweep.t)); diff != "" {
		t.Errorf("ThreatQ after the sweep differs from after 50 single runs (-single +sweep):\n%s", diff)
	}
}

// TestSweepSeesFixes: a second sweep after some hosts were fixed counts
// exactly those hosts as fixed for the CVE.
func TestSweepSeesFixes(t *testing.T) {
	tn, cves := sweepTenant(t, 10)
	w := newWorld(t, tn)
	cfg := tqsync.SweepConfig{Config: tqsync.Config{Qualys: w.qc, ThreatQ: w.tc, CVEs: cves, Toggles: allToggles}, CVEsPerList: 4}
	first, err := tqsync.Sweep(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Fix every detection of the first CVE's QIDs on two of its hosts.
	target := cves[0]
	fixHosts(t, w, tn, target, 2)
	second, err := tqsync.Sweep(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got, was := second.CVEs[0], first.CVEs[0]; got.Fixed-was.Fixed != 2 || was.Hosts-got.Hosts != 2 {
		t.Errorf("%s: fixed %d -> %d, hosts %d -> %d; want 2 more fixed, 2 fewer vulnerable", target, was.Fixed, got.Fixed, was.Hosts, got.Hosts)
	}
	for i := 1; i < len(cves); i++ {
		if second.CVEs[i].Hosts != first.CVEs[i].Hosts || second.CVEs[i].Fixed != first.CVEs[i].Fixed {
			t.Errorf("%s changed without a fix: %+v -> %+v", cves[i], first.CVEs[i], second.CVEs[i])
		}
	}
}

// TestSweepDeletesListsWhateverHappens: a Qualys error, a listing cut
// short, a ThreatQ error, a cancel from inside the loop: every list
// created is deleted.
func TestSweepDeletesListsWhateverHappens(t *testing.T) {
	tn, cves := sweepTenant(t, 30)
	cases := []struct {
		name  string
		setup func(w *world, cancel context.CancelFunc, cfg *tqsync.SweepConfig)
	}{
		{"qualys listing fails", func(w *world, _ context.CancelFunc, _ *tqsync.SweepConfig) {
			w.q.InjectFault(qualystest.Fault{API: qualystest.APIDetections, Call: 2, Status: 400,
				Body: `<SIMPLE_RETURN><RESPONSE><CODE>1905</CODE><TEXT>boom</TEXT></RESPONSE></SIMPLE_RETURN>`})
		}},
		{"threatq fails", func(w *world, _ context.CancelFunc, _ *tqsync.SweepConfig) {
			w.t.InjectFault(threatqtest.Fault{Method: "POST", Route: "asset", Status: 400, Body: `{"errors":["boom"]}`})
		}},
		{"a listing ends early", func(w *world, _ context.CancelFunc, _ *tqsync.SweepConfig) {
			// Every listing is cut mid-answer, its resumes too, until the
			// client's retries are spent. (One cut answer alone is resumed
			// after its last host and the sweep succeeds.)
			w.q.InjectFault(qualystest.Fault{API: qualystest.APIDetections, DropAfter: 2000})
		}},
		{"cancelled", func(_ *world, cancel context.CancelFunc, cfg *tqsync.SweepConfig) {
			cfg.OnHost = func(tqsync.Host) { cancel() }
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, tn)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			cfg := tqsync.SweepConfig{Config: tqsync.Config{Qualys: w.qc, ThreatQ: w.tc, CVEs: cves, Toggles: allToggles, BatchSize: 1}, CVEsPerList: 10}
			tc.setup(w, cancel, &cfg)
			_, err := tqsync.Sweep(ctx, cfg)
			if err == nil {
				t.Fatal("no error")
			}
			if tc.name == "cancelled" && !errors.Is(err, context.Canceled) {
				t.Errorf("error %v is not context.Canceled", err)
			}
			created, deleted := listCalls(w.q)
			if created == 0 || created != deleted || len(w.q.SearchLists()) != 0 {
				t.Errorf("%d created, %d deleted, left %v", created, deleted, w.q.SearchLists())
			}
		})
	}
}

func TestSweepConfigErrors(t *testing.T) {
	w := newWorld(t, qualystest.Generate(1, 1))
	_, err := tqsync.Sweep(context.Background(), tqsync.SweepConfig{Config: tqsync.Config{Qualys: w.qc, CVEs: []string{cve}}, CVEsPerList: -1})
	var ce *tqsync.ConfigError
	if !errors.As(err, &ce) || ce.Option != "CVEsPerList" {
		t.Errorf("err %v", err)
	}
}

// fixHosts marks every detection of cve's QIDs Fixed on n hosts that have
// one open, and returns their Asset values.
func fixHosts(t *testing.T, w *world, tn *qualystest.Tenant, cve string, n int) []string {
	t.Helper()
	qids := qidsOf(tn, cve)
	var values []string
	for _, h := range tn.Detections {
		if len(values) == n {
			break
		}
		cp := *h
		cp.Detections = slices.Clone(h.Detections)
		touched := false
		for i, d := range cp.Detections {
			if qids[d.QID] && d.Status != qualys.StatusFixed {
				cp.Detections[i].Status = qualys.StatusFixed
				touched = true
			}
		}
		if touched && mapping.ThreatQValue(&cp) != "" {
			w.q.SetDetectionHost(&cp)
			values = append(values, mapping.ThreatQValue(&cp))
		}
	}
	if len(values) != n {
		t.Fatalf("%s has %d open hosts, want %d", cve, len(values), n)
	}
	return values
}

// qidsOf returns the QIDs whose KnowledgeBase entry names cve.
func qidsOf(tn *qualystest.Tenant, cve string) map[int64]bool {
	qids := map[int64]bool{}
	for _, v := range tn.KB {
		for _, r := range v.CVEs {
			if r.ID == cve {
				qids[v.QID] = true
			}
		}
	}
	return qids
}

// related returns the CVE values an Asset is related to, and its
// attributes by name (last value).
func related(w *world, value string) (cves []string, attrs map[string]string) {
	ids := map[int64]string{}
	for _, ind := range w.t.Indicators() {
		ids[ind.ID] = ind.Value
	}
	attrs = map[string]string{}
	for _, a := range w.t.Assets() {
		if a.Value != value {
			continue
		}
		for _, id := range a.Indicators {
			cves = append(cves, ids[id])
		}
		for _, kv := range a.Attributes {
			attrs[kv[0]] = kv[1]
		}
	}
	slices.Sort(cves)
	return cves, attrs
}

// TestSweepUnrelatesFixedHosts: after two hosts are fixed, the second
// sweep unrelates exactly those from the CVE, marks them Fixed, and leaves
// a relation another source made; KeepRelations keeps the relations but
// still marks them.
func TestSweepUnrelatesFixedHosts(t *testing.T) {
	for _, keep := range []bool{false, true} {
		t.Run(fmt.Sprintf("keep=%v", keep), func(t *testing.T) {
			tn, cves := sweepTenant(t, 8)
			w := newWorld(t, tn)
			cfg := tqsync.SweepConfig{Config: tqsync.Config{Qualys: w.qc, ThreatQ: w.tc, CVEs: cves, Toggles: allToggles}, CVEsPerList: 3, KeepRelations: keep}
			if _, err := tqsync.Sweep(context.Background(), cfg); err != nil {
				t.Fatal(err)
			}
			// An analyst relates another Asset to the first CVE.
			ind, err := w.tc.FindIndicator(context.Background(), "CVE", cves[0])
			if err != nil || ind == nil {
				t.Fatalf("indicator: %v", err)
			}
			if _, err := w.tc.UpsertAssets(context.Background(), []threatq.Asset{{Value: "192.0.2.200", Sources: []threatq.Source{{Name: "Analyst"}}, Indicators: []int64{ind.ID}}}); err != nil {
				t.Fatal(err)
			}
			before := state(w.t)
			fixed := fixHosts(t, w, tn, cves[0], 2)

			sum, err := tqsync.Sweep(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			wantUnrelated := 2
			if keep {
				wantUnrelated = 0
			}
			if sum.Unrelated != wantUnrelated || sum.CVEs[0].Unrelated != wantUnrelated || sum.CVEs[0].Fixed < 2 {
				t.Errorf("unrelated %d (CVE %d), fixed %d; want %d unrelated", sum.Unrelated, sum.CVEs[0].Unrelated, sum.CVEs[0].Fixed, wantUnrelated)
			}
			if got := w.t.Unrelated(); got != wantUnrelated {
				t.Errorf("the fake saw %d relations removed", got)
			}
			for _, v := range fixed {
				rel, attrs := related(w, v)
				if slices.Contains(rel, cves[0]) == !keep {
					t.Errorf("%s related to %v (keep=%v)", v, rel, keep)
				}
				if attrs["Scan Status"] != "Fixed" {
					t.Errorf("%s Scan Status %q, want Fixed", v, attrs["Scan Status"])
				}
			}
			if rel, _ := related(w, "192.0.2.200"); !slices.Contains(rel, cves[0]) {
				t.Error("the analyst's relation was removed")
			}
			// Everything else is as it was.
			after := state(w.t)
			for k, v := range before {
				touched := false
				for _, f := range fixed {
					touched = touched || k == "asset "+f
				}
				if !touched && after[k] != v && !strings.HasPrefix(k, "asset ") {
					t.Errorf("%s changed:\n%s\n%s", k, v, after[k])
				}
			}
		})
	}
}

// TestSweepUnrelatesHostsNoLongerReported: a host Qualys stops reporting
// for the CVE is unrelated, unless a filter narrowed the search (it may
// then merely be filtered out).
func TestSweepUnrelatesHostsNoLongerReported(t *testing.T) {
	for _, narrowed := range []bool{false, true} {
		t.Run(fmt.Sprintf("narrowed=%v", narrowed), func(t *testing.T) {
			tn, cves := sweepTenant(t, 3)
			w := newWorld(t, tn)
			cfg := tqsync.SweepConfig{Config: tqsync.Config{Qualys: w.qc, ThreatQ: w.tc, CVEs: cves, Toggles: allToggles}}
			if narrowed {
				cfg.Filters.IPs = []string{"0.0.0.0-255.255.255.255"}
			}
			first, err := tqsync.Sweep(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if first.CVEs[0].Stored == 0 {
				t.Skip("nothing stored for the first CVE")
			}
			// The first CVE's hosts disappear from Qualys' answers.
			var gone []string
			qids := qidsOf(tn, cves[0])
			for _, h := range tn.Detections {
				if slices.ContainsFunc(h.Detections, func(d qualys.Detection) bool { return qids[d.QID] && d.Status != qualys.StatusFixed }) {
					cp := *h
					cp.Detections = slices.DeleteFunc(slices.Clone(h.Detections), func(d qualys.Detection) bool { return qids[d.QID] })
					w.q.SetDetectionHost(&cp)
					gone = append(gone, mapping.ThreatQValue(h))
				}
			}
			second, err := tqsync.Sweep(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			want := first.CVEs[0].Stored
			if narrowed {
				want = 0
			}
			if second.CVEs[0].Unrelated != want || second.CVEs[0].Hosts != 0 {
				t.Errorf("unrelated %d, hosts %d; want %d unrelated (stored first %d, gone %d)", second.CVEs[0].Unrelated, second.CVEs[0].Hosts, want, first.CVEs[0].Stored, len(gone))
			}
		})
	}
}

// TestSweepSelectsFromThreatQ: the CVE indicators come from ThreatQ's
// indicator query, with status, score, tag and updated-since, paged.
func TestSweepSelectsFromThreatQ(t *testing.T) {
	tn, cves := sweepTenant(t, 6)
	w := newWorld(t, tn)
	old := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	recent := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	seeds := []threatqtest.IndicatorSeed{
		{Value: cves[0], Score: 8, Tags: []string{"watch"}, UpdatedAt: recent}, // selected
		{Value: cves[1], Score: 9, Tags: []string{"Watch"}, UpdatedAt: recent}, // selected (tag case)
		{Value: cves[2], Score: 3, Tags: []string{"watch"}, UpdatedAt: recent}, // score too low
		{Value: cves[3], Score: 8, Tags: []string{"other"}, UpdatedAt: recent}, // tag
		{Value: cves[4], Score: 8, Tags: []string{"watch"}, UpdatedAt: old},    // not updated since
		{Value: cves[5], Score: 8, Tags: []string{"watch"}, UpdatedAt: recent, Status: "Expired"},
		{Value: "not-a-cve", Score: 8, Tags: []string{"watch"}, UpdatedAt: recent}, // skipped
	}
	for _, s := range seeds {
		s.Type = "CVE"
		w.t.SeedIndicator(s)
	}
	w.t.SeedIndicator(threatqtest.IndicatorSeed{Type: "IP Address", Value: "192.0.2.1", Score: 9, Tags: []string{"watch"}, UpdatedAt: recent})
	sum, err := tqsync.Sweep(context.Background(), tqsync.SweepConfig{
		Config: tqsync.Config{Qualys: w.qc, ThreatQ: w.tc, Toggles: allToggles},
		Select: &threatq.IndicatorQuery{Statuses: []string{"Active"}, MinScore: 5, Tags: []string{"watch"}, UpdatedSince: time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC), PageSize: 2},
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range sum.CVEs {
		got = append(got, c.CVE)
	}
	if !slices.Equal(got, cves[:2]) || sum.SkippedIndicators != 1 || sum.SearchLists != 1 {
		t.Errorf("selected %v (skipped %d, %d lists), want %v", got, sum.SkippedIndicators, sum.SearchLists, cves[:2])
	}
	// The query was paged.
	pages := 0
	for _, r := range w.t.Requests() {
		if r.Method == "POST" && r.Path == "/api/indicators/query" {
			pages++
		}
	}
	if pages < 3 {
		t.Errorf("%d query pages for 7 CVE indicators at 2 a page", pages)
	}
}

// TestToggleLessSweepWritesNothing: a sweep with no toggle on, after two
// hosts were fixed, reads and reports (the fixes counted) and writes
// nothing to ThreatQ: no Asset stored or updated, no relation removed, as
// Run writes nothing then.
func TestToggleLessSweepWritesNothing(t *testing.T) {
	tn, cves := sweepTenant(t, 8)
	w := newWorld(t, tn)
	cfg := tqsync.SweepConfig{Config: tqsync.Config{Qualys: w.qc, ThreatQ: w.tc, CVEs: cves, Toggles: allToggles}, CVEsPerList: 3}
	if _, err := tqsync.Sweep(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	fixHosts(t, w, tn, cves[0], 2)
	before := state(w.t)
	seen := len(w.t.Requests())
	cfg.Toggles = tqsync.Toggles{}
	sum, err := tqsync.Sweep(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if sum.CVEs[0].Fixed < 2 || sum.Unrelated != 0 || sum.Stored != 0 {
		t.Errorf("fixed %d, unrelated %d, stored %d: want the fixes reported and nothing written", sum.CVEs[0].Fixed, sum.Unrelated, sum.Stored)
	}
	for _, r := range w.t.Requests()[seen:] {
		if r.Method != "GET" && r.Path != "/api/token" && r.Path != "/api/indicators/query" {
			t.Errorf("a toggle-less sweep sent %s %s", r.Method, r.Path)
		}
	}
	if after := state(w.t); !maps.Equal(before, after) {
		t.Error("ThreatQ changed")
	}
}
