package main

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/qualysbridge/qualysbridge/threatq/threatqtest"
)

// sweepArgs are the world's args without -cve.
func (w *world) sweepArgs(extra ...string) []string {
	args := w.args(extra...)
	i := slices.Index(args, "-cve")
	return slices.Delete(args, i, i+2)
}

// TestSweepSelectsFromThreatQ: -sweep with the -sweep_* flags searches the
// CVE indicators ThreatQ selects, stores their hosts, and prints one JSON
// document per CVE with the run's Qualys calls.
func TestSweepSelectsFromThreatQ(t *testing.T) {
	w := newWorld(t)
	w.tq.SeedIndicator(threatqtest.IndicatorSeed{Type: "CVE", Value: cve, Score: 8, Tags: []string{"watch"}})
	w.tq.SeedIndicator(threatqtest.IndicatorSeed{Type: "CVE", Value: "CVE-2020-1472", Score: 2, Tags: []string{"watch"}})
	var out, errb bytes.Buffer
	code := run(context.Background(), w.sweepArgs("-sweep", "-sweep_min_score", "5", "-sweep_tag", "watch", "-sweep_status", "Active", "-add_assets"),
		&out, &errb, func(k string) string { return w.env[k] })
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var doc sweepOutput
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatalf("not one JSON document: %v\n%s", err, out.String())
	}
	if len(doc.Summary.CVEs) != 1 || doc.Summary.CVEs[0].CVE != cve || doc.Summary.CVEs[0].Stored == 0 || doc.QualysCalls == 0 || doc.Summary.SearchLists != 1 {
		t.Errorf("document: %s", out.String())
	}
	if len(w.q.SearchLists()) != 0 {
		t.Error("search list left")
	}
}

// TestSweepFlagsNeedSweep: a -sweep_* flag without -sweep, or a selection
// with -cve, is refused with exit 2.
func TestSweepFlagsNeedSweep(t *testing.T) {
	w := newWorld(t)
	for _, args := range [][]string{
		w.args("-sweep_tag", "watch"),
		w.args("-keep_relations"),
		w.args("-sweep", "-sweep_tag", "watch"),
		w.args("-sweep", "-cves_per_list", "0"),
		w.sweepArgs("-sweep", "-sweep_updated_since", "yesterday"),
	} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), args, &out, &errb, func(k string) string { return w.env[k] }); code != exitUsage {
			t.Errorf("%v: exit %d, want %d: %s", args[len(args)-2:], code, exitUsage, errb.String())
		}
	}
}

// TestSweepNeedsThreatQ: -sweep without ThreatQ is refused before any
// Qualys call, naming -threatq_url.
func TestSweepNeedsThreatQ(t *testing.T) {
	w := newWorld(t)
	args := w.args("-sweep", "-add_assets")
	i := slices.Index(args, "-threatq_url")
	args = slices.Delete(args, i, i+2)
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb, func(k string) string { return w.env[k] })
	if code != exitUsage || !strings.Contains(errb.String(), "-threatq_url") || w.q.TotalCalls() != 0 {
		t.Errorf("exit %d, %d Qualys calls: %s", code, w.q.TotalCalls(), errb.String())
	}
}

// TestSweepDemo: -demo -sweep shows the fix between two sweeps: the fixed
// hosts are counted and unrelated, and -json prints one document.
func TestSweepDemo(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"-demo", "-sweep", "-json"}, &out, &errb, func(string) string { return "" }); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var doc sweepOutput
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatalf("not one JSON document: %v\n%s", err, out.String())
	}
	first := doc.Summary.CVEs[0]
	if first.Fixed < 2 || first.Unrelated != 2 {
		t.Errorf("second sweep, first CVE: %+v", first)
	}
	if !strings.Contains(errb.String(), "first sweep") || !strings.Contains(errb.String(), "search lists left behind: 0") {
		t.Errorf("story: %s", errb.String())
	}
}

// TestSweepNeedsAToggle: -sweep with ThreatQ given but no toggle is refused
// before any call, naming the toggle (it named -threatq_url, which was
// there).
func TestSweepNeedsAToggle(t *testing.T) {
	w := newWorld(t)
	var out, errb bytes.Buffer
	code := run(context.Background(), w.args("-sweep"), &out, &errb, func(k string) string { return w.env[k] })
	if code != exitUsage || !strings.Contains(errb.String(), "-add_assets") || strings.Contains(errb.String(), "-threatq_url") || w.q.TotalCalls() != 0 {
		t.Errorf("exit %d, %d Qualys calls: %s", code, w.q.TotalCalls(), errb.String())
	}
}

// TestAddScoresFlag: -add_scores alone stores nothing and is refused
// naming what it needs; with -add_assets the stored Assets carry the QDS
// and TruRisk Score attributes.
func TestAddScoresFlag(t *testing.T) {
	w := newWorld(t)
	var out, errb bytes.Buffer
	if code := run(context.Background(), w.args("-add_scores"), &out, &errb, func(k string) string { return w.env[k] }); code != exitUsage || !strings.Contains(errb.String(), "-add_assets") {
		t.Fatalf("-add_scores alone: exit %d: %s", code, errb.String())
	}
	out.Reset()
	errb.Reset()
	if code := run(context.Background(), w.args("-add_scores", "-add_assets"), &out, &errb, func(k string) string { return w.env[k] }); code != 0 {
		t.Fatalf("-add_scores -add_assets: exit %d: %s", code, errb.String())
	}
	scored := 0
	for _, a := range w.tq.Assets() {
		for _, at := range a.Attributes {
			if at[0] == "TruRisk Score" {
				scored++
			}
		}
	}
	if scored == 0 {
		t.Error("no stored Asset carries a TruRisk Score")
	}
}
