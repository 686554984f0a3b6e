package mapping_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/qualysbridge/qualysbridge/car"
	"github.com/qualysbridge/qualysbridge/mapping"
	"github.com/qualysbridge/qualysbridge/qualys"
)

// TestCARRiskFields: with the Host List's scores and detections listed
// with QDS, the asset carries risk = TruRisk / 100 and business_value =
// 2 x ACS, and each asset_vulnerability edge risk_score = the QID's
// highest QDS / 10 (SEVERITY x 2 for a QID none of whose detections has
// one); without them, IBM's values exactly; a score the host lacks, or
// scores of another host, leave the field out.
func TestCARRiskFields(t *testing.T) {
	t.Parallel()
	withScores := fullHost()
	withScores.Detections.Detections[0].QDS = 72 // 38170, port 3389
	withScores.Detections.Detections[1].QDS = 95 // 38170, port 8443 (Fixed): the QID's highest
	withScores.Detections.Detections[2].QDS = 41 // 90007
	withScores.Scores = &qualys.Host{TruRisk: ptr(812), AssetCriticality: ptr(4)}
	withScores.Scores.ID = 4100001

	v := index(mapping.CAR(withScores, "Qualys"))
	a := v.vertices["asset/31000001"].(*car.Asset)
	if a.Risk == nil || *a.Risk != 8.12 || a.BusinessValue == nil || *a.BusinessValue != 8 {
		t.Errorf("asset risk %v, business_value %v; want 8.12 and 8", a.Risk, a.BusinessValue)
	}
	got := map[string]any{}
	for _, qid := range []string{"38170", "90007", "11111"} {
		got[qid] = v.edges["asset_vulnerability|31000001|"+qid].Properties["risk_score"]
	}
	if d := cmp.Diff(map[string]any{"38170": 9.5, "90007": 4.1, "11111": 6.0}, got); d != "" {
		t.Errorf("risk_score (-want +got):\n%s", d)
	}

	ibm := index(mapping.CAR(fullHost(), "Qualys"))
	a = ibm.vertices["asset/31000001"].(*car.Asset)
	if a.Risk != nil || a.BusinessValue != nil {
		t.Errorf("without scores: risk %v, business_value %v; want both absent", a.Risk, a.BusinessValue)
	}
	if rs := ibm.edges["asset_vulnerability|31000001|38170"].Properties["risk_score"]; rs != 4.0 {
		t.Errorf("without QDS: risk_score %v, want SEVERITY x 2 = 4", rs)
	}

	partial := fullHost()
	partial.Scores = &qualys.Host{AssetCriticality: ptr(1)} // no TruRisk
	partial.Scores.ID = 4100001
	a = index(mapping.CAR(partial, "Qualys")).vertices["asset/31000001"].(*car.Asset)
	if a.Risk != nil || a.BusinessValue == nil || *a.BusinessValue != 2 {
		t.Errorf("ACS alone: risk %v, business_value %v; want absent and 2", a.Risk, a.BusinessValue)
	}
	other := fullHost()
	other.Scores = &qualys.Host{TruRisk: ptr(900), AssetCriticality: ptr(5)}
	other.Scores.ID = 999 // another host's scores
	a = index(mapping.CAR(other, "Qualys")).vertices["asset/31000001"].(*car.Asset)
	if a.Risk != nil || a.BusinessValue != nil {
		t.Errorf("another host's scores were used: risk %v, business_value %v", a.Risk, a.BusinessValue)
	}
	for _, g := range []mapping.Host{withScores, partial} {
		for _, x := range mapping.CAR(g, "Qualys").Vertices {
			if err := x.Validate(); err != nil {
				t.Error(err)
			}
		}
	}
}
