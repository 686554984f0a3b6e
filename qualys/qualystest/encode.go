package qualystest

import (
	"bufio"
	"encoding/json"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/qualysbridge/qualysbridge/qualys"
)

const timeLayout = "2006-01-02T15:04:05Z"

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(timeLayout)
}

// DetectionWriter writes a Host List Detection XML document in the format
// Qualys sends, one host at a time, so that documents of any size can be
// generated in constant memory.
type DetectionWriter struct {
	w      *bufio.Writer
	indent bool
	open   bool
	err    error
	root   string // the document element
}

// NewDetectionWriter starts a document on w. With indent, elements are on
// their own lines and CDATA sections are surrounded by indentation, as in
// saved or proxied responses.
func NewDetectionWriter(w io.Writer, indent bool) *DetectionWriter {
	dw := &DetectionWriter{w: bufio.NewWriterSize(w, 64<<10), indent: indent, root: "HOST_LIST_VM_DETECTION_OUTPUT"}
	dw.raw(`<?xml version="1.0" encoding="UTF-8" ?>` + "\n" +
		`<!DOCTYPE HOST_LIST_VM_DETECTION_OUTPUT SYSTEM "https://qualysapi.qualystest.invalid/api/5.0/fo/asset/host/vm/detection/host_list_vm_detection_output.dtd">` + "\n" +
		"<HOST_LIST_VM_DETECTION_OUTPUT>\n  <RESPONSE>\n    <DATETIME>" + fmtTime(time.Now()) + "</DATETIME>\n")
	return dw
}

func (d *DetectionWriter) raw(s string) {
	if d.err == nil {
		_, d.err = d.w.WriteString(s)
	}
}

func (d *DetectionWriter) nl(depth int) {
	if d.indent {
		d.raw("\n" + strings.Repeat("  ", depth))
	}
}

// leaf writes <name>text</name> with text escaped.
func (d *DetectionWriter) leaf(depth int, name, text string) {
	if text == "" {
		return
	}
	d.nl(depth)
	d.raw("<" + name + ">")
	d.raw(escapeText(text))
	d.raw("</" + name + ">")
}

// cdata writes <name><![CDATA[text]]></name>, indented around the CDATA
// when the writer indents.
func (d *DetectionWriter) cdata(depth int, name, text string) {
	if text == "" {
		return
	}
	d.nl(depth)
	d.raw("<" + name + ">")
	d.nl(depth + 1)
	d.raw("<![CDATA[" + strings.ReplaceAll(text, "]]>", "]]]]><![CDATA[>") + "]]>")
	d.nl(depth)
	d.raw("</" + name + ">")
}

func (d *DetectionWriter) num(depth int, name string, n int64) {
	if n != 0 {
		d.leaf(depth, name, strconv.FormatInt(n, 10))
	}
}

func (d *DetectionWriter) date(depth int, name string, t time.Time) {
	d.leaf(depth, name, fmtTime(t))
}

func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// newHostListWriter starts a Host List document (HOST_LIST_OUTPUT) on w.
func newHostListWriter(w io.Writer) *DetectionWriter {
	dw := &DetectionWriter{w: bufio.NewWriterSize(w, 64<<10), root: "HOST_LIST_OUTPUT"}
	dw.raw(`<?xml version="1.0" encoding="UTF-8" ?>` + "\n" +
		`<!DOCTYPE HOST_LIST_OUTPUT SYSTEM "https://qualysapi.qualystest.invalid/api/5.0/fo/asset/host/host_list_output.dtd">` + "\n" +
		"<HOST_LIST_OUTPUT>\n  <RESPONSE>\n    <DATETIME>" + fmtTime(time.Now()) + "</DATETIME>\n")
	return dw
}

// writeListedHost writes one Host List <HOST>: the fields it shares
// with Host List Detection, then its own, and no detections.
func (d *DetectionWriter) writeListedHost(h *qualys.Host, showTags bool) error {
	d.writeHostFields(&h.DetectionHost, showTags)
	d.date(4, "LAST_VULN_SCAN_DATETIME", h.LastVulnScan)
	d.date(4, "LAST_COMPLIANCE_SCAN_DATETIME", h.LastComplianceScan)
	d.cdata(4, "OWNER", h.Owner)
	d.cdata(4, "COMMENTS", h.Comments)
	if h.AssetRiskScore != nil {
		d.leaf(4, "ASSET_RISK_SCORE", strconv.Itoa(*h.AssetRiskScore))
	}
	if h.TruRisk != nil {
		d.leaf(4, "TRURISK_SCORE", strconv.Itoa(*h.TruRisk))
	}
	if h.AssetCriticality != nil {
		d.leaf(4, "ASSET_CRITICALITY_SCORE", strconv.Itoa(*h.AssetCriticality))
	}
	if f := h.TruRiskFactors; f != nil {
		d.nl(4)
		d.raw("<TRURISK_SCORE_FACTORS>")
		d.cdata(5, "TRURISK_SCORE_FORMULA", f.Formula)
		for _, c := range f.VulnCounts {
			d.nl(5)
			d.raw(`<VULN_COUNT qds_severity="` + escapeText(c.QDSSeverity) + `">` + strconv.Itoa(c.Count) + "</VULN_COUNT>")
		}
		d.nl(4)
		d.raw("</TRURISK_SCORE_FACTORS>")
	}
	d.nl(3)
	d.raw("</HOST>")
	if !d.indent {
		d.raw("\n")
	}
	return d.err
}

// WriteHost writes one <HOST>.
func (d *DetectionWriter) WriteHost(h *qualys.DetectionHost, showTags bool) error {
	d.writeHostFields(h, showTags)
	d.nl(4)
	d.raw("<DETECTION_LIST>")
	for i := range h.Detections {
		d.writeDetection(&h.Detections[i])
	}
	d.nl(4)
	d.raw("</DETECTION_LIST>")
	d.nl(3)
	d.raw("</HOST>")
	if !d.indent {
		d.raw("\n")
	}
	return d.err
}

// writeHostFields opens a <HOST> and writes the fields Host List and Host
// List Detection share.
func (d *DetectionWriter) writeHostFields(h *qualys.DetectionHost, showTags bool) {
	if !d.open {
		d.raw("    <HOST_LIST>")
		d.open = true
	}
	d.nl(3)
	d.raw("<HOST>")
	d.num(4, "ID", h.ID)
	d.num(4, "ASSET_ID", h.AssetID)
	d.leaf(4, "IP", h.IP)
	d.leaf(4, "IPV6", h.IPv6)
	d.leaf(4, "TRACKING_METHOD", h.TrackingMethod)
	d.leaf(4, "NETWORK_ID", h.NetworkID)
	d.cdata(4, "OS", h.OS)
	d.cdata(4, "OS_CPE", h.OSCPE)
	d.cdata(4, "DNS", h.DNS)
	if h.DNSData != (qualys.DNSData{}) {
		d.nl(4)
		d.raw("<DNS_DATA>")
		for _, f := range [][2]string{{"HOSTNAME", h.DNSData.Hostname}, {"DOMAIN", h.DNSData.Domain}, {"FQDN", h.DNSData.FQDN}} {
			if f[1] == "" {
				d.nl(5)
				d.raw("<" + f[0] + " />")
				continue
			}
			d.cdata(5, f[0], f[1])
		}
		d.nl(4)
		d.raw("</DNS_DATA>")
	}
	d.cdata(4, "CLOUD_PROVIDER", h.CloudProvider)
	d.cdata(4, "CLOUD_SERVICE", h.CloudService)
	d.cdata(4, "CLOUD_RESOURCE_ID", h.CloudResourceID)
	d.cdata(4, "EC2_INSTANCE_ID", h.EC2InstanceID)
	d.cdata(4, "NETBIOS", h.NetBIOS)
	d.cdata(4, "QG_HOSTID", h.QGHostID)
	d.date(4, "LAST_SCAN_DATETIME", h.LastScan)
	d.date(4, "LAST_VM_SCANNED_DATE", h.LastVMScanned)
	d.num(4, "LAST_VM_SCANNED_DURATION", int64(h.LastVMScannedDuration/time.Second))
	d.date(4, "LAST_VM_AUTH_SCANNED_DATE", h.LastVMAuthScanned)
	d.num(4, "LAST_VM_AUTH_SCANNED_DURATION", int64(h.LastVMAuthScannedDuration/time.Second))
	d.date(4, "LAST_PC_SCANNED_DATE", h.LastPCScanned)
	d.writeMetadata(&h.Metadata)
	if len(h.CloudTags) > 0 {
		d.nl(4)
		d.raw("<CLOUD_PROVIDER_TAGS>")
		for _, t := range h.CloudTags {
			d.nl(5)
			d.raw("<CLOUD_TAG>")
			d.cdata(6, "NAME", t.Name)
			d.cdata(6, "VALUE", t.Value)
			d.date(6, "LAST_SUCCESS_DATE", t.LastSuccessDate)
			d.nl(5)
			d.raw("</CLOUD_TAG>")
		}
		d.nl(4)
		d.raw("</CLOUD_PROVIDER_TAGS>")
	}
	if showTags && len(h.Tags) > 0 {
		d.nl(4)
		d.raw("<TAGS>")
		for _, t := range h.Tags {
			d.nl(5)
			d.raw("<TAG>")
			d.num(6, "TAG_ID", t.ID)
			d.cdata(6, "NAME", t.Name)
			d.leaf(6, "COLOR", t.Color)
			d.leaf(6, "BACKGROUND_COLOR", t.BackgroundColor)
			d.nl(5)
			d.raw("</TAG>")
		}
		d.nl(4)
		d.raw("</TAGS>")
	}
}

func (d *DetectionWriter) writeDetection(x *qualys.Detection) {
	d.nl(5)
	d.raw("<DETECTION>")
	d.num(6, "UNIQUE_VULN_ID", x.UniqueVulnID)
	d.num(6, "QID", x.QID)
	d.leaf(6, "TYPE", string(x.Type))
	d.num(6, "SEVERITY", int64(x.Severity))
	d.num(6, "PORT", int64(x.Port))
	d.leaf(6, "PROTOCOL", x.Protocol)
	d.cdata(6, "FQDN", x.FQDN)
	d.leaf(6, "SSL", flag(x.SSL))
	d.cdata(6, "INSTANCE", x.Instance)
	d.cdata(6, "RESULTS", x.Results)
	d.leaf(6, "STATUS", string(x.Status))
	d.date(6, "FIRST_FOUND_DATETIME", x.FirstFound)
	d.date(6, "LAST_FOUND_DATETIME", x.LastFound)
	if x.QDS != 0 {
		d.nl(6)
		d.raw(`<QDS severity="` + escapeText(x.QDSSeverity) + `">` + strconv.Itoa(x.QDS) + "</QDS>")
	}
	if len(x.QDSFactors) > 0 {
		d.nl(6)
		d.raw("<QDS_FACTORS>")
		for _, f := range x.QDSFactors {
			d.nl(7)
			d.raw(`<QDS_FACTOR name="` + escapeText(f.Name) + `"><![CDATA[` + f.Value + "]]></QDS_FACTOR>")
		}
		d.nl(6)
		d.raw("</QDS_FACTORS>")
	}
	d.num(6, "TIMES_FOUND", int64(x.TimesFound))
	d.date(6, "LAST_TEST_DATETIME", x.LastTest)
	d.date(6, "LAST_UPDATE_DATETIME", x.LastUpdate)
	d.date(6, "LAST_FIXED_DATETIME", x.LastFixed)
	d.date(6, "FIRST_REOPENED_DATETIME", x.FirstReopened)
	d.date(6, "LAST_REOPENED_DATETIME", x.LastReopened)
	d.num(6, "TIMES_REOPENED", int64(x.TimesReopened))
	d.cdata(6, "SERVICE", x.Service)
	d.leaf(6, "IS_IGNORED", flag(x.Ignored))
	d.leaf(6, "IS_DISABLED", flag(x.Disabled))
	d.leaf(6, "AFFECT_RUNNING_KERNEL", x.AffectRunningKernel)
	d.leaf(6, "AFFECT_RUNNING_SERVICE", x.AffectRunningService)
	d.leaf(6, "AFFECT_EXPLOITABLE_CONFIG", x.AffectExploitableConfig)
	d.date(6, "LAST_PROCESSED_DATETIME", x.LastProcessed)
	d.cdata(6, "ASSET_CVE", x.AssetCVE)
	d.cdata(6, "CVE", strings.Join(x.CVEs, ","))
	d.leaf(6, "VULNERABILITY_DETECTION_SOURCES", x.DetectionSources)
	d.leaf(6, "LATEST_VULNERABILITY_DETECTION_SOURCE", x.LatestDetectionSource)
	d.cdata(6, "MITRE_TACTIC_NAME", x.MitreTacticName)
	d.cdata(6, "MITRE_TECHNIQUE_NAME", x.MitreTechniqueName)
	d.leaf(6, "MITRE_TACTIC_ID", x.MitreTacticID)
	d.leaf(6, "MITRE_TECHNIQUE_ID", x.MitreTechniqueID)
	d.leaf(6, "TRURISK_ELIMINATION_STATUS", x.TruRiskEliminationStatus)
	d.nl(5)
	d.raw("</DETECTION>")
}

// writeMetadata writes METADATA with one block per provider that has
// attributes.
func (d *DetectionWriter) writeMetadata(m *qualys.HostMetadata) {
	if m.IsZero() {
		return
	}
	d.nl(4)
	d.raw("<METADATA>")
	for _, p := range []struct {
		name  string
		attrs []qualys.MetadataAttribute
	}{{"EC2", m.EC2}, {"AZURE", m.Azure}, {"GOOGLE", m.Google}, {"ALICLOUD", m.AliCloud}} {
		if len(p.attrs) == 0 {
			continue
		}
		d.nl(5)
		d.raw("<" + p.name + ">")
		for _, a := range p.attrs {
			d.nl(6)
			d.raw("<ATTRIBUTE>")
			d.cdata(7, "NAME", a.Name)
			d.leaf(7, "LAST_STATUS", a.LastStatus)
			d.cdata(7, "VALUE", a.Value)
			d.date(7, "LAST_SUCCESS_DATE", a.LastSuccessDate)
			d.date(7, "LAST_ERROR_DATE", a.LastErrorDate)
			d.cdata(7, "LAST_ERROR", a.LastError)
			d.nl(6)
			d.raw("</ATTRIBUTE>")
		}
		d.nl(5)
		d.raw("</" + p.name + ">")
	}
	d.nl(4)
	d.raw("</METADATA>")
}

// Close ends the document, with a truncation WARNING when w is not nil, and
// flushes it.
func (d *DetectionWriter) Close(w *qualys.Warning) error {
	if d.open {
		d.raw("\n    </HOST_LIST>\n")
	}
	if w != nil {
		d.raw("    <WARNING>\n      <CODE>" + escapeText(w.Code) + "</CODE>\n      <TEXT>" + escapeText(w.Text) + "</TEXT>\n      <URL><![CDATA[" + w.URL + "]]></URL>\n    </WARNING>\n")
	}
	d.raw("  </RESPONSE>\n</" + d.root + ">\n<!-- CONFIDENTIAL AND PROPRIETARY INFORMATION. Generated by qualystest. //-->\n")
	if d.err == nil {
		d.err = d.w.Flush()
	}
	return d.err
}

var textEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;")

func escapeText(s string) string { return textEscaper.Replace(s) }

// simpleReturn renders a SIMPLE_RETURN document.
func simpleReturn(code, text string, items ...[2]string) string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8" ?>` + "\n" + `<!DOCTYPE SIMPLE_RETURN SYSTEM "https://qualysapi.qualystest.invalid/api/2.0/simple_return.dtd">` + "\n<SIMPLE_RETURN>\n  <RESPONSE>\n    <DATETIME>" + fmtTime(time.Now()) + "</DATETIME>\n")
	if code != "" {
		b.WriteString("    <CODE>" + escapeText(code) + "</CODE>\n")
	}
	b.WriteString("    <TEXT>" + escapeText(text) + "</TEXT>\n")
	if len(items) > 0 {
		b.WriteString("    <ITEM_LIST>\n")
		for _, it := range items {
			b.WriteString("      <ITEM><KEY>" + escapeText(it[0]) + "</KEY><VALUE>" + escapeText(it[1]) + "</VALUE></ITEM>\n")
		}
		b.WriteString("    </ITEM_LIST>\n")
	}
	b.WriteString("  </RESPONSE>\n</SIMPLE_RETURN>\n")
	return b.String()
}

// writeKB renders a KnowledgeBase list document.
func writeKB(w io.Writer, vulns []*qualys.Vulnerability, qidsOnly bool) error {
	bw := bufio.NewWriter(w)
	cd := func(s string) string { return "<![CDATA[" + strings.ReplaceAll(s, "]]>", "]]]]><![CDATA[>") + "]]>" }
	bw.WriteString(`<?xml version="1.0" encoding="UTF-8" ?>` + "\n<KNOWLEDGE_BASE_VULN_LIST_OUTPUT>\n  <RESPONSE>\n    <DATETIME>" + fmtTime(time.Now()) + "</DATETIME>\n")
	if len(vulns) > 0 {
		bw.WriteString("    <VULN_LIST>\n")
		for _, v := range vulns {
			bw.WriteString("      <VULN>\n        <QID>" + strconv.FormatInt(v.QID, 10) + "</QID>\n")
			if qidsOnly { // details=None
				bw.WriteString("      </VULN>\n")
				continue
			}
			bw.WriteString("        <VULN_TYPE>" + escapeText(v.VulnType) + "</VULN_TYPE>\n")
			bw.WriteString("        <SEVERITY_LEVEL>" + strconv.Itoa(v.Severity) + "</SEVERITY_LEVEL>\n")
			bw.WriteString("        <TITLE>" + cd(v.Title) + "</TITLE>\n")
			if v.Category != "" {
				bw.WriteString("        <CATEGORY>" + escapeText(v.Category) + "</CATEGORY>\n")
			}
			if !v.LastServiceModified.IsZero() {
				bw.WriteString("        <LAST_SERVICE_MODIFICATION_DATETIME>" + fmtTime(v.LastServiceModified) + "</LAST_SERVICE_MODIFICATION_DATETIME>\n")
			}
			bw.WriteString("        <PUBLISHED_DATETIME>" + fmtTime(v.Published) + "</PUBLISHED_DATETIME>\n")
			if !v.PatchPublished.IsZero() {
				bw.WriteString("        <PATCH_PUBLISHED_DATE>" + fmtTime(v.PatchPublished) + "</PATCH_PUBLISHED_DATE>\n")
			}
			bw.WriteString("        <PATCHABLE>" + flag(v.Patchable) + "</PATCHABLE>\n")
			if len(v.Software) > 0 {
				bw.WriteString("        <SOFTWARE_LIST>\n")
				for _, s := range v.Software {
					bw.WriteString("          <SOFTWARE><PRODUCT>" + cd(s.Product) + "</PRODUCT><VENDOR>" + cd(s.Vendor) + "</VENDOR></SOFTWARE>\n")
				}
				bw.WriteString("        </SOFTWARE_LIST>\n")
			}
			for _, list := range []struct {
				outer, inner string
				refs         []qualys.Reference
			}{{"VENDOR_REFERENCE_LIST", "VENDOR_REFERENCE", v.VendorRefs}, {"CVE_LIST", "CVE", v.CVEs}} {
				if len(list.refs) == 0 {
					continue
				}
				bw.WriteString("        <" + list.outer + ">\n")
				for _, r := range list.refs {
					bw.WriteString("          <" + list.inner + "><ID>" + cd(r.ID) + "</ID><URL>" + cd(r.URL) + "</URL></" + list.inner + ">\n")
				}
				bw.WriteString("        </" + list.outer + ">\n")
			}
			for _, f := range [][2]string{{"DIAGNOSIS", v.Diagnosis}, {"CONSEQUENCE", v.Consequence}, {"SOLUTION", v.Solution}} {
				if f[1] != "" {
					bw.WriteString("        <" + f[0] + ">" + cd(f[1]) + "</" + f[0] + ">\n")
				}
			}
			for _, c := range []struct {
				name string
				c    qualys.CVSS
			}{{"CVSS", v.CVSS}, {"CVSS_V3", v.CVSSV3}} {
				if c.c == (qualys.CVSS{}) {
					continue
				}
				bw.WriteString("        <" + c.name + ">")
				if c.c.Base != 0 {
					bw.WriteString(`<BASE source="service">` + strconv.FormatFloat(c.c.Base, 'f', 1, 64) + "</BASE>")
				}
				if c.c.Temporal != 0 {
					bw.WriteString("<TEMPORAL>" + strconv.FormatFloat(c.c.Temporal, 'f', 1, 64) + "</TEMPORAL>")
				}
				if c.c.Vector != "" {
					bw.WriteString("<VECTOR_STRING>" + escapeText(c.c.Vector) + "</VECTOR_STRING>")
				}
				bw.WriteString("</" + c.name + ">\n")
			}
			bw.WriteString("        <PCI_FLAG>" + flag(v.PCIFlag) + "</PCI_FLAG>\n")
			bw.WriteString("        <DISCOVERY><REMOTE>1</REMOTE></DISCOVERY>\n      </VULN>\n")
		}
		bw.WriteString("    </VULN_LIST>\n")
	}
	bw.WriteString("    <!-- keep-alive for KNOWLEDGE_BASE_VULN_LIST_OUTPUT -->\n  </RESPONSE>\n</KNOWLEDGE_BASE_VULN_LIST_OUTPUT>\n")
	return bw.Flush()
}

// qpsListOf wraps items in the QPS JSON collection shape
// {"list": [{"Type": item}, ...]}.
func qpsListOf[T any](typeName string, items []T) map[string]any {
	list := make([]map[string]any, 0, len(items))
	for _, it := range items {
		list = append(list, map[string]any{typeName: it})
	}
	return map[string]any{"list": list}
}

// hostAssetJSON renders a HostAsset the way the QPS API does in JSON:
// string booleans, numeric ids, list collections, absent fields omitted.
func hostAssetJSON(a *qualys.HostAsset) map[string]any {
	m := map[string]any{"id": a.ID, "type": a.Type, "isDockerHost": "false"}
	str := func(k, v string) {
		if v != "" {
			m[k] = v
		}
	}
	tm := func(k string, t time.Time) {
		if !t.IsZero() {
			m[k] = fmtTime(t)
		}
	}
	str("name", a.Name)
	str("dnsHostName", a.DNSHostName)
	str("fqdn", a.FQDN)
	str("netbiosName", a.NetBIOSName)
	str("os", a.OS)
	str("address", a.Address)
	str("trackingMethod", a.TrackingMethod)
	str("cloudProvider", a.CloudProvider)
	str("lastLoggedOnUser", a.LastLoggedOnUser)
	if a.QWebHostID != 0 {
		m["qwebHostId"] = a.QWebHostID
	}
	tm("created", a.Created)
	tm("modified", a.Modified)
	tm("lastVulnScan", a.LastVulnScan)
	tm("lastComplianceScan", a.LastComplianceScan)
	tm("lastSystemBoot", a.LastSystemBoot)
	if ai := a.AgentInfo; ai != nil {
		m["agentInfo"] = map[string]any{"agentId": ai.AgentID, "agentVersion": ai.AgentVersion, "status": ai.Status,
			"platform": ai.Platform, "activatedModule": ai.ActivatedModule, "chirpStatus": ai.ChirpStatus,
			"connectedFrom": ai.ConnectedFrom, "lastCheckedIn": fmtTime(ai.LastCheckedIn)}
	}
	if a.NetworkInterfaces != nil {
		var l []map[string]any
		for _, n := range a.NetworkInterfaces {
			e := map[string]any{"address": n.Address, "interfaceName": n.InterfaceName}
			if n.Hostname != "" {
				e["hostname"] = n.Hostname
			}
			if n.MACAddress != "" {
				e["macAddress"] = n.MACAddress
			}
			if n.GatewayAddress != "" {
				e["gatewayAddress"] = n.GatewayAddress
			}
			if n.Type != "" {
				e["type"] = n.Type
			}
			l = append(l, e)
		}
		m["networkInterface"] = qpsListOf("HostAssetInterface", l)
	}
	if a.Accounts != nil {
		var l []map[string]any
		for _, ac := range a.Accounts {
			l = append(l, map[string]any{"username": ac.Username})
		}
		m["account"] = qpsListOf("HostAssetAccount", l)
	}
	if a.Software != nil {
		var l []map[string]any
		for _, s := range a.Software {
			l = append(l, map[string]any{"name": s.Name, "version": s.Version})
		}
		m["software"] = qpsListOf("HostAssetSoftware", l)
	}
	if a.Vulns != nil {
		var l []map[string]any
		for _, v := range a.Vulns {
			l = append(l, map[string]any{"qid": v.QID, "hostInstanceVulnId": v.HostInstanceVulnID,
				"firstFound": fmtTime(v.FirstFound), "lastFound": fmtTime(v.LastFound)})
		}
		m["vuln"] = qpsListOf("HostAssetVuln", l)
	}
	if a.OpenPorts != nil {
		var l []map[string]any
		for _, p := range a.OpenPorts {
			l = append(l, map[string]any{"port": p.Port, "protocol": p.Protocol, "serviceName": p.ServiceName})
		}
		m["openPort"] = qpsListOf("HostAssetOpenPort", l)
	}
	if a.Tags != nil {
		var l []map[string]any
		for _, t := range a.Tags {
			l = append(l, map[string]any{"id": t.ID, "name": t.Name})
		}
		m["tags"] = qpsListOf("TagSimple", l)
	}
	if a.SourceInfo != nil {
		var l []map[string]any
		for _, s := range a.SourceInfo {
			e := map[string]any{"type": s.Type, "assetId": s.AssetID, "firstDiscovered": fmtTime(s.FirstDiscovered), "lastUpdated": fmtTime(s.LastUpdated)}
			for k, v := range map[string]string{"region": s.Region, "location": s.Location, "zone": s.Zone,
				"availabilityZone": s.AvailabilityZone, "accountId": s.AccountID, "instanceId": s.InstanceID,
				"instanceType": s.InstanceType, "instanceState": s.InstanceState, "imageId": s.ImageID,
				"privateIpAddress": s.PrivateIPAddress, "publicIpAddress": s.PublicIPAddress, "macAddress": s.MACAddress} {
				if v != "" {
					e[k] = v
				}
			}
			kind := s.Kind
			if kind == "" {
				kind = "AssetSource"
			}
			l = append(l, map[string]any{kind: e})
		}
		m["sourceInfo"] = map[string]any{"list": l}
	}
	return m
}

// assetJSON renders a gateway asset.
func assetJSON(a *qualys.Asset) map[string]any {
	sw := make([]map[string]any, 0, len(a.Software))
	for _, s := range a.Software {
		sw = append(sw, map[string]any{"id": s.ID, "fullName": s.FullName, "softwareType": firstOr(s.SoftwareType, "Application"),
			"productName": s.ProductName, "version": s.Version, "publisher": s.Publisher, "category": s.Category})
	}
	return map[string]any{"assetId": a.AssetID, "hostId": a.HostID, "assetName": a.Name, "address": a.Address,
		"dnsName": a.DNSName, "lastModifiedDate": a.LastModified.UTC().Format("2006-01-02T15:04:05.000Z"),
		"softwareListData": map[string]any{"software": sw}}
}

func firstOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	return enc.Encode(v)
}
