package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/qualysbridge/qualysbridge/qualys"
	"github.com/qualysbridge/qualysbridge/qualys/qualystest"
	"github.com/qualysbridge/qualysbridge/threatq"
	"github.com/qualysbridge/qualysbridge/threatq/threatqtest"
)

// runDemo runs the operation against in-process fakes, with the toggles the
// user gave (it says which are on), and prints what ThreatQ holds.
func runDemo(ctx context.Context, o options, q query, stdout, stderr io.Writer, logger *slog.Logger) int {
	var opts []qualystest.GenerateOption
	for _, cve := range q.cves {
		opts = append(opts, qualystest.WithVulnerableTo(cve, 0.25))
	}
	qsrv := qualystest.NewServer(qualystest.WithTenant(qualystest.Generate(7, 40, opts...)))
	defer qsrv.Close()
	tsrv := threatqtest.NewServer()
	defer tsrv.Close()
	user, pass := qsrv.Credentials()
	qc, err := qualys.NewClient(qsrv.URL, qualys.WithCredentials(user, pass), qualys.WithInsecureLoopback(), qualys.WithLogger(logger))
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitFailure
	}
	tc, err := threatq.NewClient(tsrv.URL, threatq.WithPassword(threatqtest.ClientID, threatqtest.Email, threatqtest.Password), threatq.WithInsecureLoopback(), threatq.WithLogger(logger))
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitFailure
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
