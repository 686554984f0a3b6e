// Package tqsync runs the ThreatQ "Search for Vulnerable Hosts" operation
// as a library flow, the ThreatQ twin of carsync: for each CVE it lists the
// Qualys hosts vulnerable to exactly that CVE (through a dynamic search
// list that is always deleted, with the operation's filters), and stores
// them in ThreatQ as Asset objects related to the CVE indicator, as the
// toggles ask. A SOAR step, a cron job or the threatq-operation program
// embeds it the same way:
//
//	sum, err := tqsync.Run(ctx, tqsync.Config{
//		Qualys: qc, ThreatQ: tc, CVEs: []string{"CVE-2019-17053"},
//		Toggles: tqsync.Toggles{AddAssets: true},
//		OnHost:  func(h tqsync.Host) { fmt.Println(h.CVE, h.Detection.IP, h.Stored) },
//	})
//
// Hosts are handled as they stream in, a batch of Config.BatchSize at a
// time: memory does not grow with the number of vulnerable hosts.
//
// The toggles, as the operation's guide lists them (it gives two of them
// the same description; this reading is documented in the README):
//
//   - AddAssets ("Add Assets to ThreatQ"): hosts with a confirmed detection
//     of the CVE are stored.
//   - AddDiscoveredAssets ("Add Discovered Assets to ThreatQ"): hosts on
//     which Qualys found only potential detections are stored.
//   - AddTagsToCVEs ("Add Asset Tags to CVEs"): the CVE indicator gets the
//     tags of its vulnerable hosts.
//
// A host that a toggle left out is reported (Host.NeedsToggle, and the
// counts in Summary) so that a caller can say which toggle would store it.
//
// Attributes that describe a host's current state are updated in place
// when the operation runs again after a rescan (see go doc ./mapping).
//
// Sweep runs the operation for many CVEs at once (one search list per
// CVEsPerList CVEs), takes them from ThreatQ's CVE indicators if asked, and
// keeps relations true: fixed hosts are marked Fixed and unrelated.
package tqsync

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/qualysbridge/qualysbridge/mapping"
	"github.com/qualysbridge/qualysbridge/qualys"
	"github.com/qualysbridge/qualysbridge/threatq"
)

// DefaultBatchSize is the number of hosts gathered before their Assets are
// written (one consume request: threatq.BulkBatch, the vendor SDK's size).
const DefaultBatchSize = threatq.BulkBatch

// Toggles are the operation's three switches.
type Toggles struct {
	// AddAssets stores hosts with a confirmed detection of the CVE.
	AddAssets bool
	// AddDiscoveredAssets stores hosts with only potential detections.
	AddDiscoveredAssets bool
	// AddTagsToCVEs tags the CVE indicator with its hosts' tags.
	AddTagsToCVEs bool
	// AddScores adds to each stored Asset the current-state attributes
	// QDS (the host's highest Qualys Detection Score for the CVE) and
	// TruRisk Score (one Host List call per batch of stored hosts). Off
	// by default, so that the Assets carry the operation's guide's
	// attributes; it stores nothing by itself.
	AddScores bool
}

// Any reports whether any toggle is on (ThreatQ is then needed).
func (t Toggles) Any() bool { return t.AddAssets || t.AddDiscoveredAssets || t.AddTagsToCVEs }

// Filters narrow the search, with Qualys' semantics: every filter given
// must hold (AND).
type Filters struct {
	// IPs: IPv4 addresses, ranges a-b and CIDR blocks, and IPv6 addresses
	// (qualys.SplitIPFilters). Hosts matching any of them are kept.
	IPs []string
	// FoundAfter keeps detections last found after this time.
	FoundAfter time.Time
	// MinSeverity keeps detections of this severity or higher (1-5; 0
	// means all).
	MinSeverity int
	// AssetGroupIDs and AssetGroupTitles keep hosts in one of these asset
	// groups. Titles are resolved to ids first (exactly, case included;
	// an unknown title is an error naming it) and only ids are sent, so
	// that a mix of ids and titles means "in any of these groups" rather
	// than Qualys' AND of ag_ids and ag_titles.
	AssetGroupIDs    []int64
	AssetGroupTitles []string
}

// Config is one run of the operation.
type Config struct {
	Qualys *qualys.Client
	// ThreatQ is required when a toggle is on; nil only searches.
	ThreatQ *threatq.Client
	CVEs    []string
	Filters Filters
	Toggles Toggles
	// Source is the ThreatQ source name (default "Qualys").
	Source string
	// Title prefixes the temporary search list's title (default
	// "qualysbridge tqsync").
	Title string
	// BatchSize is the number of Assets per ThreatQ write (default
	// DefaultBatchSize).
	BatchSize int
	// Logger receives progress at Info; nil logs nothing.
	Logger *slog.Logger
	// OnHost, if set, is called for each vulnerable host once it has been
	// handled (stored or not), in the order found. The Host and its
	// Detection are valid only during the call.
	OnHost func(Host)
}

// Toggle names a toggle in Host.NeedsToggle.
type Toggle string

// The toggles a left-out host needs.
const (
	ToggleAddAssets           Toggle = "AddAssets"
	ToggleAddDiscoveredAssets Toggle = "AddDiscoveredAssets"
)

// Host is one vulnerable host as the operation handled it.
type Host struct {
	CVE       string
	Detection *qualys.DetectionHost
	// Confirmed is true when one of the host's detections of the CVE is
	// confirmed; false when all are potential.
	Confirmed bool
	// Stored is true when the host is now an Asset in ThreatQ.
	Stored bool
	// AssetID is the ThreatQ Asset's id when Stored.
	AssetID int64
	// NeedsToggle names the toggle that would have stored the host, when
	// it was left out because that toggle is off.
	NeedsToggle Toggle
	// NotStorable is set when no toggle can store the host (it has no
	// address to be the Asset's value).
	NotStorable string
}

// CVESummary is what one CVE's search found and stored.
type CVESummary struct {
	CVE string `json:"cve"`
	// Hosts is the number of vulnerable hosts; Confirmed of them had a
	// confirmed detection, PotentialOnly only potential ones.
	Hosts         int `json:"hosts"`
	Confirmed     int `json:"confirmed"`
	PotentialOnly int `json:"potential_only"`
	Stored        int `json:"stored"`
	// NotStoredConfirmed hosts were left out because AddAssets is off,
	// NotStoredPotential because AddDiscoveredAssets is off.
	NotStoredConfirmed int `json:"not_stored_confirmed"`
	NotStoredPotential int `json:"not_stored_potential"`
	NotStorable        int `json:"not_storable"`
	// IndicatorID is the CVE indicator's id in ThreatQ (0 when nothing
	// was written).
	IndicatorID int64 `json:"indicator_id,omitempty"`
	TagsAdded   int   `json:"tags_added,omitempty"`
	// Fixed is, in a Sweep, the number of hosts whose detections of the
	// CVE are all Fixed (not counted in Hosts, not stored as vulnerable).
	Fixed int `json:"fixed,omitempty"`
	// Unrelated is, in a Sweep, the number of Assets unrelated from the
	// CVE indicator: fixed, or no longer reported.
	Unrelated int `json:"unrelated,omitempty"`
}

// Summary is what a run found and stored.
type Summary struct {
	CVEs     []CVESummary  `json:"cves"`
	Hosts    int           `json:"hosts"`
	Stored   int           `json:"stored"`
	Toggles  Toggles       `json:"-"`
	Duration time.Duration `json:"-"`
	// DurationSeconds is Duration in seconds, for JSON.
	DurationSeconds float64 `json:"duration_seconds"`
}

// ConfigError reports an invalid Config.
type ConfigError struct {
	// Option names the field, in the shape of every other package's
	// ConfigError.
	Option string
	// Field is Option.
	//
	// Deprecated: use Option; Field will be removed in the next release.
	Field  string
	Reason string
}

// Error describes the invalid field.
func (e *ConfigError) Error() string { return "tqsync: invalid " + e.Option + ": " + e.Reason }

// configError is a ConfigError for a field.
func configError(field, reason string) *ConfigError {
	return &ConfigError{Option: field, Field: field, Reason: reason}
}

// StoreError wraps a ThreatQ failure, so that a caller can tell it from a
// Qualys one with errors.As.
type StoreError struct {
	CVE string
	Err error
}

func (e *StoreError) Error() string {
	return fmt.Sprintf("tqsync: storing the hosts of %s in ThreatQ: %v", e.CVE, e.Err)
}

// Unwrap returns the ThreatQ error.
func (e *StoreError) Unwrap() error { return e.Err }

// Run runs the operation for every CVE in turn. It stops at the first
// error, with the summary of what was done so far.
func Run(ctx context.Context, cfg Config) (*Summary, error) {
	start := time.Now()
	sum := &Summary{Toggles: cfg.Toggles}
	if err := cfg.validate(); err != nil {
		return sum, err
	}
	log := cfg.logger()
	groupIDs, err := cfg.groupIDs(ctx)
	if err != nil {
		return sum, err
	}
	defer func() {
		sum.Duration = time.Since(start)
		sum.DurationSeconds = sum.Duration.Seconds()
	}()
	for _, cve := range cfg.CVEs {
		cs, err := runCVE(ctx, cfg, cve, groupIDs, log)
		sum.CVEs = append(sum.CVEs, cs)
		sum.Hosts += cs.Hosts
		sum.Stored += cs.Stored
		if err != nil {
			return sum, err
		}
		log.Info("tqsync: CVE done", "cve", cve, "hosts", cs.Hosts, "stored", cs.Stored,
			"not_stored_confirmed", cs.NotStoredConfirmed, "not_stored_potential", cs.NotStoredPotential)
	}
	return sum, nil
}

// logger is Config.Logger, or one that discards.
func (cfg *Config) logger() *slog.Logger {
	if cfg.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return cfg.Logger
}

// source is the ThreatQ source name.
func (cfg *Config) source() string { return cmp.Or(cfg.Source, "Qualys") }

// groupIDs resolves the asset group filter to ids: titles are resolved
// once a run, and only ids are sent.
func (cfg *Config) groupIDs(ctx context.Context) ([]int64, error) {
	ids := append([]int64(nil), cfg.Filters.AssetGroupIDs...)
	if len(cfg.Filters.AssetGroupTitles) > 0 {
		resolved, err := cfg.Qualys.AssetGroups.ResolveTitles(ctx, cfg.Filters.AssetGroupTitles)
		if err != nil {
			return nil, fmt.Errorf("tqsync: resolving asset group titles: %w", err)
		}
		ids = append(ids, resolved...)
	}
	return ids, nil
}

// query is the Qualys search for cves with the run's filters; the search
// list it creates is always deleted, and a failed deletion is logged with
// the list's id.
func (cfg *Config) query(cves []string, groupIDs []int64, log *slog.Logger) *qualys.VulnerableHostsQuery {
	return &qualys.VulnerableHostsQuery{CVEs: cves, IPs: cfg.Filters.IPs, FoundAfter: cfg.Filters.FoundAfter,
		MinSeverity: cfg.Filters.MinSeverity, AssetGroupIDs: groupIDs, Title: cmp.Or(cfg.Title, "qualysbridge tqsync"), ShowQDS: cfg.Toggles.AddScores,
		OnCleanupError: func(id int64, err error) {
			log.Error("tqsync: the Qualys search list could not be deleted; delete it by hand", "search_list_id", id, "error", err)
		}}
}

func (cfg *Config) validate() error {
	if cfg.Qualys == nil {
		return configError("Qualys", "a *qualys.Client is required")
	}
	if cfg.Toggles.Any() && cfg.ThreatQ == nil {
		return configError("ThreatQ", "a *threatq.Client is required when a toggle is on")
	}
	if len(cfg.CVEs) == 0 {
		return configError("CVEs", "at least one CVE id is required")
	}
	for _, c := range cfg.CVEs {
		if !qualys.ValidCVE(c) {
			return configError("CVEs", fmt.Sprintf("invalid CVE id %q (want CVE-YYYY-NNNN)", c))
		}
	}
	if cfg.Filters.MinSeverity < 0 || cfg.Filters.MinSeverity > 5 {
		return configError("Filters.MinSeverity", "want 0 (all) or 1-5")
	}
	if _, _, err := qualys.SplitIPFilters(cfg.Filters.IPs); err != nil {
		return err
	}
	if cfg.BatchSize < 0 {
		return configError("BatchSize", "must not be negative")
	}
	return nil
}

// pendingHost is a host waiting in the batch, with its Asset when it is to
// be stored.
type pendingHost struct {
	Host
	asset *threatq.Asset
}

// cveRun is the state of one CVE's run: the pending batch and the tags.
type cveRun struct {
	cfg       Config
	cve       string
	sum       CVESummary
	indicator int64
	pending   []pendingHost
	assets    []threatq.Asset
	tags      map[string]bool
	// In a Sweep: the CVE indicator's relations to Assets this program
	// stored, read before the listing (Asset value -> pivot ids), less
	// those Qualys reports vulnerable as the hosts stream by; and those of
	// them whose host is now fixed (trimmed to the CVE's detections).
	// Memory follows the relations in ThreatQ, not the hosts listed.
	related    map[string][]int64
	fixed      map[string]*qualys.DetectionHost
	relatedInd int64
	assetColl  string
	// writer stores the CVE's Assets in bulk (see threatq.AssetWriter).
	writer *threatq.AssetWriter
}

func runCVE(ctx context.Context, cfg Config, cve string, groupIDs []int64, log *slog.Logger) (CVESummary, error) {
	r := newCVERun(cfg, cve)
	defer r.abort()
	for h, err := range cfg.Qualys.VulnerableHosts(ctx, cfg.query([]string{cve}, groupIDs, log)) {
		if err != nil {
			return r.sum, fmt.Errorf("tqsync: searching Qualys for %s: %w", cve, err)
		}
		if err := r.add(ctx, h); err != nil {
			return r.sum, err
		}
	}
	return r.sum, r.finish(ctx)
}

func newCVERun(cfg Config, cve string) *cveRun {
	return &cveRun{cfg: cfg, cve: cve, sum: CVESummary{CVE: cve}, tags: map[string]bool{}}
}

// finish writes the last batch, reconciles the Assets' current state and
// writes the CVE indicator's tags.
func (r *cveRun) finish(ctx context.Context) error {
	if err := r.flush(ctx); err != nil {
		return err
	}
	if err := r.closeWriter(ctx); err != nil {
		return err
	}
	return r.tagCVE(ctx)
}

// closeWriter waits for the Assets written and reconciles their
// current-state attributes.
func (r *cveRun) closeWriter(ctx context.Context) error {
	if r.writer == nil {
		return nil
	}
	ws, err := r.writer.Close(ctx)
	r.writer = nil
	if ws != nil {
		r.cfg.logger().Debug("tqsync: assets written", "cve", r.cve, "assets", ws.Assets, "consume_requests", ws.ConsumeRequests,
			"read_pages", ws.ReadPages, "rows_deleted", ws.RowsDeleted)
	}
	if err != nil {
		return &StoreError{CVE: r.cve, Err: err}
	}
	return nil
}

// abort ends a writer left open by a failure: its requests on their way
// end before the run returns.
func (r *cveRun) abort() {
	if r.writer != nil {
		r.writer.Abort()
		r.writer = nil
	}
}

// tagCVE writes the CVE indicator's tags (AddTagsToCVEs).
func (r *cveRun) tagCVE(ctx context.Context) error {
	if r.cfg.Toggles.AddTagsToCVEs && len(r.tags) > 0 {
		if err := r.ensureIndicator(ctx); err != nil {
			return err
		}
		tags := make([]string, 0, len(r.tags))
		for t := range r.tags {
			tags = append(tags, t)
		}
		slices.Sort(tags)
		if err := r.cfg.ThreatQ.AddTags(ctx, threatq.CollectionIndicators, r.indicator, tags); err != nil {
			return &StoreError{CVE: r.cve, Err: err}
		}
		r.sum.TagsAdded = len(tags)
	}
	r.sum.IndicatorID = r.indicator
	return nil
}

func confirmed(h *qualys.DetectionHost) bool {
	for _, d := range h.Detections {
		if d.Type == "Confirmed" {
			return true
		}
	}
	return false
}

// add handles one host: counted, tags collected, queued for storing or
// reported at once.
func (r *cveRun) add(ctx context.Context, h *qualys.DetectionHost) error {
	t := r.cfg.Toggles
	host := Host{CVE: r.cve, Detection: h, Confirmed: confirmed(h)}
	r.sum.Hosts++
	if host.Confirmed {
		r.sum.Confirmed++
	} else {
		r.sum.PotentialOnly++
	}
	if t.AddTagsToCVEs {
		for _, tag := range h.Tags {
			if tag.Name != "" {
				r.tags[tag.Name] = true
			}
		}
	}
	wanted := (host.Confirmed && t.AddAssets) || (!host.Confirmed && t.AddDiscoveredAssets)
	switch {
	case !wanted && host.Confirmed:
		host.NeedsToggle = ToggleAddAssets
		r.sum.NotStoredConfirmed++
	case !wanted:
		host.NeedsToggle = ToggleAddDiscoveredAssets
		r.sum.NotStoredPotential++
	}
	if !wanted {
		return r.queue(ctx, host, nil)
	}
	if err := r.ensureWriter(ctx); err != nil {
		return err
	}
	a := mapping.ThreatQ(h, mapping.ThreatQOptions{Source: r.cfg.Source, IndicatorIDs: []int64{r.indicator}, Scores: t.AddScores})
	if a.Value == "" {
		host.NotStorable = "the host has no valid IP address"
		r.sum.NotStorable++
		return r.queue(ctx, host, nil)
	}
	return r.queue(ctx, host, &a)
}

// queue adds a host (with its Asset when it is to be stored) to the batch,
// so that hosts are reported in the order found, and writes a full batch.
func (r *cveRun) queue(ctx context.Context, h Host, a *threatq.Asset) error {
	r.pending = append(r.pending, pendingHost{Host: h, asset: a})
	if a != nil {
		r.assets = append(r.assets, *a)
	}
	if len(r.pending) >= r.batchSize() {
		return r.flush(ctx)
	}
	return nil
}

func (r *cveRun) batchSize() int {
	if r.cfg.BatchSize > 0 {
		return r.cfg.BatchSize
	}
	return DefaultBatchSize
}

// flush hands the pending Assets to the writer and reports their hosts
// once ThreatQ stored them, in the order found (the writer sends several
// batches at once and hands them back in order).
func (r *cveRun) flush(ctx context.Context) error {
	if len(r.pending) == 0 {
		return nil
	}
	pending, assets := slices.Clone(r.pending), slices.Clone(r.assets)
	r.pending, r.assets = r.pending[:0], r.assets[:0]
	if r.cfg.Toggles.AddScores && len(assets) > 0 {
		if err := r.addTruRisk(ctx, pending, assets); err != nil {
			return err
		}
	}
	done := func(stored []threatq.Asset) {
		ids := make(map[string]int64, len(stored))
		for _, a := range stored {
			ids[a.Value] = a.ID
		}
		for _, p := range pending {
			h := p.Host
			if p.asset != nil {
				h.AssetID = ids[p.asset.Value]
				h.Stored = h.AssetID != 0
				if h.Stored {
					r.sum.Stored++
				}
			}
			r.report(h)
		}
	}
	if r.writer == nil {
		done(nil) // nothing to store: no writer was needed
		return nil
	}
	if err := r.writer.Write(ctx, assets, done); err != nil {
		return &StoreError{CVE: r.cve, Err: err}
	}
	return nil
}

// addTruRisk adds each stored host's TruRisk score to its Asset, read
// with one Host List call for the batch's hosts.
func (r *cveRun) addTruRisk(ctx context.Context, pending []pendingHost, assets []threatq.Asset) error {
	var ids []int64
	for _, p := range pending {
		if p.asset != nil {
			ids = append(ids, p.Detection.ID)
		}
	}
	scores := map[int64]*qualys.Host{}
	for h, err := range r.cfg.Qualys.Hosts.List(ctx, &qualys.HostQuery{IDs: ids, ShowTruRisk: qualys.Bool(true), TruncationLimit: len(ids)}) {
		if err != nil {
			return fmt.Errorf("tqsync: listing TruRisk scores for %s: %w", r.cve, err)
		}
		scores[h.ID] = h
	}
	j := 0
	for _, p := range pending {
		if p.asset != nil {
			mapping.AddTruRisk(&assets[j], scores[p.Detection.ID])
			j++
		}
	}
	return nil
}

func (r *cveRun) report(h Host) {
	if r.cfg.OnHost != nil {
		r.cfg.OnHost(h)
	}
}

func (r *cveRun) ensureIndicator(ctx context.Context) error {
	if r.indicator != 0 {
		return nil
	}
	if r.relatedInd != 0 { // a Sweep found it already
		r.indicator = r.relatedInd
		return nil
	}
	ind, err := r.cfg.ThreatQ.EnsureIndicator(ctx, threatq.Indicator{Type: "CVE", Value: r.cve, Sources: []threatq.Source{{Name: r.cfg.source()}}})
	if err != nil {
		return &StoreError{CVE: r.cve, Err: err}
	}
	r.indicator = ind.ID
	return nil
}

// ensureWriter starts the CVE's Asset writer (once its indicator is
// known).
func (r *cveRun) ensureWriter(ctx context.Context) error {
	if r.writer != nil {
		return nil
	}
	if err := r.ensureIndicator(ctx); err != nil {
		return err
	}
	r.writer = r.cfg.ThreatQ.NewAssetWriter(r.indicator)
	return nil
}
