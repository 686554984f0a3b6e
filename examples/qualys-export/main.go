// Command qualys-export streams Qualys data to JSON Lines on stdout: host
// assets, detections, KnowledgeBase entries or gateway applications, from
// the API (optionally only what changed since a time) or, for detections,
// from a saved Host List Detection XML file. Memory stays per record
// whatever the size of the export; a count summary goes to stderr.
//
//	qualys-export -type detections -platform US3 -username apiuser -since 2026-03-01 > detections.jsonl
//	qualys-export -type detections -file saved_detections.xml > detections.jsonl
//	qualys-export -type hostassets -demo | head
//	qualys-export -type hosts -demo | head      # VM hosts with TruRisk, criticality and risk scores
//
// The password comes from QUALYS_PASSWORD (or -password, with a warning).
// Exit codes: 0 success, 1 failure, 2 bad arguments, 3 Qualys failure.
package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/qualysbridge/qualysbridge/examples/internal/cli"
	"github.com/qualysbridge/qualysbridge/qualys"
	"github.com/qualysbridge/qualysbridge/qualys/qualystest"
)

const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
	exitQualys  = 3
)

func main() {
	ctx, stop := cli.SignalContext(context.Background())
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// exportFlags are the program's flags.
type exportFlags struct {
	typ       *string
	apiURL    *string
	platform  *string
	gateway   *string
	username  *string
	password  *string
	sinceFlag *string
	file      *string
	qidsFlag  *string
	verify    *bool
	versions  *string
	recordDir *string
	replayDir *string
	caFile    *string
	demo      *bool
	debug     *bool
	retries   *int
	version   *bool
}

// newFlags defines the flags and the help.
func newFlags(stderr io.Writer) (*flag.FlagSet, *exportFlags) {
	fs := flag.NewFlagSet("qualys-export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f := &exportFlags{}
	f.typ = fs.String("type", "detections", "what to export: hostassets, hosts (VM hosts with TruRisk and criticality), detections, kb or applications")
	f.apiURL = fs.String("qualys_url", "", "Qualys API server URL")
	f.platform = fs.String("platform", "", "Qualys platform name (US1..KSA1), instead of -qualys_url and -qualys_gateway")
	f.gateway = fs.String("qualys_gateway", "", "Qualys gateway URL (for -type applications)")
	f.username = fs.String("username", "", "Qualys user name")
	f.password = fs.String("password", "", "Qualys password (prefer QUALYS_PASSWORD)")
	f.sinceFlag = fs.String("since", "", "only what changed since this time (RFC 3339 or YYYY-MM-DD, UTC)")
	f.file = fs.String("file", "", "decode this saved detection XML file instead of calling the API (-type detections)")
	f.qidsFlag = fs.String("qids", "", "QIDs for -type kb, comma-separated (default: the whole KnowledgeBase, filtered by -since)")
	f.verify = fs.Bool("verify_ssl", true, "verify TLS certificates (for a private CA use -ca_file)")
	f.versions = fs.String("qualys_versions", "", cli.VersionsFlagHelp)
	f.recordDir = fs.String("record", "", "record the exchanges with Qualys, secrets removed, into DIR (qualys.jsonl)")
	f.replayDir = fs.String("replay", "", "replay the exchanges recorded in DIR instead of calling Qualys")
	f.caFile = fs.String("ca_file", "", "PEM file of certificate authorities to trust besides the system's; also "+cli.CAFileEnv)
	f.demo = fs.Bool("demo", false, "export from an in-process fake Qualys (no credentials needed)")
	f.debug = fs.Bool("d", false, "debug logging")
	f.retries = fs.Int("max_retries", 4, "retries of a Qualys call: a refusal (429, a 409/503 with a wait, Qualys' limit codes), and, the calls being reads, 5xx but 501 and a refused, reset or timed-out connection; waiting as the server says or backing off")
	f.version = fs.Bool("version", false, "print the version and exit")
	fs.Usage = cli.Help{
		Name:    "qualys-export",
		Summary: "Streams Qualys host assets, detections, KnowledgeBase entries or applications as JSON Lines on stdout\n(one JSON object a line, snake_case fields), from the API or from a saved file.",
		Groups: []cli.Group{
			{Title: "What", Flags: []string{"type", "since", "qids", "file"}},
			{Title: "Qualys", Flags: []string{"qualys_url", "platform", "qualys_gateway", "username", "password", "qualys_versions"}},
			{Title: "Run", Flags: []string{"d", "max_retries", "version"}},
			{Title: "TLS", Flags: []string{"verify_ssl", "ca_file"}},
			{Title: "Recorded fixtures", Flags: []string{"record", "replay"}},
			{Title: "Demo (in-process fake, no credentials)", Flags: []string{"demo"}},
		},
		Env:  []string{"QUALYS_PASSWORD        Qualys password", cli.CAFileEnv + "   CA certificates to trust (-ca_file)"},
		Exit: []string{"0    success", "1    unexpected failure", "2    bad arguments", "3    Qualys failure", "130, 143  interrupted by SIGINT, SIGTERM (the records written so far are complete lines)"},
	}.Usage(fs, stderr)
	return fs, f
}

// failer reports an error on stderr, with advice for certificate
// failures and refused logins, and maps it to its exit code.
func failer(ctx context.Context, stderr io.Writer) func(error) int {
	return func(err error) int {
		if i := cli.Interruption(ctx); i != nil {
			fmt.Fprintf(stderr, "qualys-export: %v: stopped; the records written so far are complete lines\n", i)
			return i.Code()
		}
		fmt.Fprintln(stderr, "qualys-export:", cli.Explain(err.Error()))
		for _, advice := range []string{cli.CertificateAdvice(err), cli.LoginHint(err)} {
			if advice != "" {
				fmt.Fprintln(stderr, "qualys-export:", advice)
			}
		}
		var ue *usageError
		var ce *qualys.ConfigError
		switch {
		case errors.As(err, &ue), errors.As(err, &ce):
			return exitUsage
		case cli.ClassifyQualys(err) != cli.NotQualys:
			return exitQualys
		}
		return exitFailure
	}
}

// parseQIDs reads -qids.
func parseQIDs(list string) ([]int64, error) {
	var qids []int64
	for _, p := range strings.Split(list, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		n, err := strconv.ParseInt(p, 10, 64)
		if err != nil || n <= 0 {
			return nil, &usageError{fmt.Sprintf("-qids: %q is not a QID", p)}
		}
		qids = append(qids, n)
	}
	return qids, nil
}

// exportType streams one kind of record to out as JSON Lines.
func exportType(ctx context.Context, out io.Writer, c *qualys.Client, typ string, since time.Time, qids []int64) (int, error) {
	switch typ {
	case "hostassets":
		return export(out, c.HostAssets.List(ctx, &qualys.HostAssetQuery{UpdatedSince: since}))
	case "detections":
		q := &qualys.DetectionQuery{ShowTags: qualys.Bool(true), ShowQDS: qualys.Bool(true)}
		if !since.IsZero() {
			q.DetectionUpdatedSince = since
			q.Status = []qualys.DetectionStatus{qualys.StatusNew, qualys.StatusActive, qualys.StatusReOpened, qualys.StatusFixed}
		}
		return export(out, c.Detections.List(ctx, q))
	case "kb":
		return export(out, c.KnowledgeBase.List(ctx, &qualys.KnowledgeBaseQuery{QIDs: qids, LastModifiedAfter: since}))
	case "applications":
		return export(out, c.Assets.List(ctx, &qualys.AssetQuery{UpdatedSince: since}))
	case "hosts":
		yes := qualys.Bool(true)
		return export(out, c.Hosts.List(ctx, &qualys.HostQuery{ShowTruRisk: yes, ShowTruRiskFactors: yes, ShowARS: yes,
			ShowAssetID: yes, ShowTags: yes, VMProcessedAfter: since}))
	}
	return 0, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	fs, f := newFlags(stderr)
	if err := cli.Parse(fs, args, stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if err := cli.Leftover(fs.Args()); err != nil {
		return failer(ctx, stderr)(&usageError{err.Error()})
	}
	if *f.version {
		cli.PrintVersion(stdout, "qualys-export")
		return exitOK
	}
	level := slog.LevelInfo
	if *f.debug {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	fail := failer(ctx, stderr)
	var since time.Time
	if *f.sinceFlag != "" {
		var err error
		if since, err = parseSince(*f.sinceFlag); err != nil {
			return fail(err)
		}
	}
	qids, err := parseQIDs(*f.qidsFlag)
	if err != nil {
		return fail(err)
	}
	switch *f.typ {
	case "hostassets", "hosts", "detections", "kb", "applications":
	default:
		return fail(&usageError{fmt.Sprintf("-type %q: want hostassets, hosts, detections, kb or applications", *f.typ)})
	}
	out := bufio.NewWriterSize(stdout, 64<<10)
	defer out.Flush()
	start := time.Now()

	if *f.file != "" {
		if *f.typ != "detections" {
			return fail(&usageError{"-file decodes saved detection XML; use it with -type detections"})
		}
		in, err := os.Open(*f.file)
		if err != nil {
			return fail(&usageError{err.Error()})
		}
		defer in.Close()
		n, err := export(out, qualys.DecodeDetections(in))
		return summary(stderr, n, *f.typ, start, nil, err, fail)
	}

	var c *qualys.Client
	if *f.demo {
		srv := qualystest.NewServer(qualystest.WithTenant(qualystest.Generate(1, 50)))
		defer srv.Close()
		user, pass := srv.Credentials()
		c, err = qualys.NewClient(srv.URL, qualys.WithCredentials(user, pass), qualys.WithGateway(srv.GatewayURL), qualys.WithInsecureLoopback(), qualys.WithLogger(logger))
	} else {
		var rec *cli.Recording
		if rec, err = cli.NewRecording(*f.recordDir, *f.replayDir); err != nil {
			fmt.Fprintln(stderr, "qualys-export:", cli.Explain(err.Error()))
			return exitUsage
		}
		defer func() {
			if err := rec.Close(); err != nil {
				fmt.Fprintln(stderr, "qualys-export: recording:", err)
			}
		}()
		c, err = client(*f.apiURL, *f.platform, *f.gateway, *f.username, *f.password, cli.CAFile(*f.caFile, getenv), *f.verify, *f.retries, rec, *f.versions, getenv, logger)
	}
	if err != nil {
		return fail(err)
	}
	n, err := exportType(ctx, out, c, *f.typ, since, qids)
	return summary(stderr, n, *f.typ, start, c, err, fail)
}

func parseSince(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, &usageError{fmt.Sprintf("-since %q: want RFC 3339 (2026-03-01T00:00:00Z) or YYYY-MM-DD", s)}
}

func client(apiURL, platform, gateway, user, pass, caFile string, verify bool, retries int, rec *cli.Recording, versions string, getenv func(string) string, logger *slog.Logger) (*qualys.Client, error) {
	if retries < 0 {
		return nil, &usageError{"-max_retries must not be negative"}
	}
	sec := &cli.Secrets{Getenv: getenv}
	pass = sec.Get(pass, "-password", "QUALYS_PASSWORD")
	sec.Warn(logger)
	if platform != "" {
		a, g, err := qualys.Platform(platform)
		if err != nil {
			return nil, err
		}
		if apiURL == "" {
			apiURL = a
		}
		if gateway == "" {
			gateway = g
		}
	}
	if rec != nil && rec.Replay {
		// A replay answers from the recording: no credentials needed.
		apiURL = cmp.Or(apiURL, "https://qualys.example")
		user, pass = cmp.Or(user, "replay"), cmp.Or(pass, "replay-only")
	}
	if apiURL == "" || user == "" || pass == "" {
		return nil, &usageError{"need -qualys_url (or -platform), -username and QUALYS_PASSWORD (or -demo, or -file)"}
	}
	hc, err := cli.HTTPClient(caFile, verify, logger)
	if err != nil {
		return nil, &usageError{err.Error()}
	}
	if hc, err = rec.Client("qualys", hc, []string{apiURL, gateway}, pass); err != nil {
		return nil, &usageError{err.Error()}
	}
	opts := []qualys.Option{qualys.WithCredentials(user, pass), qualys.WithHTTPClient(hc), qualys.WithLogger(logger), qualys.WithRetry(retries+1, 5*time.Minute)}
	if gateway != "" {
		opts = append(opts, qualys.WithGateway(gateway))
	}
	vopts, err := cli.VersionOptions(versions)
	if err != nil {
		return nil, &usageError{err.Error()}
	}
	return qualys.NewClient(apiURL, append(opts, vopts...)...)
}

// export writes each record as one JSON line.
func export[T any](w io.Writer, seq iter.Seq2[T, error]) (int, error) {
	enc := json.NewEncoder(w)
	n := 0
	for v, err := range seq {
		if err != nil {
			return n, err
		}
		if err := enc.Encode(v); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func summary(stderr io.Writer, n int, typ string, start time.Time, c *qualys.Client, err error, fail func(error) int) int {
	calls := int64(0)
	if c != nil {
		for _, v := range c.Calls() {
			calls += v
		}
	}
	fmt.Fprintf(stderr, "qualys-export: %s in %s, %s\n", cli.Count(n, typ+" record", typ+" records"), time.Since(start).Round(time.Millisecond), cli.Count(int(calls), "Qualys call", "Qualys calls"))
	if err != nil {
		return fail(err)
	}
	return exitOK
}
