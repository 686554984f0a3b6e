package qualystest

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/qualysbridge/qualysbridge/qualys"
)

func (s *Server) serveFO(w http.ResponseWriter, r *http.Request, api string, form url.Values) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		writeXML(w, http.StatusBadRequest, simpleReturn("1908", "Request method is incompatible with this API."))
		return
	}
	switch api {
	case APIDetections:
		s.serveDetections(w, r, form)
	case APISearchLists:
		s.serveSearchLists(w, r, form)
	case APIKnowledgeBase:
		s.serveKB(w, form)
	case APIAssetGroups:
		s.serveAssetGroups(w, r, form)
	case APIHosts:
		s.serveHosts(w, r, form)
	default:
		writeXML(w, http.StatusNotFound, simpleReturn("1901", "Unrecognized API path."))
	}
}

// idSet parses the API's id list syntax ("1,3,5-9").
type idSet [][2]int64

// formIDs reads the ids parameter (nil when absent); an invalid one is
// answered with code 1905 and false.
func formIDs(w http.ResponseWriter, form url.Values) (idSet, bool) {
	v := form.Get("ids")
	if v == "" {
		return nil, true
	}
	ids, err := parseIDSet("ids", v)
	if err != nil {
		bad(w, "1905", err.Error())
		return nil, false
	}
	return ids, true
}

func parseIDSet(name, v string) (idSet, error) {
	var set idSet
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		a, err1 := strconv.ParseInt(lo, 10, 64)
		b := a
		var err2 error
		if isRange {
			b, err2 = strconv.ParseInt(hi, 10, 64)
		}
		if err1 != nil || err2 != nil || a <= 0 || b < a {
			return nil, fmt.Errorf("parameter %s has invalid value: %s (neither a positive integer nor a range: %s)", name, v, part)
		}
		set = append(set, [2]int64{a, b})
	}
	return set, nil
}

func (set idSet) has(n int64) bool {
	for _, r := range set {
		if n >= r[0] && n <= r[1] {
			return true
		}
	}
	return false
}

func bad(w http.ResponseWriter, code, text string) {
	writeXML(w, http.StatusBadRequest, simpleReturn(code, text))
}

func parseFormTime(name, v string) (time.Time, error) {
	for _, layout := range []string{"2006-01-02T15:04:05Z", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("parameter %s has invalid value: %s", name, v)
}

func flagParam(form url.Values, name string, def bool) bool {
	switch form.Get(name) {
	case "1":
		return true
	case "0":
		return false
	}
	return def
}

var knownDetectionParams = map[string]bool{
	"action": true, "echo_request": true, "ids": true, "id_min": true, "id_max": true, "ips": true, "ipv6": true,
	"ag_ids": true, "ag_titles": true, "qids": true, "severities": true, "status": true, "show_results": true,
	"show_igs": true, "show_tags": true, "show_qds": true, "show_qds_factors": true, "show_asset_id": true,
	"vm_scan_since": true, "no_vm_scan_since": true, "vm_processed_after": true, "vm_processed_before": true,
	"detection_updated_since": true, "detection_updated_before": true, "detection_processed_after": true,
	"detection_processed_before": true, "include_search_list_ids": true, "exclude_search_list_ids": true,
	"include_search_list_titles": true, "exclude_search_list_titles": true, "truncation_limit": true,
	"include_vuln_type": true, "include_ignored": true, "include_disabled": true, "output_format": true,
	"arf_kernel_filter": true, "arf_service_filter": true, "arf_config_filter": true, "active_kernels_only": true,
	"max_days_since_detection_updated": true, "max_days_since_last_vm_scan": true, "filter_superseded_qids": true,
	"qds_min": true, "qds_max": true, "network_ids": true, "os_pattern": true, "compliance_enabled": true,
	"use_tags": true, "tag_set_by": true, "tag_include_selector": true, "tag_exclude_selector": true,
	"tag_set_include": true, "tag_set_exclude": true, "show_tags_v2": true,
	"host_metadata": true, "host_metadata_fields": true, "show_cloud_tags": true, "cloud_tag_fields": true,
	"vuln_detection_source": true, "network_name": true, "vm_scan_date_before": true, "vm_scan_date_after": true,
	"vm_auth_scan_date_before": true, "vm_auth_scan_date_after": true, "detection_last_tested_since": true,
	"detection_last_tested_since_days": true, "detection_last_tested_before": true,
	"detection_last_tested_before_days": true, "suppress_duplicated_data_from_csv": true,
}

func (s *Server) serveDetections(w http.ResponseWriter, r *http.Request, form url.Values) {
	f, ref := parseDetectionForm(form)
	if ref != nil {
		bad(w, ref.code, ref.msg)
		return
	}
	s.mu.Lock()
	if msg := s.resolveDetectionLists(f, form); msg != "" {
		s.mu.Unlock()
		bad(w, "1905", msg)
		return
	}
	hostIDs := s.vmHostIDs()
	var page []*qualys.DetectionHost
	var next int64
	for _, id := range hostIDs {
		cp := s.filterHost(f, s.detections[id])
		if cp == nil {
			continue // hosts without a matching detection are left out
		}
		if f.limit > 0 && len(page) == f.limit {
			next = id
			break
		}
		page = append(page, cp)
	}
	s.mu.Unlock()
	s.nextPage(APIDetections)

	warn := truncationWarning(r, form, next, f.limit)
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	dw := NewDetectionWriter(w, false)
	for _, h := range page {
		if err := dw.WriteHost(h, f.showTags); err != nil {
			return
		}
	}
	dw.Close(warn)
}

// vmHostIDs is the VM hosts' ids, ascending, as the host-keyed FO
// listings page them (s.mu held).
func (s *Server) vmHostIDs() []int64 {
	ids := make([]int64, 0, len(s.detections))
	for id := range s.detections {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// truncationWarning is the WARNING 1980 of an answer cut at limit hosts
// whose next host is next (nil when nothing was cut): the request's
// parameters with id_min at next, on the request's own URL.
func truncationWarning(r *http.Request, form url.Values, next int64, limit int) *qualys.Warning {
	if next == 0 {
		return nil
	}
	q := url.Values{}
	for k, v := range form {
		q[k] = v
	}
	q.Set("id_min", strconv.FormatInt(next, 10))
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return &qualys.Warning{Code: "1980", Text: fmt.Sprintf("%d record limit exceeded. Use URL to get next batch of results.", limit),
		URL: scheme + "://" + r.Host + r.URL.Path + "?" + q.Encode()}
}

// detectionFilter is a parsed Host List Detection request.
type detectionFilter struct {
	ids, qids                      idSet
	idMin, idMax                   int64
	limit                          int
	sevs                           map[int]bool
	statuses                       map[string]bool
	updSince, procAfter            time.Time
	ips                            []string
	ipv6s                          []net.IP
	showResults, showTags, showQDS bool
	showCloudTags, showSources     bool
	metadata                       string
	listQIDs, exclQIDs, groupHosts map[int64]bool
}

// refusal is a request Qualys refuses: the error code and message to send.
type refusal struct{ code, msg string }

// parseDetectionForm checks and parses the request's parameters as Qualys
// does: 1903 for a missing one, 1901 for an unrecognised one, 1905 for an
// invalid value.
func parseDetectionForm(form url.Values) (*detectionFilter, *refusal) {
	if form.Get("action") != "list" {
		return nil, &refusal{"1903", "Missing required parameter(s): action=list"}
	}
	for k := range form {
		if !knownDetectionParams[k] {
			return nil, &refusal{"1901", "Unrecognized parameter(s): " + k}
		}
	}
	f := &detectionFilter{limit: 1000, sevs: map[int]bool{}, statuses: map[string]bool{"New": true, "Active": true, "Re-Opened": true}}
	var err error
	if v := form.Get("ids"); v != "" {
		if f.ids, err = parseIDSet("ids", v); err != nil {
			return nil, &refusal{"1905", err.Error()}
		}
	}
	if v := form.Get("qids"); v != "" {
		if f.qids, err = parseIDSet("qids", v); err != nil {
			return nil, &refusal{"1905", err.Error()}
		}
	}
	for _, p := range []struct {
		name string
		dst  *int64
	}{{"id_min", &f.idMin}, {"id_max", &f.idMax}} {
		if v := form.Get(p.name); v != "" {
			if *p.dst, err = strconv.ParseInt(v, 10, 64); err != nil || *p.dst <= 0 {
				return nil, &refusal{"1905", "parameter " + p.name + " has invalid value: " + v}
			}
		}
	}
	if v := form.Get("truncation_limit"); v != "" {
		if f.limit, err = strconv.Atoi(v); err != nil || f.limit < 0 {
			return nil, &refusal{"1905", "parameter truncation_limit has invalid value: " + v}
		}
	}
	if v := form.Get("severities"); v != "" {
		set, err := parseIDSet("severities", v)
		if err != nil {
			return nil, &refusal{"1905", err.Error()}
		}
		for i := 1; i <= 5; i++ {
			if set.has(int64(i)) {
				f.sevs[i] = true
			}
		}
	}
	if v := form.Get("status"); v != "" {
		if f.statuses = parseStatuses(v); f.statuses == nil {
			return nil, &refusal{"1905", "parameter status has invalid value: " + v}
		}
	}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"detection_updated_since", &f.updSince}, {"vm_processed_after", &f.procAfter}} {
		if v := form.Get(p.name); v != "" {
			if *p.dst, err = parseFormTime(p.name, v); err != nil {
				return nil, &refusal{"1905", err.Error()}
			}
		}
	}
	if msg := f.parseAddresses(form); msg != "" {
		return nil, &refusal{"1905", msg}
	}
	f.showResults = flagParam(form, "show_results", true)
	f.showTags = flagParam(form, "show_tags", false)
	f.showQDS = flagParam(form, "show_qds", false)
	f.showCloudTags = flagParam(form, "show_cloud_tags", false)
	f.showSources = flagParam(form, "vuln_detection_source", false)
	f.metadata = form.Get("host_metadata")
	switch f.metadata {
	case "", "all", "ec2", "azure", "google", "alicloud":
	default:
		return nil, &refusal{"1905", "parameter host_metadata has invalid value: " + f.metadata}
	}
	return f, nil
}

// parseStatuses reads a status list (New, Active, Fixed, Re-Opened); nil
// when a value is none of them.
func parseStatuses(v string) map[string]bool {
	out := map[string]bool{}
	for _, st := range strings.Split(v, ",") {
		st = strings.TrimSpace(st)
		if st != "New" && st != "Active" && st != "Fixed" && st != "Re-Opened" {
			return nil
		}
		out[st] = true
	}
	return out
}

// parseAddresses reads the ips and ipv6 filters.
func (f *detectionFilter) parseAddresses(form url.Values) string {
	f.ips = splitList(form.Get("ips"))
	for _, ip := range f.ips {
		if !validIPv4Filter(ip) {
			return "parameter ips has invalid value: " + ip
		}
	}
	for _, v := range splitList(form.Get("ipv6")) {
		ip := net.ParseIP(v)
		if ip == nil || ip.To4() != nil {
			return "parameter ipv6 has invalid value: " + v
		}
		f.ipv6s = append(f.ipv6s, ip)
	}
	return ""
}

// resolveDetectionLists resolves the search-list and asset-group filters
// against the tenant (s.mu held). Filters combine with AND, as Qualys
// documents: given both ag_ids and ag_titles, a host must be in one of
// the groups named by id and in one of the groups named by title.
func (s *Server) resolveDetectionLists(f *detectionFilter, form url.Values) string {
	var msg string
	if f.listQIDs, msg = s.searchListQIDs(form, "include_search_list_ids", "include_search_list_titles"); msg != "" {
		return msg
	}
	if f.exclQIDs, msg = s.searchListQIDs(form, "exclude_search_list_ids", "exclude_search_list_titles"); msg != "" {
		return msg
	}
	var byID, byTitle map[int64]bool
	if agIDs := splitList(form.Get("ag_ids")); len(agIDs) > 0 {
		byID = s.groupMembers(func(g AssetGroup) bool { return slices.Contains(agIDs, strconv.FormatInt(g.ID, 10)) })
	}
	if agTitles := splitList(form.Get("ag_titles")); len(agTitles) > 0 {
		byTitle = s.groupMembers(func(g AssetGroup) bool { return slices.Contains(agTitles, g.Title) })
	}
	switch {
	case byID != nil && byTitle != nil:
		f.groupHosts = map[int64]bool{}
		for h := range byID {
			if byTitle[h] {
				f.groupHosts[h] = true
			}
		}
	case byID != nil:
		f.groupHosts = byID
	case byTitle != nil:
		f.groupHosts = byTitle
	}
	return ""
}

// searchListQIDs returns the QIDs of the search lists named by id and by
// title (nil when neither parameter is given); an unknown list is a
// refusal.
func (s *Server) searchListQIDs(form url.Values, idsParam, titlesParam string) (map[int64]bool, string) {
	if form.Get(idsParam) == "" && form.Get(titlesParam) == "" {
		return nil, ""
	}
	out := map[int64]bool{}
	for _, v := range splitList(form.Get(idsParam)) {
		id, _ := strconv.ParseInt(v, 10, 64)
		l := s.lists[id]
		if l == nil {
			return nil, "parameter " + idsParam + " has invalid value: " + v
		}
		for _, q := range l.qids {
			out[q] = true
		}
	}
	for _, t := range splitList(form.Get(titlesParam)) {
		found := false
		for _, l := range s.lists {
			if l.title == t {
				found = true
				for _, q := range l.qids {
					out[q] = true
				}
			}
		}
		if !found {
			return nil, "parameter " + titlesParam + " has invalid value: " + t
		}
	}
	return out, ""
}

// filterHost returns a copy of h with the detections the filter keeps and
// the optional sections it asks for, or nil when the host is filtered out
// or keeps no detection (s.mu held).
func (s *Server) filterHost(f *detectionFilter, h *qualys.DetectionHost) *qualys.DetectionHost {
	id := h.ID
	if (f.ids != nil && !f.ids.has(id)) || (f.idMin > 0 && id < f.idMin) || (f.idMax > 0 && id > f.idMax) ||
		(f.groupHosts != nil && !f.groupHosts[id]) || (len(f.ips) > 0 && !ipMatches(f.ips, h.IP)) ||
		(len(f.ipv6s) > 0 && !slices.ContainsFunc(f.ipv6s, func(ip net.IP) bool { return ip.Equal(net.ParseIP(h.IPv6)) })) ||
		(!f.procAfter.IsZero() && !h.LastVMScanned.After(f.procAfter) && !h.LastScan.After(f.procAfter)) {
		return nil
	}
	cp := *h
	cp.Detections = nil
	cp.ReplacedChars = 0
	if !f.showTags {
		cp.Tags = nil
	}
	cp.Metadata = filterMetadata(h.Metadata, f.metadata)
	if !f.showCloudTags {
		cp.CloudTags = nil
	}
	for _, d := range h.Detections {
		if (f.qids != nil && !f.qids.has(d.QID)) || (len(f.sevs) > 0 && !f.sevs[d.Severity]) || !f.statuses[string(d.Status)] ||
			(!f.updSince.IsZero() && !d.LastUpdate.After(f.updSince)) ||
			(f.listQIDs != nil && !f.listQIDs[d.QID]) || (f.exclQIDs != nil && f.exclQIDs[d.QID]) {
			continue
		}
		if !f.showResults {
			d.Results = ""
		}
		if !f.showQDS {
			d.QDS, d.QDSSeverity, d.QDSFactors = 0, "", nil
		}
		if !f.showSources {
			d.DetectionSources, d.LatestDetectionSource = "", ""
		}
		if d.CVEs == nil {
			d.CVEs = s.kbCVEs(d.QID)
		}
		cp.Detections = append(cp.Detections, d)
	}
	if len(cp.Detections) == 0 {
		return nil
	}
	return &cp
}

// kbCVEs is the CVE ids of a QID's KnowledgeBase entry (s.mu held).
func (s *Server) kbCVEs(qid int64) []string {
	v := s.kb[qid]
	if v == nil || len(v.CVEs) == 0 {
		return nil
	}
	out := make([]string, len(v.CVEs))
	for i, c := range v.CVEs {
		out[i] = c.ID
	}
	return out
}

func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// validIPv4Filter accepts what the fake's ips takes: an IPv4 address or a
// range a-b with a <= b. CIDR blocks, IPv6 (which goes to ipv6) and
// anything else are refused, as Qualys documents only addresses and ranges.
func validIPv4Filter(f string) bool {
	lo, hi, isRange := strings.Cut(f, "-")
	a, err1 := netip.ParseAddr(lo)
	if err1 != nil || !a.Is4() {
		return false
	}
	if !isRange {
		return true
	}
	b, err2 := netip.ParseAddr(hi)
	return err2 == nil && b.Is4() && a.Compare(b) <= 0
}

func ipMatches(filters []string, ip string) bool {
	for _, f := range filters {
		if f == ip {
			return true
		}
		if lo, hi, ok := strings.Cut(f, "-"); ok && ipInRange(ip, lo, hi) {
			return true
		}
	}
	return false
}

func ipInRange(ip, lo, hi string) bool {
	key := func(s string) []byte {
		var out []byte
		for _, p := range strings.Split(s, ".") {
			n, err := strconv.Atoi(p)
			if err != nil {
				return nil
			}
			out = append(out, byte(n))
		}
		return out
	}
	k, l, h := key(ip), key(lo), key(hi)
	return len(k) == 4 && len(l) == 4 && len(h) == 4 && bytes.Compare(k, l) >= 0 && bytes.Compare(k, h) <= 0
}

func (s *Server) serveSearchLists(w http.ResponseWriter, r *http.Request, form url.Values) {
	switch form.Get("action") {
	case "create":
		s.createSearchList(w, r, form)
	case "delete":
		if r.Method != http.MethodPost {
			bad(w, "1908", "Request method (GET or POST) is incompatible with specified parameter(s): action=delete")
			return
		}
		id, err := strconv.ParseInt(form.Get("id"), 10, 64)
		s.mu.Lock()
		_, ok := s.lists[id]
		delete(s.lists, id)
		s.mu.Unlock()
		if err != nil || !ok {
			bad(w, "1905", "parameter id has invalid value: "+form.Get("id"))
			return
		}
		writeXML(w, http.StatusOK, simpleReturn("", "Search list deleted successfully", [2]string{"ID", strconv.FormatInt(id, 10)}))
	case "list":
		s.listSearchLists(w, form)
	default:
		bad(w, "1903", "Missing required parameter(s): action")
	}
}

// createSearchList creates a dynamic search list whose QIDs are those of
// the KnowledgeBase entries matching its CVEs (see WithCVEMatch).
func (s *Server) createSearchList(w http.ResponseWriter, r *http.Request, form url.Values) {
	if r.Method != http.MethodPost {
		bad(w, "1908", "Request method (GET or POST) is incompatible with specified parameter(s): action=create")
		return
	}
	title := form.Get("title")
	if title == "" {
		bad(w, "1903", "Missing required parameter(s): title")
		return
	}
	if len(title) > 256 {
		bad(w, "1905", "parameter title has invalid value: longer than 256 characters")
		return
	}
	cves := splitList(form.Get("cve_ids"))
	s.mu.Lock()
	for _, l := range s.lists {
		if l.title == title {
			s.mu.Unlock()
			bad(w, "1905", "parameter title has invalid value: a search list with this title already exists")
			return
		}
	}
	s.nextListID++
	l := &searchList{id: s.nextListID, title: title, global: form.Get("global") == "1", cves: cves}
	for qid, v := range s.kb {
		for _, c := range v.CVEs {
			if slices.ContainsFunc(cves, func(want string) bool { return s.cveMatch.matches(c.ID, want) }) {
				l.qids = append(l.qids, qid)
				break
			}
		}
	}
	sort.Slice(l.qids, func(i, j int) bool { return l.qids[i] < l.qids[j] })
	s.lists[l.id] = l
	hook := s.listHook
	s.mu.Unlock()
	if hook != nil {
		hook(l.id)
	}
	writeXML(w, http.StatusOK, simpleReturn("", "New search list created successfully", [2]string{"ID", strconv.FormatInt(l.id, 10)}))
}

// listSearchLists answers action=list with DYNAMIC_SEARCH_LIST_OUTPUT.
func (s *Server) listSearchLists(w http.ResponseWriter, form url.Values) {
	ids, ok := formIDs(w, form)
	if !ok {
		return
	}
	showQIDs := flagParam(form, "show_qids", true)
	var b strings.Builder
	b.WriteString("<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<DYNAMIC_SEARCH_LIST_OUTPUT>\n  <RESPONSE>\n    <DATETIME>" + fmtTime(time.Now()) + "</DATETIME>\n")
	s.mu.Lock()
	var lists []*searchList
	for _, l := range s.lists {
		if ids == nil || ids.has(l.id) {
			lists = append(lists, l)
		}
	}
	sort.Slice(lists, func(i, j int) bool { return lists[i].id < lists[j].id })
	if len(lists) > 0 {
		b.WriteString("    <DYNAMIC_LISTS>\n")
		for _, l := range lists {
			global := "No"
			if l.global {
				global = "Yes"
			}
			fmt.Fprintf(&b, "      <DYNAMIC_LIST>\n        <ID>%d</ID>\n        <TITLE><![CDATA[%s]]></TITLE>\n        <GLOBAL>%s</GLOBAL>\n        <OWNER>%s</OWNER>\n", l.id, l.title, global, escapeText(s.user))
			if showQIDs && len(l.qids) > 0 {
				b.WriteString("        <QIDS>\n")
				for _, q := range l.qids {
					fmt.Fprintf(&b, "          <QID>%d</QID>\n", q)
				}
				b.WriteString("        </QIDS>\n")
			}
			fmt.Fprintf(&b, "        <CRITERIA>\n          <CVE_ID><![CDATA[%s]]></CVE_ID>\n        </CRITERIA>\n      </DYNAMIC_LIST>\n", strings.Join(l.cves, ","))
		}
		b.WriteString("    </DYNAMIC_LISTS>\n")
	}
	s.mu.Unlock()
	b.WriteString("  </RESPONSE>\n</DYNAMIC_SEARCH_LIST_OUTPUT>\n")
	writeXML(w, http.StatusOK, b.String())
}

func (s *Server) serveKB(w http.ResponseWriter, form url.Values) {
	if form.Get("action") != "list" {
		bad(w, "1903", "Missing required parameter(s): action=list")
		return
	}
	ids, ok := formIDs(w, form)
	if !ok {
		return
	}
	switch d := form.Get("details"); d {
	case "", "Basic", "All", "None":
	default:
		bad(w, "1905", "parameter details has invalid value: "+d)
		return
	}
	s.mu.Lock()
	var out []*qualys.Vulnerability
	for qid, v := range s.kb {
		if ids == nil || ids.has(qid) {
			cp := *v
			switch form.Get("details") {
			case "All":
			case "None":
				cp = qualys.Vulnerability{QID: v.QID}
			default: // Basic, the API's default
				cp.Diagnosis, cp.Consequence, cp.Solution = "", "", ""
			}
			out = append(out, &cp)
		}
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].QID < out[j].QID })
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	writeKB(w, out, form.Get("details") == "None")
}

// groupMembers returns the hosts of the asset groups that match.
func (s *Server) groupMembers(match func(AssetGroup) bool) map[int64]bool {
	out := map[int64]bool{}
	for _, g := range s.groups {
		if match(g) {
			for _, h := range g.HostIDs {
				out[h] = true
			}
		}
	}
	return out
}

// filterMetadata keeps the providers host_metadata asks for ("" sends
// none, "all" every provider).
func filterMetadata(m qualys.HostMetadata, which string) qualys.HostMetadata {
	switch which {
	case "all":
		return m
	case "ec2":
		return qualys.HostMetadata{EC2: m.EC2}
	case "azure":
		return qualys.HostMetadata{Azure: m.Azure}
	case "google":
		return qualys.HostMetadata{Google: m.Google}
	case "alicloud":
		return qualys.HostMetadata{AliCloud: m.AliCloud}
	}
	return qualys.HostMetadata{}
}

// serveAssetGroups answers action=list with ids, title (exact match),
// id_min and truncation_limit (default 1000), as ASSET_GROUP_LIST_OUTPUT.
func (s *Server) serveAssetGroups(w http.ResponseWriter, r *http.Request, form url.Values) {
	if form.Get("action") != "list" {
		bad(w, "1903", "Missing required parameter(s): action=list")
		return
	}
	for k := range form {
		switch k {
		case "action", "ids", "id_min", "id_max", "title", "truncation_limit", "show_attributes", "echo_request":
		default:
			bad(w, "1901", "Unrecognized parameter(s): "+k)
			return
		}
	}
	ids, ok := formIDs(w, form)
	if !ok {
		return
	}
	var idMin int64
	if v := form.Get("id_min"); v != "" {
		var err error
		if idMin, err = strconv.ParseInt(v, 10, 64); err != nil || idMin <= 0 {
			bad(w, "1905", "parameter id_min has invalid value: "+v)
			return
		}
	}
	limit := 1000
	if v := form.Get("truncation_limit"); v != "" {
		var err error
		if limit, err = strconv.Atoi(v); err != nil || limit < 0 {
			bad(w, "1905", "parameter truncation_limit has invalid value: "+v)
			return
		}
	}
	s.mu.Lock()
	groups := slices.Clone(s.groups)
	s.mu.Unlock()
	sort.Slice(groups, func(i, j int) bool { return groups[i].ID < groups[j].ID })
	var b strings.Builder
	b.WriteString("<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<ASSET_GROUP_LIST_OUTPUT>\n  <RESPONSE>\n    <DATETIME>" + fmtTime(time.Now()) + "</DATETIME>\n    <ASSET_GROUP_LIST>\n")
	n := 0
	var next int64
	for _, g := range groups {
		if (ids != nil && !ids.has(g.ID)) || g.ID < idMin || (form.Get("title") != "" && g.Title != form.Get("title")) {
			continue
		}
		if limit > 0 && n == limit {
			next = g.ID
			break
		}
		n++
		fmt.Fprintf(&b, "      <ASSET_GROUP>\n        <ID>%d</ID>\n        <TITLE><![CDATA[%s]]></TITLE>\n      </ASSET_GROUP>\n", g.ID, g.Title)
	}
	b.WriteString("    </ASSET_GROUP_LIST>\n")
	if next != 0 {
		q := url.Values{}
		for k, v := range form {
			q[k] = v
		}
		q.Set("id_min", strconv.FormatInt(next, 10))
		fmt.Fprintf(&b, "    <WARNING>\n      <CODE>1980</CODE>\n      <TEXT>%d record limit exceeded. Use URL to get next batch of results.</TEXT>\n      <URL><![CDATA[https://%s%s?%s]]></URL>\n    </WARNING>\n", limit, r.Host, r.URL.Path, q.Encode())
	}
	b.WriteString("  </RESPONSE>\n</ASSET_GROUP_LIST_OUTPUT>\n")
	writeXML(w, http.StatusOK, b.String())
}
