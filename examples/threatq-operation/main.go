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
// Hosts a toggle left out are listed as "not stored" with the flag that
// would store them, in the table and in the summary. The flow itself is the
// tqsync package; this program parses flags, prints and sets the exit code.
//
// -asset_groups takes ids and titles, comma-separated: a number is an id,
// anything else a title; a title made of digits is written title:2024.
// Titles are resolved to ids (exactly) before the search, and hosts in any
// of the groups are kept.
//
// -ips takes IPv4 addresses, ranges (10.0.0.1-10.0.0.9), CIDR blocks
// (10.0.0.0/24, sent as the range) and IPv6 addresses; hosts matching any
// of them are kept.
//
// Secrets come from QUALYS_PASSWORD and THREATQ_PASSWORD (or
// THREATQ_CLIENT_SECRET), or from flags with a warning. -demo runs against
// in-process fakes with no credentials, with the toggles given.
//
// Exit codes: 0 success, 1 unexpected failure, 2 bad arguments, 3 Qualys
// failure, 4 ThreatQ failure; as the connector: 124 stopped by
// -max_run_time, 130/143 interrupted by SIGINT/SIGTERM.
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/qualysbridge/qualysbridge/examples/internal/cli"
	"github.com/qualysbridge/qualysbridge/mapping"
	"github.com/qualysbridge/qualysbridge/qualys"
	"github.com/qualysbridge/qualysbridge/threatq"
	"github.com/qualysbridge/qualysbridge/tqsync"
)

const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
	exitQualys  = 3
	exitThreatQ = 4
)

func main() {
	ctx, stop := cli.SignalContext(context.Background())
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

type options struct {
	cves                                                      string
	qualysURL, qualysHost, platform, username, qualysPassword string
	qualysPort                                                int
	verifySSL                                                 bool
	addDiscovered, addAssets, addTags, addScores              bool
	ips, foundAfter, assetGroups                              string
	minSeverity                                               int
	tqURL, tqClientID, tqEmail, tqPassword                    string
	tqSecret                                                  string
	jsonOut, debug, demo                                      bool
	logFormat                                                 string
	caFile                                                    string
	maxRetries                                                int
	maxRunTime                                                time.Duration
	recordDir, replayDir                                      string
	rec                                                       *cli.Recording
	qualysVersions                                            string
	sweep, keepRelations                                      bool
	sweepStatus, sweepTag, sweepUpdatedSince                  string
	sweepMinScore                                             float64
	cvesPerList                                               int
}

type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// errRunTime is the cause of a run stopped by -max_run_time.
var errRunTime = errors.New("the run took longer than -max_run_time and was stopped (Qualys or ThreatQ not answering?)")

// threatqError marks a failure on the ThreatQ side.
type threatqError struct{ err error }

func (e *threatqError) Error() string { return e.err.Error() }
func (e *threatqError) Unwrap() error { return e.err }

// query is the validated search.
type query struct {
	cves    []string
	filters tqsync.Filters
	// selection is the -sweep selection of CVE indicators in ThreatQ, when
	// -sweep is given without -cve.
	selection *threatq.IndicatorQuery
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	var o options
	fs, version := newFlags(&o, stderr)
	if err := cli.Parse(fs, args, stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if err := cli.Leftover(fs.Args()); err != nil {
		return finish(ctx, o, &usageError{err.Error()}, stdout, stderr)
	}
	if *version {
		cli.PrintVersion(stdout, "threatq-operation")
		return exitOK
	}
	if o.maxRetries < 0 {
		return finish(ctx, o, &usageError{"-max_retries must not be negative"}, stdout, stderr)
	}
	if o.maxRunTime <= 0 {
		return finish(ctx, o, &usageError{"-max_run_time must be positive"}, stdout, stderr)
	}
	ctx, cancel := context.WithTimeoutCause(ctx, o.maxRunTime, errRunTime)
	defer cancel()
	logger, err := cli.NewLogger(stderr, o.logFormat, o.debug)
	if err != nil {
		return finish(ctx, o, &usageError{err.Error()}, stdout, stderr)
	}
	if o.demo && o.cves == "" && !o.sweep {
		o.cves = demoCVE // -demo needs no argument
	}
	q, err := parseQuery(o)
	if err != nil {
		return finish(ctx, o, err, stdout, stderr)
	}
	if o.demo {
		return runDemo(ctx, o, q, stdout, stderr, logger)
	}
	qc, tc, err := clients(&o, getenv, logger)
	if err != nil {
		return finish(ctx, o, err, stdout, stderr)
	}
	err = operate(ctx, qc, tc, o, q, stdout, stderr, logger)
	if rerr := o.rec.Close(); rerr != nil {
		fmt.Fprintln(stderr, "threatq-operation: recording:", rerr)
		if err == nil {
			err = fmt.Errorf("recording: %w", rerr)
		}
	}
	return finish(ctx, o, err, stdout, stderr)
}

// newFlags defines the flags into o and the help; version is -version.
func newFlags(o *options, stderr io.Writer) (fs *flag.FlagSet, version *bool) {
	fs = flag.NewFlagSet("threatq-operation", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.cves, "cve", "", "CVE id(s) to search for, comma-separated (e.g. CVE-2019-17053)")
	fs.StringVar(&o.qualysURL, "qualys_url", "", "Qualys API server URL, as the other programs take it (e.g. https://qualysapi.qg3.apps.qualys.com); or -qualys_host and -qualys_port")
	fs.StringVar(&o.qualysHost, "qualys_host", "", "Qualys API hostname or URL (e.g. qualysapi.qg3.apps.qualys.com); the operation's name for -qualys_url")
	fs.IntVar(&o.qualysPort, "qualys_port", 443, "Qualys API port")
	fs.StringVar(&o.platform, "platform", "", "Qualys platform name (US1..KSA1), instead of -qualys_host")
	fs.StringVar(&o.username, "username", "", "Qualys user name")
	fs.StringVar(&o.qualysPassword, "password", "", "Qualys password (prefer QUALYS_PASSWORD)")
	fs.BoolVar(&o.verifySSL, "verify_ssl", true, "verify TLS certificates (for a private CA use -ca_file)")
	fs.StringVar(&o.qualysVersions, "qualys_versions", "", cli.VersionsFlagHelp)
	fs.StringVar(&o.recordDir, "record", "", "record the exchanges with Qualys and ThreatQ, secrets removed, into DIR (qualys.jsonl, threatq.jsonl)")
	fs.StringVar(&o.replayDir, "replay", "", "replay the exchanges recorded in DIR instead of calling Qualys and ThreatQ")
	fs.StringVar(&o.caFile, "ca_file", "", "PEM file of certificate authorities to trust besides the system's (a private ThreatQ or Qualys CA); also "+cli.CAFileEnv)
	fs.BoolVar(&o.addAssets, "add_assets", false, `"Add Assets to ThreatQ": store hosts with a confirmed detection as Assets related to the CVE`)
	fs.BoolVar(&o.addDiscovered, "add_discovered_assets", false, `"Add Discovered Assets to ThreatQ": also store hosts with only potential detections`)
	fs.BoolVar(&o.addTags, "add_tags_to_cves", false, `"Add Asset Tags to CVEs": tag the CVE indicator with its hosts' tags`)
	fs.BoolVar(&o.addScores, "add_scores", false, "add the QDS and TruRisk Score attributes to the Assets stored (current state; one Qualys Host List call per 500 hosts stored)")
	fs.StringVar(&o.ips, "ips", "", "only hosts with these addresses, comma-separated: IPv4 addresses, ranges a-b, CIDR blocks, IPv6 addresses")
	fs.StringVar(&o.foundAfter, "found_after", "", `only vulnerabilities found after this time, "YYYY-MM-DD HH:MM" (UTC)`)
	fs.IntVar(&o.minSeverity, "min_severity", 0, "only vulnerabilities of this severity or higher (1-5)")
	fs.StringVar(&o.assetGroups, "asset_groups", "", "only hosts in any of these asset groups, comma-separated: ids, titles, or title:NAME for a title made of digits")
	fs.StringVar(&o.tqURL, "threatq_url", "", "ThreatQ URL (e.g. https://threatq.example.com)")
	fs.StringVar(&o.tqClientID, "threatq_client_id", "", "ThreatQ OAuth client id")
	fs.StringVar(&o.tqEmail, "threatq_email", "", "ThreatQ user email (password grant; password from THREATQ_PASSWORD)")
	fs.StringVar(&o.tqPassword, "threatq_password", "", "ThreatQ password (prefer THREATQ_PASSWORD)")
	fs.StringVar(&o.tqSecret, "threatq_client_secret", "", "ThreatQ private client secret (prefer THREATQ_CLIENT_SECRET), instead of email and password")
	fs.BoolVar(&o.jsonOut, "json", false, "print the hosts as JSON instead of a table (on failure: {\"ok\": false, \"error\", \"exit_code\"})")
	fs.StringVar(&o.logFormat, "log_format", "text", "log format on stderr: "+cli.LogFormats+" (for log collectors)")
	fs.BoolVar(&o.debug, "d", false, "debug logging")
	fs.BoolVar(&o.demo, "demo", false, "run against in-process fakes (no credentials needed)")
	fs.IntVar(&o.maxRetries, "max_retries", 4, "retries of a Qualys or ThreatQ call: a refusal (429, a 409/503 with a wait, Qualys' limit codes) always; a call safe to repeat also on 5xx but 501 and on a refused, reset or timed-out connection; waiting as the server says or backing off")
	fs.DurationVar(&o.maxRunTime, "max_run_time", 2*time.Hour, "stop a run that takes longer than this (a Qualys or ThreatQ that stopped answering); the search list is still deleted")
	version = fs.Bool("version", false, "print the version and exit")
	fs.BoolVar(&o.sweep, "sweep", false, "sweep: search many CVEs with one Qualys search list per -cves_per_list, and keep ThreatQ's relations true (unrelate fixed hosts); the CVEs are -cve's, or the CVE indicators ThreatQ selects with the -sweep_* flags")
	fs.StringVar(&o.sweepStatus, "sweep_status", "", "with -sweep: only CVE indicators in these statuses, comma-separated (e.g. Active)")
	fs.Float64Var(&o.sweepMinScore, "sweep_min_score", 0, "with -sweep: only CVE indicators scored at least this")
	fs.StringVar(&o.sweepTag, "sweep_tag", "", "with -sweep: only CVE indicators with one of these tags, comma-separated")
	fs.StringVar(&o.sweepUpdatedSince, "sweep_updated_since", "", `with -sweep: only CVE indicators updated since this time, "YYYY-MM-DD HH:MM" (UTC)`)
	fs.BoolVar(&o.keepRelations, "keep_relations", false, "with -sweep: keep the relations of fixed hosts to their CVEs (history); by default they are removed, as ThreatQ's Qualys feed does")
	fs.IntVar(&o.cvesPerList, "cves_per_list", tqsync.DefaultCVEsPerList, "with -sweep: CVEs searched with one Qualys search list")
	fs.Usage = cli.Help{
		Name: "threatq-operation",
		Summary: "The ThreatQ operation \"Search for Vulnerable Hosts\": for each CVE, lists the Qualys hosts vulnerable to it (through a\n" +
			"dynamic search list that is always deleted) and, as the toggles say, stores them in ThreatQ as Assets related to the CVE.",
		Groups: []cli.Group{
			{Title: "Search", Flags: []string{"cve", "ips", "found_after", "min_severity", "asset_groups"}},
			{Title: "Qualys", Flags: []string{"qualys_url", "qualys_host", "qualys_port", "platform", "username", "password", "qualys_versions"}},
			{Title: "ThreatQ toggles", Flags: []string{"add_assets", "add_discovered_assets", "add_tags_to_cves", "add_scores"}},
			{Title: "Sweep (many CVEs, relations follow remediation)", Flags: []string{"sweep", "sweep_status", "sweep_min_score", "sweep_tag", "sweep_updated_since", "keep_relations", "cves_per_list"}},
			{Title: "ThreatQ", Flags: []string{"threatq_url", "threatq_client_id", "threatq_email", "threatq_password", "threatq_client_secret"}},
			{Title: "Run", Flags: []string{"json", "log_format", "d", "max_retries", "max_run_time", "version"}},
			{Title: "TLS", Flags: []string{"verify_ssl", "ca_file"}},
			{Title: "Recorded fixtures", Flags: []string{"record", "replay"}},
			{Title: "Demo (in-process fakes, no credentials)", Flags: []string{"demo"}},
		},
		Env: []string{"QUALYS_PASSWORD        Qualys password", "THREATQ_PASSWORD       ThreatQ user password (password grant)",
			"THREATQ_CLIENT_SECRET  ThreatQ private client secret (client-credentials grant)", cli.CAFileEnv + "   CA certificates to trust (-ca_file)"},
		Exit: []string{"0    success", "1    unexpected failure", "2    bad arguments", "3    Qualys failure", "4    ThreatQ failure",
			"124  stopped by -max_run_time", "130, 143  interrupted by SIGINT, SIGTERM"},
	}.Usage(fs, stderr)
	return fs, version
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
	selecting := o.sweepStatus != "" || o.sweepMinScore != 0 || o.sweepTag != "" || o.sweepUpdatedSince != ""
	switch {
	case !o.sweep && (selecting || o.keepRelations || o.cvesPerList != tqsync.DefaultCVEsPerList):
		return q, &usageError{"-sweep_status, -sweep_min_score, -sweep_tag, -sweep_updated_since, -keep_relations and -cves_per_list need -sweep"}
	case o.sweep && len(q.cves) > 0 && selecting:
		return q, &usageError{"-sweep takes its CVEs from -cve or from ThreatQ with the -sweep_* flags, not both"}
	case o.sweep && o.cvesPerList < 1:
		return q, &usageError{"-cves_per_list must be at least 1"}
	case o.sweep && o.sweepMinScore < 0:
		return q, &usageError{"-sweep_min_score must not be negative"}
	case o.sweep && len(q.cves) == 0:
		q.selection = &threatq.IndicatorQuery{Type: "CVE", Statuses: splitList(o.sweepStatus), MinScore: o.sweepMinScore, Tags: splitList(o.sweepTag)}
		if o.sweepUpdatedSince != "" {
			t, err := time.Parse("2006-01-02 15:04", strings.TrimSpace(o.sweepUpdatedSince))
			if err != nil {
				return q, &usageError{fmt.Sprintf(`-sweep_updated_since %q: want "YYYY-MM-DD HH:MM"`, o.sweepUpdatedSince)}
			}
			q.selection.UpdatedSince = t.UTC()
		}
	case len(q.cves) == 0:
		return q, &usageError{"-cve is required (e.g. -cve CVE-2019-17053), or -sweep"}
	}
	q.filters.IPs = splitList(o.ips)
	if _, _, err := qualys.SplitIPFilters(q.filters.IPs); err != nil {
		var ce *qualys.ConfigError
		if errors.As(err, &ce) {
			return q, &usageError{"-ips: " + ce.Reason}
		}
		return q, &usageError{err.Error()}
	}
	if o.foundAfter != "" {
		t, err := time.Parse("2006-01-02 15:04", strings.TrimSpace(o.foundAfter))
		if err != nil {
			return q, &usageError{fmt.Sprintf(`-found_after %q: want "YYYY-MM-DD HH:MM"`, o.foundAfter)}
		}
		q.filters.FoundAfter = t.UTC()
	}
	if o.minSeverity < 0 || o.minSeverity > 5 {
		return q, &usageError{"-min_severity must be 1-5"}
	}
	q.filters.MinSeverity = o.minSeverity
	for _, g := range splitList(o.assetGroups) {
		if title, ok := strings.CutPrefix(g, "title:"); ok {
			q.filters.AssetGroupTitles = append(q.filters.AssetGroupTitles, title)
		} else if id, err := strconv.ParseInt(g, 10, 64); err == nil && id > 0 {
			q.filters.AssetGroupIDs = append(q.filters.AssetGroupIDs, id)
		} else {
			q.filters.AssetGroupTitles = append(q.filters.AssetGroupTitles, g)
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

func clients(o *options, getenv func(string) string, logger *slog.Logger) (*qualys.Client, *threatq.Client, error) {
	qpass, tqpass, tqsecret := secretsFrom(o, getenv, logger)
	apiURL, err := qualysURL(o)
	if err != nil {
		return nil, nil, err
	}
	if o.replayDir != "" {
		// A replay answers from the recording: no credentials are needed,
		// and the servers are placeholders unless named.
		apiURL = cmp.Or(apiURL, "https://qualys.example")
		o.username = cmp.Or(o.username, "replay")
		qpass = cmp.Or(qpass, "replay-only")
		if o.addAssets || o.addDiscovered || o.addTags {
			o.tqURL = cmp.Or(o.tqURL, "https://threatq.example")
			o.tqClientID = cmp.Or(o.tqClientID, "replay")
			if tqsecret == "" && (o.tqEmail == "" || tqpass == "") {
				tqsecret = "replay-only"
			}
		}
	}
	if o.sweep && !o.addAssets && !o.addDiscovered && !o.addTags {
		// A sweep writes to ThreatQ only what the toggles say; with none
		// it would write nothing, and that is not what -sweep is for.
		return nil, nil, &usageError{"-sweep stores, updates and unrelates Assets as the toggles say, and none is on: give -add_assets (hosts with a confirmed detection; also -add_discovered_assets for potential ones, -add_tags_to_cves for the CVE's tags)"}
	}
	if o.addScores && !o.addAssets && !o.addDiscovered {
		return nil, nil, &usageError{"-add_scores adds attributes to the Assets stored, and none is: give -add_assets (or -add_discovered_assets) too"}
	}
	var missing []string
	for _, m := range []struct{ v, name string }{{apiURL, "-qualys_url (or -qualys_host, or -platform)"}, {o.username, "-username"}, {qpass, "QUALYS_PASSWORD"}} {
		if m.v == "" {
			missing = append(missing, m.name)
		}
	}
	storing := o.addAssets || o.addDiscovered || o.addTags
	if storing || o.sweep {
		if o.tqURL == "" {
			missing = append(missing, "-threatq_url (the add toggles and -sweep use ThreatQ)")
		}
		if o.tqClientID == "" {
			missing = append(missing, "-threatq_client_id (the ThreatQ OAuth client)")
		}
		if tqsecret == "" {
			if o.tqEmail == "" {
				missing = append(missing, "-threatq_email (or THREATQ_CLIENT_SECRET for a private client)")
			}
			if tqpass == "" {
				missing = append(missing, "THREATQ_PASSWORD (or THREATQ_CLIENT_SECRET for a private client)")
			}
		}
	}
	if len(missing) > 0 {
		return nil, nil, &usageError{"missing " + strings.Join(missing, ", ")}
	}
	hc, err := cli.HTTPClient(cli.CAFile(o.caFile, getenv), o.verifySSL, logger)
	if err != nil {
		return nil, nil, &usageError{err.Error()}
	}
	rec, err := cli.NewRecording(o.recordDir, o.replayDir)
	if err != nil {
		return nil, nil, &usageError{err.Error()}
	}
	o.rec = rec
	qhc, err := rec.Client("qualys", hc, []string{apiURL}, qpass)
	if err != nil {
		return nil, nil, &usageError{err.Error()}
	}
	vopts, err := cli.VersionOptions(o.qualysVersions)
	if err != nil {
		return nil, nil, &usageError{err.Error()}
	}
	qc, err := qualys.NewClient(apiURL, append([]qualys.Option{qualys.WithCredentials(o.username, qpass), qualys.WithHTTPClient(qhc), qualys.WithLogger(logger),
		qualys.WithRetry(o.maxRetries+1, 5*time.Minute)}, vopts...)...)
	if err != nil {
		return nil, nil, &usageError{err.Error()}
	}
	if !storing {
		return qc, nil, nil
	}
	auth := threatq.WithPasswordGrant(threatq.PasswordGrant{ClientID: o.tqClientID, Email: o.tqEmail, Password: tqpass})
	if tqsecret != "" {
		auth = threatq.WithClientCredentials(o.tqClientID, tqsecret)
	}
	thc, err := rec.Client("threatq", hc, []string{o.tqURL}, tqpass, tqsecret)
	if err != nil {
		return nil, nil, &usageError{err.Error()}
	}
	tc, err := threatq.NewClient(o.tqURL, auth, threatq.WithHTTPClient(thc), threatq.WithLogger(logger), threatq.WithRetry(o.maxRetries+1, time.Minute))
	if err != nil {
		return nil, nil, &usageError{err.Error()}
	}
	return qc, tc, nil
}

// secretsFrom takes the Qualys password and the ThreatQ password or client
// secret from the flags (with a warning) or the environment.
func secretsFrom(o *options, getenv func(string) string, logger *slog.Logger) (qpass, tqpass, tqsecret string) {
	sec := &cli.Secrets{Getenv: getenv}
	qpass = sec.Get(o.qualysPassword, "-password", "QUALYS_PASSWORD")
	tqpass = sec.Get(o.tqPassword, "-threatq_password", "THREATQ_PASSWORD")
	tqsecret = sec.Get(o.tqSecret, "-threatq_client_secret", "THREATQ_CLIENT_SECRET")
	sec.Warn(logger)
	return qpass, tqpass, tqsecret
}

// qualysURL is the Qualys API URL from -platform or -qualys_host and
// -qualys_port ("" when neither is given).
func qualysURL(o *options) (string, error) {
	switch {
	case o.qualysURL != "" && (o.qualysHost != "" || o.platform != ""):
		return "", &usageError{"-qualys_url, -qualys_host and -platform name the same server: give one"}
	case o.qualysURL != "":
		u := strings.TrimSuffix(strings.TrimSpace(o.qualysURL), "/")
		if !strings.Contains(u, "://") {
			u = "https://" + u
		}
		return u, nil
	case o.platform != "":
		u, _, err := qualys.Platform(o.platform)
		if err != nil {
			return "", &usageError{err.Error()}
		}
		return u, nil
	case o.qualysHost != "":
		host := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(o.qualysHost, "https://"), "http://"), "/")
		if strings.ContainsAny(host, "/:@ ") {
			return "", &usageError{fmt.Sprintf("-qualys_host %q: want a hostname such as qualysapi.qualys.com (the port goes in -qualys_port)", o.qualysHost)}
		}
		if o.qualysPort <= 0 || o.qualysPort > 65535 {
			return "", &usageError{"-qualys_port must be 1-65535"}
		}
		if o.qualysPort != 443 {
			return "https://" + host + ":" + strconv.Itoa(o.qualysPort), nil
		}
		return "https://" + host, nil
	}
	return "", nil
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
	// NotStored says why a host was not stored: the flag that would
	// store it, or why none can.
	NotStored string `json:"not_stored,omitempty"`
}

// toggleFlag is the flag of each toggle a left-out host needs.
var toggleFlag = map[tqsync.Toggle]string{
	tqsync.ToggleAddAssets:           "-add_assets",
	tqsync.ToggleAddDiscoveredAssets: "-add_discovered_assets",
}

// output is what -json prints: one JSON document.
type output struct {
	Hosts   []row           `json:"hosts"`
	Summary *tqsync.Summary `json:"summary"`
	Toggles []string        `json:"toggles_on"`
}

// operate runs the operation through tqsync and prints its hosts (as a
// table, streamed, or as one JSON document) and a summary that names what
// was not stored and which flag would store it.
func operate(ctx context.Context, qc *qualys.Client, tc *threatq.Client, o options, q query, stdout, stderr io.Writer, logger *slog.Logger) error {
	if o.sweep {
		return sweep(ctx, qc, tc, o, q, stdout, stderr, logger)
	}
	toggles := tqsync.Toggles{AddAssets: o.addAssets, AddDiscoveredAssets: o.addDiscovered, AddTagsToCVEs: o.addTags, AddScores: o.addScores}
	var rows []row
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	header := false
	cfg := tqsync.Config{Qualys: qc, ThreatQ: tc, CVEs: q.cves, Filters: q.filters, Toggles: toggles,
		Title: "qualysbridge threatq-operation", Logger: logger,
		OnHost: func(h tqsync.Host) {
			r := toRow(h)
			if o.jsonOut {
				rows = append(rows, r)
				return
			}
			if !header {
				fmt.Fprintln(tw, "CVE\tIP\tQIDS\tSEVERITIES\tSTATUS\tTYPE\tLAST SCAN\tLAST FOUND\tTHREATQ")
				header = true
			}
			stored := "stored"
			if !r.Stored {
				stored = "not stored (" + r.NotStored + ")"
			}
			// Every cell is cleaned: a tab or newline a server sent cannot
			// forge a column or a row.
			c := cli.Cell
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c(r.CVE), c(r.IP), joinInts(r.QIDs), joinInts(r.Severities), c(strings.Join(r.Statuses, ",")),
				c(strings.Join(r.Types, ",")), c(r.LastScan), c(r.LastFound), c(stored))
		}}
	sum, err := tqsync.Run(ctx, cfg)
	if o.jsonOut {
		if rows == nil {
			rows = []row{}
		}
		if sum != nil && err == nil {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			if werr := enc.Encode(output{Hosts: rows, Summary: sum, Toggles: togglesOn(o)}); werr != nil {
				return werr
			}
		}
	} else {
		if !header && err == nil {
			fmt.Fprintln(tw, "No vulnerable hosts found.")
		}
		tw.Flush()
	}
	if sum != nil && err == nil {
		printSummary(stderr, sum, o)
	}
	var se *tqsync.StoreError
	if errors.As(err, &se) {
		return &threatqError{err}
	}
	return err
}

// hostIP is the host's address as Qualys gave it when it is a valid IPv4
// or IPv6 address (normalized), else "invalid:" and the text, escaped.
func hostIP(d *qualys.DetectionHost) string {
	raw := cmp.Or(d.IP, d.IPv6)
	for _, s := range []string{d.IP, d.IPv6} {
		if a, err := netip.ParseAddr(strings.TrimSpace(s)); err == nil {
			return a.Unmap().String()
		}
	}
	if raw == "" {
		return ""
	}
	return "invalid:" + cli.Cell(raw)
}

// togglesOn names the toggles given, by flag.
func togglesOn(o options) []string {
	on := []string{}
	for _, t := range []struct {
		on   bool
		name string
	}{{o.addAssets, "-add_assets"}, {o.addDiscovered, "-add_discovered_assets"}, {o.addTags, "-add_tags_to_cves"}, {o.addScores, "-add_scores"}} {
		if t.on {
			on = append(on, t.name)
		}
	}
	return on
}

// printSummary says, per CVE, what was found, what was stored, and which
// flag would store what was not.
func printSummary(w io.Writer, sum *tqsync.Summary, o options) {
	on := togglesOn(o)
	if len(on) == 0 {
		on = []string{"none (nothing is written to ThreatQ)"}
	}
	fmt.Fprintf(w, "toggles on: %s\n", strings.Join(on, ", "))
	for _, c := range sum.CVEs {
		fmt.Fprintf(w, "%s: %s (%d confirmed, %d potential only), %d stored in ThreatQ\n", c.CVE, cli.Count(c.Hosts, "vulnerable host", "vulnerable hosts"), c.Confirmed, c.PotentialOnly, c.Stored)
		if c.NotStoredConfirmed > 0 {
			fmt.Fprintf(w, "  %s with a confirmed detection not stored: -add_assets stores them\n", cli.Count(c.NotStoredConfirmed, "host", "hosts"))
		}
		if c.NotStoredPotential > 0 {
			fmt.Fprintf(w, "  %s with only potential detections not stored: -add_discovered_assets stores them\n", cli.Count(c.NotStoredPotential, "host", "hosts"))
		}
		if c.NotStorable > 0 {
			fmt.Fprintf(w, "  %s without a valid IP address cannot be stored as Assets\n", cli.Count(c.NotStorable, "host", "hosts"))
		}
	}
}

func toRow(h tqsync.Host) row {
	d := h.Detection
	r := row{CVE: h.CVE, HostID: d.ID, IP: hostIP(d), DNS: d.DNS, Confirmed: h.Confirmed, Stored: h.Stored}
	switch {
	case h.NotStorable != "":
		r.NotStored = h.NotStorable
	case h.NeedsToggle != "":
		r.NotStored = toggleFlag[h.NeedsToggle] + " stores it"
	}
	if !d.LastScan.IsZero() {
		r.LastScan = d.LastScan.UTC().Format(mapping.AttributeTimeLayout)
	}
	var last time.Time
	for _, x := range d.Detections {
		if !slices.Contains(r.QIDs, x.QID) {
			r.QIDs = append(r.QIDs, x.QID)
		}
		if !slices.Contains(r.Severities, x.Severity) {
			r.Severities = append(r.Severities, x.Severity)
		}
		if !slices.Contains(r.Statuses, string(x.Status)) {
			r.Statuses = append(r.Statuses, string(x.Status))
		}
		if !slices.Contains(r.Types, string(x.Type)) {
			r.Types = append(r.Types, string(x.Type))
		}
		if x.LastFound.After(last) {
			last = x.LastFound
		}
	}
	if !last.IsZero() {
		r.LastFound = last.UTC().Format(mapping.AttributeTimeLayout)
	}
	for _, t := range d.Tags {
		r.Tags = append(r.Tags, t.Name)
	}
	return r
}

func joinInts[T int | int64](v []T) string {
	var parts []string
	for _, x := range v {
		parts = append(parts, strconv.FormatInt(int64(x), 10))
	}
	return strings.Join(parts, ",")
}

// finish prints the error, if any, and returns the exit code.
func finish(ctx context.Context, o options, err error, stdout, stderr io.Writer) int {
	if err == nil {
		return exitOK
	}
	code := exitCode(ctx, err)
	switch {
	case code == cli.ExitSIGINT || code == cli.ExitSIGTERM:
		err = fmt.Errorf("%v: the run stopped; the hosts stored so far stay in ThreatQ and the search list was deleted (or the error says which to delete): %w", cli.Interruption(ctx), err)
	case code == cli.ExitRunTime:
		err = fmt.Errorf("%w (%s): %w", errRunTime, o.maxRunTime, err)
	}
	fmt.Fprintln(stderr, "threatq-operation:", cli.Explain(err.Error()))
	for _, advice := range []string{cli.CertificateAdvice(err), cli.LoginHint(err)} {
		if advice != "" {
			fmt.Fprintln(stderr, "threatq-operation:", advice)
		}
	}
	if o.jsonOut {
		cli.WriteFailureJSON(stdout, code, err, nil)
	}
	return code
}

// exitCode maps an error to the program's exit code.
func exitCode(ctx context.Context, err error) int {
	var ue *usageError
	var te *threatqError
	var ce *qualys.ConfigError
	var tce *tqsync.ConfigError
	switch {
	case cli.Interruption(ctx) != nil:
		return cli.Interruption(ctx).Code()
	case errors.Is(context.Cause(ctx), errRunTime):
		return cli.ExitRunTime
	case errors.As(err, &ue), errors.As(err, &ce), errors.As(err, &tce):
		return exitUsage
	case errors.As(err, &te):
		return exitThreatQ
	case cli.ClassifyQualys(err) != cli.NotQualys:
		return exitQualys
	}
	var ue2 *url.Error
	if errors.As(err, &ue2) {
		return exitQualys
	}
	return exitFailure
}

// sweepOutput is -sweep's -json document.
type sweepOutput struct {
	Summary     *tqsync.SweepSummary `json:"summary"`
	QualysCalls int64                `json:"qualys_calls"`
	Toggles     []string             `json:"toggles_on"`
}

// sweep runs tqsync.Sweep and reports per CVE: hosts vulnerable, stored,
// fixed, unrelated, and the run's Qualys calls.
func sweep(ctx context.Context, qc *qualys.Client, tc *threatq.Client, o options, q query, stdout, stderr io.Writer, logger *slog.Logger) error {
	if tc == nil {
		return &usageError{"-sweep needs ThreatQ (-threatq_url and its credentials): it reads or keeps true the CVEs' relations there"}
	}
	toggles := tqsync.Toggles{AddAssets: o.addAssets, AddDiscoveredAssets: o.addDiscovered, AddTagsToCVEs: o.addTags, AddScores: o.addScores}
	cfg := tqsync.SweepConfig{
		Config: tqsync.Config{Qualys: qc, ThreatQ: tc, CVEs: q.cves, Filters: q.filters, Toggles: toggles,
			Title: "qualysbridge threatq-operation sweep", Logger: logger},
		CVEsPerList: o.cvesPerList, Select: q.selection, KeepRelations: o.keepRelations,
	}
	total := func() int64 {
		var n int64
		for _, c := range qc.Calls() {
			n += c
		}
		return n
	}
	before := total()
	sum, err := tqsync.Sweep(ctx, cfg)
	calls := total() - before
	if err == nil {
		if o.jsonOut {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			if werr := enc.Encode(sweepOutput{Summary: sum, QualysCalls: calls, Toggles: togglesOn(o)}); werr != nil {
				return werr
			}
		} else {
			tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
			if len(sum.CVEs) == 0 {
				fmt.Fprintln(tw, "No CVE selected.")
			} else {
				fmt.Fprintln(tw, "CVE\tVULNERABLE\tSTORED\tFIXED\tUNRELATED")
			}
			for _, c := range sum.CVEs {
				fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\n", cli.Cell(c.CVE), c.Hosts, c.Stored, c.Fixed, c.Unrelated)
			}
			tw.Flush()
		}
		relations := "relations of fixed hosts removed"
		if o.keepRelations {
			relations = "relations kept (-keep_relations)"
		}
		fmt.Fprintf(stderr, "sweep: %s, %s, %d Qualys calls, %s (up to %d CVEs each); %s\n", cli.Count(len(sum.CVEs), "CVE", "CVEs"),
			cli.Count(sum.Hosts, "vulnerable host", "vulnerable hosts"), calls, cli.Count(sum.SearchLists, "search list", "search lists"),
			o.cvesPerList, relations)
		if sum.SkippedIndicators > 0 {
			fmt.Fprintf(stderr, "sweep: %s selected in ThreatQ skipped: their value is not a CVE id\n", cli.Count(sum.SkippedIndicators, "indicator", "indicators"))
		}
	}
	var se *tqsync.StoreError
	if errors.As(err, &se) {
		return &threatqError{err}
	}
	return err
}
