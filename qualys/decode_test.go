package qualys

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("../testdata/qualys/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func decodeAll(t *testing.T, doc []byte) ([]*DetectionHost, error) {
	t.Helper()
	var out []*DetectionHost
	for h, err := range DecodeDetections(bytes.NewReader(doc)) {
		if err != nil {
			return out, err
		}
		out = append(out, h)
	}
	return out, nil
}

var wantIndented = []*DetectionHost{
	{
		ID: 4100001, AssetID: 31000001, IP: "10.20.30.40", TrackingMethod: "AGENT", OS: "Ubuntu Linux 22.04.4",
		DNS: "web-01.corp.example", DNSData: DNSData{Hostname: "web-01", FQDN: "web-01.corp.example"},
		NetBIOS: "WEB-01", QGHostID: "6f1c2a3b-0000-4000-8000-000000000001",
		LastScan: ts("2026-02-28T23:10:05Z"), LastVMScanned: ts("2026-02-28T23:05:00Z"), LastVMScannedDuration: 412 * time.Second,
		LastVMAuthScanned: ts("2026-02-28T23:05:00Z"),
		Tags:              []Tag{{ID: 7700001, Name: "production", Color: "#FFFFFF"}, {ID: 7700002, Name: "pci & dmz"}},
		Detections: []Detection{
			{
				UniqueVulnID: 11730616285, QID: 38170, Type: "Confirmed", Severity: 2, Port: 3389, Protocol: "tcp", SSL: true,
				Results: "Certificate #0 CN=web-01 doesn't resolve\n  second line with &amp; kept literally\n\ntrailing blank line above",
				Status:  "Active", FirstFound: ts("2025-11-26T04:45:50Z"), LastFound: ts("2026-02-28T23:05:00Z"),
				QDS: 78, QDSSeverity: "HIGH", QDSFactors: []QDSFactor{{"CVSS", "7.5"}, {"epss", "0.0123"}},
				TimesFound: 111, LastTest: ts("2026-02-28T23:05:00Z"), LastUpdate: ts("2026-02-28T23:10:05Z"),
				LastProcessed: ts("2026-02-28T23:10:05Z"),
			},
			{
				QID: 38170, Type: "Confirmed", Severity: 2, Port: 8443, Protocol: "tcp", SSL: true, Results: "same QID, other port",
				Status: "Fixed", FirstFound: ts("2025-10-01T00:00:00Z"), LastFound: ts("2026-01-15T12:00:00Z"), TimesFound: 12,
				LastFixed: ts("2026-02-01T08:30:00Z"), Ignored: true,
			},
		},
	},
	{
		ID: 4100002, IPv6: "fd00:0:0:0:0:0:0:7", TrackingMethod: "IP", OS: "Windows Server 2019", LastScan: ts("2026-02-20T01:02:03Z"),
		Detections: []Detection{{
			QID: 90007, Type: "Potential", Severity: 5, Results: `HKLM\SOFTWARE\Example = "1" <tag-like text>`, Status: "Re-Opened",
			FirstFound: ts("2024-01-01T00:00:00Z"), LastFound: ts("2026-02-20T01:00:00Z"), TimesFound: 3, TimesReopened: 1,
			LastReopened: ts("2026-02-19T00:00:00Z"),
		}},
	},
}

func TestDecodeDetectionsEveryField(t *testing.T) {
	t.Parallel()
	got, err := decodeAll(t, fixture(t, "detections_indented.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(wantIndented, got); d != "" {
		t.Errorf("decoded hosts (-want +got):\n%s", d)
	}
}

// compact removes the indentation between tags, including around CDATA
// sections, as the API sends it.
func compact(doc []byte) []byte {
	return regexp.MustCompile(`>\s+<`).ReplaceAll(doc, []byte("><"))
}

func TestPrettyAndCompactDecodeTheSame(t *testing.T) {
	t.Parallel()
	doc := fixture(t, "detections_indented.xml")
	c := compact(doc)
	if bytes.Equal(c, doc) || bytes.Contains(c, []byte("\n\t\t<")) {
		t.Fatal("compacting the fixture changed nothing")
	}
	got, err := decodeAll(t, c)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(wantIndented, got); d != "" {
		t.Errorf("compact document decodes differently (-pretty +compact):\n%s", d)
	}
}

func TestDecodeEmptyResponse(t *testing.T) {
	t.Parallel()
	got, err := decodeAll(t, fixture(t, "detections_empty.xml"))
	if err != nil || len(got) != 0 {
		t.Fatalf("got %d hosts, err %v; want none and no error", len(got), err)
	}
}

func TestErrorDocumentAfterHosts(t *testing.T) {
	t.Parallel()
	got, err := decodeAll(t, fixture(t, "detections_error_after_hosts.xml"))
	var qe *Error
	if len(got) != 1 || !errors.As(err, &qe) || qe.Code != "999" || !strings.Contains(qe.Message, "after host id 4100001") {
		t.Fatalf("got %d hosts, err %v; want 1 host then *Error code 999 naming the last host", len(got), err)
	}
}

func TestSimpleReturnAsWholeBody(t *testing.T) {
	t.Parallel()
	doc := `<!DOCTYPE SIMPLE_RETURN SYSTEM "https://x/simple_return.dtd"><SIMPLE_RETURN><RESPONSE><DATETIME>2026-01-01T00:00:00Z</DATETIME><CODE>1905</CODE><TEXT>parameter ids has invalid value: abc</TEXT></RESPONSE></SIMPLE_RETURN>`
	_, err := decodeAll(t, []byte(doc))
	var qe *Error
	if !errors.As(err, &qe) || qe.Code != "1905" {
		t.Fatalf("err = %v, want *Error 1905", err)
	}
}

func TestTruncatedBodyNamesLastHost(t *testing.T) {
	t.Parallel()
	doc := fixture(t, "detections_indented.xml")
	cut := doc[:bytes.Index(doc, []byte("<ID>4100002</ID>"))+20]
	got, err := decodeAll(t, cut)
	var de *DecodeError
	if len(got) != 1 || !errors.As(err, &de) || de.LastID != 4100001 || !strings.Contains(err.Error(), "id_min=4100002") {
		t.Fatalf("got %d hosts, err %v; want 1 host then a DecodeError naming host 4100001", len(got), err)
	}
}

func TestInvalidCharactersReplacedAndCounted(t *testing.T) {
	t.Parallel()
	doc := `<HOST_LIST_VM_DETECTION_OUTPUT><RESPONSE><HOST_LIST><HOST><ID>1</ID><DETECTION_LIST><DETECTION><QID>2</QID><RESULTS><![CDATA[ok` + "\x01\x0b" + `end]]></RESULTS></DETECTION></DETECTION_LIST></HOST></HOST_LIST></RESPONSE></HOST_LIST_VM_DETECTION_OUTPUT>`
	got, err := decodeAll(t, []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Detections[0].Results != "ok\uFFFD\uFFFDend" || got[0].ReplacedChars != 2 {
		t.Errorf("results %q replaced %d; want 2 replaced characters", got[0].Detections[0].Results, got[0].ReplacedChars)
	}
}

func TestExternalDTDNeverFetched(t *testing.T) {
	t.Parallel()
	// The DOCTYPE names an address that does not exist; decoding must not
	// try it (and internal entities are never expanded).
	doc := `<!DOCTYPE HOST_LIST_VM_DETECTION_OUTPUT SYSTEM "http://127.0.0.1:1/evil.dtd" [<!ENTITY x "boom">]><HOST_LIST_VM_DETECTION_OUTPUT><RESPONSE><HOST_LIST><HOST><ID>1</ID><OS>&x;</OS></HOST></HOST_LIST></RESPONSE></HOST_LIST_VM_DETECTION_OUTPUT>`
	_, err := decodeAll(t, []byte(doc))
	if err == nil || !strings.Contains(err.Error(), "undefined entity") {
		t.Fatalf("err = %v, want the undeclared-in-XML entity refused", err)
	}
}

func TestBadValuesAreTypedErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ field, doc string }{
		{"ID", `<HOST><ID>abc</ID></HOST>`},
		{"LAST_SCAN_DATETIME", `<HOST><ID>1</ID><LAST_SCAN_DATETIME>yesterday</LAST_SCAN_DATETIME></HOST>`},
		{"SSL", `<HOST><ID>1</ID><DETECTION_LIST><DETECTION><SSL>maybe</SSL></DETECTION></DETECTION_LIST></HOST>`},
		{"HOST", `<HOST><IP>1.2.3.4</IP></HOST>`},
	} {
		doc := `<HOST_LIST_VM_DETECTION_OUTPUT><RESPONSE><HOST_LIST>` + tc.doc + `</HOST_LIST></RESPONSE></HOST_LIST_VM_DETECTION_OUTPUT>`
		_, err := decodeAll(t, []byte(doc))
		var de *DecodeError
		if !errors.As(err, &de) || !strings.Contains(de.Element, tc.field) {
			t.Errorf("%s: err = %v, want a DecodeError at %s", tc.field, err, tc.field)
		}
	}
}

func TestUnexpectedRoot(t *testing.T) {
	t.Parallel()
	_, err := decodeAll(t, []byte(`<KNOWLEDGE_BASE_VULN_LIST_OUTPUT/>`))
	var de *DecodeError
	if !errors.As(err, &de) || !strings.Contains(err.Error(), "unexpected root") {
		t.Fatalf("err = %v", err)
	}
}

func TestBreakStopsDecoding(t *testing.T) {
	t.Parallel()
	n := 0
	for range DecodeDetections(bytes.NewReader(fixture(t, "detections_indented.xml"))) {
		n++
		break
	}
	if n != 1 {
		t.Fatalf("loop ran %d times", n)
	}
}

func TestDecodeHostAssets(t *testing.T) {
	t.Parallel()
	var got []*HostAsset
	for a, err := range DecodeHostAssets(bytes.NewReader(fixture(t, "hostassets_page.json"))) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, a)
	}
	want := []*HostAsset{
		{
			ID: 31000001, Name: "web-01.corp.example", DNSHostName: "web-01.corp.example", FQDN: "web-01.corp.example", NetBIOSName: "WEB-01",
			OS: "Ubuntu Linux 22.04.4", Type: "HOST", QWebHostID: 4100001, Address: "10.20.30.40", TrackingMethod: "INSTANCE_ID",
			CloudProvider: "AWS", LastLoggedOnUser: "alice", Created: ts("2025-12-09T08:37:49Z"), Modified: ts("2026-02-21T02:51:49Z"),
			LastVulnScan: ts("2026-02-28T23:05:00Z"), LastComplianceScan: ts("2026-02-20T00:00:00Z"), LastSystemBoot: ts("2026-01-02T03:04:05Z"),
			AgentInfo: &AgentInfo{AgentID: "a1b2c3", AgentVersion: "6.1.0.28", Status: "STATUS_ACTIVE", Platform: "LINUX_UBUNTU",
				ActivatedModule: "AGENT_VM,AGENT_PC", ChirpStatus: "Inventory Scan Complete", ConnectedFrom: "203.0.113.9", LastCheckedIn: ts("2026-03-01T09:00:00Z")},
			NetworkInterfaces: []NetworkInterface{
				{Address: "10.20.30.40", Hostname: "web-01", MACAddress: "02:00:00:AA:BB:01", InterfaceName: "eth0", GatewayAddress: "10.20.30.1", Type: "PRIVATE"},
				{Address: "fe80:0:0:0:f558:672:7853:f978", MACAddress: "02:00:00:AA:BB:01", InterfaceName: "eth0"},
			},
			Accounts: []Account{{"ubuntu"}, {"root"}},
			Software: []Software{{"openssl", "3.0.2"}},
			Vulns:    []HostAssetVuln{{QID: 38170, HostInstanceVulnID: 11730616285, FirstFound: ts("2025-11-26T04:45:50Z"), LastFound: ts("2026-02-28T23:05:00Z")}},
			SourceInfo: []SourceInfo{
				{Kind: "Ec2AssetSourceSimple", Type: "EC_2", AssetID: 31000001, Region: "us-east-1", Zone: "VPC", AvailabilityZone: "us-east-1c",
					AccountID: "123456789012", InstanceID: "i-0abc", InstanceType: "t3.micro", InstanceState: "RUNNING", ImageID: "ami-1",
					PrivateIPAddress: "10.20.30.40", FirstDiscovered: ts("2025-12-09T08:38:00Z"), LastUpdated: ts("2026-02-21T02:51:49Z"),
					Tags: []SourceTag{{Key: "Name", Value: "web"}}},
				{Kind: "AssetSource"},
			},
			Tags:      []Tag{{ID: 7700001, Name: "production"}, {ID: 7700002, Name: "pci"}},
			OpenPorts: []OpenPort{{Port: 22, Protocol: "TCP", ServiceName: "ssh"}},
		},
		{ID: 31000002, Name: "win-02", Type: "HOST", Accounts: []Account{{"Administrator"}}},
		{ID: 31000003, Name: "bare", Type: "HOST", Created: ts("2025-01-01T00:00:00Z")},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("host assets (-want +got):\n%s", d)
	}
	if got[0].SourceInfo[0].Place() != "us-east-1" {
		t.Errorf("Place() = %q, want the EC2 region", got[0].SourceInfo[0].Place())
	}
}

func TestDecodeHostAssetsErrors(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		`{"ServiceResponse":{"responseCode":"INVALID_CREDENTIALS","responseErrorDetails":{"errorMessage":"Authentication failed","errorResolution":"Verify both, user and password credentials."}}}`: "INVALID_CREDENTIALS",
		`{"ServiceResponse":{"responseCode":"SUCCESS","data":[{"HostAsset":{"id":"x1"}}]}}`:                                                                                                          "invalid integer",
		`{"ServiceResponse":{"responseCode":"SUCCESS","data":[{"HostAsset":{"id":1,"qwebHostId":123456789012345678901234567890123456789012}}]}}`:                                                     "too long",
		`{"ServiceResponse":{"responseCode":"SUCCESS","data":[{"HostAsset":{"id":1}}`:                                                                                                                "unexpected EOF",
		`<html><body>maintenance</body></html>`: "HTML page",
	}
	for doc, want := range cases {
		var err error
		for _, e := range DecodeHostAssets(strings.NewReader(doc)) {
			if e != nil {
				err = e
			}
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%.60s: err = %v, want %q", doc, err, want)
		}
	}
}

func TestDecodeAssets(t *testing.T) {
	t.Parallel()
	var got []*Asset
	for a, err := range DecodeAssets(bytes.NewReader(fixture(t, "gateway_assets.json"))) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, a)
	}
	want := []*Asset{
		{AssetID: 31000001, HostID: 4100001, Name: "web-01.corp.example", Address: "10.20.30.40", DNSName: "web-01.corp.example",
			AssetUUID: "u-1", NetBIOSName: "WEB-01", LastBoot: ts("2026-01-02T03:04:05Z"),
			OS:                &AssetOS{Name: "Ubuntu 22.04", FullName: "Ubuntu Linux 22.04.4 LTS", Category: "Linux", Publisher: "Canonical", Version: "22.04", Architecture: "64-Bit"},
			OpenPorts:         []AssetOpenPort{{Port: 22, Protocol: "TCP", DetectedService: "ssh"}, {Port: 443, Protocol: "TCP", DetectedService: "https"}},
			NetworkInterfaces: []AssetInterface{{Name: "eth0", Hostname: "web-01", IPv4: "10.20.30.40", MACAddress: "02:00:00:AA:BB:01", GatewayAddress: "10.20.30.1"}},
			UserAccounts:      []string{"ubuntu", "root"},
			LastModified:      ts("2026-02-21T02:51:49Z"), Software: []InstalledSoftware{
				{ID: -2432392843928159632, FullName: "Qualys Cloud Agent", ProductName: "Cloud Agent", Version: "6.1.0-28", Publisher: "Qualys", Category: "Security / Endpoint", SoftwareType: "Application"},
				{ID: 77, FullName: "OpenSSL 3.0", ProductName: "OpenSSL", Version: "3.0.2", Publisher: "OpenSSL Project", Category: "Security", SoftwareType: "Application"},
			}},
		{AssetID: 31000002, Name: "win-02", LastModified: ts("2026-02-20T00:00:00Z"), Software: []InstalledSoftware{{ID: 5, FullName: "7-Zip 23", ProductName: "7-Zip"}}},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("assets (-want +got):\n%s", d)
	}
}

func TestDecodeKnowledgeBase(t *testing.T) {
	t.Parallel()
	var got []*Vulnerability
	for v, err := range DecodeKnowledgeBase(bytes.NewReader(fixture(t, "knowledgebase.xml"))) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, v)
	}
	want := []*Vulnerability{
		{QID: 38170, VulnType: "Vulnerability", Severity: 2, Title: "SSL Certificate - Subject Common Name Does Not Match Server FQDN",
			Category: "General remote services", Published: ts("2006-01-13T04:17:55Z"), LastServiceModified: ts("2025-06-09T23:25:53Z"),
			PCIFlag: true, CVEs: []Reference{{"CVE-2019-17053", "http://cve.mitre.org/cgi-bin/cvename.cgi?name=CVE-2019-17053"}},
			VendorRefs: []Reference{{"VR-1", "https://vendor.example/vr-1"}}, Software: []KBSoftware{{"None", "multi-vendor"}},
			Diagnosis: "The certificate's common name does not match.<P>", Consequence: "Man-in-the-middle attacks.", Solution: "Use a certificate whose CN matches.",
			CVSS:        CVSS{Base: 5.8, Temporal: 4.6, Vector: "AV:N/AC:M/Au:N/C:P/I:P/A:N"},
			CVSSV3:      CVSS{Base: 7.4, Temporal: 6.5, Vector: "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:N"},
			ThreatIntel: []string{"Easy_Exploit"}, ThreatIntelIDs: []string{"5"},
			Bugtraq:   []Reference{{"12345", "http://www.securityfocus.com/bid/12345"}},
			Discovery: Discovery{Remote: true, AuthTypes: []string{"Windows", "Unix"}, AdditionalInfo: "Patch Available, Exploit Available"},
			Exploits:  []Exploit{{Source: "The Exploit-DB", Ref: "CVE-2019-17053", Description: "Example exploit for the test fixture", Link: "https://exploits.example/1"}},
			Malware:   []Malware{{Source: "Trend Micro", ID: "EXAMPLE_MW.A", Type: "Trojan", Platform: "Windows", Rating: "Low"}}},
		{QID: 90007, VulnType: "Potential Vulnerability", Severity: 5, Title: "Registry Setting Weak", Published: ts("2005-04-12T07:00:00Z"), Patchable: true},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("kb (-want +got):\n%s", d)
	}
	if m, ok := got[0].MaxCVSSBase(); !ok || m != 7.4 {
		t.Errorf("MaxCVSSBase = %v %v", m, ok)
	}
}

func TestCompressIDs(t *testing.T) {
	t.Parallel()
	if got := compressIDs([]int64{1, 2, 3, 5, 7, 8}); got != "1-3,5,7-8" {
		t.Errorf("compressIDs = %q", got)
	}
}

// TestDecodeDetectionsV5 decodes the elements HLD 5.0 added, each CVE
// shape, and elements no version has yet (skipped without error).
func TestDecodeDetectionsV5(t *testing.T) {
	t.Parallel()
	var hosts []*DetectionHost
	for h, err := range DecodeDetections(bytes.NewReader(fixture(t, "detections_v5.xml"))) {
		if err != nil {
			t.Fatal(err)
		}
		hosts = append(hosts, h)
	}
	want := []*DetectionHost{{
		ID: 7700001, IP: "10.20.0.5", TrackingMethod: "AGENT", OS: "Alibaba Cloud Linux 3", CloudProvider: "Alibaba",
		Metadata: HostMetadata{
			AliCloud: []MetadataAttribute{{Name: "latest/meta-data/region-id", LastStatus: "Success", Value: "cn-hangzhou", LastSuccessDate: ts("2026-11-29T08:00:00Z")}},
			EC2:      []MetadataAttribute{{Name: "latest/meta-data/instance-id", LastStatus: "Error", LastErrorDate: ts("2026-11-28T08:00:00Z"), LastError: "timeout"}},
		},
		CloudTags: []CloudTag{{Name: "env", Value: "prod", LastSuccessDate: ts("2026-11-29T08:00:00Z")}},
		Detections: []Detection{
			{UniqueVulnID: 9100000001, QID: 38170, Type: "Confirmed", Severity: 4, Status: "Active",
				CVEs: []string{"CVE-2019-17053", "CVE-2019-1705"}, DetectionSources: "Cloud Agent,Scanner", LatestDetectionSource: "Cloud Agent",
				MitreTacticName: "Initial Access", MitreTechniqueName: "Exploit Public-Facing Application", MitreTacticID: "TA0001", MitreTechniqueID: "T1190",
				TruRiskEliminationStatus: "Not Eliminated"},
			{QID: 90001, Type: "Potential", Severity: 2, Status: "New", CVEs: []string{"CVE-2024-0001", "CVE-2024-0002"}},
			{QID: 90002, Type: "Confirmed", Severity: 3, Status: "Active", AssetCVE: "CVE-2023-4567", CVEs: []string{"CVE-2023-4567"}},
			{QID: 90003, Type: "Info", Severity: 1, Status: "Active"},
		},
	}}
	if diff := cmp.Diff(want, hosts); diff != "" {
		t.Errorf("decoded hosts (-want +got):\n%s", diff)
	}
	if hosts[0].Detections[3].CVEs != nil {
		t.Error("an empty CVE element must give nil CVEs")
	}
}

// TestDecodeHostAssetsXML: the XML ServiceResponse (what the service sends
// when it ignores Accept) decodes to exactly what the JSON one does.
func TestDecodeHostAssetsXML(t *testing.T) {
	t.Parallel()
	decode := func(name string) []*HostAsset {
		var out []*HostAsset
		for a, err := range DecodeHostAssets(bytes.NewReader(fixture(t, name))) {
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			out = append(out, a)
		}
		return out
	}
	fromJSON, fromXML := decode("hostassets_page.json"), decode("hostassets_page.xml")
	if len(fromJSON) != 3 {
		t.Fatalf("%d assets from JSON", len(fromJSON))
	}
	if diff := cmp.Diff(fromJSON, fromXML); diff != "" {
		t.Errorf("XML decodes differently (-json +xml):\n%s", diff)
	}
	meta, err := decodeQPS(bytes.NewReader(fixture(t, "hostassets_page.xml")), "", "search", nil)
	if err != nil || meta.count != 3 || !meta.hasMore || meta.lastID != 31000003 {
		t.Errorf("meta %+v, err %v", meta, err)
	}
	// An XML error ServiceResponse is an *Error with its code.
	_, err = decodeQPS(strings.NewReader(`<?xml version="1.0"?><ServiceResponse><responseCode>INVALID_CREDENTIALS</responseCode>
<responseErrorDetails><errorMessage>Authentication failed</errorMessage></responseErrorDetails></ServiceResponse>`), "/qps", "search", nil)
	var qe *Error
	if !errors.As(err, &qe) || qe.Code != "INVALID_CREDENTIALS" || !errors.Is(err, ErrUnauthorized) {
		t.Errorf("err = %v", err)
	}
	// A cut XML page reports the last complete asset, for resuming.
	page := fixture(t, "hostassets_page.xml")
	cut := page[:bytes.Index(page, []byte("<id>31000003"))]
	n := 0
	meta, err = decodeQPS(bytes.NewReader(cut), "/qps", "search", func(raw json.RawMessage) (int64, bool, error) {
		a, err := decodeHostAsset(raw)
		if err != nil {
			return 0, false, err
		}
		n++
		return a.ID, true, nil
	})
	var de *DecodeError
	if !errors.As(err, &de) || !resumable(err) || meta.maxID != 31000002 || n != 2 {
		t.Errorf("cut page: %d assets, maxID %d, err %v", n, meta.maxID, err)
	}
}

// The gateway's hasMore comes as 1/0 and as true/false ("1", "true", 1,
// true all mean more); a page answered either way pages on.
func TestGatewayHasMoreShapes(t *testing.T) {
	t.Parallel()
	for _, more := range []string{"1", "true", `"1"`, `"true"`, `"True"`} {
		doc := `{"responseCode":"SUCCESS","count":1,"lastSeenAssetId":5,"hasMore":` + more + `,"assetListData":{"asset":[{"assetId":5}]}}`
		meta, err := decodeGatewayPage(strings.NewReader(doc), "", func(*Asset) bool { return true })
		if err != nil || !meta.hasMore || meta.lastID != 5 {
			t.Errorf("hasMore %s: %+v, %v", more, meta, err)
		}
	}
	for _, none := range []string{"0", "false", `"0"`, `"false"`, "null"} {
		doc := `{"responseCode":"SUCCESS","hasMore":` + none + `,"assetListData":{"asset":[]}}`
		meta, err := decodeGatewayPage(strings.NewReader(doc), "", func(*Asset) bool { return true })
		if err != nil || meta.hasMore {
			t.Errorf("hasMore %s: %+v, %v", none, meta, err)
		}
	}
}

// Software of another type than asked is dropped even if the server sends
// it (softwareType is not in the CSAM documentation that could be checked).
func TestKeepSoftwareType(t *testing.T) {
	sw := []InstalledSoftware{{FullName: "a", SoftwareType: "Application"}, {FullName: "b", SoftwareType: "Driver"}, {FullName: "c"}, {FullName: "d", SoftwareType: "application"}}
	got := keepSoftwareType(sw, "Application")
	var names []string
	for _, s := range got {
		names = append(names, s.FullName)
	}
	if strings.Join(names, ",") != "a,c,d" {
		t.Errorf("kept %v, want a,c,d", names)
	}
}

// IBM's recorded gateway answers carry "None" for an absent list
// (userAccountListData, openPortListData, volumeListData): the asset
// decodes, the lists absent (shapes from those recordings; the fixture is
// ours).
func TestDecodeAssetsNoneLists(t *testing.T) {
	t.Parallel()
	var got []*Asset
	for a, err := range DecodeAssets(bytes.NewReader(fixture(t, "gateway_assets_none.json"))) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, a)
	}
	if len(got) != 1 || got[0].AssetID != 31000007 || len(got[0].OpenPorts) != 0 || len(got[0].UserAccounts) != 0 ||
		len(got[0].Software) != 1 || got[0].Software[0].ProductName != "PostgreSQL" || len(got[0].NetworkInterfaces) != 1 {
		t.Errorf("decoded %+v", got)
	}
}
