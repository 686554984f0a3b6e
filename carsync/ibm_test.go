package carsync_test

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/qualysbridge/qualysbridge/car"
	"github.com/qualysbridge/qualysbridge/car/cartest"
	"github.com/qualysbridge/qualysbridge/carsync"
	"github.com/qualysbridge/qualysbridge/mapping"
	"github.com/qualysbridge/qualysbridge/qualys"
	"github.com/qualysbridge/qualysbridge/qualys/qualystest"
)

// expandedIPv6 writes an IPv6 address as Qualys reports it and IBM's
// connector stores it: eight groups, no "::" (fe80:0:0:0:f558:672:7853:f978).
func expandedIPv6(a netip.Addr) string {
	b := a.As16()
	parts := make([]string, 8)
	for i := range parts {
		parts[i] = strconv.FormatUint(uint64(b[2*i])<<8|uint64(b[2*i+1]), 16)
	}
	return strings.Join(parts, ":")
}

// ibmShaped is what IBM's Qualys connector leaves in CAR for a tenant
// (shapes from IBM's connector's recorded import traces, reference car.md):
// asset ids as JSON numbers, asset_ipaddress's _to and
// ipaddress_vulnerability's _to as bare keys, IPv6 addresses expanded, and
// the other keyed ends with their collection prefix.
func ibmShaped(t *testing.T, tn *qualystest.Tenant) string {
	t.Helper()
	dets := map[int64]*qualys.DetectionHost{}
	for _, d := range tn.Detections {
		dets[d.ID] = d
	}
	apps := map[int64][]qualys.InstalledSoftware{}
	for _, a := range tn.Assets {
		apps[a.AssetID] = a.Software
	}
	kb := map[int64]*qualys.Vulnerability{}
	for _, v := range tn.KB {
		kb[v.QID] = v
	}
	ibmIP := func(ip string) string {
		if a, err := netip.ParseAddr(ip); err == nil && a.Is6() && !a.Is4In6() {
			return expandedIPv6(a)
		}
		return ip
	}
	out := map[string][]map[string]any{}
	for _, a := range tn.HostAssets {
		g := mapping.CAR(mapping.Host{Asset: a, Detections: dets[a.QWebHostID], Applications: apps[a.ID], KB: kb}, "Qualys")
		for _, v := range g.Vertices {
			b, _ := json.Marshal(v)
			var o map[string]any
			json.Unmarshal(b, &o)
			o["source"] = "Qualys"
			switch v.Collection() {
			case car.CollAsset:
				n, _ := strconv.ParseInt(v.ID(), 10, 64)
				o["external_id"] = n // a JSON number
			case car.CollIPAddress:
				o["_key"] = ibmIP(v.ID())
			}
			out[v.Collection()] = append(out[v.Collection()], o)
		}
		for _, e := range g.Edges {
			from, to, _ := strings.Cut(e.Collection, "_")
			o := map[string]any{"source": "Qualys", "active": !e.Disabled, "timestamp": 1.7e12}
			for k, v := range e.Properties {
				o[k] = v
			}
			end := func(kind, id, keyedField, extField string, bare bool) {
				switch {
				case kind == car.CollIPAddress:
					id = ibmIP(id)
					if !bare {
						id = "ipaddress/" + id
					}
					o[keyedField] = id
				case car.Keyed(kind):
					o[keyedField] = kind + "/" + id
				case bare:
					o[keyedField] = id
				default:
					o[extField] = id
				}
			}
			end(from, e.From, "_from", "_from_external_id", false)
			bareTo := e.Collection == "asset_ipaddress" || e.Collection == "ipaddress_vulnerability"
			end(to, e.To, "_to", "_to_external_id", bareTo)
			out[e.Collection] = append(out[e.Collection], o)
		}
	}
	b, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A source IBM's connector wrote (numeric external_ids, bare keys, IPv6
// addresses expanded, its fractional epoch-ms model state) is continued by
// an incremental run without an error (a numeric external_id once failed
// the run after it had imported, without saving the state, so every later
// run failed the same way), and the next full run leaves exactly the graph
// a fresh full import leaves: no duplicate identity (the expanded IPv6
// form is gone), no stale edge.
func TestContinuesASourceIBMsConnectorWrote(t *testing.T) {
	t.Parallel()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tn := qualystest.Generate(301, 30, qualystest.WithVulnerableTo("CVE-2019-17053", 0.3), qualystest.WithDetectionsPerHost(4))
	v6 := tn.HostAssets[0]
	v6.NetworkInterfaces = append(slices.Clone(v6.NetworkInterfaces),
		qualys.NetworkInterface{Address: "fe80:0:0:0:f558:672:7853:f978", MACAddress: "02:00:00:AA:BB:77", InterfaceName: "eth1"})
	q := qualystest.NewServer(qualystest.WithTenant(tn))
	t.Cleanup(q.Close)
	ibm := cartest.NewServer(cartest.WithDanglingEdges())
	t.Cleanup(ibm.Close)
	if err := ibm.Seed("Qualys", ibmShaped(t, tn)); err != nil {
		t.Fatal(err)
	}
	now := base.Add(time.Hour)
	ibm.SetModelState("Qualys", fmt.Sprintf("%d.483", now.UnixMilli()))

	m := newMutator(11, q, tn)
	m.round(now.Add(time.Hour))
	now = now.Add(2 * time.Hour)
	cfg := config(t, q, ibm)
	cfg.Now = func() time.Time { return now }
	sum := mustRun(t, cfg)
	if sum.Mode != carsync.Incremental {
		t.Fatalf("mode %v, want the incremental run IBM's state allows", sum.Mode)
	}
	if st := ibm.ModelState("Qualys"); st != carsync.FormatState(now.UTC().Truncate(time.Second)) {
		t.Errorf("state %q after the incremental run", st)
	}
	now = now.Add(2 * time.Hour)
	cfg.Mode = carsync.Full
	mustRun(t, cfg)

	fresh := cartest.NewServer()
	t.Cleanup(fresh.Close)
	cfgF := config(t, q, fresh)
	cfgF.Now, cfgF.Mode = func() time.Time { return now }, carsync.Full
	mustRun(t, cfgF)
	got, want := liveGraph(ibm), liveGraph(fresh)
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("after IBM's source and our runs (-fresh full import +continued):\n%s", d)
	}
	for _, ip := range got[car.CollIPAddress] {
		if ip == "fe80:0:0:0:f558:672:7853:f978" {
			t.Error("the expanded IPv6 identity IBM wrote is still linked beside the canonical one")
		}
	}
}

// liveGraph is what CAR holds for the source that anything links to: the
// active edges, and the vertices at an end of one (the fake deactivates
// edges at the end of a full import, and leaves an unlinked vertex as it
// is: whether CAR deactivates vertices too is not documented).
func liveGraph(c *cartest.Server) map[string][]string {
	g := c.Graph("Qualys")
	out := map[string][]string{}
	linked := map[string]map[string]bool{}
	link := func(coll, id string) {
		if linked[coll] == nil {
			linked[coll] = map[string]bool{}
		}
		linked[coll][id] = true
	}
	for coll, es := range g.Edges {
		from, to, _ := strings.Cut(coll, "_")
		for _, e := range es {
			if e.Active {
				out[coll] = append(out[coll], e.From+"->"+e.To)
				link(from, e.From)
				link(to, e.To)
			}
		}
	}
	for coll, vs := range g.Vertices {
		for id, v := range vs {
			if v.Active && (coll == car.CollAsset || linked[coll][id]) {
				out[coll] = append(out[coll], id)
			}
		}
	}
	for _, v := range out {
		slices.Sort(v)
	}
	return out
}

// An error names each package once: "carsync: starting the CAR import:
// car: entering full import: POST /api/car/v2/...", not "car: car:".
func TestErrorsNameEachPackageOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 5)
	e.c.InjectFault(cartest.Fault{Method: "POST", Route: "/source", Status: 400, Body: `{"message":"refused"}`})
	_, err := carsync.Run(t.Context(), e.cfg)
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	if strings.Count(msg, "car: ") != 1 || strings.Count(msg, "carsync: ") != 1 || !strings.Contains(msg, "POST /api/car/v2/source/") {
		t.Errorf("error %q: want one car: and one carsync: and the endpoint with its leading slash", msg)
	}
}
