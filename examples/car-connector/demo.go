package main

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/hashicorp/go-cleanhttp"
	"github.com/qualysbridge/qualysbridge/examples/internal/cli"
	"io"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/qualysbridge/qualysbridge/car"
	"github.com/qualysbridge/qualysbridge/car/cartest"
	"github.com/qualysbridge/qualysbridge/carsync"
	"github.com/qualysbridge/qualysbridge/qualys"
	"github.com/qualysbridge/qualysbridge/qualys/qualystest"
)

// runDemo runs the whole flow against in-process fakes: an initial import,
// changes to the tenant, an incremental import, and what CAR now holds.
func runDemo(ctx context.Context, o options, stdout, stderr io.Writer, logger *slog.Logger) int {
	// The flags are checked as in a real run.
	switch {
	case o.demoHosts < 1:
		fmt.Fprintln(stderr, "car-connector: -demo_hosts must be at least 1")
		return exitUsage
	case o.pageSize < 0 || o.pageSize > qualys.MaxHostAssetPageSize:
		fmt.Fprintf(stderr, "car-connector: -page_size must be 1-%d\n", qualys.MaxHostAssetPageSize)
		return exitUsage
	case o.maxRetries < 0:
		fmt.Fprintln(stderr, "car-connector: -max_retries must not be negative")
		return exitUsage
	case o.incremental && o.full:
		fmt.Fprintln(stderr, "car-connector: -incremental_update and -full contradict each other")
		return exitUsage
	case o.replayDir != "":
		fmt.Fprintln(stderr, "car-connector: -replay replays a recording of a real run: give it without -demo (-demo -record DIR makes one)")
		return exitUsage
	}
	// -demo -record DIR records the demo's exchanges: the quickest way to
	// get fixtures to play with.
	rec, err := cli.NewRecording(o.recordDir, "")
	if err != nil {
		fmt.Fprintln(stderr, "car-connector:", err)
		return exitUsage
	}
	defer func() {
		if err := rec.Close(); err != nil {
			fmt.Fprintln(stderr, "car-connector: recording:", err)
		}
	}()
	// With -json, stdout carries one JSON document and the story goes to
	// stderr.
	text := stdout
	if o.json {
		text = stderr
	}
	tenant := qualystest.Generate(1, o.demoHosts, qualystest.WithDetectionsPerHost(o.demoDetections), qualystest.WithVulnerableTo("CVE-2019-17053", 0.1))
	qsrv := qualystest.NewServer(qualystest.WithTenant(tenant))
	defer qsrv.Close()
	csrv := cartest.NewServer()
	defer csrv.Close()
	user, pass := qsrv.Credentials()
	qhc, err := rec.Client("qualys", cleanhttp.DefaultPooledClient(), []string{qsrv.URL, qsrv.GatewayURL}, pass)
	if err != nil {
		fmt.Fprintln(stderr, "car-connector:", err)
		return exitFailure
	}
	chc, err := rec.Client("car", cleanhttp.DefaultPooledClient(), []string{csrv.URL}, cartest.DefaultPassword)
	if err != nil {
		fmt.Fprintln(stderr, "car-connector:", err)
		return exitFailure
	}
	qc, err := qualys.NewClient(qsrv.URL, qualys.WithCredentials(user, pass), qualys.WithGateway(qsrv.GatewayURL), qualys.WithInsecureLoopback(), qualys.WithLogger(logger),
		qualys.WithHTTPClient(qhc))
	if err != nil {
		fmt.Fprintln(stderr, "car-connector:", err)
		return exitFailure
	}
	cc, err := car.NewClient(csrv.URL, car.WithAPIKey(cartest.DefaultAPIKey, cartest.DefaultPassword), car.WithInsecureLoopback(),
		car.WithPolling(5*time.Millisecond, 100*time.Millisecond), car.WithLogger(logger), car.WithHTTPClient(chc))
	if err != nil {
		fmt.Fprintln(stderr, "car-connector:", err)
		return exitFailure
	}
	src := car.Source{Key: "Qualys", Name: "Qualys", Description: "Qualys VMDR (demo)"}
	// The first window ends an hour ago and the second an hour ahead, so
	// that the changes made now fall in the second without waiting.
	now := time.Now().Add(-time.Hour)
	risk, _ := o.risk() // checked by run
	cfg := carsync.Config{Qualys: qc, CAR: cc, Source: src, Logger: logger, PageSize: o.pageSize, Now: func() time.Time { return now }, RiskScores: risk}
	if o.recordDir != "" {
		cfg.Sequential = true // a recording replays one call at a time, in order
	}
	// The two runs are reported as a real run is; with -json, only the
	// demo's own document goes to stdout.
	step := o
	step.json = false

	fmt.Fprintf(text, "== demo: fake Qualys with %d hosts at %s, fake CAR at %s\n", o.demoHosts, qsrv.URL, csrv.URL)
	first, err := carsync.Run(ctx, cfg)
	if code := report(ctx, &step, first, err, text, stderr, logger); code != exitOK {
		return fail(&o, stdout, io.Discard, code, err, first)
	}
	printRun(text, "initial import", first)

	// Change the tenant as a few hours of real life would.
	changes := mutate(qsrv, tenant)
	now = time.Now().Add(time.Hour)
	fmt.Fprintln(text, "== tenant changed:")
	for _, c := range changes {
		fmt.Fprintln(text, "   -", c)
	}

	second, err := carsync.Run(ctx, cfg)
	if code := report(ctx, &step, second, err, text, stderr, logger); code != exitOK {
		return fail(&o, stdout, io.Discard, code, err, second)
	}
	printRun(text, "incremental import", second)
	g := csrv.Graph(src.Key)
	printCAR(text, g, tenant.HostAssets[1].ID)
	if o.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(map[string]any{"initial": first, "changes": changes, "incremental": second, "car_active_objects": g.Counts()}); err != nil {
			fmt.Fprintln(stderr, "car-connector:", err)
			return exitFailure
		}
	}
	return exitOK
}

// mutate removes a host, changes an interface, adds a host and fixes a
// detection, and says what it did.
func mutate(srv *qualystest.Server, t *qualystest.Tenant) []string {
	now := time.Now().UTC()
	var out []string
	removed := t.HostAssets[0]
	srv.RemoveHostAsset(removed.ID)
	srv.RemoveDetectionHost(removed.QWebHostID)
	srv.RemoveAsset(removed.ID)
	out = append(out, fmt.Sprintf("host asset %d (%s) removed", removed.ID, removed.Name))

	changed := *t.HostAssets[1]
	changed.NetworkInterfaces = append([]qualys.NetworkInterface(nil), changed.NetworkInterfaces...)
	old := changed.NetworkInterfaces[0].Address
	changed.NetworkInterfaces[0].Address = "172.16.99.1"
	changed.Modified = now
	srv.AddHostAsset(&changed)
	out = append(out, fmt.Sprintf("host asset %d: interface %s renumbered to 172.16.99.1", changed.ID, old))

	added := *t.HostAssets[2]
	added.ID, added.QWebHostID, added.Name, added.DNSHostName = 29999999, 5999999, "new-host.corp.example", "new-host.corp.example"
	added.NetworkInterfaces = []qualys.NetworkInterface{{Address: "172.16.99.2", MACAddress: "02:AA:BB:CC:DD:EE", InterfaceName: "eth0"}}
	added.Created, added.Modified = now, now
	srv.AddHostAsset(&added)
	det := &qualys.DetectionHost{ID: added.QWebHostID, IP: "172.16.99.2", Detections: []qualys.Detection{{QID: t.KB[0].QID, Type: "Confirmed", Severity: t.KB[0].Severity,
		Status: "New", Results: "found on the new host", FirstFound: now, LastFound: now, LastUpdate: now, LastProcessed: now}}}
	srv.SetDetectionHost(det)
	out = append(out, fmt.Sprintf("host asset %d (%s) added with 1 detection", added.ID, added.Name))

	for _, h := range t.Detections {
		if len(h.Detections) == 0 || h.ID == removed.QWebHostID {
			continue
		}
		fixed := *h
		fixed.Detections = append([]qualys.Detection(nil), h.Detections...)
		for i := range fixed.Detections {
			if fixed.Detections[i].Status != "Fixed" {
				fixed.Detections[i].Status, fixed.Detections[i].LastFixed, fixed.Detections[i].LastUpdate = "Fixed", now, now
				out = append(out, fmt.Sprintf("host %d: QID %d fixed", h.ID, fixed.Detections[i].QID))
				break
			}
		}
		srv.SetDetectionHost(&fixed)
		break
	}
	return out
}

func printRun(w io.Writer, what string, s *carsync.Summary) {
	fmt.Fprintf(w, "== %s (%s): %s, %s, %s in %s\n", what, s.Mode, cli.Count(s.Hosts, "host", "hosts"), cli.Count(s.Detections, "detection", "detections"),
		cli.Count(s.Applications, "application", "applications"), s.Duration.Round(time.Millisecond))
	if !s.Since.IsZero() {
		fmt.Fprintf(w, "   window %s .. %s\n", s.Since.Format(time.RFC3339), s.Until.Format(time.RFC3339))
	}
	var apis []string
	for api, n := range s.QualysCalls {
		apis = append(apis, fmt.Sprintf("%s=%d", api, n))
	}
	sort.Strings(apis)
	fmt.Fprintf(w, "   Qualys calls: %s\n", strings.Join(apis, " "))
	if s.Import != nil {
		fmt.Fprintf(w, "   CAR: %d import requests, %d jobs, %d edges disabled, %d assets removed\n", s.Import.Requests, s.Import.Jobs, s.DisabledEdges, s.DeletedAssets)
	}
}

func printCAR(w io.Writer, g *cartest.Graph, sample int64) {
	counts := g.Counts()
	var colls []string
	for c := range counts {
		colls = append(colls, c)
	}
	sort.Strings(colls)
	fmt.Fprintln(w, "== CAR now holds (active objects per collection):")
	for _, c := range colls {
		fmt.Fprintf(w, "   %-26s %7d\n", c, counts[c])
	}
	id := fmt.Sprint(sample)
	if a := g.Vertices["asset"][id]; a != nil {
		fmt.Fprintf(w, "== sample asset %s %q:\n", id, a.Fields["name"])
		var edgeColls []string
		for c := range g.Edges {
			if strings.HasPrefix(c, "asset_") {
				edgeColls = append(edgeColls, c)
			}
		}
		sort.Strings(edgeColls)
		for _, c := range edgeColls {
			for _, e := range g.Edges[c] {
				if e.From != id {
					continue
				}
				state := "active"
				if !e.Active {
					state = "inactive"
				}
				fmt.Fprintf(w, "   %-20s -> %-40s %s\n", c, e.To, state)
			}
		}
	}
}
