// Command car-connector imports Qualys host assets, their vulnerabilities
// and applications into IBM Connected Assets and Risk (CAR). The first run
// is a full import; later runs (from cron, every few hours) import only
// what changed since the model state saved on the CAR source.
//
// It accepts the flags of the Python connector it replaces, so an existing
// cron line keeps working, and reads secrets from the environment:
//
//	QUALYS_PASSWORD   Qualys password           (-password)
//	CAR_API_KEY       CAR API key               (-api_key)
//	CAR_PASSWORD      CAR API password          (-car_password)
//	CAR_TOKEN         CAR token, instead of a key and password (-car_token)
//
// The old README passed -password twice, first the Qualys password and then
// the CAR password; that still works: with two -password flags and no
// -car_password, the second is the CAR password. IBM's connector's command
// line and environment (the car-connector-framework 3.0 flags such as
// -car-service-url, and CAR_SERVICE_URL, CONNECTION_HOST, ...) work
// unchanged: see ibm.go.
//
// Run it with -demo to start an in-process fake Qualys and fake CAR, run an
// initial import, change the tenant, run an incremental import and print
// what CAR holds, with no credentials.
//
// Exit codes: those of IBM's CAR connector framework 3.0 (ErrorCode), so
// that Cloud Pak for Security reads this connector's outcome as it reads
// IBM's, and three of our own for what the framework has no code for:
//
//	0    success
//	1    unexpected failure
//	2    invalid runtime parameter: flags, environment, configuration file, CAR credentials refused
//	10   recoverable failure: CAR not ready, unreachable, or a job failed, was cancelled, ended in a status
//	     not known, or outlived -job_deadline; the state was kept, the next run repeats the window
//	20   unrecoverable failure: a CAR job failed and the model state was reset; the next run is a full import
//	50   Qualys (the data source) failed otherwise: a rate limit, a server error
//	51   cannot connect to Qualys (DNS, connection, TLS, no answer)
//	52   Qualys refused the login
//	53   Qualys forbade the call (missing permission)
//	54   Qualys refused a parameter (or the API version)
//	55   Qualys's answer could not be read
//	75   another run holds the lock (ours; EX_TEMPFAIL)
//	124  the run was stopped by -max_run_time (ours, as timeout(1))
//	130, 143  interrupted by SIGINT, SIGTERM (ours, 128 + the signal)
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"runtime/debug"
	"strings"
	"time"

	"github.com/qualysbridge/qualysbridge/car"
	"github.com/qualysbridge/qualysbridge/carsync"
	"github.com/qualysbridge/qualysbridge/examples/internal/cli"
	"github.com/qualysbridge/qualysbridge/qualys"
)

// Exit codes (see the package doc).
const (
	exitOK                = 0
	exitFailure           = 1
	exitUsage             = 2
	exitRecoverable       = 10
	exitStateReset        = 20
	exitDataSource        = 50
	exitQualysUnreachable = 51
	exitQualysLogin       = 52
	exitQualysForbidden   = 53
	exitQualysParameter   = 54
	exitQualysData        = 55
	exitLockHeld          = cli.ExitLockHeld
	exitRunTime           = cli.ExitRunTime
)

// exitHelp is the exit code table -h prints.
var exitHelp = []string{
	"0    success",
	"1    unexpected failure",
	"2    invalid runtime parameter: flags, environment, configuration file, CAR credentials refused",
	"10   recoverable failure: CAR not ready or unreachable, or a CAR job failed, was cancelled, ended unknown or outlived -job_deadline (state kept; the next run repeats the window)",
	"20   a CAR job failed and the model state was reset (the next run is a full import)",
	"50   Qualys failed otherwise (rate limit, server error)",
	"51   cannot connect to Qualys",
	"52   Qualys refused the login",
	"53   Qualys forbade the call",
	"54   Qualys refused a parameter",
	"55   Qualys's answer could not be read",
	"75   another run holds the lock (not an IBM framework code)",
	"124  stopped by -max_run_time (not an IBM framework code)",
	"130, 143  interrupted by SIGINT, SIGTERM (not IBM framework codes)",
	"(0-55 are IBM's CAR connector framework 3.0 codes; -h of IBM's connector lists the same)",
}

// defaultMemoryLimit is the Go runtime's soft memory limit for a run when
// GOMEMLIMIT is not set: the import's live heap is flat (about 25 MB
// whatever the tenant's size), and the limit makes the collector return
// to it before the heap doubles, so the process stays within 64 MB.
// GOMEMLIMIT=off gives Go's default behaviour back.
const defaultMemoryLimit = 52 << 20

func main() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
	ctx, stop := cli.SignalContext(context.Background())
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// multiFlag collects a flag given several times.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Repeat("*", min(len(*m), 1)*8) }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

type options struct {
	qualysURL, gateway, platform, username string
	passwords                              multiFlag
	carURL, apiKey, carPassword, carToken  string
	source, workingDir, configFile         string
	incremental, full, debug, verifySSL    bool
	pageSize                               int
	demo                                   bool
	demoHosts                              int
	demoDetections                         int
	json                                   bool
	logFormat                              string
	maxRetries                             int
	maxRunTime                             time.Duration
	jobDeadline                            time.Duration
	overlap, sequential                    bool
	riskScores                             string
	detectionSplit                         int
	caFile                                 string
	recordDir, replayDir                   string
	rec                                    *cli.Recording
	qualysVersions                         string
	// explicit holds the flags given on the command line.
	explicit map[string]bool
	// IBM framework and connector settings (ibm.go).
	carTokenURL, connectorName, connectorVersion string
	connectionTest, keepExport, updateVulnCVE    bool
	exportDir                                    string
	exportPageSize                               int
	// fromEnv lists the IBM environment variables that set something.
	fromEnv []string
}

// usageError is a bad argument: exit code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	var o options
	fs := newFlags(&o, stderr)
	if cli.WantsVersion(args) {
		cli.PrintVersion(stdout, "car-connector")
		return exitOK
	}
	if err := cli.Parse(fs, incrementalArg(connectionTestArg(args)), stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if err := cli.Leftover(fs.Args()); err != nil {
		return fail(&o, stdout, stderr, exitUsage, err, nil)
	}
	o.explicit = map[string]bool{}
	fs.Visit(func(f *flag.Flag) { o.explicit[f.Name] = true })
	for alias, name := range map[string]string{"car-service-url": "url", "car-service-key": "api_key", "car-service-password": "car_password", "car-service-token": "car_token"} {
		if o.explicit[alias] {
			o.explicit[name] = true
		}
	}
	ibmEnv(&o, getenv)
	if o.maxRunTime <= 0 {
		return fail(&o, stdout, stderr, exitUsage, errors.New("-max_run_time must be positive"), nil)
	}
	if o.jobDeadline <= 0 {
		return fail(&o, stdout, stderr, exitUsage, errors.New("-job_deadline must be positive"), nil)
	}
	logger, err := cli.NewLogger(stderr, o.logFormat, o.debug)
	if err != nil {
		return fail(&o, stdout, stderr, exitUsage, err, nil)
	}
	if _, err := o.risk(); err != nil {
		return fail(&o, stdout, stderr, exitUsage, err, nil)
	}
	if o.demo {
		return runDemo(ctx, o, stdout, stderr, logger)
	}
	warnIgnored(&o, logger)
	cfg, err := configure(&o, getenv, logger)
	if err != nil {
		return fail(&o, stdout, stderr, exitUsage, err, nil)
	}
	if o.connectionTest {
		return connectionTest(ctx, cfg, &o, stdout, stderr)
	}
	unlock, err := lock(o.workingDir, cfg.Source.Key)
	if err != nil {
		code := exitFailure
		if errors.Is(err, errLockHeld) {
			code = exitLockHeld
		}
		return fail(&o, stdout, stderr, code, err, nil)
	}
	defer unlock()
	rctx, cancel := context.WithTimeoutCause(ctx, o.maxRunTime, errRunTime)
	defer cancel()
	sum, err := carsync.Run(rctx, cfg)
	if rerr := o.rec.Close(); rerr != nil {
		fmt.Fprintln(stderr, "car-connector: recording:", rerr)
		if err == nil {
			err = fmt.Errorf("recording: %w", rerr)
		}
	}
	return report(rctx, &o, sum, err, stdout, stderr, logger)
}

// errRunTime is the cause of a run stopped by -max_run_time.
var errRunTime = errors.New("-max_run_time")

// connectionTestArg rewrites IBM's "-connection-test <value>" (the
// framework passes a value after the flag) as -connection-test=<value>,
// wherever it appears, so that Go's flag parsing does not stop at the value
// and ignore the flags after it.
func connectionTestArg(args []string) []string { return boolValueArg(args, "connection-test") }

// incrementalArg reads "-incremental_update True" (or False) as the
// replaced connector's argparse reads it, its README giving the flag a
// value.
func incrementalArg(args []string) []string { return boolValueArg(args, "incremental_update") }

// boolValueArg rewrites "-<name> <bool word>" as -<name>=<value> wherever
// it appears.
func boolValueArg(args []string, name string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if (a == "-"+name || a == "--"+name) && i+1 < len(args) {
			switch strings.ToLower(args[i+1]) {
			case "true", "false", "1", "0", "t", "f", "yes", "no":
				v := strings.ToLower(args[i+1])
				if v == "yes" {
					v = "true"
				} else if v == "no" {
					v = "false"
				}
				out = append(out, a+"="+v)
				i++
				continue
			}
		}
		out = append(out, a)
	}
	return out
}

// fail reports a failure: on stderr, and with -json as one document on
// stdout; it returns the exit code.
func fail(o *options, stdout, stderr io.Writer, code int, err error, sum *carsync.Summary) int {
	fmt.Fprintln(stderr, "car-connector:", cli.Explain(err.Error()))
	if advice := cli.CertificateAdvice(err); advice != "" {
		fmt.Fprintln(stderr, "car-connector:", advice)
	}
	if o.json {
		var extra map[string]any
		if sum != nil {
			extra = map[string]any{"summary": sum}
		}
		cli.WriteFailureJSON(stdout, code, err, extra)
	}
	return code
}

// exitCode maps a run's error to the exit code of IBM's framework (see the
// package doc).
func exitCode(ctx context.Context, err error) int {
	var ue *usageError
	var ce *car.Error
	var jf *car.JobFailedError
	var je *car.JobError
	switch {
	case err == nil:
		return exitOK
	case cli.Interruption(ctx) != nil:
		return cli.Interruption(ctx).Code()
	case errors.Is(context.Cause(ctx), errRunTime):
		return exitRunTime
	case errors.As(err, &ue), errors.Is(err, carsync.ErrIncrementalNotPossible):
		return exitUsage
	case errors.Is(err, car.ErrModelStateReset):
		return exitStateReset
	case errors.Is(err, car.ErrUnauthorized):
		return exitUsage // the CAR credentials given are refused
	case errors.As(err, &ce), errors.As(err, &jf), errors.As(err, &je), errors.Is(err, car.ErrIdleTimeout):
		return exitRecoverable
	}
	switch cli.ClassifyQualys(err) {
	case cli.QualysUnreachable:
		return exitQualysUnreachable
	case cli.QualysLogin:
		return exitQualysLogin
	case cli.QualysForbidden:
		return exitQualysForbidden
	case cli.QualysParameter:
		return exitQualysParameter
	case cli.QualysData:
		return exitQualysData
	case cli.QualysOther:
		return exitDataSource
	}
	return exitFailure
}

// newFlags defines the flags into o, IBM's names included, and the help.
func newFlags(o *options, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("car-connector", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.qualysURL, "qualys_url", "", "Qualys API server URL, e.g. https://qualysapi.qg3.apps.qualys.com")
	fs.StringVar(&o.platform, "platform", "", "Qualys platform name (US1-US4, EU1-EU3, IN1, CA1, AE1, UK1, AU1, KSA1), instead of -qualys_url and -qualys_gateway")
	fs.StringVar(&o.gateway, "qualys_gateway", "", "Qualys gateway URL, for installed applications (e.g. https://gateway.qg3.apps.qualys.com)")
	fs.StringVar(&o.username, "username", "", "Qualys user name")
	fs.Var(&o.passwords, "password", "Qualys password (prefer QUALYS_PASSWORD); given twice, as in the old README, the second is the CAR password")
	fs.StringVar(&o.carURL, "url", "", "CAR API base URL, ending in /api/car/v2")
	fs.StringVar(&o.apiKey, "api_key", "", "CAR API key (prefer CAR_API_KEY)")
	fs.StringVar(&o.carPassword, "car_password", "", "CAR API password (prefer CAR_PASSWORD)")
	fs.StringVar(&o.carToken, "car_token", "", "CAR token, instead of an API key and password (prefer CAR_TOKEN)")
	fs.StringVar(&o.source, "source", "", "CAR source id (default Qualys, or the config file's source)")
	fs.BoolVar(&o.incremental, "incremental_update", false, "require an incremental import (fails if CAR has no model state); by default the mode follows the model state")
	fs.BoolVar(&o.full, "full", false, "force a full import")
	fs.BoolVar(&o.debug, "d", false, "debug logging")
	fs.StringVar(&o.workingDir, "working_dir", ".", "directory for the run lock and qualys_config.json")
	fs.StringVar(&o.configFile, "config", "", "configuration file (default <working_dir>/qualys_config.json, read if present)")
	fs.BoolVar(&o.verifySSL, "verify_ssl", true, "verify TLS certificates (turning this off is insecure; for a private CA use -ca_file)")
	fs.StringVar(&o.qualysVersions, "qualys_versions", "", cli.VersionsFlagHelp)
	fs.StringVar(&o.recordDir, "record", "", "record the run's exchanges with Qualys and CAR, secrets removed, into DIR (qualys.jsonl, car.jsonl) for a developer to replay")
	fs.StringVar(&o.replayDir, "replay", "", "replay the exchanges recorded in DIR instead of calling Qualys and CAR")
	fs.StringVar(&o.caFile, "ca_file", "", "PEM file of certificate authorities to trust besides the system's (a private CA); also "+cli.CAFileEnv)
	fs.IntVar(&o.pageSize, "page_size", 0, "host assets per page (default 1000, the API maximum)")
	fs.BoolVar(&o.demo, "demo", false, "run against in-process fakes with a generated tenant (no credentials needed)")
	fs.IntVar(&o.demoHosts, "demo_hosts", 500, "hosts in the -demo tenant")
	fs.IntVar(&o.demoDetections, "demo_detections", 8, "average detections per host in the -demo tenant")
	fs.BoolVar(&o.json, "json", false, "print the run summary as JSON on stdout (on failure: {\"ok\": false, \"error\", \"exit_code\"})")
	fs.StringVar(&o.logFormat, "log_format", "text", "log format on stderr: "+cli.LogFormats+" (for log collectors)")
	fs.IntVar(&o.maxRetries, "max_retries", 4, "retries of a Qualys or CAR call: a refusal (429, a 409/503 with a wait, Qualys' limit codes) always; a call safe to repeat also on 5xx but 501 and on a refused, reset or timed-out connection; waiting as the server says or backing off")
	fs.BoolVar(&o.sequential, "sequential", false, "make a run's Qualys calls one at a time (carsync.Config.Sequential); by default a full import's calls run concurrently within the subscription's concurrency limit")
	fs.BoolVar(&o.overlap, "overlap", true, "the opposite of -sequential, kept for older command lines (-overlap=false is -sequential)")
	fs.StringVar(&o.riskScores, "risk_scores", "qualys", "CAR's risk fields: qualys (asset risk = TruRisk/100, business_value = 2 x asset criticality, edge risk_score = QDS/10; one Host List call per 1,000 hosts more) or severity (IBM's connector's values: edge risk_score = severity x 2, no asset risk)")
	fs.IntVar(&o.detectionSplit, "detection_split", 0, "detection calls a page of hosts is cut into (0: as many as the concurrency limit needs when there are fewer pages than slots, and the last pages in two when they leave the last wave of calls short; 1: never split, for a small daily call budget)")
	fs.DurationVar(&o.maxRunTime, "max_run_time", 12*time.Hour, "stop a run that takes longer than this, releasing the lock (a blocked CAR or Qualys)")
	fs.DurationVar(&o.jobDeadline, "job_deadline", car.DefaultJobDeadline, "fail the run (exit 10) when one CAR job (an import, entering or leaving a full import, the database) is still running after this")
	ibmFlags(fs, o)
	fs.Usage = cli.Help{
		Name: "car-connector",
		Summary: "Imports Qualys host assets, their vulnerabilities and installed applications into IBM Connected Assets and Risk.\n" +
			"The first run is a full import; later runs import what changed since the state saved on the CAR source.\n" +
			"Qualys call budget: a full import makes, per 1,000 hosts, one host asset page, one or two detection calls and\n" +
			"one Host List call (-risk_scores qualys), plus a gateway page per 300 assets and a KnowledgeBase call per 1,000 QIDs;\n" +
			"a quiet incremental run makes 5, and one Host List call per 10,000 hosts with -risk_scores qualys.",
		Groups: []cli.Group{
			{Title: "Qualys", Flags: []string{"qualys_url", "platform", "qualys_gateway", "username", "password", "qualys_versions"}},
			{Title: "CAR", Flags: []string{"url", "api_key", "car_password", "car_token", "source"}},
			{Title: "Run", Flags: []string{"incremental_update", "full", "page_size", "risk_scores", "sequential", "overlap", "detection_split", "max_retries", "max_run_time", "job_deadline", "working_dir", "config", "json", "log_format", "d", "version"}},
			{Title: "TLS", Flags: []string{"verify_ssl", "ca_file"}},
			{Title: "Recorded fixtures", Flags: []string{"record", "replay"}},
			{Title: "Demo (in-process fakes, no credentials)", Flags: []string{"demo", "demo_hosts", "demo_detections"}},
			{Title: "IBM car-connector-framework 3.0 names (accepted as IBM's connector takes them)", Flags: []string{"car-service-url", "car-service-key", "car-service-password",
				"car-service-url-for-token", "car-service-token", "name", "connection-test", "export-data-dir", "keep-export-data-dir", "export-data-page-size", "update_existing_vulnerability_cve"}},
		},
		Env: []string{"QUALYS_PASSWORD        Qualys password (also IBM's CONFIGURATION_AUTH_PASSWORD)",
			"CAR_API_KEY, CAR_PASSWORD  CAR API key and password (also CAR_SERVICE_KEY, CAR_SERVICE_PASSWORD)",
			"CAR_TOKEN              CAR token instead of a key (also CAR_SERVICE_AUTHTOKEN)",
			cli.CAFileEnv + "   CA certificates to trust (-ca_file)",
			"IBM framework: CAR_SERVICE_URL, CAR_SERVICE_URL_FOR_AUTHTOKEN, CONNECTION_NAME, CONNECTOR_NAME, CONNECTOR_VERSION, DEBUG,",
			"  DATASOURCE_CONNECTION_TEST, CONNECTION_HOST, CONFIGURATION_AUTH_QUALYS_GATEWAY, CONFIGURATION_AUTH_USERNAME, UPDATE_EXISTING_VULNERABILITY_CVE"},
		Exit: exitHelp,
	}.Usage(fs, stderr)
	return fs
}

// fileConfig is qualys_config.json: the replaced connector's file, plus the
// connection settings that are not secrets.
type fileConfig struct {
	Source        string `json:"source"`
	QualysURL     string `json:"qualys_url"`
	QualysGateway string `json:"qualys_gateway"`
	Platform      string `json:"platform"`
	Username      string `json:"username"`
	CARURL        string `json:"url"`
	Parameter     struct {
		Pagination struct {
			PageSize int `json:"page_size"`
			// Enabled is IBM's; pages are always used here.
			Enabled *bool `json:"enabled"`
		} `json:"pagination"`
		// Headers are IBM's (Accept, X-Requested-With); this connector
		// sets its own.
		Headers map[string]string `json:"headers"`
	} `json:"parameter"`
	// Endpoint and QIDSize are IBM's qualys_config.json keys: the API
	// paths are fixed here (the current versions; -qualys_versions), and
	// KnowledgeBase calls take 1,000 QIDs. Read without a warning, so that
	// IBM's own file can be used as it is.
	Endpoint map[string]string `json:"endpoint"`
	QIDSize  int               `json:"qid_size"`
}

// readConfigFile decodes qualys_config.json: a key it does not know is a
// warning naming the key (a typo must not pass silently), a value of the
// wrong type an error naming the key and the type it needs.
func readConfigFile(path string, b []byte, fc *fileConfig, logger *slog.Logger) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return &usageError{fmt.Sprintf("%s is not a JSON object: %v", path, err)}
	}
	known := map[string]bool{}
	t := reflect.TypeOf(*fc)
	for i := 0; i < t.NumField(); i++ {
		known[strings.Split(t.Field(i).Tag.Get("json"), ",")[0]] = true
	}
	for k := range raw {
		if !known[k] {
			logger.Warn("unknown key in the configuration file, ignored", "path", path, "key", k)
		}
	}
	if err := json.Unmarshal(b, fc); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return &usageError{fmt.Sprintf("%s: key %q must be a %s, not a JSON %s", path, te.Field, jsonKind(te.Type), te.Value)}
		}
		return &usageError{fmt.Sprintf("%s: %v", path, err)}
	}
	return nil
}

// jsonKind names a Go type as JSON calls it.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Float64:
		return "number"
	case reflect.Bool:
		return "boolean"
	case reflect.Struct, reflect.Map:
		return "object"
	case reflect.Slice:
		return "list"
	}
	return t.String()
}

// risk is -risk_scores.
func (o *options) risk() (carsync.RiskScores, error) {
	switch o.riskScores {
	case "qualys":
		return carsync.QualysScores, nil
	case "severity":
		return carsync.SeverityScores, nil
	}
	return 0, fmt.Errorf("-risk_scores %q: want qualys or severity", o.riskScores)
}

func configure(o *options, getenv func(string) string, logger *slog.Logger) (carsync.Config, error) {
	risk, err := o.risk()
	if err != nil {
		return carsync.Config{}, err
	}
	if o.explicit["sequential"] {
		if o.explicit["overlap"] && o.overlap == o.sequential {
			return carsync.Config{}, errors.New("-sequential and -overlap contradict each other; give -sequential alone")
		}
		o.overlap = !o.sequential
	}
	if err := applyConfigFile(o, logger); err != nil {
		return carsync.Config{}, err
	}
	sec := secretsFrom(o, getenv, logger)
	if err := checkSettings(o, &sec); err != nil {
		return carsync.Config{}, err
	}
	qc, cc, err := newClients(o, sec, getenv, logger)
	if err != nil {
		return carsync.Config{}, err
	}
	mode := carsync.Auto
	switch {
	case o.full:
		mode = carsync.Full
	case o.incremental:
		mode = carsync.Incremental
	}
	if o.overlap && (o.recordDir != "" || o.replayDir != "") {
		// Concurrent calls interleave CAR batches differently each run;
		// a recording is made and replayed one call at a time so that the
		// replay sends the recorded requests.
		o.overlap = false
		if o.explicit["overlap"] || o.explicit["sequential"] {
			logger.Warn("-overlap is ignored while recording or replaying: calls are made one at a time")
		}
	}
	program := "qualysbridge car-connector"
	if o.connectorName != "" {
		program = o.connectorName + " (" + program + ")"
	}
	if o.connectorVersion != "" {
		program += " " + o.connectorVersion
	}
	return carsync.Config{Qualys: qc, CAR: cc,
		Source: car.Source{Key: o.source, Name: o.source, Description: "Qualys VMDR assets, vulnerabilities and applications, imported by qualysbridge car-connector", ProductLink: "https://www.qualys.com/"},
		Mode:   mode, PageSize: o.pageSize, Logger: logger, SkipApplications: o.gateway == "", Program: program,
		RefreshVulnerabilities: o.updateVulnCVE, Sequential: !o.overlap, DetectionSplit: o.detectionSplit, RiskScores: risk}, nil
}

// pick is the flag's value when given, else the file's.
func pick(flagV, fileV string) string {
	if flagV != "" {
		return flagV
	}
	return fileV
}

// applyConfigFile reads the configuration file (the -config file, or
// qualys_config.json in the working directory when it exists) into the
// options the command line left unset.
func applyConfigFile(o *options, logger *slog.Logger) error {
	var fc fileConfig
	path := o.configFile
	if path == "" {
		path = filepath.Join(o.workingDir, "qualys_config.json")
	}
	b, fi, err := cli.ReadConfigFile(path)
	switch {
	case err == nil:
		if err := readConfigFile(path, b, &fc, logger); err != nil {
			return err
		}
		logger.Debug("read configuration file", "path", path)
		if (fc.QualysURL != "" || fc.QualysGateway != "" || fc.CARURL != "") && cli.WritableByOthers(fi) {
			logger.Warn("the configuration file decides where credentials are sent and other users may write it; make it writable by its owner only (chmod go-w)",
				"path", path, "mode", fi.Mode().Perm().String())
		}
	case o.configFile != "" || !errors.Is(err, os.ErrNotExist):
		// A file given, or one that is there but cannot be used (not a
		// regular file, too large): an error, not a silent default.
		return &usageError{fmt.Sprintf("reading %s: %v", path, err)}
	}
	// Where the Qualys credentials go is decided as a unit: when the
	// command line names the Qualys server (-qualys_url, -platform or
	// -qualys_gateway), the file's server settings are ignored, so that a
	// file cannot send the credentials to a gateway the command line did
	// not name.
	if o.explicit["qualys_url"] || o.explicit["platform"] || o.explicit["qualys_gateway"] {
		if fc.QualysURL != "" || fc.QualysGateway != "" || fc.Platform != "" {
			logger.Info("the command line names the Qualys server; the configuration file's qualys_url, qualys_gateway and platform are ignored", "path", path)
		}
	} else {
		o.qualysURL, o.gateway, o.platform = fc.QualysURL, fc.QualysGateway, fc.Platform
	}
	o.username, o.carURL, o.source = pick(o.username, fc.Username), pick(o.carURL, fc.CARURL), pick(pick(o.source, fc.Source), "Qualys")
	if o.pageSize == 0 {
		o.pageSize = fc.Parameter.Pagination.PageSize
	}
	return nil
}

// secrets are the run's credentials.
type secrets struct {
	qualysPass, carPass, apiKey, token string
}

// secretsFrom takes the secrets from the flags (with a warning) or the
// environment (ours, then IBM's names). A CAR token sent to its own URL
// moves the CAR URL there, as the framework does.
func secretsFrom(o *options, getenv func(string) string, logger *slog.Logger) secrets {
	qualysFlag, carFlag := "", o.carPassword
	switch len(o.passwords) {
	case 0:
	case 1:
		qualysFlag = o.passwords[0]
	default:
		qualysFlag = o.passwords[0]
		if carFlag == "" {
			carFlag = o.passwords[1]
		}
	}
	get := &cli.Secrets{Getenv: getenv}
	sec := secrets{
		qualysPass: get.Get(qualysFlag, "-password", "QUALYS_PASSWORD", "CONFIGURATION_AUTH_PASSWORD"),
		apiKey:     get.Get(o.apiKey, "-api_key", "CAR_API_KEY", "CAR_SERVICE_KEY"),
		carPass:    get.Get(carFlag, "CAR password", "CAR_PASSWORD", "CAR_SERVICE_PASSWORD"),
		token:      get.Get(o.carToken, "-car_token", "CAR_TOKEN", "CAR_SERVICE_AUTHTOKEN"),
	}
	if sec.token != "" && o.carTokenURL != "" {
		// The framework sends the token to its own URL (it wins over a
		// key, as there).
		o.carURL = strings.TrimSuffix(strings.TrimRight(o.carTokenURL, "/"), "/v3")
		if !strings.HasSuffix(o.carURL, "/v2") {
			o.carURL += "/v2"
		}
	}
	get.Warn(logger)
	return sec
}

// checkSettings resolves -platform and refuses what is missing or
// contradictory, naming the flags and variables.
// withScheme reads a Qualys server given as IBM's connection form gives it
// (CONNECTION_HOST: a bare host name or IP, maybe with a port) as an https
// URL; a URL is kept as it is.
func withScheme(s string) string {
	s = strings.TrimSpace(s)
	if s == "" || strings.Contains(s, "://") {
		return s
	}
	return "https://" + strings.TrimSuffix(s, "/")
}

func checkSettings(o *options, sec *secrets) error {
	if o.platform != "" {
		api, gw, err := qualys.Platform(o.platform)
		if err != nil {
			return &usageError{err.Error()}
		}
		o.qualysURL = pick(o.qualysURL, api)
		o.gateway = pick(o.gateway, gw)
	}
	o.qualysURL, o.gateway = withScheme(o.qualysURL), withScheme(o.gateway)
	if o.replayDir != "" {
		// A replay answers from the recording: no credentials are needed,
		// and the servers are placeholders unless named.
		o.qualysURL = pick(o.qualysURL, "https://qualys.example")
		o.carURL = pick(o.carURL, "https://car.example/api/car/v2")
		o.username = pick(o.username, "replay")
		if sec.qualysPass == "" {
			sec.qualysPass = "replay-only"
		}
		if sec.token == "" && (sec.apiKey == "" || sec.carPass == "") {
			sec.apiKey, sec.carPass = "replay", "replay-only"
		}
	}
	var missing []string
	for _, m := range []struct{ v, name string }{{o.qualysURL, "-qualys_url (or -platform)"}, {o.username, "-username"}, {sec.qualysPass, "QUALYS_PASSWORD (or -password)"}, {o.carURL, "-url or -car-service-url (the CAR API URL; CAR_SERVICE_URL)"}} {
		if m.v == "" {
			missing = append(missing, m.name)
		}
	}
	if sec.token == "" && (sec.apiKey == "" || sec.carPass == "") {
		missing = append(missing, "CAR_API_KEY and CAR_PASSWORD (or CAR_TOKEN; IBM's CAR_SERVICE_KEY, CAR_SERVICE_PASSWORD, CAR_SERVICE_AUTHTOKEN)")
	}
	if len(missing) > 0 {
		return &usageError{"missing " + strings.Join(missing, ", ")}
	}
	if o.pageSize < 0 || o.pageSize > qualys.MaxHostAssetPageSize {
		return &usageError{fmt.Sprintf("-page_size must be 1-%d", qualys.MaxHostAssetPageSize)}
	}
	if o.detectionSplit < 0 || o.detectionSplit > qualys.MaxHostAssetPageSize {
		return &usageError{fmt.Sprintf("-detection_split must be 0-%d", qualys.MaxHostAssetPageSize)}
	}
	if o.incremental && o.full {
		return &usageError{"-incremental_update and -full contradict each other"}
	}
	// Checked here, before the working directory, the lock or any call:
	// the run would refuse it only after taking them.
	if err := (&car.Source{Key: o.source}).Validate(); err != nil {
		return &usageError{fmt.Sprintf("-source %q is not a CAR source id: letters, digits and _:@=;!'%%-.()+,$* only (no spaces or /)", o.source)}
	}
	return nil
}

// newClients builds the Qualys and CAR clients: TLS settings, recording
// or replay, retries, versions, the gateway.
func newClients(o *options, sec secrets, getenv func(string) string, logger *slog.Logger) (*qualys.Client, *car.Client, error) {
	hc, err := cli.HTTPClient(cli.CAFile(o.caFile, getenv), o.verifySSL, logger)
	if err != nil {
		return nil, nil, &usageError{err.Error()}
	}
	if o.maxRetries < 0 {
		return nil, nil, &usageError{"-max_retries must not be negative"}
	}
	rec, err := cli.NewRecording(o.recordDir, o.replayDir)
	if err != nil {
		return nil, nil, &usageError{err.Error()}
	}
	o.rec = rec
	qhc, err := rec.Client("qualys", hc, []string{o.qualysURL, o.gateway}, sec.qualysPass)
	if err != nil {
		return nil, nil, &usageError{err.Error()}
	}
	chc, err := rec.Client("car", hc, []string{o.carURL}, sec.carPass, sec.token)
	if err != nil {
		return nil, nil, &usageError{err.Error()}
	}
	qopts := []qualys.Option{qualys.WithCredentials(o.username, sec.qualysPass), qualys.WithHTTPClient(qhc), qualys.WithLogger(logger),
		qualys.WithUserAgent("qualysbridge-car-connector/0.1"), qualys.WithRetry(o.maxRetries+1, 5*time.Minute)}
	vopts, err := cli.VersionOptions(o.qualysVersions)
	if err != nil {
		return nil, nil, &usageError{err.Error()}
	}
	qopts = append(qopts, vopts...)
	if o.gateway != "" {
		qopts = append(qopts, qualys.WithGateway(o.gateway))
	} else {
		logger.Warn("no -qualys_gateway: installed applications are not imported")
	}
	logger.Info("endpoints", "qualys_api", safeURL(o.qualysURL), "qualys_gateway", safeURL(o.gateway), "car", safeURL(o.carURL))
	qc, err := qualys.NewClient(o.qualysURL, qopts...)
	if err != nil {
		return nil, nil, &usageError{err.Error()}
	}
	copts := []car.Option{car.WithHTTPClient(chc), car.WithLogger(logger), car.WithRetry(o.maxRetries+1, 2*time.Minute), car.WithWaitDeadline(o.jobDeadline)}
	if sec.token != "" {
		copts = append(copts, car.WithToken(sec.token))
	} else {
		copts = append(copts, car.WithAPIKey(sec.apiKey, sec.carPass))
	}
	cc, err := car.NewClient(o.carURL, copts...)
	if err != nil {
		return nil, nil, &usageError{err.Error()}
	}
	return qc, cc, nil
}

// report logs the summary, prints it with -json, and maps an error to its
// exit code, saying what an interrupted or stopped run saved.
func report(ctx context.Context, o *options, sum *carsync.Summary, err error, stdout, stderr io.Writer, logger *slog.Logger) int {
	if sum != nil {
		attrs := []any{"mode", sum.Mode.String(), "hosts", sum.Hosts, "detections", sum.Detections, "applications", sum.Applications,
			"vertices", sum.Vertices, "edges", sum.Edges,
			"disabled_edges", sum.DisabledEdges, "deleted_assets", sum.DeletedAssets, "qualys_calls", sum.TotalQualysCalls(), "duration", sum.Duration.Round(time.Millisecond)}
		if sum.Import != nil {
			attrs = append(attrs, "car_requests", sum.Import.Requests, "car_objects", total(sum.Import.Objects))
		}
		logger.Info("run summary", attrs...)
	}
	if err == nil {
		if o.json {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			enc.Encode(sum)
		}
		return exitOK
	}
	code := exitCode(ctx, err)
	switch {
	case cli.Interruption(ctx) != nil:
		err = fmt.Errorf("%v: the run stopped; CAR's model state is still the last complete run's, so the next run repeats this window and finishes what this one started, its clean-up included (a full import is left in CAR's full-import state, which the next full import enters again): %w", cli.Interruption(ctx), err)
	case code == exitRunTime:
		err = fmt.Errorf("the run took longer than -max_run_time %s and was stopped (CAR or Qualys not answering?); CAR's model state is still the last complete run's, so nothing after it was recorded and the next run repeats the window: %w", o.maxRunTime, err)
	}
	return fail(o, stdout, stderr, code, err, sum)
}

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

var errLockHeld = errors.New("another run holds the lock")

// workingDir makes the working directory (0700) when it does not exist,
// but not its parents: a -working_dir whose parent does not exist is a
// typing mistake, refused rather than created.
func workingDir(dir string) error {
	fi, err := os.Stat(dir)
	switch {
	case err == nil && fi.IsDir():
		return nil
	case err == nil:
		return fmt.Errorf("-working_dir %s is not a directory", dir)
	case !errors.Is(err, os.ErrNotExist):
		return err
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("-working_dir %s: its parent directory does not exist", dir)
		}
		return err
	}
	return nil
}

// lockPath is the lock file of one source in the working directory.
func lockPath(dir, source string) string {
	return filepath.Join(dir, ".car-connector-"+strings.Map(func(r rune) rune {
		if strings.ContainsRune(`/\:*?"<>| `, r) {
			return '_'
		}
		return r
	}, source)+".lock")
}

// safeURL is a URL as it may be logged: scheme, host and path, never user
// information or a query.
func safeURL(raw string) string {
	if strings.TrimSpace(raw) == "" {
		return "none"
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(unparsable URL)"
	}
	return u.Scheme + "://" + u.Host + u.EscapedPath()
}
