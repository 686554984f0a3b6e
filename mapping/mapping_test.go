package mapping_test

import (
	"bytes"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/qualysbridge/qualysbridge/car"
	"github.com/qualysbridge/qualysbridge/mapping"
	"github.com/qualysbridge/qualysbridge/qualys"
	"github.com/qualysbridge/qualysbridge/qualys/qualystest"
	"github.com/qualysbridge/qualysbridge/threatq"
)

var t0 = time.Date(2026, 2, 28, 23, 10, 5, 0, time.UTC)

func fullHost() mapping.Host {
	return mapping.Host{
		Asset: &qualys.HostAsset{
			ID: 31000001, Name: " Web-01.Corp.Example ", DNSHostName: "web-01.corp.example", OS: "Ubuntu Linux 22.04", Type: "HOST", QWebHostID: 4100001,
			Address: "10.20.30.40",
			NetworkInterfaces: []qualys.NetworkInterface{
				{Address: "10.20.30.40", MACAddress: "02:00:00:aa:bb:01", InterfaceName: "eth0"},
				{Address: "fe80:0:0:0:f558:672:7853:f978", MACAddress: "02-00-00-AA-BB-01", InterfaceName: "eth0"},
				{Address: "10.20.30.40", MACAddress: "02:00:00:AA:BB:01", InterfaceName: "eth0"}, // duplicate interface
				{Address: "", MACAddress: "00:00:00:00:00:00"},
			},
			Accounts:   []qualys.Account{{Username: "root"}, {Username: ""}, {Username: "root"}},
			SourceInfo: []qualys.SourceInfo{{Kind: "Ec2AssetSourceSimple", Region: "us-east-1", Zone: "VPC"}, {Kind: "AssetSource"}},
		},
		Detections: &qualys.DetectionHost{ID: 4100001, Detections: []qualys.Detection{
			{QID: 38170, Severity: 2, Port: 3389, Status: "Active", Results: "Certificate CN mismatch (OpenSSL 3.0.2)"},
			{QID: 38170, Severity: 2, Port: 8443, Status: "Fixed", Results: "other port"},
			{QID: 90007, Severity: 5, Status: "Fixed", Results: "registry"},
			{QID: 11111, Severity: 3, Status: "New", Results: "no KB entry"},
		}},
		Applications: []qualys.InstalledSoftware{{ID: -2432392843928159632, FullName: "OpenSSL 3.0", ProductName: "OpenSSL"}, {ID: 5, FullName: "", ProductName: ""}},
		KB: map[int64]*qualys.Vulnerability{
			38170: {QID: 38170, Title: "SSL Certificate Mismatch", CVSS: qualys.CVSS{Base: 5.8}, CVSSV3: qualys.CVSS{Base: 7.4},
				CVEs: []qualys.Reference{{ID: "CVE-2019-17053"}, {ID: "CVE-2020-1"}}, Diagnosis: "diag", Solution: "fix", Published: t0},
			90007: {QID: 90007, Title: "Registry"},
		},
	}
}

type view struct {
	vertices map[string]car.Vertex
	edges    map[string]car.Edge
}

func index(g car.Graph) view {
	v := view{vertices: map[string]car.Vertex{}, edges: map[string]car.Edge{}}
	for _, x := range g.Vertices {
		v.vertices[x.Collection()+"/"+x.ID()] = x
	}
	for _, e := range g.Edges {
		v.edges[e.Collection+"|"+e.From+"|"+e.To] = e
	}
	return v
}

func keys[M ~map[string]V, V any](m M) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func ptr[T any](v T) *T { return &v }

func TestCARFullHostEveryRow(t *testing.T) {
	g := mapping.CAR(fullHost(), "Qualys")
	if err := g.Validate(); err != nil {
		t.Fatalf("output fails CAR validation: %v", err)
	}
	v := index(g)
	wantVertices := []string{
		"account/root", "application/-2432392843928159632", "asset/31000001", "geolocation/us-east-1",
		"hostname/web-01.corp.example", "ipaddress/10.20.30.40", "ipaddress/fe80::f558:672:7853:f978",
		"macaddress/02:00:00:AA:BB:01", "user/root", "vulnerability/11111", "vulnerability/38170", "vulnerability/90007",
	}
	if d := cmp.Diff(wantVertices, keys(v.vertices)); d != "" {
		t.Errorf("vertices (-want +got):\n%s", d)
	}
	wantEdges := []string{
		"application_vulnerability|-2432392843928159632|38170",
		"asset_account|31000001|root",
		"asset_application|31000001|-2432392843928159632",
		"asset_geolocation|31000001|us-east-1",
		"asset_hostname|31000001|web-01.corp.example",
		"asset_ipaddress|31000001|10.20.30.40",
		"asset_ipaddress|31000001|fe80::f558:672:7853:f978",
		"asset_macaddress|31000001|02:00:00:AA:BB:01",
		"asset_vulnerability|31000001|11111",
		"asset_vulnerability|31000001|38170",
		"asset_vulnerability|31000001|90007",
		"ipaddress_macaddress|10.20.30.40|02:00:00:AA:BB:01",
		"ipaddress_macaddress|fe80::f558:672:7853:f978|02:00:00:AA:BB:01",
		"ipaddress_vulnerability|10.20.30.40|11111",
		"ipaddress_vulnerability|10.20.30.40|38170",
		"ipaddress_vulnerability|10.20.30.40|90007",
		"ipaddress_vulnerability|fe80::f558:672:7853:f978|11111",
		"ipaddress_vulnerability|fe80::f558:672:7853:f978|38170",
		"ipaddress_vulnerability|fe80::f558:672:7853:f978|90007",
		"user_account|root|root",
	}
	if d := cmp.Diff(wantEdges, keys(v.edges)); d != "" {
		t.Errorf("edges (-want +got):\n%s", d)
	}
	rows := []struct {
		name string
		got  any
		want any
	}{
		{"asset", v.vertices["asset/31000001"], &car.Asset{ExternalID: "31000001", Name: "web-01.corp.example", Description: "Ubuntu Linux 22.04 host Web-01.Corp.Example", AssetType: "HOST", Source: "Qualys"}},
		{"vulnerability with KB", v.vertices["vulnerability/38170"], &car.Vulnerability{ExternalID: "38170", Name: "SSL Certificate Mismatch", Description: "Certificate CN mismatch (OpenSSL 3.0.2)",
			BaseScore: ptr(7.4), XfrCVSS2Base: ptr(5.8), XfrCVSS3Base: ptr(7.4), CVEIDs: "CVE-2019-17053,CVE-2020-1", Diagnosis: "diag", Solution: "fix", PublishedOn: t0.UnixMilli(), Source: "Qualys"}},
		{"vulnerability without KB", v.vertices["vulnerability/11111"], &car.Vulnerability{ExternalID: "11111", Name: mapping.DefaultVulnerabilityName, Description: "no KB entry", BaseScore: ptr(6.0), Source: "Qualys"}},
		{"vulnerability KB without CVSS", v.vertices["vulnerability/90007"], &car.Vulnerability{ExternalID: "90007", Name: "Registry", Description: "registry", BaseScore: ptr(10.0), Source: "Qualys"}},
		{"ipaddress", v.vertices["ipaddress/10.20.30.40"], &car.IPAddress{Key: "10.20.30.40", Source: "Qualys"}},
		{"macaddress", v.vertices["macaddress/02:00:00:AA:BB:01"], &car.MACAddress{Key: "02:00:00:AA:BB:01", Interface: "eth0", Source: "Qualys"}},
		{"hostname", v.vertices["hostname/web-01.corp.example"], &car.Hostname{Key: "web-01.corp.example", HostName: "web-01.corp.example", Source: "Qualys"}},
		{"account", v.vertices["account/root"], &car.Account{ExternalID: "root", Name: "root", Source: "Qualys"}},
		{"user", v.vertices["user/root"], &car.User{ExternalID: "root", Username: "root", Source: "Qualys"}},
		{"application", v.vertices["application/-2432392843928159632"], &car.Application{ExternalID: "-2432392843928159632", Name: "OpenSSL 3.0", Source: "Qualys"}},
		{"geolocation", v.vertices["geolocation/us-east-1"], &car.Geolocation{ExternalID: "us-east-1", Region: "us-east-1", Source: "Qualys"}},
		{"asset_vulnerability active while a port is not fixed", v.edges["asset_vulnerability|31000001|38170"].Disabled, false},
		{"asset_vulnerability inactive when all fixed", v.edges["asset_vulnerability|31000001|90007"].Disabled, true},
		{"asset_vulnerability risk score", v.edges["asset_vulnerability|31000001|38170"].Properties["risk_score"], 4.0},
		{"ipaddress_vulnerability active like asset_vulnerability", v.edges["ipaddress_vulnerability|10.20.30.40|38170"].Disabled, false},
		{"ipaddress_vulnerability inactive when all fixed", v.edges["ipaddress_vulnerability|fe80::f558:672:7853:f978|90007"].Disabled, true},
	}
	for _, r := range rows {
		if d := cmp.Diff(r.want, r.got); d != "" {
			t.Errorf("%s (-want +got):\n%s", r.name, d)
		}
	}
	for _, x := range g.Vertices {
		if x.Collection() == "" {
			t.Error("vertex without collection")
		}
	}
	for _, e := range g.Edges {
		if e.Source != "Qualys" {
			t.Errorf("edge %s without source", e.ID())
		}
	}
}

func TestCAREdgeCases(t *testing.T) {
	cases := []struct {
		name      string
		host      mapping.Host
		vertices  []string
		edgeCount int
	}{
		{"no asset", mapping.Host{}, nil, 0},
		{"bare asset: no interfaces, no os, no sourceInfo, no detections", mapping.Host{Asset: &qualys.HostAsset{ID: 7, Type: "HOST"}},
			[]string{"asset/7"}, 0},
		{"address without interfaces", mapping.Host{Asset: &qualys.HostAsset{ID: 7, Name: "x", Address: "10.0.0.1"}},
			[]string{"asset/7", "hostname/x", "ipaddress/10.0.0.1"}, 2},
		{"IPv6-only", mapping.Host{Asset: &qualys.HostAsset{ID: 7, Name: "v6", NetworkInterfaces: []qualys.NetworkInterface{{Address: "FD00::7"}}}},
			[]string{"asset/7", "hostname/v6", "ipaddress/fd00::7"}, 2},
		{"detections of another host are ignored", mapping.Host{Asset: &qualys.HostAsset{ID: 7, Name: "a", QWebHostID: 1},
			Detections: &qualys.DetectionHost{ID: 2, Detections: []qualys.Detection{{QID: 5, Severity: 1}}}},
			[]string{"asset/7", "hostname/a"}, 1},
		{"single detection", mapping.Host{Asset: &qualys.HostAsset{ID: 7, Name: "a", QWebHostID: 1},
			Detections: &qualys.DetectionHost{ID: 1, Detections: []qualys.Detection{{QID: 5, Severity: 1, Status: "Active"}}}},
			[]string{"asset/7", "hostname/a", "vulnerability/5"}, 2},
		{"invalid address and MAC skipped", mapping.Host{Asset: &qualys.HostAsset{ID: 7, Name: "a b|c",
			NetworkInterfaces: []qualys.NetworkInterface{{Address: "177.77.7.777", MACAddress: "11:11:11:11:11:11:11:11"}}}},
			[]string{"asset/7", "hostname/abc"}, 1},
		{"geolocation from azure location and gcp zone", mapping.Host{Asset: &qualys.HostAsset{ID: 7, Name: "a",
			SourceInfo: []qualys.SourceInfo{{Location: "westeurope"}, {Zone: "europe-west1-b"}}}},
			[]string{"asset/7", "geolocation/europe-west1-b", "geolocation/westeurope", "hostname/a"}, 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := mapping.CAR(c.host, "Qualys")
			if err := g.Validate(); err != nil {
				t.Fatalf("fails validation: %v", err)
			}
			v := index(g)
			if d := cmp.Diff(c.vertices, keys(v.vertices)); d != "" {
				t.Errorf("vertices (-want +got):\n%s", d)
			}
			if len(g.Edges) != c.edgeCount {
				t.Errorf("%d edges %v, want %d", len(g.Edges), keys(v.edges), c.edgeCount)
			}
		})
	}
}

// checkEndsExist asserts that every edge's ends are among the host's own
// vertices: mapping.CAR never refers to a vertex another host produces.
func checkEndsExist(t *testing.T, g car.Graph) {
	t.Helper()
	v := index(g)
	for _, e := range g.Edges {
		from, to, _ := e.Ends()
		if v.vertices[from+"/"+e.From] == nil || v.vertices[to+"/"+e.To] == nil {
			t.Errorf("edge %s refers to a vertex the host does not produce", e.ID())
		}
	}
}

func TestCARPropertiesOnGeneratedTenant(t *testing.T) {
	tn := qualystest.Generate(11, 300, qualystest.WithInvalidChars(), qualystest.WithVulnerableTo("CVE-2019-17053", 0.2))
	kb := map[int64]*qualys.Vulnerability{}
	for _, v := range tn.KB {
		kb[v.QID] = v
	}
	dets := map[int64]*qualys.DetectionHost{}
	for _, d := range tn.Detections {
		dets[d.ID] = d
	}
	apps := map[int64][]qualys.InstalledSoftware{}
	for _, a := range tn.Assets {
		apps[a.AssetID] = a.Software
	}
	edges := 0
	for _, a := range tn.HostAssets {
		g := mapping.CAR(mapping.Host{Asset: a, Detections: dets[a.QWebHostID], Applications: apps[a.ID], KB: kb}, "Qualys")
		if err := g.Validate(); err != nil {
			t.Fatalf("host %d: %v", a.ID, err)
		}
		checkEndsExist(t, g)
		edges += len(g.Edges)
	}
	if edges == 0 {
		t.Fatal("no edges at all")
	}
}

func TestCAROnDecodedFixtures(t *testing.T) {
	read := func(name string) []byte {
		b, err := os.ReadFile("../testdata/qualys/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	dets := map[int64]*qualys.DetectionHost{}
	for h, err := range qualys.DecodeDetections(bytes.NewReader(read("detections_indented.xml"))) {
		if err != nil {
			t.Fatal(err)
		}
		dets[h.ID] = h
	}
	kb := map[int64]*qualys.Vulnerability{}
	for v, err := range qualys.DecodeKnowledgeBase(bytes.NewReader(read("knowledgebase.xml"))) {
		if err != nil {
			t.Fatal(err)
		}
		kb[v.QID] = v
	}
	apps := map[int64][]qualys.InstalledSoftware{}
	for a, err := range qualys.DecodeAssets(bytes.NewReader(read("gateway_assets.json"))) {
		if err != nil {
			t.Fatal(err)
		}
		apps[a.AssetID] = a.Software
	}
	n := 0
	for a, err := range qualys.DecodeHostAssets(bytes.NewReader(read("hostassets_page.json"))) {
		if err != nil {
			t.Fatal(err)
		}
		g := mapping.CAR(mapping.Host{Asset: a, Detections: dets[a.QWebHostID], Applications: apps[a.ID], KB: kb}, "Qualys")
		if err := g.Validate(); err != nil {
			t.Errorf("asset %d: %v", a.ID, err)
		}
		checkEndsExist(t, g)
		n += len(g.Vertices)
	}
	if n < 10 {
		t.Errorf("only %d vertices from the fixtures", n)
	}
}

func FuzzCAR(f *testing.F) {
	f.Add("web-01", "10.0.0.1", "02:00:00:00:00:01", "root", "OpenSSL found", "OpenSSL", "us-east-1", int64(38170), 3, "Active")
	f.Add("", "fe80::1%eth0", "zz", "", "", "", "", int64(-1), 9, "Fixed")
	f.Fuzz(func(t *testing.T, name, ip, mac, user, results, product, region string, qid int64, sev int, status string) {
		h := mapping.Host{
			Asset: &qualys.HostAsset{ID: 1, Name: name, DNSHostName: name, Address: ip, QWebHostID: 2,
				NetworkInterfaces: []qualys.NetworkInterface{{Address: ip, MACAddress: mac, InterfaceName: name}},
				Accounts:          []qualys.Account{{Username: user}}, SourceInfo: []qualys.SourceInfo{{Region: region}}},
			Detections:   &qualys.DetectionHost{ID: 2, Detections: []qualys.Detection{{QID: qid, Severity: sev, Status: qualys.DetectionStatus(status), Results: results}}},
			Applications: []qualys.InstalledSoftware{{ID: qid, FullName: product, ProductName: product}},
		}
		g := mapping.CAR(h, "Qualys")
		if err := g.Validate(); err != nil {
			t.Fatalf("invalid output for %q: %v", name, err)
		}
		a := mapping.ThreatQ(h.Detections, mapping.ThreatQOptions{})
		seen := map[[2]string]bool{}
		for _, at := range a.Attributes {
			if seen[[2]string{at.Name, at.Value}] {
				t.Fatalf("duplicate attribute %v", at)
			}
			seen[[2]string{at.Name, at.Value}] = true
		}
	})
}

func TestThreatQTable(t *testing.T) {
	h := &qualys.DetectionHost{ID: 6506432, IP: "10.10.10.11", DNS: "2k8r2-u-10-11.sample.qualys.com", LastScan: time.Date(2018, 4, 13, 3, 49, 5, 0, time.UTC),
		Tags: []qualys.Tag{{ID: 7588415, Name: "windows"}},
		Detections: []qualys.Detection{
			{QID: 38170, Type: "Confirmed", Severity: 2, Status: "Active", LastFound: time.Date(2018, 4, 13, 3, 48, 50, 0, time.UTC)},
			{QID: 38170, Type: "Confirmed", Severity: 2, Status: "Active", LastFound: time.Date(2018, 4, 13, 3, 48, 50, 0, time.UTC), Port: 8443},
			{QID: 38173, Type: "Potential", Severity: 3, Status: "New", LastFound: time.Date(2018, 4, 12, 0, 0, 0, 0, time.UTC)},
		}}
	got := mapping.ThreatQ(h, mapping.ThreatQOptions{IndicatorIDs: []int64{9}})
	want := threatq.Asset{
		Value: "10.10.10.11", Description: "Qualys host 6506432 (2k8r2-u-10-11.sample.qualys.com)",
		Sources: []threatq.Source{{Name: "Qualys"}}, Tags: []string{"windows"}, Indicators: []int64{9}, PublishedAt: h.LastScan,
		Attributes: []threatq.Attribute{
			{Name: "Last Scan Date", Value: "2018-04-13T03:49:05Z"},
			{Name: "Qualys ID", Value: "38170"}, {Name: "Severity", Value: "2"}, {Name: "Scan Status", Value: "Active"},
			{Name: "Scan Type", Value: "Confirmed"},
			{Name: "Qualys ID", Value: "38173"}, {Name: "Severity", Value: "3"}, {Name: "Scan Status", Value: "New"},
			{Name: "Scan Type", Value: "Potential"}, {Name: "Last Found Date", Value: "2018-04-13T03:48:50Z"},
		},
		Current: mapping.CurrentStateAttributes,
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("ThreatQ (-want +got):\n%s", d)
	}
	// IPv6-only host, no detections, custom source.
	got = mapping.ThreatQ(&qualys.DetectionHost{ID: 1, IPv6: "FD00:0:0:0:0:0:0:7"}, mapping.ThreatQOptions{Source: "Qualys VMDR"})
	if got.Value != "fd00::7" || len(got.Attributes) != 0 || got.Sources[0].Name != "Qualys VMDR" {
		t.Errorf("IPv6-only: %+v", got)
	}
	if a := mapping.ThreatQ(nil, mapping.ThreatQOptions{}); a.Value != "" {
		t.Errorf("nil host: %+v", a)
	}
}

func BenchmarkCAR(b *testing.B) {
	tn := qualystest.Generate(3, 200, qualystest.WithDetectionsPerHost(30))
	kb := map[int64]*qualys.Vulnerability{}
	for _, v := range tn.KB {
		kb[v.QID] = v
	}
	dets := map[int64]*qualys.DetectionHost{}
	for _, d := range tn.Detections {
		dets[d.ID] = d
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		a := tn.HostAssets[i%len(tn.HostAssets)]
		g := mapping.CAR(mapping.Host{Asset: a, Detections: dets[a.QWebHostID], KB: kb}, "Qualys")
		if len(g.Vertices) == 0 {
			b.Fatal("empty")
		}
	}
}

func ExampleCAR() {
	g := mapping.CAR(mapping.Host{Asset: &qualys.HostAsset{ID: 31000001, Name: "web-01", Type: "HOST",
		NetworkInterfaces: []qualys.NetworkInterface{{Address: "10.20.30.40", MACAddress: "02:00:00:aa:bb:01"}}}}, "Qualys")
	for _, e := range g.Edges {
		fmt.Println(e.Collection, e.From, "->", e.To)
	}
	// Output:
	// asset_ipaddress 31000001 -> 10.20.30.40
	// asset_macaddress 31000001 -> 02:00:00:AA:BB:01
	// ipaddress_macaddress 10.20.30.40 -> 02:00:00:AA:BB:01
	// asset_hostname 31000001 -> web-01
}

// IBM's connector details: an EC2 source without a region is no place (its
// zone is "VPC"); KnowledgeBase HTML becomes readable text.
func TestCARGeolocationAndKBText(t *testing.T) {
	a := &qualys.HostAsset{ID: 5, Name: "h", QWebHostID: 9, SourceInfo: []qualys.SourceInfo{
		{Kind: "Ec2AssetSourceSimple", Type: "EC_2", Zone: "VPC"},
		{Kind: "GcpAssetSourceSimple", Type: "GCP", Zone: "europe-west1-b"},
	}}
	kb := map[int64]*qualys.Vulnerability{1: {QID: 1, Title: "t",
		Diagnosis: `<p>The server is <b>affected</b>.</p><p>See <a href="https://vendor.example/a">the advisory</a>.</p>`,
		Solution:  "Upgrade&nbsp;to 2.0<br>Then restart."}}
	g := mapping.CAR(mapping.Host{Asset: a, Detections: &qualys.DetectionHost{ID: 9, Detections: []qualys.Detection{{QID: 1, Status: "Active"}}}, KB: kb}, "Qualys")
	var geos []string
	var vuln *car.Vulnerability
	for _, v := range g.Vertices {
		switch x := v.(type) {
		case *car.Geolocation:
			geos = append(geos, x.ExternalID)
		case *car.Vulnerability:
			vuln = x
		}
	}
	if len(geos) != 1 || geos[0] != "europe-west1-b" {
		t.Errorf("geolocations %v, want only the GCP zone", geos)
	}
	if vuln == nil || vuln.Diagnosis != "The server is affected.\n\nSee the advisory (https://vendor.example/a)." || vuln.Solution != "Upgrade to 2.0\nThen restart." {
		t.Errorf("KB text: %+v", vuln)
	}
}

// CARHost's parts: the host part touches no vulnerability, each
// vulnerability part holds its vertex and exactly the edges to it, and
// Graph() is what CAR returns.
func TestCARHostParts(t *testing.T) {
	tn := qualystest.Generate(12, 120, qualystest.WithVulnerableTo("CVE-2019-17053", 0.3))
	dets := map[int64]*qualys.DetectionHost{}
	for _, d := range tn.Detections {
		dets[d.ID] = d
	}
	apps := map[int64][]qualys.InstalledSoftware{}
	for _, a := range tn.Assets {
		apps[a.AssetID] = a.Software
	}
	parts := 0
	for _, a := range tn.HostAssets {
		in := mapping.Host{Asset: a, Detections: dets[a.QWebHostID], Applications: apps[a.ID]}
		h := mapping.CARHost(in, "Qualys")
		if d := cmp.Diff(mapping.CAR(in, "Qualys"), h.Graph()); d != "" {
			t.Fatalf("host %d: Graph() differs from CAR:\n%s", a.ID, d)
		}
		for _, v := range h.Host.Vertices {
			if v.Collection() == car.CollVulnerability {
				t.Errorf("host %d: vulnerability %s in the host part", a.ID, v.ID())
			}
		}
		for _, e := range h.Host.Edges {
			if strings.HasSuffix(e.Collection, "_"+car.CollVulnerability) {
				t.Errorf("host %d: edge %s in the host part", a.ID, e.Collection)
			}
		}
		seen := map[int64]bool{}
		for _, p := range h.Vulnerabilities {
			parts++
			if seen[p.QID] || p.Vertex == nil || p.Vertex.ExternalID != strconv.FormatInt(p.QID, 10) {
				t.Fatalf("host %d: part %d: duplicate or vertex %+v", a.ID, p.QID, p.Vertex)
			}
			seen[p.QID] = true
			if len(p.Edges) == 0 {
				t.Errorf("host %d: QID %d has no asset edge", a.ID, p.QID)
			}
			for _, e := range p.Edges {
				if e.To != p.Vertex.ExternalID || !strings.HasSuffix(e.Collection, "_"+car.CollVulnerability) {
					t.Errorf("host %d: QID %d holds edge %s %s -> %s", a.ID, p.QID, e.Collection, e.From, e.To)
				}
			}
		}
	}
	if parts == 0 {
		t.Fatal("no vulnerability parts at all")
	}
}
