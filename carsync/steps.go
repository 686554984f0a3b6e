package carsync

import (
	"context"
	"encoding/json"
	"fmt"
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

// batch is a set of hosts mapped and sent together.
type batch struct {
	assets []*qualys.HostAsset
	dets   map[int64]*qualys.DetectionHost // by HOST ID (qwebHostId)
	apps   map[int64]*qualys.Asset         // by asset id; nil: not fetched
	// stale is true when edges that no longer hold must be found and
	// disabled (incremental runs, changed assets that existed before).
	stale bool
	// kinds are the asset_<kind> edges checked for staleness (nil: the
	// default staleKinds); application is added when apps were fetched,
	// vulnerability when the detections are whole.
	kinds []string
	// wholeDets is true when dets holds each host's whole current set of
	// detections (not only those updated in the window), so that edges of
	// QIDs no longer detected can be found.
	wholeDets bool
}

func (r *run) full(ctx context.Context) error {
	if err := r.streamFull(ctx); err != nil {
		return err
	}
	return r.removeGone(ctx, true)
}

func (r *run) collectDetections(ctx context.Context, q *qualys.DetectionQuery, into map[int64]*qualys.DetectionHost) error {
	for h, err := range r.cfg.Qualys.Detections.List(ctx, q) {
		if err != nil {
			return fmt.Errorf("carsync: listing detections: %w", err)
		}
		into[h.ID] = h
	}
	return nil
}

// kb fetches the KnowledgeBase entries of the batch's QIDs whose
// vulnerability was not sent yet (a vulnerability is sent once per run, so
// its entry is not needed again).
func (r *run) kb(ctx context.Context, b *batch) (map[int64]*qualys.Vulnerability, error) {
	var qids []int64
	seen := map[int64]bool{}
	for _, h := range b.dets {
		for _, d := range h.Detections {
			if d.QID > 0 && !r.sentQIDs[d.QID] && !seen[d.QID] {
				seen[d.QID] = true
				qids = append(qids, d.QID)
			}
		}
	}
	out := map[int64]*qualys.Vulnerability{}
	if len(qids) == 0 {
		return out, nil
	}
	for v, err := range r.cfg.Qualys.KnowledgeBase.List(ctx, &qualys.KnowledgeBaseQuery{QIDs: qids, ChunkSize: kbChunk}) {
		if err != nil {
			return nil, fmt.Errorf("carsync: reading the KnowledgeBase: %w", err)
		}
		out[v.QID] = v
	}
	for _, q := range qids {
		r.sentQIDs[q] = true
	}
	return out, nil
}

// kbChunk is QIDs per KnowledgeBase call: the ids travel in a POST body, so
// a large chunk costs no long URL and saves API calls.
const kbChunk = 1000

// send maps a batch and adds it to the import; for stale batches it then
// disables the edges of changed assets that no longer hold.
func (r *run) send(ctx context.Context, b *batch) error {
	kb, err := r.kb(ctx, b)
	if err != nil {
		return err
	}
	var views []*assetView
	for _, a := range b.assets {
		if r.done[a.ID] {
			continue
		}
		r.done[a.ID] = true
		h := mapping.Host{Asset: a, KB: kb}
		if d := b.dets[a.QWebHostID]; d != nil && a.QWebHostID > 0 {
			h.Detections = d
			r.sum.Detections += len(d.Detections)
		}
		var ga *qualys.Asset
		if b.apps != nil {
			ga = b.apps[a.ID]
		}
		if ga != nil {
			h.Applications = ga.Software
			r.sum.Applications += len(ga.Software)
		}
		g := mapping.CAR(h, r.cfg.Source.Key)
		if err := r.im.Add(ctx, g); err != nil {
			return fmt.Errorf("carsync: host asset %d: %w", a.ID, err)
		}
		r.sum.Hosts++
		r.sum.Vertices += len(g.Vertices)
		r.sum.Edges += len(g.Edges)
		if b.stale && !a.Created.IsZero() && a.Created.Before(r.since) {
			views = append(views, newAssetView(a.ID, g, ga != nil, b.wholeDets))
		}
		r.progress(false)
	}
	if len(views) == 0 {
		return nil
	}
	kinds := b.kinds
	if kinds == nil {
		kinds = staleKinds
	}
	if b.apps != nil {
		kinds = append(append([]string(nil), kinds...), car.CollApplication)
	}
	if b.wholeDets {
		kinds = append(append([]string(nil), kinds...), car.CollVulnerability)
	}
	// A hundred assets at a time: the edges that no longer hold are
	// disabled (see stale.go).
	for start := 0; start < len(views); start += 100 {
		if err := r.disableStale(ctx, views[start:min(start+100, len(views))], kinds); err != nil {
			return err
		}
	}
	return nil
}

// heldEdges returns the (from, to) keys of the active edges of coll
// (<fromKind>_<toKind>) that CAR holds whose end of kind whereKind is one
// of keys, with CAR's "<source>/" prefixes (and an ipaddress id's region)
// removed.
func (r *run) heldEdges(ctx context.Context, coll, whereKind string, keys []string) ([][2]string, error) {
	fromKind, toKind, _ := strings.Cut(coll, "_")
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = r.cfg.Source.Key + "/" + k
	}
	list, _ := json.Marshal(ids)
	q := fmt.Sprintf(`{ %s(where: {%s_id: {_in: %s}}) { %s_id, %s_id } }`, coll, whereKind, list, fromKind, toKind)
	var out map[string][]map[string]string
	if err := r.cfg.CAR.Query(ctx, q, &out); err != nil {
		return nil, fmt.Errorf("carsync: querying CAR for %s edges: %w", coll, err)
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
	var pairs [][2]string
	for _, row := range out[coll] {
		pairs = append(pairs, [2]string{strip(fromKind, row[fromKind+"_id"]), strip(toKind, row[toKind+"_id"])})
	}
	return pairs, nil
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
	return r.stream(ctx, true)
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
	// Only the ids are kept: the window's listing holds only the
	// detections that changed, and the hosts' whole sets are asked for.
	pending := map[int64]bool{}
	q := qualys.DetectionQuery{Status: allStatuses, DetectionUpdatedSince: r.since, TruncationLimit: r.cfg.PageSize}
	for h, err := range r.cfg.Qualys.Detections.List(ctx, &q) {
		if err != nil {
			return fmt.Errorf("carsync: listing changed detections: %w", err)
		}
		if handled[h.ID] {
			continue
		}
		pending[h.ID] = true
		if len(pending) >= r.cfg.PageSize {
			if err := r.sendChangedHosts(ctx, pending, orphanApps); err != nil {
				return err
			}
			clear(pending)
		}
	}
	return r.sendChangedHosts(ctx, pending, orphanApps)
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
	assets, err := r.assetsWhere(ctx, "qwebHostId", ids)
	if err != nil {
		return err
	}
	whole, err := r.wholeDetections(ctx, assets)
	if err != nil {
		return err
	}
	var apps map[int64]*qualys.Asset
	for _, a := range assets {
		if ga := orphanApps[a.ID]; ga != nil {
			if apps == nil {
				apps = map[int64]*qualys.Asset{}
			}
			apps[a.ID] = ga
		}
	}
	return r.send(ctx, &batch{assets: assets, dets: whole, apps: apps, stale: true, kinds: []string{}, wholeDets: true})
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
		assets, err := r.assetsWhere(ctx, "id", ids)
		if err != nil {
			return err
		}
		if err := r.sendAppsOnly(ctx, assets, apps); err != nil {
			return err
		}
	}
	return nil
}

// refreshVulnerabilities re-sends, with their current KnowledgeBase fields,
// the vulnerabilities the source holds in CAR that this run did not send.
// The description (a detection's RESULTS) and, when the KnowledgeBase
// gives no CVSS, the base score are kept from CAR, since a vertex is
// replaced on upsert.
func (r *run) refreshVulnerabilities(ctx context.Context) error {
	var out struct {
		Vulnerability []struct {
			ExternalID  string   `json:"external_id"`
			Name        string   `json:"name"`
			Description string   `json:"description"`
			BaseScore   *float64 `json:"base_score"`
		} `json:"vulnerability"`
	}
	q := fmt.Sprintf(`{ vulnerability(where: {source: {_eq: %q}}) { external_id, name, description, base_score } }`, r.cfg.Source.Key)
	if err := r.cfg.CAR.Query(ctx, q, &out); err != nil {
		return fmt.Errorf("carsync: listing CAR vulnerabilities: %w", err)
	}
	held := map[int64]*car.Vulnerability{}
	var qids []int64
	for _, v := range out.Vulnerability {
		qid, err := strconv.ParseInt(v.ExternalID, 10, 64)
		if err != nil || qid <= 0 || r.sentQIDs[qid] {
			continue
		}
		held[qid] = &car.Vulnerability{ExternalID: v.ExternalID, Name: v.Name, Description: v.Description, BaseScore: v.BaseScore, Source: r.cfg.Source.Key}
		qids = append(qids, qid)
	}
	if len(qids) == 0 {
		return nil
	}
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
	if len(g.Vertices) == 0 {
		return nil
	}
	r.log.Info("carsync: refreshing KnowledgeBase fields of vulnerabilities in CAR", "count", len(g.Vertices))
	if err := r.im.Add(ctx, g); err != nil {
		return fmt.Errorf("carsync: refreshing vulnerabilities: %w", err)
	}
	r.sum.Vertices += len(g.Vertices)
	return nil
}

// sendAppsOnly sends assets whose applications changed, with their whole
// detections, so that the application_vulnerability edges a full import
// would create are created; their application and vulnerability edges are
// checked for staleness.
func (r *run) sendAppsOnly(ctx context.Context, assets []*qualys.HostAsset, apps map[int64]*qualys.Asset) error {
	whole, err := r.wholeDetections(ctx, assets)
	if err != nil {
		return err
	}
	return r.send(ctx, &batch{assets: assets, dets: whole, apps: apps, stale: true, kinds: []string{}, wholeDets: true})
}

// wholeDetections fetches the current detections of the assets' VM hosts,
// as a full import does (Fixed ones left out), in one call per page.
func (r *run) wholeDetections(ctx context.Context, assets []*qualys.HostAsset) (map[int64]*qualys.DetectionHost, error) {
	out := map[int64]*qualys.DetectionHost{}
	var hostIDs []int64
	for _, a := range assets {
		if a.QWebHostID > 0 {
			hostIDs = append(hostIDs, a.QWebHostID)
		}
	}
	for start := 0; start < len(hostIDs); start += r.cfg.PageSize {
		ids := hostIDs[start:min(start+r.cfg.PageSize, len(hostIDs))]
		if err := r.collectDetections(ctx, &qualys.DetectionQuery{IDs: ids, TruncationLimit: len(ids)}, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// assetsWhere fetches host assets whose field is IN ids (QPS calls are not
// rate-limited; one per page of ids).
func (r *run) assetsWhere(ctx context.Context, field string, ids []string) ([]*qualys.HostAsset, error) {
	var out []*qualys.HostAsset
	for a, err := range r.cfg.Qualys.HostAssets.List(ctx, &qualys.HostAssetQuery{PageSize: r.cfg.PageSize,
		Criteria: []qualys.Criteria{{Field: field, Operator: "IN", Value: strings.Join(ids, ",")}}}) {
		if err != nil {
			return nil, fmt.Errorf("carsync: fetching host assets by %s: %w", field, err)
		}
		out = append(out, a)
	}
	return out, nil
}

// removeGone soft-deletes assets CAR holds for the source that Qualys no
// longer has. A full run knows every asset it saw; an incremental run
// compares counts first (one cheap call each side) and lists Qualys ids
// only when they differ, so a quiet window costs a constant number of
// calls.
func (r *run) removeGone(ctx context.Context, full bool) error {
	var out struct {
		Assets []struct {
			ExternalID string `json:"external_id"`
		} `json:"asset"`
	}
	q := fmt.Sprintf(`{ asset(where: {source: {_eq: %q}}) { external_id } }`, r.cfg.Source.Key)
	if err := r.cfg.CAR.Query(ctx, q, &out); err != nil {
		return fmt.Errorf("carsync: listing CAR assets: %w", err)
	}
	inCAR := map[int64]bool{}
	for _, a := range out.Assets {
		if id, err := strconv.ParseInt(a.ExternalID, 10, 64); err == nil {
			inCAR[id] = true
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
	// What the removed assets reached through shared vertices, to be
	// checked once they are gone (a full run's bracket does this itself).
	var shared map[string][]string
	if !full {
		var err error
		if shared, err = r.reachedShared(ctx, gone); err != nil {
			return err
		}
	}
	if err := r.cfg.CAR.SoftDelete(ctx, r.cfg.Source.Key, car.CollAsset, gone); err != nil {
		return fmt.Errorf("carsync: soft-deleting removed assets: %w", err)
	}
	r.sum.DeletedAssets += len(gone)
	for _, se := range sharedEdges {
		if keys := shared[se.end]; len(keys) > 0 {
			if err := r.disableSharedStale(ctx, se.end, se.coll, se.keyAt, se.known, keys, nil); err != nil {
				return err
			}
		}
	}
	return nil
}
