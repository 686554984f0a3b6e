package tqsync_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/qualysbridge/qualysbridge/mapping"
	"github.com/qualysbridge/qualysbridge/qualys"
	"github.com/qualysbridge/qualysbridge/qualys/qualystest"
	"github.com/qualysbridge/qualysbridge/threatq"
	"github.com/qualysbridge/qualysbridge/threatq/threatqtest"
	"github.com/qualysbridge/qualysbridge/tqsync"
)

const cve = "CVE-2019-17053"

type world struct {
	q  *qualystest.Server
	t  *threatqtest.Server
	qc *qualys.Client
	tc *threatq.Client
}

func newWorld(t testing.TB, tenant *qualystest.Tenant, topts ...threatqtest.Option) *world {
	t.Helper()
	q := qualystest.NewServer(qualystest.WithTenant(tenant))
	t.Cleanup(q.Close)
	tq := threatqtest.NewServer(topts...)
	t.Cleanup(tq.Close)
	user, pass := q.Credentials()
	qc, err := qualys.NewClient(q.URL, qualys.WithCredentials(user, pass), qualys.WithInsecureLoopback(), qualys.WithBackoff(func(int) time.Duration { return time.Millisecond }))
	if err != nil {
		t.Fatal(err)
	}
	tc, err := threatq.NewClient(tq.URL, threatq.WithPasswordGrant(threatq.PasswordGrant{ClientID: threatqtest.ClientID, Email: threatqtest.Email, Password: threatqtest.Password}), threatq.WithInsecureLoopback())
	if err != nil {
		t.Fatal(err)
	}
	return &world{q: q, t: tq, qc: qc, tc: tc}
}

func (w *world) run(t *testing.T, cfg tqsync.Config) (*tqsync.Summary, []tqsync.Host) {
	t.Helper()
	var hosts []tqsync.Host
	cfg.Qualys, cfg.ThreatQ = w.qc, w.tc
	if len(cfg.CVEs) == 0 {
		cfg.CVEs = []string{cve}
	}
	cfg.OnHost = func(h tqsync.Host) {
		cp := *h.Detection
		h.Detection = &cp
		hosts = append(hosts, h)
	}
	sum, err := tqsync.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if lists := w.q.SearchLists(); len(lists) != 0 {
		t.Errorf("search lists left: %v", lists)
	}
	return sum, hosts
}

// vulnerableIn returns the vulnerable hosts of a tenant in the given groups.
func vulnerableIn(tn *qualystest.Tenant, groups ...int64) []int64 {
	in := map[int64]bool{}
	for _, g := range tn.AssetGroups {
		if slices.Contains(groups, g.ID) {
			for _, h := range g.HostIDs {
				in[h] = true
			}
		}
	}
	var out []int64
	for _, h := range tn.Detections {
		for _, d := range h.Detections {
			if d.QID == 38170 && d.Status != "Fixed" && in[h.ID] {
				out = append(out, h.ID)
				break
			}
		}
	}
	slices.Sort(out)
	return out
}

func ids(hosts []tqsync.Host) []int64 {
	var out []int64
	for _, h := range hosts {
		out = append(out, h.Detection.ID)
	}
	slices.Sort(out)
	return out
}

// Groups given as an id and a title mean "in either group": the title is
// resolved to its id and only ag_ids is sent.
func TestMixedAssetGroups(t *testing.T) {
	tn := qualystest.Generate(5, 60, qualystest.WithVulnerableTo(cve, 0.5))
	w := newWorld(t, tn)
	_, hosts := w.run(t, tqsync.Config{Filters: tqsync.Filters{AssetGroupIDs: []int64{900}, AssetGroupTitles: []string{"Branch Offices"}}})
	want := vulnerableIn(tn, 900, 902)
	if got := ids(hosts); !slices.Equal(got, want) || len(want) == 0 {
		t.Errorf("hosts %v, want %v", got, want)
	}
	for _, r := range w.q.Requests() {
		if r.API == qualystest.APIDetections && (r.Form.Get("ag_titles") != "" || r.Form.Get("ag_ids") != "900,902") {
			t.Errorf("detection request sent ag_ids=%q ag_titles=%q", r.Form.Get("ag_ids"), r.Form.Get("ag_titles"))
		}
	}
}

// A title made of digits is a title when given as one.
func TestNumericGroupTitle(t *testing.T) {
	tn := qualystest.Generate(5, 60, qualystest.WithVulnerableTo(cve, 0.5))
	tn.AssetGroups[1].Title = "2024"
	w := newWorld(t, tn)
	_, hosts := w.run(t, tqsync.Config{Filters: tqsync.Filters{AssetGroupTitles: []string{"2024"}}})
	if got, want := ids(hosts), vulnerableIn(tn, 901); !slices.Equal(got, want) || len(want) == 0 {
		t.Errorf("hosts %v, want %v", got, want)
	}
}

func TestUnknownGroupTitle(t *testing.T) {
	w := newWorld(t, qualystest.Generate(5, 10, qualystest.WithVulnerableTo(cve, 0.5)))
	_, err := tqsync.Run(context.Background(), tqsync.Config{Qualys: w.qc, CVEs: []string{cve}, Filters: tqsync.Filters{AssetGroupTitles: []string{"Data centre"}}})
	if err == nil || !strings.Contains(err.Error(), `"Data centre"`) {
		t.Errorf("err = %v, want one naming the title", err)
	}
	if n := w.q.Calls(qualystest.APISearchLists); n != 0 {
		t.Errorf("%d search list calls before the filters were valid", n)
	}
}

// IPv4 and IPv6 filters together: the hosts matching either, each once.
func TestIPv6WithIPv4(t *testing.T) {
	tn := qualystest.Generate(5, 120, qualystest.WithVulnerableTo(cve, 1))
	var v4, v6 *qualys.DetectionHost
	for _, h := range tn.Detections {
		if h.IPv6 != "" && h.IP == "" && v6 == nil {
			v6 = h
		}
		if h.IP != "" && v4 == nil {
			v4 = h
		}
	}
	if v4 == nil || v6 == nil {
		t.Fatal("tenant lacks an IPv4 or an IPv6-only host")
	}
	w := newWorld(t, tn)
	_, hosts := w.run(t, tqsync.Config{Filters: tqsync.Filters{IPs: []string{v4.IP, v6.IPv6}}})
	want := []int64{v4.ID, v6.ID}
	slices.Sort(want)
	if got := ids(hosts); !slices.Equal(got, want) {
		t.Errorf("hosts %v, want %v", got, want)
	}
	var sawIPs, sawIPv6 bool
	for _, r := range w.q.Requests() {
		if r.API != qualystest.APIDetections {
			continue
		}
		if r.Form.Get("ips") != "" && r.Form.Get("ipv6") != "" {
			t.Errorf("ips and ipv6 sent together (Qualys ANDs them): %v", r.Form)
		}
		sawIPs = sawIPs || r.Form.Get("ips") == v4.IP
		sawIPv6 = sawIPv6 || r.Form.Get("ipv6") != ""
	}
	if !sawIPs || !sawIPv6 {
		t.Errorf("ips sent %v, ipv6 sent %v", sawIPs, sawIPv6)
	}
}

func TestInvalidIPForms(t *testing.T) {
	w := newWorld(t, qualystest.Generate(5, 10))
	for _, bad := range []string{"10.0.0.1abc", "10.0.0.1/99", "10.0.0.9-10.0.0.1", "fe80::1%eth0", "host.example", "10.0.0.1-fe80::1", "256.1.1.1"} {
		_, err := tqsync.Run(context.Background(), tqsync.Config{Qualys: w.qc, CVEs: []string{cve}, Filters: tqsync.Filters{IPs: []string{"10.0.0.1", bad}}})
		var ce *qualys.ConfigError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), bad) {
			t.Errorf("%q: err = %v, want a ConfigError quoting it", bad, err)
		}
	}
	if n := w.q.TotalCalls(); n != 0 {
		t.Errorf("%d calls for invalid filters", n)
	}
	// A CIDR block is sent as the range it covers.
	ipv4, _, err := qualys.SplitIPFilters([]string{"10.1.2.3/22"})
	if err != nil || len(ipv4) != 1 || ipv4[0] != "10.1.0.0-10.1.3.255" {
		t.Errorf("CIDR: %v %v", ipv4, err)
	}
}

// A rescan between two runs leaves exactly one value of each current-state
// attribute, updated in place; Qualys IDs accumulate without duplicates.
func TestRescanUpdatesCurrentAttributes(t *testing.T) {
	tn := qualystest.Generate(5, 30, qualystest.WithVulnerableTo(cve, 1))
	w := newWorld(t, tn)
	toggles := tqsync.Toggles{AddAssets: true, AddDiscoveredAssets: true}
	w.run(t, tqsync.Config{Toggles: toggles})
	// The rescan: every host scanned again, its CVE detection found again
	// with a new status.
	for _, h := range tn.Detections {
		cp := *h
		cp.Detections = slices.Clone(h.Detections)
		cp.LastScan = cp.LastScan.Add(48 * time.Hour)
		for i := range cp.Detections {
			if cp.Detections[i].QID == 38170 {
				cp.Detections[i].LastFound = cp.LastScan
				cp.Detections[i].Status = "Re-Opened"
			}
		}
		w.q.SetDetectionHost(&cp)
	}
	sum, _ := w.run(t, tqsync.Config{Toggles: toggles})
	if sum.Stored == 0 {
		t.Fatal("nothing stored")
	}
	for _, a := range w.t.Assets() {
		count := map[string]int{}
		values := map[string]string{}
		for _, at := range a.Attributes {
			count[at[0]]++
			values[at[0]] = at[1]
		}
		for _, name := range []string{mapping.AttrLastScanDate, mapping.AttrScanStatus, mapping.AttrLastFoundDate, mapping.AttrScanType, mapping.AttrSeverity} {
			if count[name] != 1 {
				t.Errorf("asset %s: %d values of %s: %v", a.Value, count[name], name, a.Attributes)
			}
		}
		if values[mapping.AttrScanStatus] != "Re-Opened" {
			t.Errorf("asset %s: Scan Status %q, want the rescan's", a.Value, values[mapping.AttrScanStatus])
		}
		if count[mapping.AttrQualysID] != 1 {
			t.Errorf("asset %s: %d Qualys IDs", a.Value, count[mapping.AttrQualysID])
		}
		updated := 0
		for _, c := range w.t.AttributeHistory(a.Value) {
			if c.Action == "updated" {
				updated++
			}
			if c.Action == "added" && c.Name == mapping.AttrScanStatus && c.Value == "Re-Opened" {
				t.Errorf("asset %s: the new status was added beside the old one", a.Value)
			}
		}
		if updated < 3 {
			t.Errorf("asset %s: %d in-place updates, want the scan date, status and found date", a.Value, updated)
		}
	}
}

// Each toggle combination stores what it says and reports what it left
// out with the toggle that would store it.
func TestToggleCombinations(t *testing.T) {
	tn := qualystest.Generate(5, 80, qualystest.WithVulnerableTo(cve, 0.8))
	for _, tg := range []tqsync.Toggles{{}, {AddAssets: true}, {AddDiscoveredAssets: true}, {AddAssets: true, AddDiscoveredAssets: true},
		{AddTagsToCVEs: true}, {AddAssets: true, AddDiscoveredAssets: true, AddTagsToCVEs: true}} {
		t.Run(fmt.Sprintf("%+v", tg), func(t *testing.T) {
			w := newWorld(t, tn)
			sum, hosts := w.run(t, tqsync.Config{Toggles: tg})
			cs := sum.CVEs[0]
			if cs.Confirmed == 0 || cs.PotentialOnly == 0 {
				t.Fatalf("tenant: %+v", cs)
			}
			for _, h := range hosts {
				wantStored := (h.Confirmed && tg.AddAssets) || (!h.Confirmed && tg.AddDiscoveredAssets)
				if h.Stored != wantStored && h.NotStorable == "" {
					t.Errorf("host %d (confirmed %v): stored %v", h.Detection.ID, h.Confirmed, h.Stored)
				}
				switch {
				case !h.Stored && h.Confirmed && h.NeedsToggle != tqsync.ToggleAddAssets:
					t.Errorf("host %d: NeedsToggle %q", h.Detection.ID, h.NeedsToggle)
				case !h.Stored && !h.Confirmed && h.NotStorable == "" && h.NeedsToggle != tqsync.ToggleAddDiscoveredAssets:
					t.Errorf("host %d: NeedsToggle %q", h.Detection.ID, h.NeedsToggle)
				}
			}
			want := 0
			if tg.AddAssets {
				want += cs.Confirmed
			} else if cs.NotStoredConfirmed != cs.Confirmed {
				t.Errorf("not stored confirmed %d of %d", cs.NotStoredConfirmed, cs.Confirmed)
			}
			if tg.AddDiscoveredAssets {
				want += cs.PotentialOnly
			} else if cs.NotStoredPotential != cs.PotentialOnly {
				t.Errorf("not stored potential %d of %d", cs.NotStoredPotential, cs.PotentialOnly)
			}
			if got := len(w.t.Assets()); got != want-cs.NotStorable || cs.Stored != got {
				t.Errorf("%d assets in ThreatQ, summary %d, want %d", got, cs.Stored, want-cs.NotStorable)
			}
			inds := w.t.Indicators()
			if tg.AddTagsToCVEs && (len(inds) != 1 || len(inds[0].Tags) == 0) {
				t.Errorf("CVE indicator not tagged: %+v", inds)
			}
			if !tg.Any() && len(inds) != 0 {
				t.Errorf("ThreatQ written with every toggle off: %+v", inds)
			}
		})
	}
}
