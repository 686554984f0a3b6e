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
var allStatuses = []string{"New", "Active", "Re-Opened", "Fixed"}

// staleKinds are the asset_<kind> edges whose stale members an incremental
// run disables for a changed asset. Vulnerabilities are not among them: a
// vulnerability that went away comes back as a Fixed detection, whose edge
// the mapping marks inactive.
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
	// default staleKinds); application is added when apps were fetched.
	kinds []string
}

func (r *run) full(ctx context.Context) error {
	gw := r.gateway(ctx, &qualys.AssetQuery{})
	defer gw.stop()
	for page, err := range r.cfg.Qualys.HostAssets.Pages(ctx, &qualys.HostAssetQuery{PageSize: r.cfg.PageSize}) {
		if err != nil {
			return fmt.Errorf("carsync: listing host assets: %w", err)
		}
		b, err := r.pageBatch(ctx, page.Assets, gw, nil)
		if err != nil {
			return err
		}
		if err := r.send(ctx, b); err != nil {
			return err
		}
	}
	return r.removeGone(ctx, true)
}

// gateway starts the merge-join over gateway assets, or an empty one when
// applications are not wanted.
func (r *run) gateway(ctx context.Context, q *qualys.AssetQuery) *pull {
	if r.cfg.SkipApplications {
		return newPull(func(func(*qualys.Asset, error) bool) {})
	}
	return newPull(r.cfg.Qualys.Assets.List(ctx, q))
}

// pageBatch gathers a page's detections and applications.
func (r *run) pageBatch(ctx context.Context, assets []*qualys.HostAsset, gw *pull, detQuery *qualys.DetectionQuery) (*batch, error) {
	b := &batch{assets: assets, dets: map[int64]*qualys.DetectionHost{}}
	var hostIDs []int64
	want := map[int64]bool{}
	var maxID int64
	for _, a := range assets {
		want[a.ID] = true
		maxID = max(maxID, a.ID)
		if a.QWebHostID > 0 {
			hostIDs = append(hostIDs, a.QWebHostID)
		}
	}
	if len(hostIDs) > 0 {
		q := qualys.DetectionQuery{}
		if detQuery != nil {
			q = *detQuery
		}
		q.IDs = hostIDs
		q.TruncationLimit = len(hostIDs)
		if err := r.collectDetections(ctx, &q, b.dets); err != nil {
			return nil, err
		}
	}
	if gw != nil {
		matched, orphans, err := gw.upTo(maxID, want)
		if err != nil {
			return nil, fmt.Errorf("carsync: listing gateway applications: %w", err)
		}
		b.apps = matched
		r.orphans = append(r.orphans, orphans...)
	}
	return b, nil
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
	type changed struct {
		id       string
		targets  map[string]map[string]bool // kind -> keys now held
		withApps bool
	}
	var stale []changed
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
		if err := r.im.Add(g); err != nil {
			return fmt.Errorf("carsync: host asset %d: %w", a.ID, err)
		}
		r.sum.Hosts++
		r.sum.Vertices += len(g.Vertices)
		r.sum.Edges += len(g.Edges)
		if b.stale && !a.Created.IsZero() && a.Created.Before(r.since) {
			c := changed{id: strconv.FormatInt(a.ID, 10), targets: map[string]map[string]bool{}, withApps: ga != nil}
			for _, e := range g.Edges {
				kind, ok := strings.CutPrefix(e.Collection, "asset_")
				if ok && !e.Disabled {
					if c.targets[kind] == nil {
						c.targets[kind] = map[string]bool{}
					}
					c.targets[kind][e.To] = true
				}
			}
			stale = append(stale, c)
		}
		r.progress(false)
	}
	if len(stale) == 0 {
		return nil
	}
	// Ask CAR, a hundred assets at a time, which asset_<kind> edges it
	// holds for them, and disable those that no longer hold.
	for start := 0; start < len(stale); start += 100 {
		group := stale[start:min(start+100, len(stale))]
		byID := map[string]changed{}
		var ids []string
		for _, c := range group {
			byID[c.id] = c
			ids = append(ids, r.cfg.Source.Key+"/"+c.id)
		}
		kinds := b.kinds
		if kinds == nil {
			kinds = staleKinds
		}
		if b.apps != nil {
			kinds = append(append([]string(nil), kinds...), car.CollApplication)
		}
		for _, kind := range kinds {
			held, err := r.heldEdges(ctx, kind, ids)
			if err != nil {
				return err
			}
			for _, h := range held {
				c, ok := byID[h[0]]
				if !ok || c.targets[kind][h[1]] || (kind == car.CollApplication && !c.withApps) {
					continue
				}
				if err := r.cfg.CAR.DisableEdge(ctx, r.cfg.Source.Key, "asset_"+kind, c.id, h[1]); err != nil {
					return fmt.Errorf("carsync: disabling asset_%s %s -> %s: %w", kind, c.id, h[1], err)
				}
				r.sum.DisabledEdges++
			}
		}
	}
	return nil
}

// heldEdges returns (asset id, target key) pairs of the active asset_<kind>
// edges CAR holds for the given "<source>/<asset id>" ids.
func (r *run) heldEdges(ctx context.Context, kind string, assetIDs []string) ([][2]string, error) {
	list, _ := json.Marshal(assetIDs)
	coll := "asset_" + kind
	q := fmt.Sprintf(`{ %s(where: {asset_id: {_in: %s}}) { asset_id, %s_id } }`, coll, list, kind)
	var out map[string][]map[string]string
	if err := r.cfg.CAR.Query(ctx, q, &out); err != nil {
		return nil, fmt.Errorf("carsync: querying CAR for %s edges: %w", coll, err)
	}
	prefix := r.cfg.Source.Key + "/"
	var pairs [][2]string
	for _, row := range out[coll] {
		asset := strings.TrimPrefix(row["asset_id"], prefix)
		target := strings.TrimPrefix(row[kind+"_id"], prefix)
		if kind == car.CollIPAddress {
			// CAR's ipaddress ids carry a region: "<source>/<region>/<ip>".
			if i := strings.IndexByte(target, '/'); i >= 0 {
				target = target[i+1:]
			}
		}
		pairs = append(pairs, [2]string{asset, target})
	}
	return pairs, nil
}

func (r *run) incremental(ctx context.Context) error {
	since := r.since
	detQ := &qualys.DetectionQuery{Status: allStatuses, DetectionUpdatedSince: since}
	handled := map[int64]bool{} // qwebHostIds already sent

	// 1. Host assets updated in the window, with their changed detections
	//    and applications.
	gw := r.gateway(ctx, &qualys.AssetQuery{UpdatedSince: since})
	defer gw.stop()
	for page, err := range r.cfg.Qualys.HostAssets.Pages(ctx, &qualys.HostAssetQuery{PageSize: r.cfg.PageSize, UpdatedSince: since}) {
		if err != nil {
			return fmt.Errorf("carsync: listing changed host assets: %w", err)
		}
		b, err := r.pageBatch(ctx, page.Assets, gw, detQ)
		if err != nil {
			return err
		}
		b.stale = true
		for _, a := range page.Assets {
			if a.QWebHostID > 0 {
				handled[a.QWebHostID] = true
			}
		}
		if err := r.send(ctx, b); err != nil {
			return err
		}
	}
	rest, err := gw.rest()
	if err != nil {
		return fmt.Errorf("carsync: listing changed applications: %w", err)
	}
	r.orphans = append(r.orphans, rest...)

	// 2. Hosts whose detections changed although the asset did not.
	pending := map[int64]*qualys.DetectionHost{}
	flush := func() error {
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
		err = r.send(ctx, &batch{assets: assets, dets: pending})
		pending = map[int64]*qualys.DetectionHost{}
		return err
	}
	q := *detQ
	q.TruncationLimit = r.cfg.PageSize
	for h, err := range r.cfg.Qualys.Detections.List(ctx, &q) {
		if err != nil {
			return fmt.Errorf("carsync: listing changed detections: %w", err)
		}
		if handled[h.ID] {
			continue
		}
		pending[h.ID] = h
		if len(pending) >= r.cfg.PageSize {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}

	// 3. Assets whose applications changed although the asset did not.
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
	return r.removeGone(ctx, false)
}

// sendAppsOnly sends assets whose applications changed; only their
// application edges are checked for staleness.
func (r *run) sendAppsOnly(ctx context.Context, assets []*qualys.HostAsset, apps map[int64]*qualys.Asset) error {
	return r.send(ctx, &batch{assets: assets, dets: map[int64]*qualys.DetectionHost{}, apps: apps, stale: true, kinds: []string{}})
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
	if err := r.cfg.CAR.SoftDelete(ctx, r.cfg.Source.Key, car.CollAsset, gone); err != nil {
		return fmt.Errorf("carsync: soft-deleting removed assets: %w", err)
	}
	r.sum.DeletedAssets += len(gone)
	return nil
}
