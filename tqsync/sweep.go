package tqsync

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/qualysbridge/qualysbridge/mapping"
	"github.com/qualysbridge/qualysbridge/qualys"
	"github.com/qualysbridge/qualysbridge/threatq"
)

// DefaultCVEsPerList is the number of CVEs a Sweep searches with one
// dynamic search list. Qualys documents no maximum for a search list's
// cve_ids; 25 keeps the list's QIDs (a CVE maps to one to a few dozen
// QIDs) within the few hundred that one KnowledgeBase call and one
// detection listing's qids parameter carry comfortably, while cutting the
// search-list calls of a 400-CVE watch list from 1,200 to 48.
const DefaultCVEsPerList = 25

// SweepConfig is one sweep: the operation for many CVEs at once.
type SweepConfig struct {
	// Config is the operation's configuration: clients, CVEs, filters,
	// toggles, source, batch size, logger and OnHost, with the meaning
	// they have in Run.
	Config
	// CVEsPerList is the number of CVEs searched with one dynamic search
	// list (default DefaultCVEsPerList).
	CVEsPerList int
	// Select, when set, takes the CVEs from ThreatQ: the indicators of
	// type CVE the query selects (its Type is set to CVE). Config.CVEs must
	// then be empty. Indicator values that are not CVE ids are skipped and
	// counted in SweepSummary.SkippedIndicators.
	Select *threatq.IndicatorQuery
	// KeepRelations keeps a CVE indicator's relations to Assets that are
	// fixed or no longer reported. By default they are removed, as
	// ThreatQ's own Qualys feed unrelates patched vulnerabilities and CVE
	// indicators from assets: a relation then means "vulnerable now", and
	// an analyst's view of a CVE's blast radius shrinks as hosts are
	// patched. Sites that want the history set it; the Assets' Scan Status
	// and Last Found Date attributes are updated either way.
	KeepRelations bool
}

// SweepSummary is what a sweep found and stored, per CVE in the order
// given, with the number of search lists it used.
type SweepSummary struct {
	Summary
	// SearchLists is the number of batches searched, each with one
	// dynamic search list (deleted whatever happened).
	SearchLists int `json:"search_lists"`
	// Fixed is the number of (host, CVE) pairs whose detections are all
	// Fixed.
	Fixed int `json:"fixed"`
	// Unrelated is the number of relations removed (fixed or no longer
	// reported hosts).
	Unrelated int `json:"unrelated"`
	// SkippedIndicators counts selected indicators whose value is not a
	// CVE id.
	SkippedIndicators int `json:"skipped_indicators,omitempty"`
}

// Sweep runs the operation for every CVE of cfg.CVEs with a handful of
// Qualys calls: the CVEs are searched CVEsPerList at a time, each batch
// with one dynamic search list (always deleted, as in Run), one
// KnowledgeBase call that tells which QID belongs to which CVE (exact
// matches only) and one detection listing (per IP family when IPs are
// filtered). A host's detections are then split by CVE and each CVE's
// vulnerable hosts are stored exactly as Run stores them.
//
// Where a sweep's end state differs from len(CVEs) single runs: it follows
// remediation. The listing includes Fixed detections: a host whose
// detections of a CVE are all Fixed is counted in CVESummary.Fixed, not
// stored as vulnerable, and, when this program had related its Asset to
// the CVE, the Asset's current-state attributes say Fixed and its relation
// to the CVE is removed (kept with KeepRelations); an Asset Qualys no
// longer reports at all for the CVE is unrelated too, unless a filter
// narrowed the search. Relations other sources made are never touched.
// Single runs only add. With no add toggle (AddAssets,
// AddDiscoveredAssets) a sweep writes nothing: it reads and reports, as
// Run does then (AddTagsToCVEs alone tags the CVE indicators).
//
// Memory holds, per CVE of the batch being listed, its pending ThreatQ
// batch (at most BatchSize hosts) and its tags: it does not grow with the
// number of hosts. The sweep stops at the first error, with the summary of
// the CVEs done so far.
func Sweep(ctx context.Context, cfg SweepConfig) (*SweepSummary, error) {
	start := time.Now()
	sum := &SweepSummary{Summary: Summary{Toggles: cfg.Toggles}}
	defer func() {
		sum.Duration = time.Since(start)
		sum.DurationSeconds = sum.Duration.Seconds()
	}()
	if cfg.Select != nil {
		if len(cfg.CVEs) > 0 {
			return sum, configError("CVEs", "give CVEs or Select, not both")
		}
		if cfg.ThreatQ == nil {
			return sum, configError("ThreatQ", "a *threatq.Client is required to select CVEs from ThreatQ")
		}
		sel := *cfg.Select
		sel.Type = "CVE"
		// Deduplicated as they stream: memory follows the distinct CVEs,
		// whatever a server repeats.
		seen := map[string]bool{}
		for ind, err := range cfg.ThreatQ.QueryIndicators(ctx, &sel) {
			if err != nil {
				return sum, &StoreError{CVE: "(selection)", Err: err}
			}
			v := strings.ToUpper(strings.TrimSpace(ind.Value))
			if !qualys.ValidCVE(v) {
				sum.SkippedIndicators++
				continue
			}
			if !seen[v] {
				seen[v] = true
				cfg.CVEs = append(cfg.CVEs, v)
			}
		}
		if len(cfg.CVEs) == 0 {
			return sum, nil // nothing selected: nothing to search
		}
	}
	if err := cfg.validate(); err != nil {
		return sum, err
	}
	if cfg.CVEsPerList < 0 {
		return sum, configError("CVEsPerList", "must not be negative")
	}
	per := cfg.CVEsPerList
	if per == 0 {
		per = DefaultCVEsPerList
	}
	log := cfg.logger()
	groupIDs, err := cfg.groupIDs(ctx)
	if err != nil {
		return sum, err
	}
	cves := dedupe(cfg.CVEs)
	for i := 0; i < len(cves); i += per {
		batch := cves[i:min(i+per, len(cves))]
		runs, listed, err := sweepBatch(ctx, cfg, batch, groupIDs, log)
		if listed {
			sum.SearchLists++
		}
		for _, r := range runs {
			sum.CVEs = append(sum.CVEs, r.sum)
			sum.Hosts += r.sum.Hosts
			sum.Stored += r.sum.Stored
			sum.Fixed += r.sum.Fixed
			sum.Unrelated += r.sum.Unrelated
		}
		if err != nil {
			return sum, err
		}
		log.Info("tqsync: sweep batch done", "cves", len(batch), "first", batch[0], "last", batch[len(batch)-1])
	}
	return sum, nil
}

// dedupe drops repeated CVE ids, keeping the first occurrence's place.
func dedupe(cves []string) []string {
	seen := make(map[string]bool, len(cves))
	out := make([]string, 0, len(cves))
	for _, c := range cves {
		if !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	return out
}

// sweepBatch searches one batch of CVEs with one search list and stores
// each CVE's hosts. It returns the runs of the batch's CVEs, in order,
// with what each did before an error, and whether Qualys was searched.
func sweepBatch(ctx context.Context, sc SweepConfig, batch []string, groupIDs []int64, log *slog.Logger) (runs []*cveRun, listed bool, err error) {
	cfg := sc.Config
	runs = make([]*cveRun, len(batch))
	defer func() {
		for _, r := range runs {
			if r != nil {
				r.abort()
			}
		}
	}()
	index := make(map[string]*cveRun, len(batch))
	for i, cve := range batch {
		runs[i] = newCVERun(cfg, cve)
		runs[i].related, runs[i].fixed = map[string][]int64{}, map[string]*qualys.DetectionHost{}
		index[cve] = runs[i]
		if cfg.ThreatQ != nil {
			if err := runs[i].loadRelated(ctx); err != nil {
				return runs, false, err
			}
		}
	}
	var qidCVEs map[int64][]string
	q := cfg.query(batch, groupIDs, log)
	q.Statuses = []qualys.DetectionStatus{qualys.StatusNew, qualys.StatusActive, qualys.StatusReOpened, qualys.StatusFixed}
	q.OnQIDs = func(m map[int64][]string) { qidCVEs = m }
	var failed error
	for h, err := range cfg.Qualys.VulnerableHosts(ctx, q) {
		if err != nil {
			failed = fmt.Errorf("tqsync: searching Qualys for %s..%s: %w", batch[0], batch[len(batch)-1], err)
			break
		}
		if failed = splitHost(ctx, h, batch, qidCVEs, index); failed != nil {
			break
		}
	}
	if failed != nil {
		return runs, true, failed
	}
	for _, r := range runs {
		if err := r.flush(ctx); err != nil {
			return runs, true, err
		}
		// The fixed Assets' attributes go through the CVE's writer, so
		// that one read reconciles every Asset of the CVE.
		pivots, err := r.followRemediation(ctx, sc)
		if err != nil {
			return runs, true, err
		}
		if err := r.closeWriter(ctx); err != nil {
			return runs, true, err
		}
		if err := r.tagCVE(ctx); err != nil {
			return runs, true, err
		}
		if len(pivots) > 0 {
			if err := cfg.ThreatQ.Unrelate(ctx, threatq.CollectionIndicators, r.relatedInd, r.assetColl, pivots); err != nil {
				return runs, true, &StoreError{CVE: r.cve, Err: err}
			}
			r.sum.Unrelated = len(pivots)
		}
	}
	return runs, true, nil
}

// writes reports whether the sweep writes Assets: an add toggle is on.
// Without one, a sweep reads and reports, as Run, and writes nothing (the
// CVE indicator's tags aside, with AddTagsToCVEs).
func (sc *SweepConfig) writes() bool { return sc.Toggles.AddAssets || sc.Toggles.AddDiscoveredAssets }

// narrowed reports whether a filter narrows the search, so that a host
// not reported may be one the filters left out rather than one Qualys no
// longer finds vulnerable.
func (f Filters) narrowed() bool {
	return len(f.IPs) > 0 || !f.FoundAfter.IsZero() || f.MinSeverity > 1 || len(f.AssetGroupIDs) > 0 || len(f.AssetGroupTitles) > 0
}

// loadRelated reads, before the listing, the CVE indicator's relations to
// Assets this program stored: those carrying its source. Relations to
// Assets without it were made by someone else and are left alone.
func (r *cveRun) loadRelated(ctx context.Context) error {
	tq := r.cfg.ThreatQ
	ind, err := tq.FindIndicator(ctx, "CVE", r.cve)
	if err != nil {
		return &StoreError{CVE: r.cve, Err: err}
	}
	if ind == nil {
		return nil // no indicator yet: no relations
	}
	coll, err := tq.AssetCollection(ctx)
	if err != nil {
		return &StoreError{CVE: r.cve, Err: err}
	}
	r.relatedInd, r.assetColl = ind.ID, coll
	src := r.cfg.source()
	for rel, err := range tq.Related(ctx, threatq.CollectionIndicators, ind.ID, coll) {
		if err != nil {
			return &StoreError{CVE: r.cve, Err: err}
		}
		if slices.Contains(rel.Sources, src) {
			r.related[rel.Value] = append(r.related[rel.Value], rel.PivotID)
		}
	}
	return nil
}

// followRemediation brings the relations loadRelated read in line with
// what Qualys reported: an Asset whose host is now fixed gets its
// current-state attributes updated (Scan Status Fixed, Last Found Date,
// written through the CVE's writer) and, unless KeepRelations, is to be
// unrelated; an Asset Qualys no longer reports at all for the CVE is to be
// unrelated too, when no filter narrowed the search. It returns the pivots
// to unrelate. Assets reported vulnerable were taken out of the set as
// they streamed by. Without an add toggle it writes and unrelates nothing.
func (r *cveRun) followRemediation(ctx context.Context, sc SweepConfig) ([]int64, error) {
	if len(r.related) == 0 || sc.ThreatQ == nil || !sc.writes() {
		return nil, nil
	}
	var fixed []threatq.Asset
	var pivots []int64
	values := make([]string, 0, len(r.related))
	for v := range r.related {
		values = append(values, v)
	}
	slices.Sort(values)
	for _, v := range values {
		if h := r.fixed[v]; h != nil {
			fixed = append(fixed, mapping.ThreatQ(h, mapping.ThreatQOptions{Source: r.cfg.Source}))
		} else if sc.Filters.narrowed() {
			continue
		}
		pivots = append(pivots, r.related[v]...)
	}
	if len(fixed) > 0 {
		if err := r.ensureWriter(ctx); err != nil {
			return nil, err
		}
		if err := r.writer.Write(ctx, fixed, nil); err != nil {
			return nil, &StoreError{CVE: r.cve, Err: err}
		}
	}
	if sc.KeepRelations {
		return nil, nil
	}
	return pivots, nil
}

// splitHost hands each CVE of the batch the host with its detections of
// that CVE; a host whose detections of a CVE are all Fixed is counted as
// fixed for it.
func splitHost(ctx context.Context, h *qualys.DetectionHost, batch []string, qidCVEs map[int64][]string, index map[string]*cveRun) error {
	for _, cve := range batch {
		var open []qualys.Detection
		matched := false
		for _, d := range h.Detections {
			if !slices.Contains(qidCVEs[d.QID], cve) {
				continue
			}
			matched = true
			if d.Status != qualys.StatusFixed {
				open = append(open, d)
			}
		}
		if !matched {
			continue
		}
		r := index[cve]
		value := mapping.ThreatQValue(h)
		if len(open) == 0 {
			r.sum.Fixed++
			if _, ours := r.related[value]; ours && value != "" {
				// The host without its other detections: what the
				// fixed Asset's attributes need.
				cp := *h
				cp.Detections = nil
				for _, d := range h.Detections {
					if slices.Contains(qidCVEs[d.QID], cve) {
						cp.Detections = append(cp.Detections, d)
					}
				}
				r.fixed[value] = &cp
			}
			continue
		}
		delete(r.related, value) // vulnerable now: the relation stays
		one := *h
		one.Detections = open
		if err := r.add(ctx, &one); err != nil {
			return err
		}
	}
	return nil
}
