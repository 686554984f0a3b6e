// Command threatq-operation is the ThreatQ Qualys operation "Search for
// Vulnerable Hosts": for one or more CVEs it creates a Qualys dynamic QID
// search list, lists the hosts vulnerable to it (optionally only some IPs,
// vulnerabilities found after a date, a minimum severity, some asset
// groups), always deletes the search list again, prints the hosts, and
// with the toggles on stores them in ThreatQ as Asset objects related to
// the CVE indicator.
//
// The toggles, as this program reads the operation's guide (which lists
// two of them with the same description):
//
//   - -add_assets ("Add Assets to ThreatQ"): hosts with a confirmed
//     detection of the CVE become Assets, with the mapped attributes and
//     tags, related to the CVE indicator (created if missing).
//   - -add_discovered_assets ("Add Discovered Assets to ThreatQ"): hosts on
//     which Qualys only discovered a potential detection (no confirmed one)
//     are stored the same way. With both toggles on, every host is stored.
//   - -add_tags_to_cves ("Add Asset Tags to CVEs"): the CVE indicator gets
//     the tags of its vulnerable hosts.
//
// Secrets come from QUALYS_PASSWORD and THREATQ_PASSWORD (or
// THREATQ_CLIENT_SECRET), or from flags with a warning. -demo runs against
// in-process fakes with no credentials.
//
// Exit codes: 0 success, 1 unexpected failure, 2 bad arguments, 3 Qualys
// failure, 4 ThreatQ failure.
package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/hashicorp/go-cleanhttp"
	"github.com/qualysbridge/qualysbridge/mapping"
	"github.com/qualysbridge/qualysbridge/qualys"
	"github.com/qualysbridge/qualysbridge/threatq"
)

const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
	exitQualys  = 3
	exitThreatQ = 4
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

type options struct {
	cves                                           string
	qualysHost, platform, username, qualysPassword string
	qualysPort                                     int
	verifySSL                                      bool
	addDiscovered, addAssets, addTags              bool
	ips, foundAfter, assetGroups                   string
	minSeverity                                    int
	tqURL, tqClientID, tqEmail, tqPassword         string
	tqSecret                                       string
	jsonOut, debug, demo                           bool
}

type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// threatqError marks a failure on the ThreatQ side.
type threatqError struct{ err error }

func (e *threatqError) Error() string { return e.err.Error() }
func (e *threatqError) Unwrap() error { return e.err }

// query is the validated search.
type query struct {
	cves        []string
	ips         []string
	foundAfter  time.Time
	minSeverity int
	groupIDs    []int64
	groupTitles []string
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	var o options
	fs := flag.NewFlagSet("threatq-operation", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.cves, "cve", "", "CVE id(s) to search for, comma-separated (e.g. CVE-2019-17053)")
	fs.StringVar(&o.qualysHost, "qualys_host", "", "Qualys API hostname or URL (e.g. qualysapi.qg3.apps.qualys.com)")
	fs.IntVar(&o.qualysPort, "qualys_port", 443, "Qualys API port")
	fs.StringVar(&o.platform, "platform", "", "Qualys platform name (US1..KSA1), instead of -qualys_host")
	fs.StringVar(&o.username, "username", "", "Qualys user name")
	fs.StringVar(&o.qualysPassword, "password", "", "Qualys password (prefer QUALYS_PASSWORD)")
	fs.BoolVar(&o.verifySSL, "verify_ssl", true, "verify TLS certificates")
	fs.BoolVar(&o.addAssets, "add_assets", false, `"Add Assets to ThreatQ": store hosts with a confirmed detection as Assets related to the CVE`)
	fs.BoolVar(&o.addDiscovered, "add_discovered_assets", false, `"Add Discovered Assets to ThreatQ": also store hosts with only potential detections`)
	fs.BoolVar(&o.addTags, "add_tags_to_cves", false, `"Add Asset Tags to CVEs": tag the CVE indicator with its hosts' tags`)
	fs.StringVar(&o.ips, "ips", "", "only hosts with these IPs, comma-separated")
	fs.StringVar(&o.foundAfter, "found_after", "", `only vulnerabilities found after this time, "YYYY-MM-DD HH:MM" (UTC)`)
	fs.IntVar(&o.minSeverity, "min_severity", 0, "only vulnerabilities of this severity or higher (1-5)")
	fs.StringVar(&o.assetGroups, "asset_groups", "", "only hosts in these asset groups, comma-separated ids or titles")
	fs.StringVar(&o.tqURL, "threatq_url", "", "ThreatQ URL (e.g. https://threatq.example.com)")
	fs.StringVar(&o.tqClientID, "threatq_client_id", "", "ThreatQ OAuth client id")
	fs.StringVar(&o.tqEmail, "threatq_email", "", "ThreatQ user email (password grant; password from THREATQ_PASSWORD)")
	fs.StringVar(&o.tqPassword, "threatq_password", "", "ThreatQ password (prefer THREATQ_PASSWORD)")
	fs.StringVar(&o.tqSecret, "threatq_client_secret", "", "ThreatQ private client secret (prefer THREATQ_CLIENT_SECRET), instead of email and password")
	fs.BoolVar(&o.jsonOut, "json", false, "print the hosts as JSON instead of a table")
	fs.BoolVar(&o.debug, "d", false, "debug logging")
	fs.BoolVar(&o.demo, "demo", false, "run against in-process fakes (no credentials needed)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	level := slog.LevelInfo
	if o.debug {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	q, err := parseQuery(o)
	if err != nil {
		fmt.Fprintln(stderr, "threatq-operation:", err)
		return exitUsage
	}
	if o.demo {
		return runDemo(ctx, o, q, stdout, stderr, logger)
	}
	qc, tc, err := clients(o, getenv, logger)
	if err != nil {
		fmt.Fprintln(stderr, "threatq-operation:", err)
		return exitUsage
	}
	return finish(operate(ctx, qc, tc, o, q, stdout, logger), stderr)
}

func parseQuery(o options) (query, error) {
	var q query
	for _, c := range splitList(o.cves) {
		c = strings.ToUpper(c)
		if !qualys.ValidCVE(c) {
			return q, &usageError{fmt.Sprintf("invalid CVE id %q (want CVE-YYYY-NNNN)", c)}
		}
		q.cves = append(q.cves, c)
	}
	if len(q.cves) == 0 {
		return q, &usageError{"-cve is required (e.g. -cve CVE-2019-17053)"}
	}
	for _, ip := range splitList(o.ips) {
		if !validIPOrRange(ip) {
			return q, &usageError{fmt.Sprintf("invalid IP %q in -ips", ip)}
		}
		q.ips = append(q.ips, ip)
	}
	if o.foundAfter != "" {
		t, err := time.Parse("2006-01-02 15:04", strings.TrimSpace(o.foundAfter))
		if err != nil {
			return q, &usageError{fmt.Sprintf(`-found_after %q: want "YYYY-MM-DD HH:MM"`, o.foundAfter)}
		}
		q.foundAfter = t.UTC()
	}
	if o.minSeverity < 0 || o.minSeverity > 5 {
		return q, &usageError{"-min_severity must be 1-5"}
	}
	q.minSeverity = o.minSeverity
	for _, g := range splitList(o.assetGroups) {
		if id, err := strconv.ParseInt(g, 10, 64); err == nil && id > 0 {
			q.groupIDs = append(q.groupIDs, id)
		} else {
			q.groupTitles = append(q.groupTitles, g)
		}
	}
	return q, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func validIPOrRange(s string) bool {
	lo, hi, isRange := strings.Cut(s, "-")
	if isRange {
		return validIP(lo) && validIP(hi)
	}
	return validIP(s)
}

func validIP(s string) bool {
	var a, b, c, d int
	if n, err := fmt.Sscanf(s, "%d.%d.%d.%d", &a, &b, &c, &d); err == nil && n == 4 {
		return a <= 255 && b <= 255 && c <= 255 && d <= 255 && a >= 0 && b >= 0 && c >= 0 && d >= 0
	}
	return strings.Count(s, ":") >= 2 // IPv6; Qualys validates further
}

func clients(o options, getenv func(string) string, logger *slog.Logger) (*qualys.Client, *threatq.Client, error) {
	var onCLI []string
	qpass := o.qualysPassword
	if qpass != "" {
		onCLI = append(onCLI, "-password")
	} else {
		qpass = getenv("QUALYS_PASSWORD")
	}
	tqpass, tqsecret := o.tqPassword, o.tqSecret
	if tqpass != "" {
		onCLI = append(onCLI, "-threatq_password")
	} else {
		tqpass = getenv("THREATQ_PASSWORD")
	}
	if tqsecret != "" {
		onCLI = append(onCLI, "-threatq_client_secret")
	} else {
		tqsecret = getenv("THREATQ_CLIENT_SECRET")
	}
	if len(onCLI) > 0 {
		logger.Warn("secrets given on the command line are visible to other users; use QUALYS_PASSWORD, THREATQ_PASSWORD or THREATQ_CLIENT_SECRET instead", "flags", strings.Join(onCLI, ", "))
	}
	apiURL := ""
	switch {
	case o.platform != "":
		u, _, err := qualys.Platform(o.platform)
		if err != nil {
			return nil, nil, &usageError{err.Error()}
		}
		apiURL = u
	case o.qualysHost != "":
		host := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(o.qualysHost, "https://"), "http://"), "/")
		if strings.ContainsAny(host, "/:@ ") {
			return nil, nil, &usageError{fmt.Sprintf("-qualys_host %q: want a hostname such as qualysapi.qualys.com (the port goes in -qualys_port)", o.qualysHost)}
		}
		if o.qualysPort <= 0 || o.qualysPort > 65535 {
			return nil, nil, &usageError{"-qualys_port must be 1-65535"}
		}
		apiURL = "https://" + host
		if o.qualysPort != 443 {
			apiURL += ":" + strconv.Itoa(o.qualysPort)
		}
	}
	var missing []string
	for _, m := range []struct{ v, name string }{{apiURL, "-qualys_host (or -platform)"}, {o.username, "-username"}, {qpass, "QUALYS_PASSWORD"}} {
		if m.v == "" {
			missing = append(missing, m.name)
		}
	}
	storing := o.addAssets || o.addDiscovered || o.addTags
	if storing {
		if o.tqURL == "" || o.tqClientID == "" {
			missing = append(missing, "-threatq_url and -threatq_client_id (needed by the add toggles)")
		}
		if tqsecret == "" && (o.tqEmail == "" || tqpass == "") {
			missing = append(missing, "-threatq_email and THREATQ_PASSWORD (or THREATQ_CLIENT_SECRET)")
		}
	}
	if len(missing) > 0 {
		return nil, nil, &usageError{"missing " + strings.Join(missing, ", ")}
	}
	hc := cleanhttp.DefaultPooledClient()
	if !o.verifySSL {
		logger.Warn("TLS CERTIFICATE VERIFICATION IS OFF (-verify_ssl=false): credentials and data can be intercepted")
		hc.Transport.(*http.Transport).TLSClientConfig = &tls.Config{InsecureSkipVerify: true} // #nosec G402 -- explicit, warned opt-out
	}
	qc, err := qualys.NewClient(apiURL, qualys.WithCredentials(o.username, qpass), qualys.WithHTTPClient(hc), qualys.WithLogger(logger))
	if err != nil {
		return nil, nil, &usageError{err.Error()}
	}
	if !storing {
		return qc, nil, nil
	}
	auth := threatq.WithPassword(o.tqClientID, o.tqEmail, tqpass)
	if tqsecret != "" {
		auth = threatq.WithClientCredentials(o.tqClientID, tqsecret)
	}
	tc, err := threatq.NewClient(o.tqURL, auth, threatq.WithHTTPClient(hc), threatq.WithLogger(logger))
	if err != nil {
		return nil, nil, &usageError{err.Error()}
	}
	return qc, tc, nil
}

// row is one vulnerable host in the output.
type row struct {
	CVE        string   `json:"cve"`
	HostID     int64    `json:"host_id"`
	IP         string   `json:"ip"`
	DNS        string   `json:"dns,omitempty"`
	QIDs       []int64  `json:"qids"`
	Severities []int    `json:"severities"`
	Statuses   []string `json:"statuses"`
	Types      []string `json:"types"`
	Confirmed  bool     `json:"confirmed"`
	LastScan   string   `json:"last_scan,omitempty"`
	LastFound  string   `json:"last_found,omitempty"`
	Tags       []string `json:"tags,omitempty"`
	Stored     bool     `json:"stored_in_threatq"`
}

// operate runs the search for each CVE, prints the hosts and stores what
// the toggles ask for.
func operate(ctx context.Context, qc *qualys.Client, tc *threatq.Client, o options, q query, stdout io.Writer, logger *slog.Logger) error {
	var rows []row
	for _, cve := range q.cves {
		var hosts []*qualys.DetectionHost
		vq := &qualys.VulnerableHostsQuery{CVEs: []string{cve}, IPs: q.ips, FoundAfter: q.foundAfter, MinSeverity: q.minSeverity,
			AssetGroupIDs: q.groupIDs, AssetGroupTitles: q.groupTitles, Title: "qualysbridge threatq-operation",
			OnCleanupError: func(id int64, err error) {
				logger.Error("the Qualys search list could not be deleted; delete it by hand", "search_list_id", id, "error", err)
			}}
		for h, err := range qc.VulnerableHosts(ctx, vq) {
			if err != nil {
				return fmt.Errorf("searching Qualys for %s: %w", cve, err)
			}
			hosts = append(hosts, h)
		}
		logger.Info("vulnerable hosts found", "cve", cve, "hosts", len(hosts))
		stored := map[int64]bool{}
		if tc != nil && len(hosts) > 0 {
			var err error
			if stored, err = store(ctx, tc, o, cve, hosts, logger); err != nil {
				return &threatqError{fmt.Errorf("storing %s hosts in ThreatQ: %w", cve, err)}
			}
		}
		for _, h := range hosts {
			rows = append(rows, toRow(cve, h, stored[h.ID]))
		}
	}
	return print(stdout, rows, o.jsonOut)
}

func confirmed(h *qualys.DetectionHost) bool {
	for _, d := range h.Detections {
		if d.Type == "Confirmed" {
			return true
		}
	}
	return false
}

// store writes the selected hosts as Assets related to the CVE and tags the
// CVE when asked. It returns the host ids stored.
func store(ctx context.Context, tc *threatq.Client, o options, cve string, hosts []*qualys.DetectionHost, logger *slog.Logger) (map[int64]bool, error) {
	stored := map[int64]bool{}
	var selected []*qualys.DetectionHost
	for _, h := range hosts {
		if (o.addAssets && confirmed(h)) || (o.addDiscovered && !confirmed(h)) {
			selected = append(selected, h)
		}
	}
	if len(selected) == 0 && !o.addTags {
		return stored, nil
	}
	ind, err := tc.EnsureIndicator(ctx, threatq.Indicator{Type: "CVE", Value: cve, Sources: []threatq.Source{{Name: "Qualys"}}})
	if err != nil {
		return nil, err
	}
	var assets []threatq.Asset
	var ids []int64
	for _, h := range selected {
		a := mapping.ThreatQ(h, mapping.ThreatQOptions{IndicatorIDs: []int64{ind.ID}})
		if a.Value == "" {
			logger.Warn("host without an address not stored", "host_id", h.ID)
			continue
		}
		assets = append(assets, a)
		ids = append(ids, h.ID)
	}
	if len(assets) > 0 {
		if _, err := tc.UpsertAssets(ctx, assets); err != nil {
			return nil, err
		}
		for _, id := range ids {
			stored[id] = true
		}
	}
	if o.addTags {
		var tags []string
		for _, h := range hosts {
			for _, t := range h.Tags {
				tags = append(tags, t.Name)
			}
		}
		if err := tc.AddTags(ctx, "indicators", ind.ID, tags); err != nil {
			return nil, err
		}
	}
	logger.Info("stored in ThreatQ", "cve", cve, "indicator_id", ind.ID, "assets", len(assets))
	return stored, nil
}

func toRow(cve string, h *qualys.DetectionHost, stored bool) row {
	r := row{CVE: cve, HostID: h.ID, IP: firstNonEmpty(h.IP, h.IPv6), DNS: h.DNS, Confirmed: confirmed(h), Stored: stored}
	if !h.LastScan.IsZero() {
		r.LastScan = threatq.FormatTime(h.LastScan)
	}
	var last time.Time
	seen := map[string]bool{}
	for _, d := range h.Detections {
		if !seen["q"+strconv.FormatInt(d.QID, 10)] {
			seen["q"+strconv.FormatInt(d.QID, 10)] = true
			r.QIDs = append(r.QIDs, d.QID)
		}
		if !seen["s"+strconv.Itoa(d.Severity)] {
			seen["s"+strconv.Itoa(d.Severity)] = true
			r.Severities = append(r.Severities, d.Severity)
		}
		if !seen["t"+d.Status] {
			seen["t"+d.Status] = true
			r.Statuses = append(r.Statuses, d.Status)
		}
		if !seen["y"+d.Type] {
			seen["y"+d.Type] = true
			r.Types = append(r.Types, d.Type)
		}
		if d.LastFound.After(last) {
			last = d.LastFound
		}
	}
	if !last.IsZero() {
		r.LastFound = threatq.FormatTime(last)
	}
	for _, t := range h.Tags {
		r.Tags = append(r.Tags, t.Name)
	}
	return r
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

func print(w io.Writer, rows []row, asJSON bool) error {
	sort.SliceStable(rows, func(i, j int) bool {
		if rows[i].CVE != rows[j].CVE {
			return rows[i].CVE < rows[j].CVE
		}
		return rows[i].HostID < rows[j].HostID
	})
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if rows == nil {
			rows = []row{}
		}
		return enc.Encode(rows)
	}
	if len(rows) == 0 {
		_, err := fmt.Fprintln(w, "No vulnerable hosts found.")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CVE\tIP\tQIDS\tSEVERITIES\tSTATUS\tTYPE\tLAST SCAN\tLAST FOUND\tTHREATQ")
	for _, r := range rows {
		stored := "-"
		if r.Stored {
			stored = "stored"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.CVE, r.IP, joinInts(r.QIDs), joinInts(r.Severities), strings.Join(r.Statuses, ","),
			strings.Join(r.Types, ","), r.LastScan, r.LastFound, stored)
	}
	return tw.Flush()
}

func joinInts[T int | int64](v []T) string {
	var parts []string
	for _, x := range v {
		parts = append(parts, strconv.FormatInt(int64(x), 10))
	}
	return strings.Join(parts, ",")
}

// finish prints the error, if any, and returns the exit code.
func finish(err error, stderr io.Writer) int {
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(stderr, "threatq-operation:", err)
	var ue *usageError
	var te *threatqError
	var qe *qualys.Error
	var qd *qualys.DecodeError
	var ce *qualys.ConfigError
	switch {
	case errors.As(err, &ue), errors.As(err, &ce):
		return exitUsage
	case errors.As(err, &te):
		return exitThreatQ
	case errors.As(err, &qe), errors.As(err, &qd):
		return exitQualys
	}
	var ue2 *url.Error
	if errors.As(err, &ue2) {
		return exitQualys
	}
	return exitFailure
}
