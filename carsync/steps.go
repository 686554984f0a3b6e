package carsync

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/qualysbridge/qualysbridge/car"
	"github.com/qualysbridge/qualysbridge/mapping"
	"github.com/qualysbridge/qualysbridge/qualys"
)

// allStatuses asks for Fixed detections too, so that their edges can be
// disabled.
var allStatuses = []qualys.DetectionStatus{qualys.StatusNew, qualys.StatusActive, qualys.StatusReOpened, qualys.StatusFixed}

// staleKinds are the asset_<kind> edges whose stale members an incremental
// run disables for a changed asset. Vulnerabilities are added when the
// asset's detections were fetched whole (a QID no longer detected at all,
// rather than reported Fixed, has its edges disabled).
var staleKinds = []string{car.CollIPAddress, car.CollMACAddress, car.CollHostname, car.CollAccount, car.CollGeolocation}

func (r *run) full(ctx context.Context) error {
	if err := r.streamFull(ctx); err != nil {
		return err
	}
	return r.removeGone(ctx, true)
}

// edgeQuery asks for the active edges of coll (<fromKind>_<toKind>) whose
// end of kind where is one of keys.
type edgeQuery struct {
	coll, where string
	keys        []string
}

// queryEdges runs edge queries in one GraphQL request (one aliased root
// field each) and returns, per query, the (from, to) keys of the active
// edges CAR holds, with CAR's "<source>/" prefixes (and an ipaddress id's
// region) removed. A query without keys asks nothing.
func (r *run) queryEdges(ctx context.Context, qs []edgeQuery) ([][][2]string, error) {
	out := make([][][2]string, len(qs))
	var b strings.Builder
	b.WriteString("{")
	asked := 0
	for i, q := range qs {
		if len(q.keys) == 0 {
			continue
		}
		asked++
		fromKind, toKind, _ := strings.Cut(q.coll, "_")
		ids := make([]string, len(q.keys))
		for j, k := range q.keys {
			ids[j] = carID(r.cfg.Source.Key, q.where, k)
		}
		list, _ := json.Marshal(ids)
		fmt.Fprintf(&b, " q%d: %s(where: {%s_id: {_in: %s}}) { %s_id, %s_id }", i, q.coll, q.where, list, fromKind, toKind)
	}
	b.WriteString(" }")
	if asked == 0 {
		return out, nil
	}
	var ans map[string][]map[string]flexID
	if err := r.cfg.CAR.Query(ctx, b.String(), &ans); err != nil {
		colls := make([]string, 0, len(qs))
		for _, q := range qs {
			colls = append(colls, q.coll)
		}
		return nil, fmt.Errorf("carsync: querying CAR for %s edges: %w", strings.Join(colls, ", "), err)
	}
	strip := func(kind, id string) string {
		id = strings.TrimPrefix(id, r.cfg.Source.Key+"/")
		if kind == car.CollIPAddress {
			// CAR's ipaddress ids carry a region: "<source>/<region>/<ip>".
			if i := strings.IndexByte(id, '/'); i >= 0 {
				id = id[i+1:]
			}
		}
		return id
	}
	for i, q := range qs {
		fromKind, toKind, _ := strings.Cut(q.coll, "_")
		for _, row := range ans[fmt.Sprintf("q%d", i)] {
			out[i] = append(out[i], [2]string{strip(fromKind, string(row[fromKind+"_id"])), strip(toKind, string(row[toKind+"_id"]))})
		}
	}
	return out, nil
}

// carID is a vertex's id in CAR's GraphQL: "<source>/<key>", with the
// default region for an address ("<source>/0/<ip>"; the connector sets no
// region).
func carID(source, kind, key string) string {
	if kind == car.CollIPAddress {
		return source + "/0/" + key
	}
	return source + "/" + key
}

// incremental sends what changed since r.since, in three steps (see
// changedAssets, changedDetections and changedApplications), then
// refreshes vulnerabilities if asked and soft-deletes assets gone from
// Qualys.
func (r *run) incremental(ctx context.Context) error {
	handled, err := r.changedAssets(ctx)
	if err != nil {
		return err
	}
	if err := r.changedDetections(ctx, handled); err != nil {
		return err
	}
	if err := r.changedApplications(ctx); err != nil {
		return err
	}
	if err := r.changedScores(ctx); err != nil {
		return err
	}
	if r.cfg.RefreshVulnerabilities {
		if err := r.refreshVulnerabilities(ctx); err != nil {
			return err
		}
	}
	return r.removeGone(ctx, false)
}

// changedAssets is step 1: host assets updated in the window, with their
// whole current detections and their changed applications. The detections
// of a host asset that changed are fetched whole, as a full import fetches
// them (Fixed ones left out), so that those no longer reported (fixed,
// purged, gone from a rescan) are found. It returns the qwebHostIds sent;
// gateway assets that matched no page are left in r.orphans.
func (r *run) changedAssets(ctx context.Context) (handled map[int64]bool, err error) {
	stale := append(append([]string(nil), staleKinds...), car.CollApplication, car.CollVulnerability)
	return r.stream(ctx, streamSpec{hosts: qualys.HostAssetQuery{UpdatedSince: r.since}, changed: true, stale: stale})
}

// changedDetections is step 2: hosts whose detections changed in the
// window although the asset did not (not in handled), sent a page at a
// time with their whole current detections and, when those changed too,
// their applications (taken from r.orphans).
func (r *run) changedDetections(ctx context.Context, handled map[int64]bool) error {
	orphanApps := map[int64]*qualys.Asset{}
	for _, a := range r.orphans {
		orphanApps[a.AssetID] = a
	}
	// Only the ids are kept (8 bytes a host): the window's listing holds
	// only the detections that changed, and the hosts' whole sets are
	// asked for. They are sent once the listing has ended, never from
	// inside it: an open listing holds one of the API's concurrency
	// slots, and at a limit of one the hosts' own detection calls would
	// wait for it for ever.
	var ids []int64
	q := qualys.DetectionQuery{Status: allStatuses, DetectionUpdatedSince: r.since, TruncationLimit: r.cfg.PageSize}
	for h, err := range r.cfg.Qualys.Detections.List(ctx, &q) {
		if err != nil {
			return fmt.Errorf("carsync: listing changed detections: %w", err)
		}
		if !handled[h.ID] {
			ids = append(ids, h.ID)
		}
	}
	return r.sendHostsInPages(ctx, ids, orphanApps)
}

// sendHostsInPages sends the hosts of the given VM host ids a page at a
// time (sendChangedHosts), each id once.
func (r *run) sendHostsInPages(ctx context.Context, ids []int64, orphanApps map[int64]*qualys.Asset) error {
	slices.Sort(ids)
	ids = slices.Compact(ids)
	for start := 0; start < len(ids); start += r.cfg.PageSize {
		pending := map[int64]bool{}
		for _, id := range ids[start:min(start+r.cfg.PageSize, len(ids))] {
			pending[id] = true
		}
		if err := r.sendChangedHosts(ctx, pending, orphanApps); err != nil {
			return err
		}
	}
	return nil
}

// sendChangedHosts sends the host assets of the pending detection hosts.
// The window's listing holds only the detections that changed: these
// hosts' whole sets are asked for, so that QIDs no longer detected are
// found.
func (r *run) sendChangedHosts(ctx context.Context, pending map[int64]bool, orphanApps map[int64]*qualys.Asset) error {
	if len(pending) == 0 {
		return nil
	}
	ids := make([]string, 0, len(pending))
	for id := range pending {
		ids = append(ids, strconv.FormatInt(id, 10))
	}
	sort.Strings(ids)
	// The hosts' applications changed too when the gateway listed them
	// (orphanApps); applications are not fetched otherwise.
	stale := []string{car.CollVulnerability}
	if len(orphanApps) > 0 {
		stale = append(stale, car.CollApplication)
	}
	_, err := r.stream(ctx, streamSpec{hosts: whereIn("qwebHostId", ids), apps: orphanApps, stale: stale})
	return err
}

// whereIn is a host asset listing of the assets whose field is IN ids.
func whereIn(field string, ids []string) qualys.HostAssetQuery {
	return qualys.HostAssetQuery{Criteria: []qualys.Criteria{{Field: field, Operator: "IN", Value: strings.Join(ids, ",")}}}
}

// changedApplications is step 3: assets whose applications changed
// although the asset did not (the r.orphans not sent yet), sent with
// their applications only, a page at a time.
func (r *run) changedApplications(ctx context.Context) error {
	orphans := r.orphans
	r.orphans = nil
	for start := 0; start < len(orphans); start += r.cfg.PageSize {
		group := orphans[start:min(start+r.cfg.PageSize, len(orphans))]
		apps := map[int64]*qualys.Asset{}
		var ids []string
		for _, a := range group {
			if r.done[a.AssetID] {
				continue
			}
			apps[a.AssetID] = a
			ids = append(ids, strconv.FormatInt(a.AssetID, 10))
		}
		if len(ids) == 0 {
			continue
		}
		// Sent with their whole detections, so that the
		// application_vulnerability edges a full import would create are
		// created; their application and vulnerability edges are checked
		// for staleness.
		if _, err := r.stream(ctx, streamSpec{hosts: whereIn("id", ids), apps: apps, stale: []string{car.CollVulnerability, car.CollApplication}}); err != nil {
			return err
		}
	}
	return nil
}

// changedScores is step 4 (QualysScores): hosts whose TruRisk or Asset
// Criticality Score changed though nothing the other steps list did (a
// criticality edited, a score recomputed). It reads the risk and business
// value CAR holds for the source's assets (one query, read one asset at a
// time) and every host's scores (one Host List call per scoresPage
// hosts, with each host's asset id), and sends again, a page at a time with their
// whole detections, the hosts this run has not sent whose scores differ
// from CAR's. A host whose asset CAR does not hold, or that the Host List
// gives no asset id, is left to the other steps.
// scoresPage is hosts per Host List call of the score check: the page
// size Qualys' documentation gives as its example (the API's default is
// 1,000), so that 20,000 hosts cost 2 calls.
const scoresPage = 10000

func (r *run) changedScores(ctx context.Context) error {
	if r.cfg.RiskScores != QualysScores {
		return nil
	}
	type held struct{ risk, value *float64 }
	inCAR := map[int64]held{}
	q := fmt.Sprintf(`{ asset(where: {source: {_eq: %q}}) { external_id, risk, business_value } }`, r.cfg.Source.Key)
	for item, err := range r.cfg.CAR.QueryItems(ctx, q, "asset") {
		if err != nil {
			return fmt.Errorf("carsync: listing CAR asset scores: %w", err)
		}
		var a struct {
			ExternalID    flexID   `json:"external_id"`
			Risk          *float64 `json:"risk"`
			BusinessValue *float64 `json:"business_value"`
		}
		if err := json.Unmarshal(item, &a); err != nil {
			return fmt.Errorf("carsync: listing CAR asset scores: a CAR asset: %w", err)
		}
		if id, err := strconv.ParseInt(string(a.ExternalID), 10, 64); err == nil {
			inCAR[id] = held{a.Risk, a.BusinessValue}
		}
	}
	// The same listing tells removeGone which assets CAR holds: one CAR
	// query for both steps.
	r.carAssets = make(map[int64]bool, len(inCAR))
	for id := range inCAR {
		r.carAssets[id] = true
	}
	same := func(a, b *float64) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }
	var ids []int64
	yes := qualys.Bool(true)
	for h, err := range r.cfg.Qualys.Hosts.List(ctx, &qualys.HostQuery{ShowTruRisk: yes, ShowAssetID: yes, TruncationLimit: scoresPage}) {
		if err != nil {
			return fmt.Errorf("carsync: listing host scores: %w", err)
		}
		c, ok := inCAR[h.AssetID]
		if !ok || h.AssetID == 0 || r.done[h.AssetID] {
			continue
		}
		if !same(mapping.AssetRisk(h), c.risk) || !same(mapping.BusinessValue(h), c.value) {
			ids = append(ids, h.ID)
		}
	}
	if len(ids) > 0 {
		r.log.Info("carsync: hosts whose TruRisk or criticality changed", "count", len(ids))
	}
	return r.sendHostsInPages(ctx, ids, nil)
}

// refreshVulnerabilities re-sends, with their current KnowledgeBase fields,
// the vulnerabilities the source holds in CAR that this run did not send.
// The description (a detection's RESULTS) and, when the KnowledgeBase
// gives no CVSS, the base score are kept from CAR, since a vertex is
// replaced on upsert. CAR's answer is read one vulnerability at a time and
// handled kbChunk at a time (one KnowledgeBase call each): memory does not
// grow with the number of vulnerabilities.
func (r *run) refreshVulnerabilities(ctx context.Context) error {
	held := map[int64]*car.Vulnerability{}
	refreshed := 0
	flush := func() error {
		if len(held) == 0 {
			return nil
		}
		qids := make([]int64, 0, len(held))
		for q := range held {
			qids = append(qids, q)
		}
		slices.Sort(qids)
		var g car.Graph
		for kb, err := range r.cfg.Qualys.KnowledgeBase.List(ctx, &qualys.KnowledgeBaseQuery{QIDs: qids, ChunkSize: kbChunk}) {
			if err != nil {
				return fmt.Errorf("carsync: reading the KnowledgeBase: %w", err)
			}
			cv := held[kb.QID]
			if cv == nil {
				continue
			}
			mapping.EnrichVulnerability(cv, kb)
			g.Vertices = append(g.Vertices, cv)
			r.sentQIDs[kb.QID] = true
		}
		clear(held)
		if len(g.Vertices) == 0 {
			return nil
		}
		if err := r.im.Add(ctx, g); err != nil {
			return fmt.Errorf("carsync: refreshing vulnerabilities: %w", err)
		}
		r.sum.Vertices += len(g.Vertices)
		refreshed += len(g.Vertices)
		return nil
	}
	q := fmt.Sprintf(`{ vulnerability(where: {source: {_eq: %q}}) { external_id, name, description, base_score } }`, r.cfg.Source.Key)
	for item, err := range r.cfg.CAR.QueryItems(ctx, q, "vulnerability") {
		if err != nil {
			return fmt.Errorf("carsync: listing CAR vulnerabilities: %w", err)
		}
		var v struct {
			ExternalID  flexID   `json:"external_id"`
			Name        string   `json:"name"`
			Description string   `json:"description"`
			BaseScore   *float64 `json:"base_score"`
		}
		if err := json.Unmarshal(item, &v); err != nil {
			return fmt.Errorf("carsync: listing CAR vulnerabilities: a CAR vulnerability: %w", err)
		}
		qid, err := strconv.ParseInt(string(v.ExternalID), 10, 64)
		if err != nil || qid <= 0 || r.sentQIDs[qid] || held[qid] != nil {
			continue
		}
		held[qid] = &car.Vulnerability{ExternalID: string(v.ExternalID), Name: v.Name, Description: v.Description, BaseScore: v.BaseScore, Source: r.cfg.Source.Key}
		if len(held) >= kbChunk {
			if err := flush(); err != nil {
				return fmt.Errorf("carsync: listing CAR vulnerabilities: %w", err)
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	if refreshed > 0 {
		r.log.Info("carsync: refreshed KnowledgeBase fields of vulnerabilities in CAR", "count", refreshed)
	}
	return nil
}

// listCARAssets is the ids of the assets CAR holds for the source, read
// one asset at a time.
func (r *run) listCARAssets(ctx context.Context) (map[int64]bool, error) {
	q := fmt.Sprintf(`{ asset(where: {source: {_eq: %q}}) { external_id } }`, r.cfg.Source.Key)
	inCAR := map[int64]bool{}
	for item, err := range r.cfg.CAR.QueryItems(ctx, q, "asset") {
		if err != nil {
			return nil, fmt.Errorf("carsync: listing CAR assets: %w", err)
		}
		var a struct {
			ExternalID flexID `json:"external_id"`
		}
		if err := json.Unmarshal(item, &a); err != nil {
			return nil, fmt.Errorf("carsync: listing CAR assets: a CAR asset: %w", err)
		}
		if id, err := strconv.ParseInt(string(a.ExternalID), 10, 64); err == nil {
			inCAR[id] = true
		}
	}
	return inCAR, nil
}

// removeGone soft-deletes assets CAR holds for the source that Qualys no
// longer has. A full run knows every asset it saw; an incremental run
// compares counts first (one cheap call each side) and lists Qualys ids
// only when they differ, so a quiet window costs a constant number of
// calls.
func (r *run) removeGone(ctx context.Context, full bool) error {
	// CAR's answer is read one asset at a time: memory holds the ids (8
	// bytes each, in a set), not the answer. The score check (step 4)
	// has read them already when it ran: a new asset sent since is
	// counted among the added below, as it would be when its import job
	// had not completed before this listing.
	inCAR := r.carAssets
	if inCAR == nil {
		var err error
		if inCAR, err = r.listCARAssets(ctx); err != nil {
			return err
		}
	}
	present := r.done
	if !full {
		n, err := r.cfg.Qualys.HostAssets.Count(ctx, nil)
		if err != nil {
			return fmt.Errorf("carsync: counting host assets: %w", err)
		}
		added := 0
		for id := range r.done {
			if !inCAR[id] {
				added++
			}
		}
		if n == len(inCAR)+added {
			return nil
		}
		present = map[int64]bool{}
		for a, err := range r.cfg.Qualys.HostAssets.List(ctx, &qualys.HostAssetQuery{Fields: []string{"id"}}) {
			if err != nil {
				return fmt.Errorf("carsync: listing host asset ids: %w", err)
			}
			present[a.ID] = true
		}
	}
	var gone []string
	for id := range inCAR {
		if !present[id] {
			gone = append(gone, strconv.FormatInt(id, 10))
		}
	}
	if len(gone) == 0 {
		return nil
	}
	sort.Strings(gone)
	r.log.Info("carsync: removing assets Qualys no longer has", "count", len(gone))
	if !full {
		// What the removed assets reached through shared vertices is
		// decided first, with them left out of the holders, and the
		// assets are soft-deleted last: a run that stops in between
		// leaves them in CAR, so the next run finds them gone again and
		// reaches their shared vertices (a full run's bracket deactivates
		// what it did not report itself).
		shared, err := r.reachedShared(ctx, gone)
		if err != nil {
			return err
		}
		leaving := map[string]map[[2]string]bool{}
		for end, pairs := range shared {
			leaving[end] = map[[2]string]bool{}
			for _, p := range pairs {
				leaving[end][p] = true
			}
		}
		clean := &cleaner{r: r}
		defer func() { r.sum.DisabledEdges += clean.disabled }()
		keys := map[string][]string{}
		for end, pairs := range shared {
			keys[end] = keysOf(pairs)
		}
		stale, err := clean.sharedStale(ctx, keys, nil, leaving)
		if err != nil {
			return err
		}
		if err := clean.disableAll(ctx, stale); err != nil {
			return err
		}
	}
	if err := r.cfg.CAR.SoftDelete(ctx, r.cfg.Source.Key, car.CollAsset, gone); err != nil {
		return fmt.Errorf("carsync: soft-deleting removed assets: %w", err)
	}
	r.sum.DeletedAssets += len(gone)
	return nil
}

// flexID is an id CAR answers as a string or, for sources IBM's connector
// wrote, as a JSON number: both read as the same text.
type flexID string

// UnmarshalJSON reads a string, a number (its exact text) or null.
func (f *flexID) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || string(b) == "null":
		*f = ""
		return nil
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexID(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("an id must be a string or a number, not %s", b)
	}
	*f = flexID(n.String())
	return nil
}
