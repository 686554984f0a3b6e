package qualys_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/qualysbridge/qualysbridge/qualys"
	"github.com/qualysbridge/qualysbridge/qualys/qualystest"
)

func intp(n int) *int { return &n }

// TestDecodeHosts: a Host List answer in the shape the documentation and
// the public clients' data classes give (the public record has no
// recorded answer; testdata/qualys/host_list.xml is ours): the scores,
// their factors, the shared host fields; an empty score is absent (nil),
// never zero; the truncation warning is not an error.
func TestDecodeHosts(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../testdata/qualys/host_list.xml")
	if err != nil {
		t.Fatal(err)
	}
	var got []*qualys.Host
	for h, err := range qualys.DecodeHosts(bytes.NewReader(b)) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, h)
	}
	ts := func(s string) time.Time { v, _ := time.Parse(time.RFC3339, s); return v }
	first := &qualys.Host{
		LastVulnScan: ts("2026-11-29T22:04:51Z"), LastComplianceScan: ts("2026-11-20T03:00:00Z"),
		Owner: "dba-team", Comments: "payments ledger, PCI scope",
		TruRisk: intp(812), AssetCriticality: intp(5), AssetRiskScore: intp(812),
		TruRiskFactors: &qualys.TruRiskFactors{Formula: "ACS * (wc * Avg(QDS(Critical)) * Count(Critical)^0.01 + ...)",
			VulnCounts: []qualys.VulnCount{{"1", 3}, {"2", 9}, {"3", 14}, {"4", 2}, {"5", 1}}},
	}
	first.DetectionHost = qualys.DetectionHost{ID: 7301442, AssetID: 48210077, IP: "10.44.0.17", TrackingMethod: "QAGENT", NetworkID: "0",
		DNS: "ledger-db-02.corp.example", DNSData: qualys.DNSData{Hostname: "ledger-db-02", Domain: "corp.example", FQDN: "ledger-db-02.corp.example"},
		NetBIOS: "LEDGER-DB-02", OS: "Red Hat Enterprise Linux 9.4", QGHostID: "5d0c6a1e-3b7f-4e02-9a41-0c7d2b8e9f10",
		LastVMScanned: ts("2026-11-29T21:58:10Z"), LastVMScannedDuration: 377 * time.Second, Tags: []qualys.Tag{{ID: 61770, Name: "PCI"}}}
	second := &qualys.Host{LastVulnScan: ts("2026-11-28T10:12:00Z"), AssetCriticality: intp(1)}
	second.DetectionHost = qualys.DetectionHost{ID: 7301450, IP: "10.44.0.31", TrackingMethod: "IP", OS: "Windows Server 2022"}
	if d := cmp.Diff([]*qualys.Host{first, second}, got); d != "" {
		t.Errorf("hosts (-want +got):\n%s", d)
	}
}

// TestDecodeHostsRefusesBadScores: a score outside its documented range,
// or a detection document given as a Host List, is a *DecodeError.
func TestDecodeHostsRefusesBadScores(t *testing.T) {
	t.Parallel()
	for name, doc := range map[string]string{
		"trurisk 1200":  `<HOST_LIST_OUTPUT><RESPONSE><HOST_LIST><HOST><ID>1</ID><TRURISK_SCORE>1200</TRURISK_SCORE></HOST></HOST_LIST></RESPONSE></HOST_LIST_OUTPUT>`,
		"criticality 0": `<HOST_LIST_OUTPUT><RESPONSE><HOST_LIST><HOST><ID>1</ID><ASSET_CRITICALITY_SCORE>0</ASSET_CRITICALITY_SCORE></HOST></HOST_LIST></RESPONSE></HOST_LIST_OUTPUT>`,
		"wrong root":    `<HOST_LIST_VM_DETECTION_OUTPUT><RESPONSE><HOST_LIST><HOST><ID>1</ID></HOST></HOST_LIST></RESPONSE></HOST_LIST_VM_DETECTION_OUTPUT>`,
	} {
		var last error
		for _, err := range qualys.DecodeHosts(strings.NewReader(doc)) {
			last = err
		}
		var de *qualys.DecodeError
		if !errors.As(last, &de) {
			t.Errorf("%s: err = %v, want a *DecodeError", name, last)
		}
	}
}

// TestHostsListFollowsTruncation: the client pages the fake's Host List
// by id_min, sends the ids as ranges, and the scores are the fake's
// (TruRisk from the criticality and the open detections); without
// ShowTruRisk no score is given.
func TestHostsListFollowsTruncation(t *testing.T) {
	t.Parallel()
	srv, c := newFake(t, 60)
	ctx := context.Background()
	var got []*qualys.Host
	for h, err := range c.Hosts.List(ctx, &qualys.HostQuery{ShowTruRisk: qualys.Bool(true), ShowAssetID: qualys.Bool(true), TruncationLimit: 7}) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, h)
	}
	dets := map[int64]*qualys.DetectionHost{}
	for h, err := range c.Detections.List(ctx, &qualys.DetectionQuery{ShowQDS: qualys.Bool(true), Status: []qualys.DetectionStatus{qualys.StatusNew, qualys.StatusActive, qualys.StatusReOpened, qualys.StatusFixed}}) {
		if err != nil {
			t.Fatal(err)
		}
		dets[h.ID] = h
	}
	if len(got) != len(dets) || len(got) < 50 {
		t.Fatalf("%d hosts listed, %d with detections", len(got), len(dets))
	}
	if calls := srv.Calls(qualystest.APIHosts); calls != (len(got)+6)/7 {
		t.Errorf("%d Host List calls for %d hosts at 7 a page", calls, len(got))
	}
	for i, h := range got {
		if i > 0 && h.ID <= got[i-1].ID {
			t.Fatalf("host %d after %d: not in id order", h.ID, got[i-1].ID)
		}
		if h.TruRisk == nil || h.AssetCriticality == nil || h.AssetID == 0 {
			t.Fatalf("host %d: TruRisk %v, ACS %v, asset %d", h.ID, h.TruRisk, h.AssetCriticality, h.AssetID)
		}
		if want := qualystest.TruRisk(*h.AssetCriticality, dets[h.ID]); *h.TruRisk != want {
			t.Errorf("host %d: TruRisk %d, want %d", h.ID, *h.TruRisk, want)
		}
	}
	base := got[0].ID
	ids := []int64{got[3].ID, base + 1, base, base + 2, base}
	want := 0
	for _, h := range got {
		if h.ID == got[3].ID || (h.ID >= base && h.ID <= base+2) {
			want++
		}
	}
	n := 0
	for h, err := range c.Hosts.List(ctx, &qualys.HostQuery{IDs: ids}) {
		if err != nil {
			t.Fatal(err)
		}
		if h.TruRisk != nil || h.AssetCriticality != nil {
			t.Errorf("host %d carries scores it was not asked for", h.ID)
		}
		n++
	}
	reqs := srv.Requests()
	if last, wantIDs := reqs[len(reqs)-1].Form.Get("ids"), fmt.Sprintf("%d-%d,%d", base, base+2, got[3].ID); n != want || last != wantIDs {
		t.Errorf("%d hosts for ids sent as %q; want %d, sent as %q", n, last, want, wantIDs)
	}
}

// TestHostQueryValidatedBeforeAnyCall: out-of-range filters are a
// *ConfigError naming the field, and no call is spent on them.
func TestHostQueryValidatedBeforeAnyCall(t *testing.T) {
	t.Parallel()
	srv, c := newFake(t, 3)
	for field, q := range map[string]*qualys.HostQuery{
		"Details":    {Details: "Full"},
		"TruRiskMin": {TruRiskMin: 900, TruRiskMax: 100},
		"TruRiskMax": {TruRiskMax: 1001},
		"IDs":        {IDs: []int64{0}},
	} {
		for _, err := range c.Hosts.List(context.Background(), q) {
			var ce *qualys.ConfigError
			if !errors.As(err, &ce) || !strings.Contains(ce.Option, field) {
				t.Errorf("%s: err = %v", field, err)
			}
		}
	}
	if n := srv.TotalCalls(); n != 0 {
		t.Errorf("%d calls for invalid queries", n)
	}
}
