package tqsync_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/qualysbridge/qualysbridge/mapping"
	"github.com/qualysbridge/qualysbridge/qualys"
	"github.com/qualysbridge/qualysbridge/qualys/qualystest"
	"github.com/qualysbridge/qualysbridge/threatq/threatqtest"
	"github.com/qualysbridge/qualysbridge/tqsync"
)

// TestAddScores: with AddScores, each stored Asset carries QDS (the host's
// highest for the CVE) and TruRisk Score (the Host List's) as current-state
// attributes, read with one Host List call per batch; a sweep carries them
// too; without the toggle, the Assets carry the guide's attributes only
// and no Host List call is made.
func TestAddScores(t *testing.T) {
	t.Parallel()
	const cve = "CVE-2019-17053"
	tn := qualystest.Generate(7, 60, qualystest.WithVulnerableTo(cve, 0.4))
	qsrv := qualystest.NewServer(qualystest.WithTenant(tn))
	t.Cleanup(qsrv.Close)
	qc, err := qsrv.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	truRisk := map[string]int{} // by IP
	for h, err := range qc.Hosts.List(ctx, &qualys.HostQuery{ShowTruRisk: qualys.Bool(true)}) {
		if err != nil {
			t.Fatal(err)
		}
		truRisk[mapping.ThreatQValue(&h.DetectionHost)] = *h.TruRisk
	}
	attrs := func(tsrv *threatqtest.Server) map[string]map[string][]string {
		out := map[string]map[string][]string{}
		for _, a := range tsrv.Assets() {
			m := map[string][]string{}
			for _, at := range a.Attributes {
				m[at[0]] = append(m[at[0]], at[1])
			}
			out[a.Value] = m
		}
		return out
	}
	for _, sweep := range []bool{false, true} {
		for _, on := range []bool{false, true} {
			tsrv := threatqtest.NewServer()
			t.Cleanup(tsrv.Close)
			tc, _ := tsrv.NewClient()
			before := qsrv.Calls(qualystest.APIHosts)
			cfg := tqsync.Config{Qualys: qc, ThreatQ: tc, CVEs: []string{cve}, Toggles: tqsync.Toggles{AddAssets: true, AddScores: on}, BatchSize: 7}
			var stored, hosts int
			if sweep {
				sum, err := tqsync.Sweep(ctx, tqsync.SweepConfig{Config: cfg})
				if err != nil {
					t.Fatal(err)
				}
				stored, hosts = sum.CVEs[0].Stored, sum.CVEs[0].Hosts
			} else {
				sum, err := tqsync.Run(ctx, cfg)
				if err != nil {
					t.Fatal(err)
				}
				stored, hosts = sum.CVEs[0].Stored, sum.CVEs[0].Hosts
			}
			calls := qsrv.Calls(qualystest.APIHosts) - before
			got := attrs(tsrv)
			if stored < 10 || len(got) != stored {
				t.Fatalf("sweep %v scores %v: %d stored, %d assets", sweep, on, stored, len(got))
			}
			if !on {
				if calls != 0 {
					t.Errorf("sweep %v: %d Host List calls without AddScores", sweep, calls)
				}
				for ip, a := range got {
					if a[mapping.AttrQDS] != nil || a[mapping.AttrTruRiskScore] != nil {
						t.Errorf("sweep %v: %s carries scores without AddScores: %v", sweep, ip, a)
					}
				}
				continue
			}
			if want := (hosts + 6) / 7; calls < 1 || calls > want {
				t.Errorf("sweep %v: %d Host List calls for %d hosts in batches of 7", sweep, calls, hosts)
			}
			for ip, a := range got {
				if len(a[mapping.AttrQDS]) != 1 {
					t.Errorf("sweep %v: %s QDS %v, want one value", sweep, ip, a[mapping.AttrQDS])
				}
				if want := []string{strconv.Itoa(truRisk[ip])}; len(a[mapping.AttrTruRiskScore]) != 1 || a[mapping.AttrTruRiskScore][0] != want[0] {
					t.Errorf("sweep %v: %s TruRisk Score %v, want %v", sweep, ip, a[mapping.AttrTruRiskScore], want)
				}
			}
		}
	}
}
