package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"

	"github.com/qualysbridge/qualysbridge/qualys"
	"github.com/qualysbridge/qualysbridge/qualys/qualystest"
	"github.com/qualysbridge/qualysbridge/threatq"
	"github.com/qualysbridge/qualysbridge/threatq/threatqtest"
)

// runDemo runs the operation against in-process fakes, with the toggles the
// user gave (it says which are on), and prints what ThreatQ holds.
// demoCVE is the CVE -demo searches when -cve is not given: the one the
// operation's guide uses.
const demoCVE = "CVE-2019-17053"

func runDemo(ctx context.Context, o options, q query, stdout, stderr io.Writer, logger *slog.Logger) int {
	var opts []qualystest.GenerateOption
	for _, cve := range q.cves {
		opts = append(opts, qualystest.WithVulnerableTo(cve, 0.25))
	}
	tenant := qualystest.Generate(7, 40, opts...)
	qsrv := qualystest.NewServer(qualystest.WithTenant(tenant))
	defer qsrv.Close()
	tsrv := threatqtest.NewServer()
	defer tsrv.Close()
	user, pass := qsrv.Credentials()
	qc, err := qualys.NewClient(qsrv.URL, qualys.WithCredentials(user, pass), qualys.WithInsecureLoopback(), qualys.WithLogger(logger))
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitFailure
	}
	tc, err := threatq.NewClient(tsrv.URL, threatq.WithPasswordGrant(threatq.PasswordGrant{ClientID: threatqtest.ClientID, Email: threatqtest.Email, Password: threatqtest.Password}), threatq.WithInsecureLoopback(), threatq.WithLogger(logger))
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitFailure
	}
	if o.sweep {
		return sweepDemo(ctx, o, q, tenant, qsrv, tsrv, qc, tc, stdout, stderr, logger)
	}
	on := togglesOn(o)
	if len(on) == 0 {
		on = []string{"none: hosts are listed, nothing is stored (add -add_assets, -add_discovered_assets, -add_tags_to_cves)"}
	}
	// With -json, stdout carries one JSON document and the story goes to
	// stderr.
	text := stdout
	if o.jsonOut {
		text = stderr
	}
	fmt.Fprintf(text, "== demo: fake Qualys at %s, fake ThreatQ at %s; toggles on: %s\n", qsrv.URL, tsrv.URL, strings.Join(on, ", "))
	if code := finish(ctx, o, operate(ctx, qc, tc, o, q, stdout, stderr, logger), stdout, stderr); code != exitOK {
		return code
	}
	fmt.Fprintf(text, "== Qualys search lists left behind: %d\n", len(qsrv.SearchLists()))
	fmt.Fprintln(text, "== ThreatQ now holds:")
	for _, in := range tsrv.Indicators() {
		fmt.Fprintf(text, "   indicator %d %s %s tags=[%s]\n", in.ID, in.Type, in.Value, strings.Join(in.Tags, ","))
	}
	for _, a := range tsrv.Assets() {
		fmt.Fprintf(text, "   asset %d %s related=%v tags=[%s] attributes=%d\n", a.ID, a.Value, a.Indicators, strings.Join(a.Tags, ","), len(a.Attributes))
	}
	return exitOK
}

// sweepDemo seeds CVE indicators in the fake ThreatQ (the CVEs of -cve, or
// five the fake Qualys has open detections of), sweeps, fixes two hosts of
// the first CVE in the fake Qualys, and sweeps again: the second table
// shows them fixed and unrelated.
func sweepDemo(ctx context.Context, o options, q query, tenant *qualystest.Tenant, qsrv *qualystest.Server, tsrv *threatqtest.Server,
	qc *qualys.Client, tc *threatq.Client, stdout, stderr io.Writer, logger *slog.Logger) int {
	text := stdout
	if o.jsonOut {
		text = stderr
	}
	cveQIDs := map[string][]int64{}
	for _, v := range tenant.KB {
		for _, r := range v.CVEs {
			cveQIDs[r.ID] = append(cveQIDs[r.ID], v.QID)
		}
	}
	open := func(cve string) []*qualys.DetectionHost {
		var hosts []*qualys.DetectionHost
		for _, h := range tenant.Detections {
			for _, d := range h.Detections {
				if slices.Contains(cveQIDs[cve], d.QID) && d.Status != qualys.StatusFixed {
					hosts = append(hosts, h)
					break
				}
			}
		}
		return hosts
	}
	cves := q.cves
	if len(cves) == 0 {
		all := make([]string, 0, len(cveQIDs))
		for c := range cveQIDs {
			if len(open(c)) >= 2 {
				all = append(all, c)
			}
		}
		slices.Sort(all)
		cves = all[:min(5, len(all))]
	}
	for _, c := range cves {
		tsrv.SeedIndicator(threatqtest.IndicatorSeed{Type: "CVE", Value: c, Score: 7, Tags: []string{"watch"}})
	}
	if !o.addAssets && !o.addDiscovered && !o.addTags {
		o.addAssets, o.addDiscovered = true, true
		fmt.Fprintln(text, "== demo: no toggle given; -add_assets and -add_discovered_assets are turned on so that the sweep stores hosts")
	}
	fmt.Fprintf(text, "== demo: fake Qualys at %s, fake ThreatQ at %s holding CVE indicators %s\n", qsrv.URL, tsrv.URL, strings.Join(cves, ", "))
	fmt.Fprintln(text, "== first sweep")
	// With -json, stdout carries the second sweep's document only.
	if code := finish(ctx, o, operate(ctx, qc, tc, o, q, text, stderr, logger), stdout, stderr); code != exitOK {
		return code
	}
	var fixed []string
	for _, h := range open(cves[0])[:2] {
		cp := *h
		cp.Detections = slices.Clone(h.Detections)
		for i, d := range cp.Detections {
			if slices.Contains(cveQIDs[cves[0]], d.QID) {
				cp.Detections[i].Status = qualys.StatusFixed
			}
		}
		qsrv.SetDetectionHost(&cp)
		fixed = append(fixed, cmp.Or(h.IP, h.IPv6))
	}
	fmt.Fprintf(text, "== the fake Qualys now reports %s fixed on %s; second sweep\n", cves[0], strings.Join(fixed, ", "))
	if code := finish(ctx, o, operate(ctx, qc, tc, o, q, stdout, stderr, logger), stdout, stderr); code != exitOK {
		return code
	}
	fmt.Fprintf(text, "== Qualys search lists left behind: %d\n", len(qsrv.SearchLists()))
	return exitOK
}
