package qualystest

import (
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"time"

	"github.com/qualysbridge/qualysbridge/qualys"
)

// DefaultCriticality is the Asset Criticality Score of a VM host the
// tenant gives none.
const DefaultCriticality = 2

// TruRisk is the fake's TruRisk score of a host: its Asset Criticality
// Score times twice the highest QDS of its open (not Fixed) detections,
// at most 1000; 0 for a host with no open detection. It is a stand-in
// for Qualys' formula, chosen so that the score moves with what moves
// Qualys' (a rescan that finds or fixes something, a criticality edited)
// and stays within the documented 0-1000.
func TruRisk(criticality int, h *qualys.DetectionHost) int {
	top := 0
	for _, d := range h.Detections {
		if d.Status != qualys.StatusFixed {
			top = max(top, d.QDS)
		}
	}
	return min(1000, criticality*top*2)
}

// knownHostParams are the Host List parameters the fake implements;
// any other is refused with 1901, as Qualys refuses a parameter it does
// not know (the fake does not accept what it would ignore).
var knownHostParams = map[string]bool{
	"action": true, "echo_request": true, "ids": true, "id_min": true, "id_max": true, "ips": true,
	"ag_ids": true, "ag_titles": true, "truncation_limit": true, "details": true,
	"show_trurisk": true, "show_trurisk_factors": true, "trurisk_min": true, "trurisk_max": true,
	"show_ars": true, "show_asset_id": true, "show_tags": true, "vm_scan_since": true,
	"vm_processed_after": true, "os_pattern": true,
}

// serveHosts answers the Host List (action=list) from the tenant's VM
// hosts (those with detections, fixed ones included), in id order,
// truncated as Host List Detection is (WARNING 1980 with the next
// id_min). Scores are computed when asked: TRURISK_SCORE (TruRisk) and
// ASSET_CRITICALITY_SCORE with show_trurisk, their factors with
// show_trurisk_factors, ASSET_RISK_SCORE (the TruRisk value) with
// show_ars.
func (s *Server) serveHosts(w http.ResponseWriter, r *http.Request, form url.Values) {
	if form.Get("action") != "list" {
		bad(w, "1903", "Missing required parameter(s): action=list")
		return
	}
	for k := range form {
		if !knownHostParams[k] {
			bad(w, "1901", "Unrecognized parameter(s): "+k)
			return
		}
	}
	f := &detectionFilter{limit: 1000}
	var err error
	if f.ids, err = parseIDSet("ids", form.Get("ids")); err != nil && form.Get("ids") != "" {
		bad(w, "1905", err.Error())
		return
	}
	for _, p := range []struct {
		name string
		dst  *int64
	}{{"id_min", &f.idMin}, {"id_max", &f.idMax}} {
		if v := form.Get(p.name); v != "" {
			if *p.dst, err = strconv.ParseInt(v, 10, 64); err != nil || *p.dst <= 0 {
				bad(w, "1905", "parameter "+p.name+" has invalid value: "+v)
				return
			}
		}
	}
	if v := form.Get("truncation_limit"); v != "" {
		if f.limit, err = strconv.Atoi(v); err != nil || f.limit < 0 {
			bad(w, "1905", "parameter truncation_limit has invalid value: "+v)
			return
		}
	}
	var scanSince, procAfter time.Time
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"vm_scan_since", &scanSince}, {"vm_processed_after", &procAfter}} {
		if v := form.Get(p.name); v != "" {
			if *p.dst, err = parseFormTime(p.name, v); err != nil {
				bad(w, "1905", err.Error())
				return
			}
		}
	}
	riskMin, riskMax := 0, 1000
	for _, p := range []struct {
		name string
		dst  *int
	}{{"trurisk_min", &riskMin}, {"trurisk_max", &riskMax}} {
		if v := form.Get(p.name); v != "" {
			if *p.dst, err = strconv.Atoi(v); err != nil || *p.dst < 0 || *p.dst > 1000 {
				bad(w, "1905", "parameter "+p.name+" has invalid value: "+v)
				return
			}
		}
	}
	details := form.Get("details")
	switch details {
	case "", "Basic", "Basic/AGs", "All", "All/AGs", "None":
	default:
		bad(w, "1905", "parameter details has invalid value: "+details)
		return
	}
	var osPattern *regexp.Regexp
	if v := form.Get("os_pattern"); v != "" {
		if osPattern, err = regexp.Compile(v); err != nil {
			bad(w, "1905", "parameter os_pattern has invalid value: "+v)
			return
		}
	}
	if msg := f.parseAddresses(form); msg != "" {
		bad(w, "1905", msg)
		return
	}
	showRisk, showFactors, showARS := flagParam(form, "show_trurisk", false), flagParam(form, "show_trurisk_factors", false), flagParam(form, "show_ars", false)
	showAssetID, showTags := flagParam(form, "show_asset_id", false), flagParam(form, "show_tags", false)

	s.mu.Lock()
	if msg := s.resolveDetectionLists(f, form); msg != "" {
		s.mu.Unlock()
		bad(w, "1905", msg)
		return
	}
	var assetOf map[int64]int64
	if showAssetID {
		assetOf = make(map[int64]int64, len(s.hostAssets))
		for _, a := range s.hostAssets {
			if a.QWebHostID > 0 {
				assetOf[a.QWebHostID] = a.ID
			}
		}
	}
	ids := s.vmHostIDs()
	var page []*qualys.Host
	var next int64
	for _, id := range ids {
		h := s.detections[id]
		if (f.ids != nil && !f.ids.has(id)) || (f.idMin > 0 && id < f.idMin) || (f.idMax > 0 && id > f.idMax) ||
			(f.groupHosts != nil && !f.groupHosts[id]) || (len(f.ips) > 0 && !ipMatches(f.ips, h.IP)) ||
			(!procAfter.IsZero() && !h.LastVMScanned.After(procAfter) && !h.LastScan.After(procAfter)) ||
			(!scanSince.IsZero() && h.LastScan.Before(scanSince)) || (osPattern != nil && !osPattern.MatchString(h.OS)) {
			continue
		}
		acs := s.criticality[id]
		if acs == 0 {
			acs = DefaultCriticality
		}
		risk := TruRisk(acs, h)
		if risk < riskMin || risk > riskMax {
			continue
		}
		if f.limit > 0 && len(page) == f.limit {
			next = id
			break
		}
		page = append(page, listedHost(h, details, assetOf[id], acs, risk, showRisk, showFactors, showARS, showTags))
	}
	s.mu.Unlock()
	s.nextPage(APIHosts)

	warn := truncationWarning(r, form, next, f.limit)
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	hw := newHostListWriter(w)
	for _, h := range page {
		if err := hw.writeListedHost(h, showTags); err != nil {
			return
		}
	}
	hw.Close(warn)
}

// listedHost is a VM host as the Host List shows it (s.mu held by the
// caller for h).
func listedHost(h *qualys.DetectionHost, details string, assetID int64, acs, risk int, showRisk, showFactors, showARS, showTags bool) *qualys.Host {
	out := &qualys.Host{}
	out.ID = h.ID
	out.AssetID = assetID
	if details != "None" {
		out.IP, out.IPv6, out.TrackingMethod, out.NetworkID = h.IP, h.IPv6, h.TrackingMethod, h.NetworkID
		out.OS, out.DNS, out.DNSData, out.NetBIOS, out.QGHostID = h.OS, h.DNS, h.DNSData, h.NetBIOS, h.QGHostID
		out.CloudProvider, out.CloudService, out.CloudResourceID, out.EC2InstanceID = h.CloudProvider, h.CloudService, h.CloudResourceID, h.EC2InstanceID
		out.LastVulnScan, out.LastVMScanned, out.LastVMScannedDuration = h.LastScan, h.LastVMScanned, h.LastVMScannedDuration
		out.LastVMAuthScanned, out.LastVMAuthScannedDuration = h.LastVMAuthScanned, h.LastVMAuthScannedDuration
		if showTags {
			out.Tags = h.Tags
		}
		if details == "All/AGs" || details == "Basic/AGs" {
			out.AssetGroupIDs = h.AssetGroupIDs
		}
	}
	if showRisk {
		out.TruRisk, out.AssetCriticality = &risk, &acs
	}
	if showARS {
		ars := risk
		out.AssetRiskScore = &ars
	}
	if showFactors {
		counts := make([]int, 6)
		for _, d := range h.Detections {
			if d.Status != qualys.StatusFixed && d.Severity >= 1 && d.Severity <= 5 {
				counts[d.Severity]++
			}
		}
		f := &qualys.TruRiskFactors{Formula: "ACS * 2 * max(QDS)"}
		for sev := 1; sev <= 5; sev++ {
			f.VulnCounts = append(f.VulnCounts, qualys.VulnCount{QDSSeverity: strconv.Itoa(sev), Count: counts[sev]})
		}
		out.TruRiskFactors = f
	}
	return out
}
