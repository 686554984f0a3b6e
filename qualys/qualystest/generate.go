package qualystest

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/qualysbridge/qualysbridge/qualys"
)

// GenerateOption tunes Generate.
type GenerateOption func(*genConfig)

type genConfig struct {
	detections   int
	invalidChars bool
	cve          string
	cveFraction  float64
	base         time.Time
}

// WithDetectionsPerHost sets the average number of detections per host
// (default 8).
func WithDetectionsPerHost(n int) GenerateOption { return func(c *genConfig) { c.detections = n } }

// WithInvalidChars puts characters XML 1.0 forbids into some RESULTS, as
// real tenants do.
func WithInvalidChars() GenerateOption { return func(c *genConfig) { c.invalidChars = true } }

// WithVulnerableTo makes a fraction of the hosts vulnerable to a CVE, with a
// KnowledgeBase entry that references it.
func WithVulnerableTo(cve string, fraction float64) GenerateOption {
	return func(c *genConfig) { c.cve, c.cveFraction = cve, fraction }
}

// WithBaseTime sets the time the tenant's dates are generated before
// (default 2026-01-01T00:00:00Z, so output is deterministic).
func WithBaseTime(t time.Time) GenerateOption { return func(c *genConfig) { c.base = t.UTC() } }

// Generate returns a deterministic, consistent tenant of the given number of
// hosts: host assets, their detections (joined by qwebHostId), gateway
// assets with applications (joined by asset id), KnowledgeBase entries for
// every QID used, tags and asset groups. It has the shape variety of real
// tenants: IPv6-only hosts, hosts with no detections and hosts with no
// qwebHostId, cloud hosts in EC2, Azure and GCP with regions, multi-line
// RESULTS, duplicate QIDs on different ports, and Fixed detections.
func Generate(seed int64, hosts int, opts ...GenerateOption) *Tenant {
	cfg := genConfig{detections: 8, base: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	for _, o := range opts {
		o(&cfg)
	}
	g := &generator{cfg: cfg, rng: rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15)), t: &Tenant{}, kbByQID: map[int64]*qualys.Vulnerability{}}
	// The KnowledgeBase: a pool of QIDs big enough for variety.
	g.knowledgeBase(max(40, min(4000, hosts*cfg.detections/4)))
	for i := range 3 {
		g.t.AssetGroups = append(g.t.AssetGroups, AssetGroup{ID: int64(900 + i), Title: []string{"Data Center", "Cloud Estate", "Branch Offices"}[i]})
	}
	for i := 0; i < hosts; i++ {
		hostID := int64(5000000 + i*2)
		a := g.hostAsset(i, hostID)
		g.t.HostAssets = append(g.t.HostAssets, a)
		g.t.AssetGroups[i%3].HostIDs = append(g.t.AssetGroups[i%3].HostIDs, hostID)
		g.t.Assets = append(g.t.Assets, g.gatewayAsset(a))
		if i%33 == 5 || i%25 == 11 {
			continue // no VM host, or a host without detections
		}
		g.t.Detections = append(g.t.Detections, g.detectionHost(i, a, hostID))
		// Every criticality 1-5 in turn; drawn from no rng, so that a
		// seed's other values are what they were before scores existed.
		if g.t.Criticality == nil {
			g.t.Criticality = map[int64]int{}
		}
		g.t.Criticality[hostID] = 1 + (i*3)%5
	}
	return g.t
}

// generator is one Generate run. Its methods draw from rng in a fixed
// order, so that a seed always gives the same tenant.
type generator struct {
	cfg     genConfig
	rng     *rand.Rand
	t       *Tenant
	qids    []int64
	kbByQID map[int64]*qualys.Vulnerability
	cveQID  int64
}

var (
	genProducts   = []string{"OpenSSL", "OpenSSH", "Apache HTTP Server", "nginx", "Google Chrome", "Mozilla Firefox", "Microsoft Office", "Java Runtime", "Python", "PostgreSQL", "Adobe Reader", "7-Zip"}
	genCategories = []string{"Windows", "Local", "Web server", "Security Policy", "General remote services", "Ubuntu"}
	genOSNames    = []string{"Ubuntu Linux 22.04.3", "Windows Server 2019 Datacenter 64 bit Edition Version 1809 Build 17763", "Red Hat Enterprise Linux 8.9", "Windows 10 Enterprise 64 bit Edition Version 22H2", "Amazon Linux 2023"}
	genUsers      = []string{"root", "ubuntu", "ec2-user", "Administrator", "svc_backup", "alice", "bob"}
	genTagNames   = []string{"production", "pci", "windows", "linux", "cloud", "dmz"}
	genRegions    = []string{"us-east-1", "eu-west-1", "ap-southeast-2"}
)

// ago is a random time up to maxDays before the base time.
func (g *generator) ago(maxDays int) time.Time {
	return g.cfg.base.Add(-time.Duration(g.rng.IntN(maxDays*86400)+60) * time.Second)
}

// hostAddrs is host i's IPv4 and IPv6 addresses.
func hostAddrs(i int) (ip, ipv6 string) {
	return fmt.Sprintf("10.%d.%d.%d", (i/65536)%256, (i/256)%256, i%256+0), fmt.Sprintf("fd00::%x:%x", i/65536, i%65536)
}

// knowledgeBase adds n KnowledgeBase entries, and the entry of the CVE of
// WithVulnerableTo.
func (g *generator) knowledgeBase(nQIDs int) {
	products, categories := genProducts, genCategories
	for i := 0; i < nQIDs; i++ {
		qid := int64(10000 + i*37)
		prod := products[i%len(products)]
		sev := 1 + g.rng.IntN(5)
		v := &qualys.Vulnerability{
			QID: qid, VulnType: "Vulnerability", Severity: sev,
			Title:     fmt.Sprintf("%s Multiple Vulnerabilities (QID %d)", prod, qid),
			Category:  categories[i%len(categories)],
			Published: g.ago(2000), LastServiceModified: g.ago(300), Patchable: g.rng.IntN(3) > 0,
			Diagnosis: prod + " is prone to multiple vulnerabilities.", Consequence: "Successful exploitation may allow code execution.",
			Solution: "Upgrade " + prod + " to the latest version.",
			Software: []qualys.KBSoftware{{Product: strings.ToLower(strings.ReplaceAll(prod, " ", "_")), Vendor: "vendor"}},
		}
		if g.rng.IntN(4) > 0 {
			cve := fmt.Sprintf("CVE-%d-%d", 2015+g.rng.IntN(11), 1000+g.rng.IntN(40000))
			v.CVEs = []qualys.Reference{{ID: cve, URL: "https://cve.mitre.org/cgi-bin/cvename.cgi?name=" + cve}}
			v.CVSSV3 = qualys.CVSS{Base: float64(20+g.rng.IntN(81)) / 10, Temporal: float64(20+g.rng.IntN(71)) / 10, Vector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}
		}
		if g.rng.IntN(2) == 0 {
			v.CVSS = qualys.CVSS{Base: float64(10+g.rng.IntN(91)) / 10}
		}
		if v.Patchable {
			v.PatchPublished = v.Published.Add(72 * time.Hour)
		}
		g.qids = append(g.qids, qid)
		g.kbByQID[qid] = v
		g.t.KB = append(g.t.KB, v)
	}
	if g.cfg.cve != "" {
		g.cveQID = 38170
		v := &qualys.Vulnerability{QID: g.cveQID, VulnType: "Vulnerability", Severity: 4,
			Title: "Vulnerability referencing " + g.cfg.cve, Category: "General remote services",
			Published: g.ago(800), Patchable: true,
			CVEs:   []qualys.Reference{{ID: g.cfg.cve, URL: "https://cve.mitre.org/cgi-bin/cvename.cgi?name=" + g.cfg.cve}},
			CVSSV3: qualys.CVSS{Base: 7.5, Vector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"}}
		g.kbByQID[g.cveQID] = v
		g.t.KB = append(g.t.KB, v)
	}
}

// hostAsset is host i's QPS host asset.
func (g *generator) hostAsset(i int, hostID int64) *qualys.HostAsset {
	users, tagNames, regions := genUsers, genTagNames, genRegions
	id := int64(20000000 + i*3)
	ipv6Only := i%50 == 7
	noQWeb := i%33 == 5
	ip, ipv6 := hostAddrs(i)
	name := fmt.Sprintf("host-%05d.corp.example", i)
	osNames := genOSNames
	osName := osNames[g.rng.IntN(len(osNames))]
	a := &qualys.HostAsset{
		ID: id, Name: name, DNSHostName: name, FQDN: name, NetBIOSName: strings.ToUpper(fmt.Sprintf("HOST-%05d", i)),
		OS: osName, Type: "HOST", Address: ip, TrackingMethod: "QAGENT",
		Created: g.ago(700), Modified: g.ago(30), LastVulnScan: g.ago(10), LastComplianceScan: g.ago(20),
		AgentInfo: &qualys.AgentInfo{AgentID: fmt.Sprintf("agent-%08x", g.rng.Uint32()), AgentVersion: "6.1.0.28", Status: "STATUS_ACTIVE", Platform: "Linux", LastCheckedIn: g.ago(2)},
	}
	if ipv6Only {
		a.Address = ipv6
	}
	if !noQWeb {
		a.QWebHostID = hostID
	}
	nIf := 1 + g.rng.IntN(3)
	for k := 0; k < nIf; k++ {
		mac := fmt.Sprintf("02:%02X:%02X:%02X:%02X:%02X", k, (i>>16)&0xff, (i>>8)&0xff, i&0xff, g.rng.IntN(256))
		addr := ip
		if ipv6Only || k == 1 {
			addr = ipv6
		} else if k == 2 {
			addr = fmt.Sprintf("192.168.%d.%d", i%256, 10+k)
		}
		a.NetworkInterfaces = append(a.NetworkInterfaces, qualys.NetworkInterface{Address: addr, Hostname: name, MACAddress: mac, InterfaceName: fmt.Sprintf("eth%d", k), GatewayAddress: "10.0.0.1"})
	}
	for _, u := range g.rng.Perm(len(users))[:1+g.rng.IntN(3)] {
		a.Accounts = append(a.Accounts, qualys.Account{Username: users[u]})
	}
	for _, k := range g.rng.Perm(len(tagNames))[:1+g.rng.IntN(2)] {
		a.Tags = append(a.Tags, qualys.Tag{ID: int64(15900000 + k), Name: tagNames[k]})
	}
	switch i % 10 {
	case 1, 4:
		a.CloudProvider = "AWS"
		a.SourceInfo = []qualys.SourceInfo{{Kind: "Ec2AssetSourceSimple", Type: "EC_2", AssetID: id, Region: regions[i%len(regions)], Zone: "VPC",
			AvailabilityZone: regions[i%len(regions)] + "a", AccountID: "123456789012", InstanceID: fmt.Sprintf("i-%012x", i), InstanceType: "t3.medium", InstanceState: "RUNNING",
			FirstDiscovered: g.ago(600), LastUpdated: g.ago(5)}}
	case 2:
		a.CloudProvider = "Azure"
		a.SourceInfo = []qualys.SourceInfo{{Kind: "AzureAssetSourceSimple", Type: "AZURE", AssetID: id, Location: "westeurope", FirstDiscovered: g.ago(600), LastUpdated: g.ago(5)}}
	case 3:
		a.CloudProvider = "GCP"
		a.SourceInfo = []qualys.SourceInfo{{Kind: "GcpAssetSourceSimple", Type: "GCP", AssetID: id, Zone: "europe-west1-b", FirstDiscovered: g.ago(600), LastUpdated: g.ago(5)}}
	}
	return a
}

// gatewayAsset is a host's gateway asset with installed applications.
func (g *generator) gatewayAsset(a *qualys.HostAsset) *qualys.Asset {
	products, id, name := genProducts, a.ID, a.Name
	ga := &qualys.Asset{AssetID: id, HostID: a.QWebHostID, Name: name, Address: a.Address, DNSName: name, LastModified: a.Modified}
	for _, p := range g.rng.Perm(len(products))[:2+g.rng.IntN(4)] {
		ga.Software = append(ga.Software, qualys.InstalledSoftware{ID: -int64(g.rng.Uint64() >> 2), FullName: products[p] + " " + fmt.Sprint(1+g.rng.IntN(20)),
			ProductName: products[p], Version: fmt.Sprintf("%d.%d", 1+g.rng.IntN(20), g.rng.IntN(10)), Publisher: "Vendor", Category: "Software", SoftwareType: "Application"})
	}
	return ga
}

// detectionHost is host i's Host List Detection host with its detections.
func (g *generator) detectionHost(i int, a *qualys.HostAsset, hostID int64) *qualys.DetectionHost {
	products, name, osName := genProducts, a.Name, a.OS
	ipv6Only := i%50 == 7
	ip, ipv6 := hostAddrs(i)
	h := &qualys.DetectionHost{ID: hostID, IP: ip, TrackingMethod: "AGENT", OS: osName, DNS: name,
		DNSData: qualys.DNSData{Hostname: fmt.Sprintf("host-%05d", i), Domain: "corp.example", FQDN: name},
		NetBIOS: a.NetBIOSName, QGHostID: fmt.Sprintf("%08x-0000-4000-8000-%012x", g.rng.Uint32(), i),
		LastScan: g.ago(5), LastVMScanned: g.ago(5), LastVMScannedDuration: time.Duration(100+g.rng.IntN(900)) * time.Second}
	if ipv6Only {
		h.IP, h.IPv6 = "", ipv6
	}
	h.Tags = a.Tags
	if len(a.SourceInfo) > 0 && a.SourceInfo[0].Type == "EC_2" {
		src := a.SourceInfo[0]
		// Dates without the random source, so that adding these did
		// not change the rest of a generated tenant.
		h.Metadata.EC2 = []qualys.MetadataAttribute{
			{Name: "latest/meta-data/instance-id", LastStatus: "Success", Value: src.InstanceID, LastSuccessDate: src.LastUpdated},
			{Name: "latest/meta-data/placement/region", LastStatus: "Success", Value: src.Region, LastSuccessDate: src.LastUpdated},
		}
		h.CloudTags = []qualys.CloudTag{{Name: "Environment", Value: "production", LastSuccessDate: src.LastUpdated}}
	}
	n := max(1, g.cfg.detections/2+g.rng.IntN(g.cfg.detections+1))
	for k := 0; k < n; k++ {
		qid := g.qids[g.rng.IntN(len(g.qids))]
		kb := g.kbByQID[qid]
		d := qualys.Detection{UniqueVulnID: hostID*1000 + int64(k), QID: qid, Type: "Confirmed", Severity: kb.Severity,
			SSL: false, Status: "Active", FirstFound: g.ago(400), LastFound: g.ago(5), TimesFound: 1 + g.rng.IntN(200),
			LastTest: g.ago(5), LastUpdate: g.ago(5), LastProcessed: g.ago(5), QDS: 1 + g.rng.IntN(100), QDSSeverity: "MEDIUM"}
		d.DetectionSources, d.LatestDetectionSource = "Cloud Agent,Scanner", "Cloud Agent"
		if qid%5 == 0 {
			d.MitreTacticName, d.MitreTacticID = "Initial Access", "TA0001"
			d.MitreTechniqueName, d.MitreTechniqueID = "Exploit Public-Facing Application", "T1190"
		}
		prod := products[(int(qid-10000)/37)%len(products)]
		d.Results = fmt.Sprintf("%s version %d.%d.%d detected\nPath: /usr/lib/%s\nFix: upgrade", prod, g.rng.IntN(10), g.rng.IntN(10), g.rng.IntN(10), strings.ToLower(strings.ReplaceAll(prod, " ", "")))
		if g.rng.IntN(3) == 0 {
			d.Port, d.Protocol = []int{22, 80, 443, 3389}[g.rng.IntN(4)], "tcp"
		}
		switch g.rng.IntN(20) {
		case 0:
			d.Status, d.LastFixed = "Fixed", g.ago(3)
		case 1:
			d.Status = "New"
		case 2:
			d.Status, d.LastReopened, d.TimesReopened = "Re-Opened", g.ago(4), 1
		case 3:
			d.Type = "Potential"
		}
		if g.cfg.invalidChars && g.rng.IntN(10) == 0 {
			d.Results += " bad\x01byte\x0b"
		}
		h.Detections = append(h.Detections, d)
		if k == 0 && g.rng.IntN(5) == 0 && d.Port != 0 {
			// The same QID on another port, as scanners report.
			d2 := d
			d2.UniqueVulnID++
			d2.Port = 8443
			h.Detections = append(h.Detections, d2)
			k++
		}
	}
	if g.cveQID != 0 && g.rng.Float64() < g.cfg.cveFraction {
		typ := "Confirmed"
		if g.rng.IntN(4) == 0 {
			typ = "Potential" // discovered, not confirmed
		}
		h.Detections = append(h.Detections, qualys.Detection{UniqueVulnID: hostID*1000 + 999, QID: g.cveQID, Type: qualys.DetectionType(typ),
			Severity: 4, Port: 3389, Protocol: "tcp", SSL: true, Status: "Active", Results: "Certificate #0 CN=" + name + " does not resolve",
			FirstFound: g.ago(300), LastFound: g.ago(4), TimesFound: 111, LastTest: g.ago(4), LastUpdate: g.ago(4), LastProcessed: g.ago(4),
			// A QDS drawn from no rng (High 70-89), so that a seed's other
			// values are what they were before scores existed.
			QDS: 70 + int(hostID%20), QDSSeverity: "HIGH"})
	}
	return h
}
