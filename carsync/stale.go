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
// (those are left out in memory), and the stale asset edges last: a run
// that stops anywhere in between leaves every asset edge that leads to an
// undisabled shared edge active, and the next run, which repeats the
// window, reaches and decides it again. Each disable is idempotent.
func (d *cleaner) disableStale(ctx context.Context, group []*assetView, kinds []string) error {
	r := d.r
	byID := map[string]*assetView{}
	var ids []string
	for _, v := range group {
		byID[v.id] = v
		ids = append(ids, v.id)
	}
	touched := map[string]map[string]bool{} // end kind -> keys reached before or now
	var staleAsset []staleEdge              // asset_<kind> edges to disable, last
	leaving := map[string]map[[2]string]bool{}
	for _, kind := range kinds {
		held, err := r.heldEdges(ctx, "asset_"+kind, car.CollAsset, ids)
		if err != nil {
			return err
		}
		for _, h := range held {
			v := byID[h[0]]
			if v == nil {
				continue
			}
			if touched[kind] == nil {
				touched[kind] = map[string]bool{}
			}
			touched[kind][h[1]] = true
			if v.targets[kind][h[1]] || (kind == car.CollApplication && !v.withApps) || (kind == car.CollVulnerability && !v.wholeDets) {
				continue // held, or not known for this asset: its applications did not change
			}
			staleAsset = append(staleAsset, staleEdge{"asset_" + kind, v.id, h[1]})
			if leaving[kind] == nil {
				leaving[kind] = map[[2]string]bool{}
			}
			leaving[kind][h] = true
		}
	}
	// The shared vertices the assets reach in CAR through kinds not
	// checked here (their edges did not change, but edges from those
	// vertices may have: an application of a host whose detections did).
	for _, se := range sharedEdges {
		if slices.Contains(kinds, se.end) || touched[se.end] != nil {
			continue
		}
		held, err := r.heldEdges(ctx, "asset_"+se.end, car.CollAsset, ids)
		if err != nil {
			return err
		}
		touched[se.end] = map[string]bool{}
		for _, h := range held {
			touched[se.end][h[1]] = true
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
	for _, se := range sharedEdges {
		keys := touched[se.end]
		if len(keys) == 0 {
			continue
		}
		if err := d.disableSharedStale(ctx, se.end, se.coll, se.keyAt, se.known, sortedKeys(keys), byID, leaving[se.end]); err != nil {
			return err
		}
	}
	for _, e := range staleAsset {
		if err := d.disable(ctx, e.coll, e.from, e.to); err != nil {
			return err
		}
	}
	return nil
}

// staleEdge is an edge to disable.
type staleEdge struct{ coll, from, to string }

// disableSharedStale disables the edges of coll from the shared vertices
// keys (of kind end) that none of their holders wants. The holders are the
// assets with an active asset_<end> edge to the key, less the (asset, key)
// pairs in leaving (asset edges about to be disabled, or assets about to
// be removed); a key is decided only when every holder is in byID with
// what the edge needs known.
func (d *cleaner) disableSharedStale(ctx context.Context, end, coll string, keyAt int, known func(*assetView) bool, keys []string, byID map[string]*assetView, leaving map[[2]string]bool) error {
	r := d.r
	holders := map[string][]string{}
	held, err := r.heldEdges(ctx, "asset_"+end, end, keys)
	if err != nil {
		return err
	}
	for _, h := range held {
		if leaving[h] {
			continue
		}
		holders[h[1]] = append(holders[h[1]], h[0])
	}
	var decidable []string
	for _, k := range keys {
		ok := true
		for _, a := range holders[k] {
			if v := byID[a]; v == nil || !known(v) {
				ok = false
				break
			}
		}
		if ok {
			decidable = append(decidable, k)
		}
	}
	if len(decidable) == 0 {
		return nil
	}
	edges, err := r.heldEdges(ctx, coll, end, decidable)
	if err != nil {
		return err
	}
	for _, e := range edges {
		wanted := false
		for _, a := range holders[e[keyAt]] {
			if byID[a].wants(coll, e) {
				wanted = true
				break
			}
		}
		if !wanted {
			if err := d.disable(ctx, coll, e[0], e[1]); err != nil {
				return err
			}
		}
	}
	return nil
}

// cleaner disables stale edges for one stage (the write stage, or the
// removal of assets gone), counting them; its count is merged into the
// summary by its owner.
type cleaner struct {
	r        *run
	disabled int
}

func (d *cleaner) disable(ctx context.Context, coll, from, to string) error {
	if err := d.r.cfg.CAR.DisableEdge(ctx, d.r.cfg.Source.Key, coll, from, to); err != nil {
		return fmt.Errorf("carsync: disabling %s %s -> %s: %w", coll, from, to, err)
	}
	d.disabled++
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
// the assets' active asset_<kind> edges.
func (r *run) reachedShared(ctx context.Context, assetIDs []string) (map[string][][2]string, error) {
	out := map[string][][2]string{}
	for _, se := range sharedEdges {
		if _, seen := out[se.end]; seen {
			continue
		}
		held, err := r.heldEdges(ctx, "asset_"+se.end, car.CollAsset, assetIDs)
		if err != nil {
			return nil, err
		}
		out[se.end] = held
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
