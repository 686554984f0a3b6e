package carsync_test

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/qualysbridge/qualysbridge/car/cartest"
	"github.com/qualysbridge/qualysbridge/carsync"
	"github.com/qualysbridge/qualysbridge/qualys"
	"github.com/qualysbridge/qualysbridge/qualys/qualystest"
)

var equivSeqs = flag.Int("equiv.sequences", 14, "random change sequences in TestIncrementalEqualsFull (go test ./carsync -run IncrementalEqualsFull -equiv.sequences=200 for the long run)")

// mutator applies random changes to a fake tenant, stamping them with the
// time of the round so that an incremental run sees them.
type mutator struct {
	rng     *rand.Rand
	q       *qualystest.Server
	tenant  *qualystest.Tenant
	assets  map[int64]*qualys.HostAsset     // by asset id
	dets    map[int64]*qualys.DetectionHost // by HOST ID
	apps    map[int64]*qualys.Asset         // by asset id
	kb      []*qualys.Vulnerability
	nextIP  int
	nextID  int64
	applied []string
}

func newMutator(seed uint64, q *qualystest.Server, tn *qualystest.Tenant) *mutator {
	m := &mutator{rng: rand.New(rand.NewPCG(seed, 7)), q: q, tenant: tn, assets: map[int64]*qualys.HostAsset{},
		dets: map[int64]*qualys.DetectionHost{}, apps: map[int64]*qualys.Asset{}, kb: tn.KB, nextID: 1}
	for _, a := range tn.HostAssets {
		m.assets[a.ID] = a
	}
	for _, h := range tn.Detections {
		m.dets[h.ID] = h
	}
	for _, a := range tn.Assets {
		m.apps[a.AssetID] = a
	}
	return m
}

// softwareOrNil is a nil-safe accessor for a gateway asset's software.
func softwareOrNil(a *qualys.Asset) []qualys.InstalledSoftware {
	if a == nil {
		return nil
	}
	return a.Software
}

func (m *mutator) freshIP() string {
	m.nextIP++
	return fmt.Sprintf("172.31.%d.%d", m.nextIP/250, m.nextIP%250+1)
}

func (m *mutator) pick() *qualys.HostAsset {
	ids := make([]int64, 0, len(m.assets))
	for id := range m.assets {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	if len(ids) == 0 {
		return nil
	}
	return m.assets[ids[m.rng.IntN(len(ids))]]
}

// touch marks an asset changed (a rescan, an edit): Qualys bumps its
// modified date.
func (m *mutator) touch(a *qualys.HostAsset, at time.Time) *qualys.HostAsset {
	cp := *a
	cp.Modified, cp.LastVulnScan = at, at
	m.assets[cp.ID] = &cp
	m.q.AddHostAsset(&cp)
	return &cp
}

func (m *mutator) setDets(h *qualys.DetectionHost) {
	m.dets[h.ID] = h
	m.q.SetDetectionHost(h)
}

func (m *mutator) cloneDets(hostID int64) *qualys.DetectionHost {
	h := m.dets[hostID]
	if h == nil {
		return nil
	}
	cp := *h
	cp.Detections = slices.Clone(h.Detections)
	return &cp
}

// round applies one to four random changes at time at.
func (m *mutator) round(at time.Time) {
	for n := 1 + m.rng.IntN(4); n > 0; n-- {
		a := m.pick()
		if a == nil {
			return
		}
		m.change(m.rng.IntN(11), a, at)
	}
}

// change applies one change of a kind (0 to 10) to asset a at time at.
func (m *mutator) change(kind int, a *qualys.HostAsset, at time.Time) {
	switch kind {
	case 0: // host removed
		delete(m.assets, a.ID)
		delete(m.apps, a.ID)
		m.q.RemoveHostAsset(a.ID)
		m.q.RemoveAsset(a.ID)
		if a.QWebHostID > 0 {
			delete(m.dets, a.QWebHostID)
			m.q.RemoveDetectionHost(a.QWebHostID)
		}
		m.applied = append(m.applied, fmt.Sprintf("remove %d", a.ID))
	case 1: // host added, a copy of another with fresh ids and addresses
		cp := *a
		cp.ID, cp.QWebHostID, cp.Created, cp.Modified = 39000000+m.nextID, 6900000+m.nextID, at, at
		m.nextID++
		cp.NetworkInterfaces = []qualys.NetworkInterface{{Address: m.freshIP(), MACAddress: fmt.Sprintf("02:AA:00:00:%02X:%02X", m.nextID/256, m.nextID%256), InterfaceName: "eth0"}}
		m.assets[cp.ID] = &cp
		m.q.AddHostAsset(&cp)
		if d := m.cloneDets(a.QWebHostID); d != nil {
			d.ID = cp.QWebHostID
			m.setDets(d)
		}
		if ga := m.apps[a.ID]; ga != nil {
			g := *ga
			g.AssetID, g.HostID, g.LastModified = cp.ID, cp.QWebHostID, at
			g.Software = slices.Clone(ga.Software)
			for i := range g.Software {
				g.Software[i].ID = -(cp.ID*100 + int64(i))
			}
			m.apps[cp.ID] = &g
			m.q.SetAsset(&g)
		}
		m.applied = append(m.applied, fmt.Sprintf("add %d", cp.ID))
	case 2: // an address renumbered
		b := m.touch(a, at)
		if len(b.NetworkInterfaces) > 0 {
			b.NetworkInterfaces = slices.Clone(b.NetworkInterfaces)
			b.NetworkInterfaces[0].Address = m.freshIP()
		}
		m.applied = append(m.applied, fmt.Sprintf("renumber %d", a.ID))
	case 3: // accounts changed
		b := m.touch(a, at)
		b.Accounts = []qualys.Account{{Username: fmt.Sprintf("user%d", m.rng.IntN(5))}}
		m.applied = append(m.applied, fmt.Sprintf("accounts %d", a.ID))
	case 4, 5: // a detection fixed (reported Fixed) or vanished (purged: the host was rescanned)
		d := m.cloneDets(a.QWebHostID)
		if d == nil || len(d.Detections) == 0 {
			return
		}
		qid := d.Detections[m.rng.IntN(len(d.Detections))].QID
		if kind == 4 {
			for i := range d.Detections {
				if d.Detections[i].QID == qid {
					d.Detections[i].Status, d.Detections[i].LastUpdate, d.Detections[i].LastFixed = "Fixed", at, at
				}
			}
			m.applied = append(m.applied, fmt.Sprintf("fix %d/%d", a.ID, qid))
		} else {
			d.Detections = slices.DeleteFunc(d.Detections, func(x qualys.Detection) bool { return x.QID == qid })
			m.touch(a, at)
			m.applied = append(m.applied, fmt.Sprintf("vanish %d/%d", a.ID, qid))
		}
		m.setDets(d)
	case 6: // a detection added (a new finding)
		d := m.cloneDets(a.QWebHostID)
		if d == nil {
			return
		}
		v := m.kb[m.rng.IntN(len(m.kb))]
		d.Detections = append(d.Detections, qualys.Detection{QID: v.QID, Type: "Confirmed", Severity: v.Severity, Status: "New",
			Results: "found", FirstFound: at, LastFound: at, LastUpdate: at, LastProcessed: at})
		if len(softwareOrNil(m.apps[a.ID])) > 0 {
			// A new detection on a host whose asset and applications
			// did not change is sent without the applications (the
			// gateway has no lookup by id): application_vulnerability
			// edges it would add wait for the host's next change. The
			// generator keeps to what the connector can know.
			m.touch(a, at)
		}
		m.setDets(d)
		m.applied = append(m.applied, fmt.Sprintf("detect %d/%d", a.ID, v.QID))
	case 7, 8: // an application added or removed
		ga := m.apps[a.ID]
		if ga == nil {
			return
		}
		g := *ga
		g.LastModified = at
		g.Software = slices.Clone(ga.Software)
		if kind == 7 || len(g.Software) == 0 {
			g.Software = append(g.Software, qualys.InstalledSoftware{ID: -(a.ID*1000 + int64(m.rng.IntN(900))), FullName: "Widget 1.0", ProductName: "Widget", SoftwareType: "Application"})
			m.applied = append(m.applied, fmt.Sprintf("app+ %d", a.ID))
		} else {
			g.Software = g.Software[1:]
			m.applied = append(m.applied, fmt.Sprintf("app- %d", a.ID))
		}
		m.apps[a.ID] = &g
		m.q.SetAsset(&g)
	case 9: // the host's criticality edited: its TruRisk follows, nothing else changes
		if a.QWebHostID == 0 || m.dets[a.QWebHostID] == nil {
			return
		}
		m.q.SetAssetCriticality(a.QWebHostID, 1+m.rng.IntN(5))
		m.applied = append(m.applied, fmt.Sprintf("criticality %d", a.ID))
	case 10: // a rescan rates a detection's QDS anew: the edge's risk_score and the host's TruRisk follow
		d := m.cloneDets(a.QWebHostID)
		if d == nil || len(d.Detections) == 0 {
			return
		}
		i := m.rng.IntN(len(d.Detections))
		d.Detections[i].QDS, d.Detections[i].LastUpdate = 1+m.rng.IntN(100), at
		m.setDets(d)
		m.applied = append(m.applied, fmt.Sprintf("qds %d/%d", a.ID, d.Detections[i].QID))
	}
}

// scoresHeld is what CAR holds of the risk fields: each active asset's
// risk and business_value, each active asset_vulnerability edge's
// risk_score.
func scoresHeld(c *cartest.Server) map[string]string {
	g := c.Graph("Qualys")
	out := map[string]string{}
	for id, v := range g.Vertices["asset"] {
		if v.Active {
			out["asset/"+id] = fmt.Sprint(v.Fields["risk"], " ", v.Fields["business_value"])
		}
	}
	for _, e := range g.Edges["asset_vulnerability"] {
		if e.Active {
			out[e.From+"->"+e.To] = fmt.Sprint(e.Fields["risk_score"])
		}
	}
	return out
}

// TestIncrementalEqualsFull: after random tenant changes, an incremental
// run leaves CAR holding the same active vertices and edges, with the
// same risk scores (asset risk and business value, edge risk_score), as
// a full import of the new state does, round after round, with and
// without Sequential. The changes include a criticality edited with
// nothing else (caught by the incremental run's score check) and a QDS
// rated anew by a rescan.
func TestIncrementalEqualsFull(t *testing.T) {
	t.Parallel()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for seq := 0; seq < *equivSeqs; seq++ {
		t.Run(fmt.Sprint(seq), func(t *testing.T) {
			tn := qualystest.Generate(int64(100+seq), 16, qualystest.WithVulnerableTo("CVE-2019-17053", 0.3), qualystest.WithDetectionsPerHost(4))
			q := qualystest.NewServer(qualystest.WithTenant(tn))
			t.Cleanup(q.Close)
			inc, full := cartest.NewServer(cartest.WithJobPolls(0)), cartest.NewServer(cartest.WithJobPolls(0))
			t.Cleanup(inc.Close)
			t.Cleanup(full.Close)
			cfgInc, cfgFull := config(t, q, inc), config(t, q, full)
			cfgInc.PageSize, cfgFull.PageSize = 7, 7
			// Even sequences run both imports with Sequential, odd ones overlapped.
			cfgInc.Sequential, cfgFull.Sequential = seq%2 == 0, seq%2 == 0
			now := base.Add(time.Hour)
			cfgInc.Now, cfgFull.Now = func() time.Time { return now }, func() time.Time { return now }
			mustRun(t, cfgInc)
			mustRun(t, cfgFull)
			m := newMutator(uint64(seq), q, tn)
			for round := 1; round <= 3; round++ {
				m.round(now.Add(time.Hour))
				now = now.Add(2 * time.Hour)
				if sum := mustRun(t, cfgInc); sum.Mode != carsync.Incremental {
					t.Fatalf("round %d: mode %v", round, sum.Mode)
				}
				cfgFull.Mode = carsync.Full
				mustRun(t, cfgFull)
				if d := cmp.Diff(activeGraph(full), activeGraph(inc)); d != "" {
					t.Fatalf("round %d after %v: incremental differs from full (-full +incremental):\n%s", round, m.applied, d)
				}
				if d := cmp.Diff(scoresHeld(full), scoresHeld(inc)); d != "" {
					t.Fatalf("round %d after %v: incremental's scores differ from full's (-full +incremental):\n%s", round, m.applied, d)
				}
			}
		})
	}
}
