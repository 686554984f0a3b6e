package qualys

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/google/go-querystring/query"
)

// HostService lists VM hosts with the Host List API
// (/api/5.0/fo/asset/host/?action=list by default; see EndpointHosts):
// the hosts without their detections, with the scores Qualys ranks them
// by: the TruRisk score, the Asset Criticality Score and the Asset Risk
// Score. Host List Detection (DetectionService) does not carry those.
type HostService struct{ c *Client }

// HostDetails is how much of each host the Host List returns (details).
type HostDetails string

// The Host List detail levels. Basic is the API's default: the host's
// identity, addresses, OS and last scan dates; All adds the owner,
// comments and the user-defined fields; the /AGs forms add the asset
// group ids; None returns the ids alone.
const (
	HostDetailsBasic    HostDetails = "Basic"
	HostDetailsBasicAGs HostDetails = "Basic/AGs"
	HostDetailsAll      HostDetails = "All"
	HostDetailsAllAGs   HostDetails = "All/AGs"
	HostDetailsNone     HostDetails = "None"
)

// HostQuery selects hosts and the scores and sections shown. The zero
// query lists every host with the API's defaults; nil fields are not
// sent.
type HostQuery struct {
	// IDs keeps these host ids (the qwebHostId of a QPS host asset). They
	// are sent sorted, consecutive ids as ranges ("1-5,9"), in the POST
	// body.
	IDs []int64 `url:"-"`
	// IDMin and IDMax bound the host ids.
	IDMin int64 `url:"id_min,omitempty"`
	IDMax int64 `url:"id_max,omitempty"`
	// IPs keeps hosts with these addresses or ranges ("10.0.0.1-10.0.0.9").
	IPs              []string `url:"ips,comma,omitempty"`
	AssetGroupIDs    []int64  `url:"ag_ids,comma,omitempty"`
	AssetGroupTitles []string `url:"ag_titles,comma,omitempty"`
	OSPattern        string   `url:"os_pattern,omitempty"`
	// VMScanSince keeps hosts scanned since then; VMProcessedAfter those
	// whose last scan was processed after then.
	VMScanSince      time.Time `url:"-"`
	VMProcessedAfter time.Time `url:"-"`
	// Details is the detail level (default: the API's, Basic).
	Details HostDetails `url:"details,omitempty"`
	// ShowTruRisk adds TRURISK_SCORE (0-1000) and
	// ASSET_CRITICALITY_SCORE (1-5); ShowTruRiskFactors the factors of
	// the score. TruRiskMin and TruRiskMax keep hosts whose score is in
	// range (0 leaves a bound out).
	ShowTruRisk        *bool `url:"show_trurisk,int,omitempty"`
	ShowTruRiskFactors *bool `url:"show_trurisk_factors,int,omitempty"`
	TruRiskMin         int   `url:"trurisk_min,omitempty"`
	TruRiskMax         int   `url:"trurisk_max,omitempty"`
	// ShowARS adds ASSET_RISK_SCORE, the score TruRisk replaced.
	ShowARS *bool `url:"show_ars,int,omitempty"`
	// ShowAssetID adds ASSET_ID, the id of the host's asset (the QPS host
	// asset id).
	ShowAssetID *bool `url:"show_asset_id,int,omitempty"`
	// ShowTags adds the host's asset tags.
	ShowTags *bool `url:"show_tags,int,omitempty"`
	// TruncationLimit is the number of hosts per answer (the API's
	// default is 1000). Negative asks for no truncation (sent as 0).
	TruncationLimit int `url:"-"`
	// Extra holds parameters this struct does not name; they are sent as
	// given and override nothing above.
	Extra url.Values `url:"-"`
}

// Host is one <HOST> of the Host List output. It shares the fields of a
// Host List Detection host (DetectionHost, whose Detections stays empty:
// the Host List has none) and adds the scores. A score the answer did not
// carry is nil, never zero.
type Host struct {
	DetectionHost
	// LastVulnScan is LAST_VULN_SCAN_DATETIME.
	LastVulnScan time.Time `json:"last_vuln_scan,omitzero"`
	// LastComplianceScan is LAST_COMPLIANCE_SCAN_DATETIME.
	LastComplianceScan time.Time `json:"last_compliance_scan,omitzero"`
	// Owner and Comments come with details=All.
	Owner    string `json:"owner,omitzero"`
	Comments string `json:"comments,omitzero"`
	// TruRisk is TRURISK_SCORE (0-1000: Severe 850-1000, High 700-849,
	// Medium 500-699, Low 0-499), with ShowTruRisk.
	TruRisk *int `json:"trurisk,omitempty"`
	// TruRiskFactors is TRURISK_SCORE_FACTORS, with ShowTruRiskFactors.
	TruRiskFactors *TruRiskFactors `json:"trurisk_factors,omitempty"`
	// AssetCriticality is ASSET_CRITICALITY_SCORE (1-5), with
	// ShowTruRisk.
	AssetCriticality *int `json:"asset_criticality,omitempty"`
	// AssetRiskScore is ASSET_RISK_SCORE, with ShowARS.
	AssetRiskScore *int `json:"asset_risk_score,omitempty"`
}

// MarshalJSON writes the host flat, as DetectionHost writes itself (scan
// durations in seconds), with the Host List's own fields.
func (h Host) MarshalJSON() ([]byte, error) {
	type base DetectionHost
	return json.Marshal(struct {
		base
		LastVMScannedDuration     float64         `json:"last_vm_scanned_duration,omitzero"`
		LastVMAuthScannedDuration float64         `json:"last_vm_auth_scanned_duration,omitzero"`
		LastVulnScan              time.Time       `json:"last_vuln_scan,omitzero"`
		LastComplianceScan        time.Time       `json:"last_compliance_scan,omitzero"`
		Owner                     string          `json:"owner,omitzero"`
		Comments                  string          `json:"comments,omitzero"`
		TruRisk                   *int            `json:"trurisk,omitempty"`
		TruRiskFactors            *TruRiskFactors `json:"trurisk_factors,omitempty"`
		AssetCriticality          *int            `json:"asset_criticality,omitempty"`
		AssetRiskScore            *int            `json:"asset_risk_score,omitempty"`
	}{base(h.DetectionHost), h.LastVMScannedDuration.Seconds(), h.LastVMAuthScannedDuration.Seconds(),
		h.LastVulnScan, h.LastComplianceScan, h.Owner, h.Comments, h.TruRisk, h.TruRiskFactors, h.AssetCriticality, h.AssetRiskScore})
}

// TruRiskFactors is what a TruRisk score was computed from: the formula
// as Qualys states it, and the number of the host's vulnerabilities per
// severity (VULN_COUNT qds_severity="...").
type TruRiskFactors struct {
	Formula    string      `json:"formula,omitzero"`
	VulnCounts []VulnCount `json:"vuln_counts,omitzero"`
}

// VulnCount is one VULN_COUNT of TruRisk's factors.
type VulnCount struct {
	// QDSSeverity is the qds_severity attribute, as the answer gives it.
	QDSSeverity string `json:"qds_severity"`
	Count       int    `json:"count"`
}

// List streams the hosts matching q in host id order, decoded one <HOST>
// at a time. A truncated answer (WARNING 1980 with a URL) is followed as
// Detections.List follows it: with the caller's filters and the URL's
// id_min, sent to the configured server. The first error is yielded once
// and ends the iteration; breaking out of the loop stops fetching.
func (s *HostService) List(ctx context.Context, q *HostQuery) iter.Seq2[*Host, error] {
	var qc HostQuery
	if q != nil {
		qc = *q
		qc.IDs = slices.Clone(q.IDs)
	}
	return func(yield func(*Host, error) bool) {
		yield = scrubbed(s.c, yield)
		form, err := qc.values()
		if err != nil {
			yield(nil, err)
			return
		}
		listHosts(ctx, s.c, EndpointHosts, "host", form,
			func(r io.Reader, path string) *detectionDecoder {
				d := newDetectionDecoder(r, path)
				d.rootName = "HOST_LIST_OUTPUT"
				return d
			},
			func(d *detectionDecoder) (*Host, int64, error) {
				h, err := d.nextListed()
				if h == nil {
					return nil, 0, err
				}
				return h, h.ID, nil
			}, yield)
	}
}

// DecodeHosts decodes a Host List XML document, as saved from the API,
// one host at a time, as DecodeDetections decodes a detection document.
func DecodeHosts(r io.Reader) iter.Seq2[*Host, error] {
	return func(yield func(*Host, error) bool) {
		d := newDetectionDecoder(r, "")
		d.rootName = "HOST_LIST_OUTPUT"
		streamRecords(context.Background(), d.nextListed, yield)
	}
}

func (q *HostQuery) values() (url.Values, error) {
	bad := func(field, reason string) error {
		return &ConfigError{Option: "HostQuery." + field, Reason: reason}
	}
	v, err := query.Values(q)
	if err != nil {
		return nil, &ConfigError{Option: "HostQuery", Reason: err.Error()}
	}
	switch q.Details {
	case "", HostDetailsBasic, HostDetailsBasicAGs, HostDetailsAll, HostDetailsAllAGs, HostDetailsNone:
	default:
		return nil, bad("Details", "want Basic, Basic/AGs, All, All/AGs or None, got "+quoteShort(string(q.Details)))
	}
	for _, r := range []struct {
		field string
		v     int
	}{{"TruRiskMin", q.TruRiskMin}, {"TruRiskMax", q.TruRiskMax}} {
		if r.v < 0 || r.v > 1000 {
			return nil, bad(r.field, fmt.Sprintf("%d out of range 0-1000", r.v))
		}
	}
	if q.TruRiskMax > 0 && q.TruRiskMin > q.TruRiskMax {
		return nil, bad("TruRiskMin", fmt.Sprintf("%d is above TruRiskMax %d", q.TruRiskMin, q.TruRiskMax))
	}
	for _, id := range q.IDs {
		if id <= 0 {
			return nil, bad("IDs", fmt.Sprintf("id %d is not positive", id))
		}
	}
	if len(q.IDs) > 0 {
		v.Set("ids", idRanges(q.IDs))
	}
	for _, tf := range []struct {
		key string
		t   time.Time
	}{{"vm_scan_since", q.VMScanSince}, {"vm_processed_after", q.VMProcessedAfter}} {
		if !tf.t.IsZero() {
			v.Set(tf.key, qualysTime(tf.t))
		}
	}
	switch {
	case q.TruncationLimit > 0:
		v.Set("truncation_limit", strconv.Itoa(q.TruncationLimit))
	case q.TruncationLimit < 0:
		v.Set("truncation_limit", "0")
	}
	for k, vals := range q.Extra {
		if _, ok := v[k]; !ok {
			v[k] = append([]string(nil), vals...)
		}
	}
	v.Set("action", "list")
	return v, nil
}

// idRanges writes ids sorted and deduplicated, consecutive ids as ranges:
// "1-3,7,9-10".
func idRanges(ids []int64) string {
	return compressIDs(slices.Compact(slices.Sorted(slices.Values(ids))))
}

// nextListed returns the next Host List host, or nil at the end.
func (d *detectionDecoder) nextListed() (*Host, error) {
	ok, err := d.seekHost()
	if !ok || err != nil {
		return nil, err
	}
	before := d.s.Replaced
	d.beginRecord()
	h := &Host{}
	err = d.decodeHostFields(&h.DetectionHost, func(name []byte) (bool, error) {
		var err error
		switch string(name) {
		case "LAST_VULN_SCAN_DATETIME":
			h.LastVulnScan, err = d.time()
		case "LAST_COMPLIANCE_SCAN_DATETIME":
			h.LastComplianceScan, err = d.time()
		case "OWNER":
			h.Owner, err = d.text()
		case "COMMENTS":
			h.Comments, err = d.text()
		case "TRURISK_SCORE":
			h.TruRisk, err = d.score(0, 1000)
		case "ASSET_CRITICALITY_SCORE":
			h.AssetCriticality, err = d.score(1, 5)
		case "ASSET_RISK_SCORE":
			h.AssetRiskScore, err = d.score(0, 1000)
		case "TRURISK_SCORE_FACTORS":
			h.TruRiskFactors = &TruRiskFactors{}
			err = d.fields("TRURISK_SCORE_FACTORS", func(n []byte) error {
				switch string(n) {
				case "TRURISK_SCORE_FORMULA":
					var e error
					h.TruRiskFactors.Formula, e = d.text()
					return e
				case "VULN_COUNT":
					if e := d.item(); e != nil {
						return e
					}
					c := VulnCount{}
					c.QDSSeverity, _ = d.s.Attr("qds_severity")
					var e error
					c.Count, e = d.smallInt()
					h.TruRiskFactors.VulnCounts = append(h.TruRiskFactors.VulnCounts, c)
					return e
				}
				return d.s.Skip()
			})
		case "DETECTION_LIST":
			// Not part of a Host List answer.
			err = d.s.Skip()
		default:
			return false, nil
		}
		return true, err
	})
	d.endRecord()
	if err != nil {
		return nil, err
	}
	h.ReplacedChars = d.s.Replaced - before
	d.lastID = h.ID
	return h, nil
}

// score reads an integer score in [lo, hi]; an empty element is no score
// (nil), a value out of range an error.
func (d *detectionDecoder) score(lo, hi int) (*int, error) {
	b, err := d.trimmed()
	if err != nil || len(b) == 0 {
		return nil, err
	}
	n, err := parseInt(b)
	if err != nil {
		return nil, err
	}
	if n < int64(lo) || n > int64(hi) {
		return nil, fmt.Errorf("score %d out of range %d-%d", n, lo, hi)
	}
	v := int(n)
	return &v, nil
}
