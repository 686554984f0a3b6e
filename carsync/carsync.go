// Package carsync synchronises a Qualys subscription into IBM Connected
// Assets and Risk: the engine of the Qualys CAR connector, built only on the
// public qualys, car and mapping packages.
//
// A full import streams every host asset page by page. A page's VM hosts
// get their detections in one call (ids=; several, by host id range, when
// split), its applications come from the gateway (merge-joined by asset
// id, both streams being in id order), and each host is mapped with
// mapping.CARHost as its detections arrive and streamed into a car.Import.
// The KnowledgeBase entries of QIDs not sent yet are read meanwhile; a
// vulnerability vertex, and the edges to it, wait for its entry, so that
// it is sent whole and before its edges. Unless Config.Sequential is set,
// the Qualys calls run concurrently (see stream.go): detection calls keep
// the subscription's concurrency limit in use, the next host asset and
// gateway pages are listed ahead, and the KnowledgeBase is read in its own
// stage. Memory holds the pages in flight (at most 4, their host assets
// and applications, released host by host), the hosts being mapped and
// queued for CAR (at most 8 waiting), the edges
// waiting for a KnowledgeBase entry (at most 10,000 before the run waits
// for one), the import's bytes (car.MaxBufferedBytes gathered, two requests on their way) and two sets of
// int64s for the run: the asset ids already mapped and the QIDs already
// sent (a few bytes per host and per QID, never a host's data). Which
// host's detection RESULTS becomes a vulnerability's description depends,
// when calls overlap, on which host reports the QID first.
//
// An incremental import reads the window from the model state saved on the
// CAR source and sends only what changed since: host assets updated in the
// window (with their whole current detections and their changed
// applications), hosts whose detections changed (found with the window's
// listing, then sent with their whole current detections), assets whose
// applications changed (with their detections), and assets removed from
// Qualys (soft-deleted). For the hosts it sends, it disables the edges that
// a full import of the new state would not hold: asset edges to addresses,
// MACs, names, accounts, places, applications and QIDs no longer there, and
// edges from shared vertices (ipaddress_macaddress, ipaddress_vulnerability,
// application_vulnerability, user_account) that no asset holding the vertex
// produces any more. The one thing it cannot know: a new detection on a
// host whose asset and applications did not change is sent without the
// applications (the gateway has no lookup by id), so the
// application_vulnerability edges it would add wait for the host's next
// asset or application change, or a full run.
//
// Every step streams as a full import does: hosts are mapped as their
// detections arrive, with the same bounds on memory.
//
// The new state, the end of the window in epoch milliseconds (as IBM's
// connector saves it), is saved only when everything succeeded: a run that
// fails leaves the previous state, so the next run repeats the window and
// nothing is lost.
//
// # Invariants
//
// Crash consistency: a run killed, stopped or failed at any request leaves
// CAR so that the next successful run ends with exactly the graph one clean
// run leaves. Imports are upserts of what Qualys says now, so repeating
// them is harmless; what needs care is the clean-up of an incremental run,
// because the next run finds what to clean from the asset edges CAR holds
// active. So what leads a run to an edge is changed last: the edges from
// shared vertices (an address's ipaddress_vulnerability, ...) are disabled
// before the asset edges that reach those vertices, their holders computed
// as they will be once those asset edges are gone, and an asset removed
// from Qualys is soft-deleted only after what it reached was decided. A run
// stopped in between leaves the asset edges active, and the next run, which
// repeats the window, reaches and decides the rest (TestCrashConsistency).
//
// A window is trusted only when it can be: a saved state later than the
// run's start, or one that is not an instant between 1970 and 9999, never
// starts a window; the run is a full import, with a WARN naming the state
// (trustState).
//
// Every wait ends: CAR job statuses that are not known running ones are
// failures, and every wait has a deadline (car.WithWaitDeadline,
// car.WithJobDeadline).
//
// Back-pressure cannot lose a wakeup (see backlog in stream.go), and Run
// returns the cause that ended a run, never a stage's report of the
// cancellation. Stages own their counts; the summary is merged after the
// stages end.
package carsync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/qualysbridge/qualysbridge/car"
	"github.com/qualysbridge/qualysbridge/qualys"
)

// Mode selects the kind of run.
//
// Its zero value is Auto (unlike car.Mode, whose zero value is refused).
type Mode int

const (
	// Auto runs an incremental import when CAR holds a model state for
	// the source, else a full one (as the connector framework does).
	Auto Mode = iota
	// Full forces a full import.
	Full
	// Incremental forces an incremental import and fails if there is no
	// model state to start from.
	Incremental
)

// ErrIncrementalNotPossible is returned by an Incremental run when CAR has
// no usable model state for the source (first run, or reset after a
// failure), or the database was just created.
var ErrIncrementalNotPossible = errors.New("carsync: incremental import not possible: no model state on the CAR source (run a full import first)")

// Config is what a run needs.
type Config struct {
	Qualys *qualys.Client
	CAR    *car.Client
	// Source is the CAR source the data is written to.
	Source car.Source
	Mode   Mode
	// PageSize is host assets per page (default the QPS maximum, 1000).
	PageSize int
	// Logger receives progress; nil logs nothing.
	Logger *slog.Logger
	// ProgressEvery is how often progress is logged (default 5 s).
	ProgressEvery time.Duration
	// Now returns the current time (tests); default time.Now.
	Now func() time.Time
	// SkipApplications leaves gateway applications out (when no gateway
	// is configured).
	SkipApplications bool
	// Program names the program that writes, for the import report's
	// description (default "qualysbridge").
	Program string
	// RefreshVulnerabilities makes an incremental run also refresh the
	// KnowledgeBase fields of every vulnerability the source holds in CAR
	// (titles, CVEs, CVSS scores, texts), not only of those its changed
	// hosts report: one CAR query and one KnowledgeBase call per 1,000
	// QIDs. (IBM's -update_existing_vulnerability_cve.)
	RefreshVulnerabilities bool
	// Sequential makes a run's Qualys calls one at a time: one detection
	// call at a time, the next host asset page listed once the current
	// one is written, the KnowledgeBase read at the end of each page, so
	// that a run sends the same requests in the same order every time (a
	// recording replays it). By default (false) the calls overlap, as the
	// connector runs: detection calls keep the Host List Detection API's
	// concurrency limit in use (the client's gate: learned from
	// X-Concurrency-Limit-Limit, shared with every other call of the
	// client, never exceeded, one call until an answer has said it), the
	// next host asset page and the gateway applications are listed ahead,
	// the KnowledgeBase is read while detections stream, and CAR is
	// written meanwhile. The detection, host asset and gateway calls are
	// the same either way, but for the split (DetectionSplit);
	// KnowledgeBase calls are asked earlier when overlapped, at most
	// 2 x pages + ceil(QIDs / 1,000) + 1. Either way hosts are mapped as
	// their detections arrive: memory holds the pages in flight (their
	// host assets and applications), not their detections. See
	// bench/README.md for the measured effect.
	Sequential bool
	// DetectionSplit is how many detection calls a host asset page's
	// hosts are cut into, by host id range. 0 chooses: 1 with Sequential.
	// Otherwise, with fewer host asset pages than the detection API's
	// concurrency limit, enough calls per page for them to use the limit;
	// with as many pages or more, 1 (the pages alone keep the limit in
	// use) except for the last wave of calls: when the pages are not a
	// multiple of the limit (tail = pages mod limit), the run's last
	// min(tail, limit - tail) pages are cut in two, so that the last wave
	// leaves fewer slots idle (20 pages at a limit of 3: 21 calls, the
	// last page's two halves running beside the page before it). Never
	// more than 2 calls a page nor fewer than 100 hosts a call, and none
	// (1) when the server's X-RateLimit-Remaining says the calls left in
	// the window are fewer than twice what splitting the pages left would
	// cost. So an automatic split costs at most ceil(hosts / PageSize) x 2
	// detection calls on a small tenant, and at most limit / 2 calls more
	// than one a page on a large one. 1 turns the split off; n > 1 forces n
	// calls a page (ceil(hosts / PageSize) x n calls; plus, in every case,
	// the truncation pages a server may force).
	DetectionSplit int
	// RiskScores chooses the scores CAR's risk fields carry (see
	// mapping's "Risk scores"). QualysScores, the default, asks the
	// detection calls for QDS (show_qds=1) and the Host List for each
	// host asset page's TruRisk and Asset Criticality Score (one call a
	// page, ids= the page's hosts, made beside the page's detection
	// calls): asset.risk = TruRisk / 100, asset.business_value = 2 x ACS,
	// asset_vulnerability.risk_score = QDS / 10 (SEVERITY x 2 where a
	// detection has none). An incremental run also compares every host's
	// TruRisk and ACS with what CAR holds (one Host List call per 10,000
	// hosts and one CAR query) and sends again the hosts whose
	// scores changed though nothing else did; the first incremental run
	// after a version without scores sends every scored host once.
	// SeverityScores asks for none of it and writes IBM's connector's
	// values exactly: SEVERITY x 2 on the edges, no asset risk nor
	// business value.
	RiskScores RiskScores

	// hooks widen the pipeline's race windows in tests; nil otherwise.
	hooks *hooks
}

// RiskScores is which scores a run writes into CAR's risk fields.
type RiskScores int

// The choices of Config.RiskScores.
const (
	// QualysScores writes Qualys' TruRisk, Asset Criticality Score and
	// QDS (the default).
	QualysScores RiskScores = iota
	// SeverityScores writes IBM's connector's values: SEVERITY x 2.
	SeverityScores
)

// String names the choice as the connector's -risk_scores takes it.
func (s RiskScores) String() string {
	switch s {
	case QualysScores:
		return "qualys"
	case SeverityScores:
		return "severity"
	}
	return "RiskScores(" + strconv.Itoa(int(s)) + ")"
}

// Summary is the result of a run.
type Summary struct {
	Mode         Mode
	Since, Until time.Time // the window (Since is zero for a full import)
	Hosts        int       // host assets mapped
	Detections   int
	Applications int
	// Vertices and Edges count the objects mapped (before the importer
	// drops duplicates shared between hosts).
	Vertices int
	Edges    int
	// DisabledEdges counts stale edges disabled; DeletedAssets assets
	// soft-deleted because Qualys no longer has them.
	DisabledEdges int
	DeletedAssets int
	// QualysCalls counts the calls made per Qualys API.
	QualysCalls map[string]int64
	Import      *car.ImportSummary
	Duration    time.Duration
}

// summaryJSON is Summary as the programs print it with -json.
type summaryJSON struct {
	Mode            string             `json:"mode"`
	Since           time.Time          `json:"since,omitzero"`
	Until           time.Time          `json:"until,omitzero"`
	Hosts           int                `json:"hosts"`
	Detections      int                `json:"detections"`
	Applications    int                `json:"applications"`
	Vertices        int                `json:"vertices"`
	Edges           int                `json:"edges"`
	DisabledEdges   int                `json:"disabled_edges"`
	DeletedAssets   int                `json:"deleted_assets"`
	QualysCalls     map[string]int64   `json:"qualys_calls"`
	Import          *car.ImportSummary `json:"import,omitempty"`
	DurationSeconds float64            `json:"duration_seconds"`
}

// MarshalJSON writes the summary with snake_case names, the mode as a
// word, durations in seconds and absent times left out, as the programs
// print it with -json.
func (s Summary) MarshalJSON() ([]byte, error) {
	o := summaryJSON{Mode: s.Mode.String(), Since: s.Since, Until: s.Until, Hosts: s.Hosts, Detections: s.Detections,
		Applications: s.Applications, Vertices: s.Vertices, Edges: s.Edges, DisabledEdges: s.DisabledEdges,
		DeletedAssets: s.DeletedAssets, QualysCalls: s.QualysCalls, Import: s.Import, DurationSeconds: s.Duration.Seconds()}
	if o.QualysCalls == nil {
		o.QualysCalls = map[string]int64{}
	}
	return json.Marshal(o)
}

// UnmarshalJSON reads what MarshalJSON writes.
func (s *Summary) UnmarshalJSON(b []byte) error {
	var in summaryJSON
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	mode := Auto
	switch in.Mode {
	case "full":
		mode = Full
	case "incremental":
		mode = Incremental
	}
	*s = Summary{Mode: mode, Since: in.Since, Until: in.Until, Hosts: in.Hosts, Detections: in.Detections, Applications: in.Applications,
		Vertices: in.Vertices, Edges: in.Edges, DisabledEdges: in.DisabledEdges, DeletedAssets: in.DeletedAssets, QualysCalls: in.QualysCalls,
		Import: in.Import, Duration: time.Duration(in.DurationSeconds * float64(time.Second))}
	return nil
}

// TotalQualysCalls sums QualysCalls.
func (s *Summary) TotalQualysCalls() int64 {
	var n int64
	for _, c := range s.QualysCalls {
		n += c
	}
	return n
}

// String names the mode.
func (m Mode) String() string {
	switch m {
	case Full:
		return "full"
	case Incremental:
		return "incremental"
	}
	return "auto"
}

// FormatState is the model state this package saves for the end of a
// window: epoch milliseconds, as IBM's Python connector saves it, so that
// either connector can continue from the other's state (an operator can
// switch back without a full re-import).
func FormatState(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

// ParseState reads a model state: epoch milliseconds (possibly fractional,
// as IBM's connector writes them) or RFC 3339 (as earlier versions of this
// package saved it). A state must be an instant after 1970-01-01 and
// before the year 10000: anything else (zero, negative, not finite, too
// large to be a date: 1e300, 9223372036854775807) is refused with an error
// wrapping ErrUnusableState, never turned into a wrapped-around date.
func ParseState(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		t = t.UTC()
		if !t.After(time.Unix(0, 0)) || t.UnixMilli() > maxStateMillis {
			return time.Time{}, &stateError{state: s, reason: "not between 1970 and 9999"}
		}
		return t, nil
	}
	ms, err := strconv.ParseFloat(s, 64)
	switch {
	case err != nil && !errors.Is(err, strconv.ErrRange):
		return time.Time{}, &stateError{state: s, reason: "neither epoch milliseconds nor an RFC 3339 time"}
	case err != nil || math.IsNaN(ms) || math.IsInf(ms, 0) || ms > maxStateMillis:
		return time.Time{}, &stateError{state: s, reason: "epoch milliseconds past the year 9999 (or not a finite number)"}
	case ms <= 0:
		return time.Time{}, &stateError{state: s, reason: "epoch milliseconds not after 1970"}
	}
	return time.UnixMilli(int64(ms)).UTC(), nil
}

// maxStateMillis is 9999-12-31T23:59:59.999Z in epoch milliseconds: the
// latest instant a model state may name.
const maxStateMillis = 253402300799999

// ErrUnusableState is matched (errors.Is) by ParseState's error, and by an
// Incremental run's ErrIncrementalNotPossible when the saved state cannot
// start a window.
var ErrUnusableState = errors.New("carsync: unusable model state")

// stateError is a model state that cannot start a window.
type stateError struct{ state, reason string }

func (e *stateError) Error() string {
	st := e.state
	if len(st) > 40 {
		st = st[:40] + "..."
	}
	return fmt.Sprintf("carsync: unusable model state %q: %s", st, e.reason)
}

func (e *stateError) Is(target error) bool { return target == ErrUnusableState }

// notPossibleError is ErrIncrementalNotPossible for a state that exists
// but cannot start a window (it matches both sentinels).
type notPossibleError struct{ why error }

func (e *notPossibleError) Error() string {
	return "carsync: incremental import not possible: " + strings.TrimPrefix(e.why.Error(), "carsync: ")
}

func (e *notPossibleError) Unwrap() []error { return []error{ErrIncrementalNotPossible, e.why} }

type run struct {
	cfg Config
	// carAssets are the ids of the assets CAR held for the source when
	// the score check listed them (incremental, QualysScores); nil until
	// then.
	carAssets map[int64]bool
	log       *slog.Logger
	sum       *Summary
	im        *car.Import
	since     time.Time
	sentQIDs  map[int64]bool
	done      map[int64]bool // asset ids already mapped in this run
	lastLog   time.Time
	start     time.Time
	// orphans are gateway assets that matched no host asset page.
	orphans []*qualys.Asset
	// callsBefore is the client's call count when the run started, so
	// that a shared client reports this run's calls.
	callsBefore map[string]int64
	// expected is the number of host assets the preflight counted.
	expected int
}

// ConfigError reports a Config Run cannot use, in the shape of every
// other package's ConfigError: Option names the field.
type ConfigError struct {
	Option string
	Reason string
}

// Error describes the invalid field.
func (e *ConfigError) Error() string { return "carsync: invalid " + e.Option + ": " + e.Reason }

// Run performs one import.
func Run(ctx context.Context, cfg Config) (*Summary, error) {
	if cfg.Qualys == nil || cfg.CAR == nil {
		return nil, &ConfigError{Option: "Config.Qualys, Config.CAR", Reason: "both clients are required"}
	}
	if err := cfg.Source.Validate(); err != nil {
		return nil, err
	}
	if cfg.RiskScores != QualysScores && cfg.RiskScores != SeverityScores {
		return nil, &ConfigError{Option: "Config.RiskScores", Reason: "want carsync.QualysScores or carsync.SeverityScores"}
	}
	if cfg.DetectionSplit < 0 || cfg.DetectionSplit > qualys.MaxHostAssetPageSize {
		return nil, &ConfigError{Option: "Config.DetectionSplit", Reason: fmt.Sprintf("%d: want 0 (automatic) to %d", cfg.DetectionSplit, qualys.MaxHostAssetPageSize)}
	}
	if cfg.PageSize <= 0 || cfg.PageSize > qualys.MaxHostAssetPageSize {
		cfg.PageSize = qualys.MaxHostAssetPageSize
	}
	if cfg.ProgressEvery <= 0 {
		cfg.ProgressEvery = 5 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &run{cfg: cfg, log: log, sum: &Summary{}, sentQIDs: map[int64]bool{}, done: map[int64]bool{}, start: time.Now(), callsBefore: cfg.Qualys.Calls()}
	r.sum.Until = cfg.Now().UTC().Truncate(time.Second)

	mode, err := r.chooseMode(ctx)
	if err != nil {
		return nil, err
	}
	r.sum.Mode, r.sum.Since = mode, r.since
	carMode := car.Full
	if mode == Incremental {
		carMode = car.Incremental
	}
	// A cheap preflight (QPS calls are not rate-limited): it proves the
	// Qualys credentials before CAR is touched, and sizes the run.
	expected, err := cfg.Qualys.HostAssets.Count(ctx, &qualys.HostAssetQuery{UpdatedSince: r.since})
	if err != nil {
		return nil, fmt.Errorf("carsync: counting Qualys host assets: %w", err)
	}
	r.expected = expected
	log.Info("carsync: starting", "mode", mode.String(), "source", cfg.Source.Key, "since", fmtTime(r.since), "until", fmtTime(r.sum.Until), "host_assets_in_window", expected)
	program := cfg.Program
	if program == "" {
		program = "qualysbridge"
	}
	iopts := []car.ImportOption{car.WithModelStateID(FormatState(r.sum.Until)),
		car.WithReportDescription(cfg.Source.Key + " reports, imported by " + program)}
	if cfg.Sequential {
		// One request at a time, from the write stage: the same requests
		// in the same order every run.
		iopts = append(iopts, car.WithConcurrentPosts(1))
	}
	r.im, err = cfg.CAR.NewImport(ctx, cfg.Source, carMode, iopts...)
	if err != nil {
		return nil, fmt.Errorf("carsync: starting the CAR import: %w", err)
	}
	if mode == Full {
		err = r.full(ctx)
	} else {
		err = r.incremental(ctx)
	}
	if err != nil {
		r.im.Abort()
		r.finishSummary()
		return r.sum, err
	}
	isum, err := r.im.Close(ctx)
	r.sum.Import = isum
	r.finishSummary()
	if err != nil {
		return r.sum, fmt.Errorf("carsync: finishing the CAR import: %w", err)
	}
	r.progress(true, nil)
	return r.sum, nil
}

// chooseMode ensures the CAR database and decides the run's mode from the
// configured one and the model state saved on the source: an incremental
// run needs a readable state on a database that was not just created
// (Auto falls back to Full; Incremental fails with
// ErrIncrementalNotPossible). It sets r.since for an incremental run.
func (r *run) chooseMode(ctx context.Context) (Mode, error) {
	cfg := r.cfg
	created, err := cfg.CAR.EnsureDatabase(ctx)
	if err != nil {
		return 0, fmt.Errorf("carsync: CAR database: %w", err)
	}
	if cfg.Mode == Full {
		return Full, nil
	}
	state, ok, err := cfg.CAR.ModelStateID(ctx, cfg.Source.Key)
	if err != nil {
		return 0, fmt.Errorf("carsync: reading the model state: %w", err)
	}
	if !ok || created {
		if cfg.Mode == Incremental {
			return 0, ErrIncrementalNotPossible
		}
		return Full, nil
	}
	since, why := r.trustState(state)
	if why != nil {
		if cfg.Mode == Incremental {
			return 0, &notPossibleError{why}
		}
		r.log.Warn("carsync: the model state saved on the CAR source cannot start a window; running a full import", "state", clip(state, 40), "reason", why.Error())
		return Full, nil
	}
	r.since = since
	return Incremental, nil
}

// trustState reads the saved model state as the start of this run's
// window, or says why it cannot be one: unreadable, not a representable
// instant (ParseState), or later than this run's start (a run on a host
// whose clock was ahead saved it: the window [state, now] would be empty,
// or a change made before the state would never be seen). A state that is
// not trusted makes an Auto run a full import (with a WARN naming it), so
// no run covers an empty window silently and no state makes every run
// fail.
func (r *run) trustState(state string) (time.Time, error) {
	since, err := ParseState(state)
	if err != nil {
		return time.Time{}, err
	}
	if now := r.cfg.Now(); since.After(now) {
		return time.Time{}, &stateError{state: state, reason: fmt.Sprintf("%s is later than this run's start %s (a clock ahead saved it)", since.Format(time.RFC3339), now.UTC().Format(time.RFC3339))}
	}
	return since, nil
}

// clip shortens s to n bytes for a log line.
func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(time.RFC3339)
}

func (r *run) finishSummary() {
	r.sum.Duration = time.Since(r.start)
	r.sum.QualysCalls = r.calls()
}

// calls returns this run's calls per Qualys API.
func (r *run) calls() map[string]int64 {
	out := map[string]int64{}
	for api, n := range r.cfg.Qualys.Calls() {
		if d := n - r.callsBefore[api]; d > 0 {
			out[api] = d
		}
	}
	return out
}

// progress logs counts, calls and the rate, at most every ProgressEvery:
// the summary's and, while a pipeline runs, its join stage's (called from
// that stage only).
func (r *run) progress(final bool, running *counts) {
	now := time.Now()
	if !final && now.Sub(r.lastLog) < r.cfg.ProgressEvery {
		return
	}
	r.lastLog = now
	var calls int64
	for _, c := range r.calls() {
		calls += c
	}
	sum := *r.sum
	if running != nil {
		running.addTo(&sum)
	}
	attrs := []any{"hosts", sum.Hosts, "detections", sum.Detections, "applications", sum.Applications,
		"vertices", sum.Vertices, "edges", sum.Edges,
		"qualys_calls", calls, "hosts_per_sec", fmt.Sprintf("%.1f", float64(sum.Hosts)/max(time.Since(r.start).Seconds(), 0.001))}
	if rt, ok := r.cfg.Qualys.Rate(); ok && rt.Limit > 0 {
		attrs = append(attrs, "calls_left", rt.Remaining, "limit", fmt.Sprintf("%d/%s", rt.Limit, rt.Window))
	}
	if final {
		r.log.Info("carsync: done", attrs...)
		return
	}
	r.log.Info("carsync: progress", attrs...)
}
