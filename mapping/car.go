package mapping

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/qualysbridge/qualysbridge/car"
	"github.com/qualysbridge/qualysbridge/qualys"
)

// Host gathers what Qualys knows about one host, joined by the caller:
// its QPS host asset, its VM detections (the detection HOST whose ID is
// the asset's qwebHostId), its installed applications (the gateway asset
// whose assetId is the asset's id), the KnowledgeBase entries of its
// QIDs (a map that may be shared by many hosts) and its scores (the Host
// List HOST whose ID is the asset's qwebHostId, asked with show_trurisk).
type Host struct {
	Asset        *qualys.HostAsset
	Detections   *qualys.DetectionHost
	Applications []qualys.InstalledSoftware
	KB           map[int64]*qualys.Vulnerability
	// Scores gives the asset's risk (TruRisk / 100) and business value
	// (2 x the Asset Criticality Score); nil, or a score it lacks, leaves
	// the field out.
	Scores *qualys.Host
}

// DefaultVulnerabilityName is the name of a vulnerability whose QID has no
// KnowledgeBase entry.
const DefaultVulnerabilityName = "Host Instance Vulnerability"

// CAR maps one host to CAR vertices and edges (the table in the package
// documentation). Every vertex and edge carries the source. It does no I/O
// and never panics; a host without an asset gives an empty graph. It is
// CARHost(in, source).Graph().
func CAR(in Host, source string) car.Graph { return CARHost(in, source).Graph() }

// HostGraph is one host mapped for CAR, in two parts: what belongs to the
// host alone, and one part per QID its detections report. A caller that
// streams many hosts sends the host part at once and may hold a
// vulnerability part until its KnowledgeBase entry is read (the vertex is
// shared by every host that reports the QID, so it is sent once, whole,
// and before the edges to it).
type HostGraph struct {
	// Host holds the asset and what hangs off it: addresses, MACs, the
	// hostname, accounts and users, places and applications, with the
	// edges between them. No edge in it touches a vulnerability.
	Host car.Graph
	// Vulnerabilities holds one part per QID, in the order the detections
	// first report them.
	Vulnerabilities []VulnerabilityPart
}

// VulnerabilityPart is one QID of a host: its vulnerability vertex and the
// host's edges to it (asset_vulnerability, ipaddress_vulnerability,
// application_vulnerability). Every edge's To is Vertex.ExternalID.
type VulnerabilityPart struct {
	QID    int64
	Vertex *car.Vulnerability
	Edges  []car.Edge
}

// Graph returns the whole graph: the host part's vertices, then every
// vulnerability vertex; the host part's edges, then the edges to each
// vulnerability.
func (h HostGraph) Graph() car.Graph {
	g := car.Graph{
		Vertices: make([]car.Vertex, 0, len(h.Host.Vertices)+len(h.Vulnerabilities)),
		Edges:    slices.Clone(h.Host.Edges),
	}
	g.Vertices = append(g.Vertices, h.Host.Vertices...)
	for _, v := range h.Vulnerabilities {
		g.Vertices = append(g.Vertices, v.Vertex)
	}
	for _, v := range h.Vulnerabilities {
		g.Edges = append(g.Edges, v.Edges...)
	}
	return g
}

// CARHost maps one host as CAR does, with its parts apart. KnowledgeBase
// enrichment is one step, EnrichVulnerability: CARHost applies it with
// in.KB when the host's entries are given; a caller that reads the
// KnowledgeBase later applies it to each part's Vertex.
func CARHost(in Host, source string) HostGraph {
	var out HostGraph
	a := in.Asset
	if a == nil || a.ID <= 0 {
		return out
	}
	b := newBuilder(&out.Host, source)
	assetID := strconv.FormatInt(a.ID, 10)
	name := normName(a.Name)
	if name == "" {
		name = firstNonEmpty(normName(a.DNSHostName), normName(a.FQDN), normIP(a.Address), "asset-"+assetID)
	}
	ca := &car.Asset{ExternalID: assetID, Name: name, AssetType: a.Type,
		Description: joinNonEmpty(a.OS, strings.ToLower(a.Type), a.Name), Source: source}
	if sc := in.Scores; sc != nil && a.QWebHostID != 0 && sc.ID == a.QWebHostID {
		ca.Risk, ca.BusinessValue = AssetRisk(sc), BusinessValue(sc)
	}
	b.vertex(ca)
	ips := b.addresses(a, assetID)
	b.identities(a, assetID)
	apps := b.applications(in.Applications, assetID)
	d := in.Detections
	if d == nil || a.QWebHostID == 0 || d.ID != a.QWebHostID {
		return out
	}
	out.Vulnerabilities = b.vulnerabilities(d, in.KB, assetID, ips, apps)
	return out
}

// addresses adds the asset's IP addresses and MACs, one vertex each however
// many interfaces repeat them (the asset's own address when no interface
// has one), and returns the addresses.
func (b *builder) addresses(a *qualys.HostAsset, assetID string) (ips []string) {
	for _, n := range a.NetworkInterfaces {
		ip, mac := normIP(n.Address), normMAC(n.MACAddress)
		if ip != "" {
			if !slices.Contains(ips, ip) {
				ips = append(ips, ip)
			}
			b.vertex(&car.IPAddress{Key: ip, Source: b.source})
			b.edge("asset_ipaddress", assetID, ip, nil)
		}
		if mac != "" {
			b.vertex(&car.MACAddress{Key: mac, Interface: n.InterfaceName, Source: b.source})
			b.edge("asset_macaddress", assetID, mac, nil)
		}
		if ip != "" && mac != "" {
			b.edge("ipaddress_macaddress", ip, mac, nil)
		}
	}
	if len(ips) == 0 {
		if ip := normIP(a.Address); ip != "" {
			ips = append(ips, ip)
			b.vertex(&car.IPAddress{Key: ip, Source: b.source})
			b.edge("asset_ipaddress", assetID, ip, nil)
		}
	}
	return ips
}

// identities adds the asset's hostname, its accounts with their users, and
// the places its cloud sources name.
func (b *builder) identities(a *qualys.HostAsset, assetID string) {
	if key := hostnameKey(firstNonEmpty(a.DNSHostName, a.Name)); key != "" {
		b.vertex(&car.Hostname{Key: key, HostName: firstNonEmpty(normName(a.Name), key), Source: b.source})
		b.edge("asset_hostname", assetID, key, nil)
	}
	for _, ac := range a.Accounts {
		u := strings.TrimSpace(ac.Username)
		if u == "" {
			continue
		}
		b.vertex(&car.Account{ExternalID: u, Name: u, Source: b.source})
		b.vertex(&car.User{ExternalID: u, Username: u, Source: b.source})
		b.edge("asset_account", assetID, u, nil)
		b.edge("user_account", u, u, nil)
	}
	for _, s := range a.SourceInfo {
		if place := s.Place(); place != "" {
			b.vertex(&car.Geolocation{ExternalID: place, Region: place, Source: b.source})
			b.edge("asset_geolocation", assetID, place, nil)
		}
	}
}

// app is an application added to the graph, with its product name in
// lower case for matching detection results.
type app struct{ id, product string }

// applications adds the installed applications that have a name.
func (b *builder) applications(sw []qualys.InstalledSoftware, assetID string) []app {
	var apps []app
	for _, s := range sw {
		name := strings.TrimSpace(firstNonEmpty(s.FullName, s.ProductName))
		if name == "" {
			continue
		}
		id := strconv.FormatInt(s.ID, 10)
		b.vertex(&car.Application{ExternalID: id, Name: name, Source: b.source})
		b.edge("asset_application", assetID, id, nil)
		apps = append(apps, app{id, strings.ToLower(strings.TrimSpace(s.ProductName))})
	}
	return apps
}

// vulnerabilities adds one vulnerability and one asset_vulnerability edge
// per QID, however many ports report it; the edges stay active while any
// detection of the QID is not Fixed. Each address gets an
// ipaddress_vulnerability edge, and an application whose product name (3
// characters or more) appears in a detection's results an
// application_vulnerability edge.
func (b *builder) vulnerabilities(d *qualys.DetectionHost, kb map[int64]*qualys.Vulnerability, assetID string, ips []string, apps []app) []VulnerabilityPart {
	type vuln struct {
		det     *qualys.Detection
		active  bool
		sev     int
		qds     int
		results []string
	}
	byQID := map[int64]*vuln{}
	var order []int64
	for i := range d.Detections {
		det := &d.Detections[i]
		if det.QID <= 0 {
			continue
		}
		v := byQID[det.QID]
		if v == nil {
			v = &vuln{det: det}
			byQID[det.QID] = v
			order = append(order, det.QID)
		}
		v.active = v.active || det.Status != "Fixed"
		v.sev = max(v.sev, det.Severity)
		v.qds = max(v.qds, det.QDS)
		v.results = append(v.results, strings.ToLower(det.Results))
	}
	parts := make([]VulnerabilityPart, 0, len(order))
	// One backing array for every part's edges (each part a full slice of
	// it, so that appending to one never writes into the next).
	edges := make([]car.Edge, 0, len(order)*(1+len(ips)))
	for _, qid := range order {
		v := byQID[qid]
		id := strconv.FormatInt(qid, 10)
		score := severityScore(v.sev)
		cv := &car.Vulnerability{ExternalID: id, Name: DefaultVulnerabilityName, Description: v.det.Results, Source: b.source}
		if score > 0 {
			s := score
			cv.BaseScore = &s
		}
		EnrichVulnerability(cv, kb[qid])
		start := len(edges)
		edges = b.edgeTo(edges, "asset_vulnerability", assetID, id, map[string]any{"risk_score": RiskScore(v.qds, v.sev)}, !v.active)
		for _, ip := range ips {
			edges = b.edgeTo(edges, "ipaddress_vulnerability", ip, id, nil, !v.active)
		}
		for _, ap := range apps {
			if len(ap.product) < 3 {
				continue
			}
			for _, r := range v.results {
				if strings.Contains(r, ap.product) {
					edges = b.edgeTo(edges, "application_vulnerability", ap.id, id, nil, !v.active)
					break
				}
			}
		}
		parts = append(parts, VulnerabilityPart{QID: qid, Vertex: cv, Edges: edges[start:len(edges):len(edges)]})
	}
	return parts
}

// EnrichVulnerability fills a vulnerability vertex with its KnowledgeBase
// entry (nil leaves it as it is): the title as name, the CVE ids, the CVSS
// base scores (the highest as base_score), the diagnosis, consequence and
// solution as plain text, and the publication and modification dates.
func EnrichVulnerability(cv *car.Vulnerability, kb *qualys.Vulnerability) {
	if cv == nil || kb == nil {
		return
	}
	if t := strings.TrimSpace(kb.Title); t != "" {
		cv.Name = t
	}
	if m, ok := kb.MaxCVSSBase(); ok {
		cv.BaseScore = &m
	}
	var cves []string
	for _, c := range kb.CVEs {
		cves = append(cves, c.ID)
	}
	cv.CVEIDs = strings.Join(cves, ",")
	cv.Diagnosis, cv.Consequence, cv.Solution = PlainText(kb.Diagnosis), PlainText(kb.Consequence), PlainText(kb.Solution)
	if kb.CVSS.Base > 0 {
		v2 := kb.CVSS.Base
		cv.XfrCVSS2Base = &v2
	}
	if kb.CVSSV3.Base > 0 {
		v3 := kb.CVSSV3.Base
		cv.XfrCVSS3Base = &v3
	}
	cv.PublishedOn = millis(kb.Published)
	cv.UpdatedOn = millis(kb.LastServiceModified)
}

// builder appends vertices and edges, skipping duplicates within the host.
type builder struct {
	g      *car.Graph
	source string
	seen   map[string]bool
}

func newBuilder(g *car.Graph, source string) *builder {
	return &builder{g: g, source: source, seen: map[string]bool{}}
}

func (b *builder) vertex(v car.Vertex) {
	k := v.Collection() + "\x00" + v.ID()
	if b.seen[k] {
		return
	}
	b.seen[k] = true
	b.g.Vertices = append(b.g.Vertices, v)
}

func (b *builder) edge(coll, from, to string, props map[string]any) {
	b.edgeState(coll, from, to, props, false)
}

func (b *builder) edgeState(coll, from, to string, props map[string]any, disabled bool) {
	b.g.Edges = b.edgeTo(b.g.Edges, coll, from, to, props, disabled)
}

// edgeTo appends an edge to dst unless the host has it already.
func (b *builder) edgeTo(dst []car.Edge, coll, from, to string, props map[string]any, disabled bool) []car.Edge {
	k := coll + "\x00" + from + "\x00" + to
	if b.seen[k] {
		return dst
	}
	b.seen[k] = true
	return append(dst, car.Edge{Collection: coll, From: from, To: to, Properties: props, Disabled: disabled, Source: b.source})
}

// severityScore scales a Qualys severity (1-5) to CAR's 0-10.
// AssetRisk is CAR's asset risk (0-10) for a host's scores: TruRisk /
// 100; nil when the host has no TruRisk score.
func AssetRisk(h *qualys.Host) *float64 {
	if h == nil || h.TruRisk == nil {
		return nil
	}
	r := float64(min(max(*h.TruRisk, 0), 1000)) / 100
	return &r
}

// BusinessValue is CAR's asset business value for a host's scores: 2 x
// the Asset Criticality Score (1-5 to 2-10); nil when the host has none.
func BusinessValue(h *qualys.Host) *float64 {
	if h == nil || h.AssetCriticality == nil {
		return nil
	}
	v := float64(2 * min(max(*h.AssetCriticality, 0), 5))
	return &v
}

// RiskScore is an asset_vulnerability edge's risk_score: the highest QDS
// of the QID's detections / 10 (1-100 to 0.1-10), or, when none carries
// a QDS (asked with show_qds=1), SEVERITY x 2 as IBM's connector scores
// every edge.
func RiskScore(qds, severity int) float64 {
	if qds > 0 {
		return float64(min(qds, 100)) / 10
	}
	return severityScore(severity)
}

func severityScore(sev int) float64 {
	if sev < 0 {
		sev = 0
	}
	return float64(min(sev, 5) * 2)
}

func millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// normName is how names are normalised everywhere: trimmed, lower case.
func normName(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// normIP returns the canonical form of an IPv4 or IPv6 address, or "" when
// s is not one.
func normIP(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '%'); i >= 0 {
		s = s[:i] // zone
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return ""
	}
	return ip.Unmap().String()
}

// normMAC returns a MAC address as upper-case colon-separated octets, or ""
// when s is not one (or is all zeros).
func normMAC(s string) string {
	var hex []byte
	for _, c := range strings.TrimSpace(s) {
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f', c >= 'A' && c <= 'F':
			hex = append(hex, byte(c))
		case c == ':' || c == '-' || c == '.':
		default:
			return ""
		}
	}
	if len(hex) != 12 || strings.Trim(string(hex), "0") == "" {
		return ""
	}
	up := strings.ToUpper(string(hex))
	parts := make([]string, 6)
	for i := range parts {
		parts[i] = up[2*i : 2*i+2]
	}
	return strings.Join(parts, ":")
}

// hostnameKey normalises a host name for use as a hostname _key: lower
// case, with the characters CAR refuses in a key (& # ^ | ? < > [ ], white
// space, /) removed.
func hostnameKey(s string) string {
	s = normName(s)
	return strings.Map(func(r rune) rune {
		if strings.ContainsRune("&#^|?<>[]/ \t\r\n", r) {
			return -1
		}
		return r
	}, s)
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if strings.TrimSpace(v) != "" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func joinNonEmpty(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, " ")
}
