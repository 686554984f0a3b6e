package carsync

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/qualysbridge/qualysbridge/car"
	"github.com/qualysbridge/qualysbridge/mapping"
)

// assetView is what a changed asset's new graph says: the targets of its
// active asset_<kind> edges and its other active edges, by collection.
type assetView struct {
	id string
	// targets: kind -> keys of active asset_<kind> edges.
	targets map[string]map[string]bool
	// edges: collection -> active (from, to) pairs of the edges that do
	// not start at the asset (ipaddress_vulnerability, ...).
	edges     map[string]map[[2]string]bool
	withApps  bool
	wholeDets bool
}

func newAssetView(id int64, hg mapping.HostGraph, withApps, wholeDets bool) *assetView {
	v := &assetView{id: fmt.Sprint(id), targets: map[string]map[string]bool{}, edges: map[string]map[[2]string]bool{}, withApps: withApps, wholeDets: wholeDets}
	edges := slices.Clone(hg.Host.Edges)
	for _, part := range hg.Vulnerabilities {
		edges = append(edges, part.Edges...)
	}
	for _, e := range edges {
		if e.Disabled {
			continue
		}
		if kind, ok := strings.CutPrefix(e.Collection, "asset_"); ok {
			if v.targets[kind] == nil {
				v.targets[kind] = map[string]bool{}
			}
			v.targets[kind][e.To] = true
			continue
		}
		if v.edges[e.Collection] == nil {
			v.edges[e.Collection] = map[[2]string]bool{}
		}
		v.edges[e.Collection][[2]string{e.From, e.To}] = true
	}
	return v
}

// wants reports whether the asset's new graph holds edge e of coll. An
// application_vulnerability edge of an asset whose applications were not
// fetched is kept while its QID is still detected on the asset (the
// product match cannot be checked again without the applications).
func (v *assetView) wants(coll string, e [2]string) bool {
	if coll == "application_vulnerability" && !v.withApps {
		return v.targets[car.CollVulnerability][e[1]]
	}
	return v.edges[coll][e]
}

// sharedEdges are the edges that start at a vertex several assets may
// share (an address, an application), with what an asset's view must hold
// for its expected edges of that collection to be known.
var sharedEdges = []struct {
	end, coll string
	// keyAt is the end of the edge that is the shared vertex (0 from, 1 to).
	keyAt int
	known func(v *assetView) bool
}{
	{car.CollIPAddress, "ipaddress_macaddress", 0, func(*assetView) bool { return true }},
	{car.CollIPAddress, "ipaddress_vulnerability", 0, func(v *assetView) bool { return v.wholeDets }},
	// Without the asset's applications, an application_vulnerability
	// edge is still decided when its QID is no longer detected (see
	// wants).
	{car.CollApplication, "application_vulnerability", 0, func(v *assetView) bool { return v.wholeDets }},
	{car.CollAccount, "user_account", 1, func(*assetView) bool { return true }},
}

// disableStale disables, for a group of changed assets, the edges that a
// full import of the current state would not hold:
//
//   - asset_<kind> edges (for the kinds checked) to targets the asset's new
//     graph does not reach: an address renumbered, a QID no longer
//     detected (when the detections are whole), an application removed;
//   - edges from an address or an application (ipaddress_macaddress,
//     ipaddress_vulnerability, application_vulnerability) that none of the
//     assets now holding that address or application produces. This is
//     decided only when every asset holding it is in the group with what
//     the edge needs known (its whole detections, its applications);
//     otherwise the edges are left, as another asset may still hold them.
//
// Crash consistency: what leads a run to a shared vertex's edges is the
// asset edges to it (the assets CAR holds, their active asset_<kind>
// edges). So the edges from the shared vertices are disabled first, with
// the holders computed as they will be once the stale asset edges are gone
// (those are left out in memory), and the stale asset edges only once CAR
// reported those disables done: a run that stops anywhere in between
// leaves every asset edge that leads to an undisabled shared edge active,
// and the next run, which repeats the window, reaches and decides it again.
// Each disable is idempotent.
//
// Cost: three GraphQL queries a group (the asset edges of every kind, the
// holders of the shared vertices reached, the edges of those that can be
// decided), however many kinds and vertices; the disables travel in the
// run's import (edges with active false, in its packed requests) in two
// batches, each waited for.
func (d *cleaner) disableStale(ctx context.Context, group []*assetView, kinds []string) error {
	r := d.r
	byID := map[string]*assetView{}
	var ids []string
	for _, v := range group {
		byID[v.id] = v
		ids = append(ids, v.id)
	}
	// The asset edges of the kinds checked, and of the shared kinds not
	// checked (their edges did not change, but edges from the vertices
	// they reach may have: an application of a host whose detections did).
	queried := slices.Clone(kinds)
	for _, se := range sharedEdges {
		if !slices.Contains(queried, se.end) {
			queried = append(queried, se.end)
		}
	}
	qs := make([]edgeQuery, len(queried))
	for i, kind := range queried {
		qs[i] = edgeQuery{coll: "asset_" + kind, where: car.CollAsset, keys: ids}
	}
	held, err := r.queryEdges(ctx, qs)
	if err != nil {
		return err
	}
	touched := map[string]map[string]bool{} // end kind -> keys reached before or now
	var staleAsset []car.Edge               // asset_<kind> edges to disable, last
	leaving := map[string]map[[2]string]bool{}
	for i, kind := range queried {
		checked := slices.Contains(kinds, kind)
		for _, h := range held[i] {
			v := byID[h[0]]
			if v == nil {
				continue
			}
			if touched[kind] == nil {
				touched[kind] = map[string]bool{}
			}
			touched[kind][h[1]] = true
			if !checked || v.targets[kind][h[1]] || (kind == car.CollApplication && !v.withApps) || (kind == car.CollVulnerability && !v.wholeDets) {
				continue // held, or not known for this asset: its applications did not change
			}
			staleAsset = append(staleAsset, car.Edge{Collection: "asset_" + kind, From: v.id, To: h[1], Disabled: true})
			if leaving[kind] == nil {
				leaving[kind] = map[[2]string]bool{}
			}
			leaving[kind][h] = true
		}
	}
	for _, v := range group {
		for kind, targets := range v.targets {
			for t := range targets {
				if touched[kind] == nil {
					touched[kind] = map[string]bool{}
				}
				touched[kind][t] = true
			}
		}
	}
	keys := map[string][]string{}
	for end, ks := range touched {
		keys[end] = sortedKeys(ks)
	}
	shared, err := d.sharedStale(ctx, keys, byID, leaving)
	if err != nil {
		return err
	}
	if err := d.disableAll(ctx, shared); err != nil {
		return err
	}
	return d.disableAll(ctx, staleAsset)
}

// sharedStale returns the edges from the shared vertices keys (by end
// kind) that none of their holders wants. The holders are the assets with
// an active asset_<end> edge to the key, less the (asset, key) pairs in
// leaving (asset edges about to be disabled, or assets about to be
// removed); a key is decided only when every holder is in byID with what
// the edge needs known. Two queries: the holders, then the edges of the
// keys that can be decided.
func (d *cleaner) sharedStale(ctx context.Context, keys map[string][]string, byID map[string]*assetView, leaving map[string]map[[2]string]bool) ([]car.Edge, error) {
	r := d.r
	var ends []string
	for _, se := range sharedEdges {
		if len(keys[se.end]) > 0 && !slices.Contains(ends, se.end) {
			ends = append(ends, se.end)
		}
	}
	if len(ends) == 0 {
		return nil, nil
	}
	qs := make([]edgeQuery, len(ends))
	for i, end := range ends {
		qs[i] = edgeQuery{coll: "asset_" + end, where: end, keys: keys[end]}
	}
	held, err := r.queryEdges(ctx, qs)
	if err != nil {
		return nil, err
	}
	holders := map[string]map[string][]string{} // end -> key -> assets
	for i, end := range ends {
		holders[end] = map[string][]string{}
		for _, h := range held[i] {
			if leaving[end][h] {
				continue
			}
			holders[end][h[1]] = append(holders[end][h[1]], h[0])
		}
	}
	var eqs []edgeQuery
	var which []int // index in sharedEdges of each query
	for i, se := range sharedEdges {
		var decidable []string
		for _, k := range keys[se.end] {
			ok := true
			for _, a := range holders[se.end][k] {
				if v := byID[a]; v == nil || !se.known(v) {
					ok = false
					break
				}
			}
			if ok {
				decidable = append(decidable, k)
			}
		}
		if len(decidable) > 0 {
			eqs = append(eqs, edgeQuery{coll: se.coll, where: se.end, keys: decidable})
			which = append(which, i)
		}
	}
	if len(eqs) == 0 {
		return nil, nil
	}
	edges, err := r.queryEdges(ctx, eqs)
	if err != nil {
		return nil, err
	}
	var stale []car.Edge
	for qi, list := range edges {
		se := sharedEdges[which[qi]]
		for _, e := range list {
			wanted := false
			for _, a := range holders[se.end][e[se.keyAt]] {
				if byID[a].wants(se.coll, e) {
					wanted = true
					break
				}
			}
			if !wanted {
				stale = append(stale, car.Edge{Collection: se.coll, From: e[0], To: e[1], Disabled: true})
			}
		}
	}
	return stale, nil
}

// cleaner disables stale edges for one stage (the write stage, or the
// removal of assets gone), counting them; its count is merged into the
// summary by its owner.
type cleaner struct {
	r        *run
	disabled int
}

// disableAll disables edges: they go to CAR in the run's import as edges
// with active false (the import schema's field; packed with the rest, not
// one PATCH each), and disableAll returns once CAR reported them imported,
// so that what the caller does next (disable the asset edges, soft-delete
// an asset, query CAR) comes after them.
func (d *cleaner) disableAll(ctx context.Context, edges []car.Edge) error {
	if len(edges) == 0 {
		return nil
	}
	// An edge another writer left with a key the import schema refuses
	// (IBM's connector stored addresses such as 177.77.7.777) cannot be
	// imported: it is disabled in place (PATCH), one at a time.
	valid := edges[:0:0]
	for _, e := range edges {
		if e.Validate() != nil {
			if err := d.r.cfg.CAR.DisableEdge(ctx, d.r.cfg.Source.Key, e.Collection, e.From, e.To); err != nil {
				return fmt.Errorf("carsync: disabling %s %s -> %s: %w", e.Collection, e.From, e.To, err)
			}
			d.disabled++
			continue
		}
		valid = append(valid, e)
	}
	edges = valid
	if len(edges) == 0 {
		return nil
	}
	for start := 0; start < len(edges); start += 1000 {
		if err := d.r.im.Add(ctx, car.Graph{Edges: edges[start:min(start+1000, len(edges))]}); err != nil {
			return fmt.Errorf("carsync: disabling %d stale edges: %w", len(edges), err)
		}
	}
	if err := d.r.im.Wait(ctx); err != nil {
		return fmt.Errorf("carsync: disabling %d stale edges: %w", len(edges), err)
	}
	d.disabled += len(edges)
	return nil
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// reachedShared returns, per shared vertex kind, the (asset, key) pairs of
// the assets' active asset_<kind> edges, in one query.
func (r *run) reachedShared(ctx context.Context, assetIDs []string) (map[string][][2]string, error) {
	var ends []string
	for _, se := range sharedEdges {
		if !slices.Contains(ends, se.end) {
			ends = append(ends, se.end)
		}
	}
	qs := make([]edgeQuery, len(ends))
	for i, end := range ends {
		qs[i] = edgeQuery{coll: "asset_" + end, where: car.CollAsset, keys: assetIDs}
	}
	held, err := r.queryEdges(ctx, qs)
	if err != nil {
		return nil, err
	}
	out := map[string][][2]string{}
	for i, end := range ends {
		out[end] = held[i]
	}
	return out, nil
}

// keysOf returns the distinct keys (second members) of pairs, sorted.
func keysOf(pairs [][2]string) []string {
	keys := map[string]bool{}
	for _, p := range pairs {
		keys[p[1]] = true
	}
	return sortedKeys(keys)
}
