package qualys

import (
	"encoding/json"
	"time"
)

// DetectionHost is one <HOST> of the VM Host List Detection output: a host
// and its detections. Optional fields the response did not carry are zero
// values (zero time.Time for dates).
type DetectionHost struct {
	ID              int64   `json:"id,omitzero"`              // HOST ID, the qwebHostId of the QPS HostAsset
	AssetID         int64   `json:"asset_id,omitzero"`        // ASSET_ID (show_asset_id=1)
	IP              string  `json:"ip,omitzero"`              // IP
	IPv6            string  `json:"ipv6,omitzero"`            // IPV6
	TrackingMethod  string  `json:"tracking_method,omitzero"` // TRACKING_METHOD: IP, DNS, NETBIOS, AGENT, EC2, ...
	NetworkID       string  `json:"network_id,omitzero"`      // NETWORK_ID
	OS              string  `json:"os,omitzero"`              // OS
	OSCPE           string  `json:"os_cpe,omitzero"`          // OS_CPE
	DNS             string  `json:"dns,omitzero"`             // DNS
	DNSData         DNSData `json:"dns_data,omitzero"`
	CloudProvider   string  `json:"cloud_provider,omitzero"`    // CLOUD_PROVIDER
	CloudService    string  `json:"cloud_service,omitzero"`     // CLOUD_SERVICE
	CloudResourceID string  `json:"cloud_resource_id,omitzero"` // CLOUD_RESOURCE_ID
	EC2InstanceID   string  `json:"ec2_instance_id,omitzero"`   // EC2_INSTANCE_ID
	NetBIOS         string  `json:"netbios,omitzero"`           // NETBIOS
	QGHostID        string  `json:"qg_host_id,omitzero"`        // QG_HOSTID, the agent's host id
	// LastScan is LAST_SCAN_DATETIME.
	LastScan time.Time `json:"last_scan,omitzero"`
	// LastVMScanned is LAST_VM_SCANNED_DATE.
	LastVMScanned time.Time `json:"last_vm_scanned,omitzero"`
	// LastVMScannedDuration is LAST_VM_SCANNED_DURATION.
	LastVMScannedDuration time.Duration `json:"last_vm_scanned_duration,omitzero"`
	// LastVMAuthScanned is LAST_VM_AUTH_SCANNED_DATE.
	LastVMAuthScanned time.Time `json:"last_vm_auth_scanned,omitzero"`
	// LastVMAuthScannedDuration is LAST_VM_AUTH_SCANNED_DURATION.
	LastVMAuthScannedDuration time.Duration `json:"last_vm_auth_scanned_duration,omitzero"`
	// LastPCScanned is LAST_PC_SCANNED_DATE.
	LastPCScanned time.Time `json:"last_pc_scanned,omitzero"`
	// Tags are the host's asset tags (show_tags=1).
	Tags []Tag `json:"tags,omitzero"`
	// Metadata is the cloud instance metadata (host_metadata=...).
	Metadata HostMetadata `json:"metadata,omitzero"`
	// CloudTags are the cloud provider's tags (show_cloud_tags=1).
	CloudTags []CloudTag `json:"cloud_tags,omitzero"`
	// AssetGroupIDs are the ids of the asset groups the host belongs to,
	// when the response lists them.
	AssetGroupIDs []int64 `json:"asset_group_ids,omitzero"`
	// Detections are the host's detections, in response order.
	Detections []Detection `json:"detections,omitzero"`
	// ReplacedChars counts characters in this host's text that XML 1.0
	// forbids (real tenants have them in RESULTS) and that were replaced
	// with U+FFFD instead of failing the whole response.
	ReplacedChars int `json:"replaced_chars,omitzero"`
}

// DNSData is a host's DNS_DATA.
type DNSData struct {
	Hostname string `json:"hostname,omitzero"`
	Domain   string `json:"domain,omitzero"`
	FQDN     string `json:"fqdn,omitzero"`
}

// HostMetadata is a host's METADATA: instance attributes per cloud
// provider (HLD 5.0 added ALICLOUD).
type HostMetadata struct {
	EC2      []MetadataAttribute `json:"ec2,omitzero"`
	Azure    []MetadataAttribute `json:"azure,omitzero"`
	Google   []MetadataAttribute `json:"google,omitzero"`
	AliCloud []MetadataAttribute `json:"alicloud,omitzero"`
}

// IsZero reports whether no provider sent any attribute.
func (m *HostMetadata) IsZero() bool {
	return len(m.EC2) == 0 && len(m.Azure) == 0 && len(m.Google) == 0 && len(m.AliCloud) == 0
}

// MetadataAttribute is one METADATA/<provider>/ATTRIBUTE.
type MetadataAttribute struct {
	Name            string    `json:"name,omitzero"`
	LastStatus      string    `json:"last_status,omitzero"`
	Value           string    `json:"value,omitzero"`
	LastSuccessDate time.Time `json:"last_success_date,omitzero"`
	LastErrorDate   time.Time `json:"last_error_date,omitzero"`
	LastError       string    `json:"last_error,omitzero"`
}

// CloudTag is one CLOUD_PROVIDER_TAGS/CLOUD_TAG.
type CloudTag struct {
	Name            string    `json:"name,omitzero"`
	Value           string    `json:"value,omitzero"`
	LastSuccessDate time.Time `json:"last_success_date,omitzero"`
}

// Tag is an asset tag.
type Tag struct {
	ID              int64  `json:"id,omitzero"`
	Name            string `json:"name,omitzero"`
	Color           string `json:"color,omitzero"`
	BackgroundColor string `json:"background_color,omitzero"`
}

// DetectionType is a detection's TYPE.
type DetectionType string

// The detection types Qualys reports.
const (
	TypeConfirmed DetectionType = "Confirmed"
	TypePotential DetectionType = "Potential"
	TypeInfo      DetectionType = "Info"
)

// DetectionStatus is a detection's STATUS (and a DetectionQuery.Status
// value).
type DetectionStatus string

// The detection statuses Qualys reports and filters on.
const (
	StatusNew      DetectionStatus = "New"
	StatusActive   DetectionStatus = "Active"
	StatusFixed    DetectionStatus = "Fixed"
	StatusReOpened DetectionStatus = "Re-Opened"
)

// Detection is one <DETECTION> of a host.
type Detection struct {
	UniqueVulnID int64           `json:"unique_vuln_id,omitzero"` // UNIQUE_VULN_ID
	QID          int64           `json:"qid,omitzero"`            // QID
	Type         DetectionType   `json:"type,omitzero"`           // TYPE: Confirmed, Potential or Info
	Severity     int             `json:"severity,omitzero"`       // SEVERITY, 1-5
	Port         int             `json:"port,omitzero"`           // PORT, 0 when none
	Protocol     string          `json:"protocol,omitzero"`       // PROTOCOL: tcp, udp
	FQDN         string          `json:"fqdn,omitzero"`           // FQDN
	SSL          bool            `json:"ssl,omitzero"`            // SSL
	Instance     string          `json:"instance,omitzero"`       // INSTANCE
	Results      string          `json:"results,omitzero"`        // RESULTS, exactly as sent
	Status       DetectionStatus `json:"status,omitzero"`         // STATUS: New, Active, Fixed or Re-Opened
	Service      string          `json:"service,omitzero"`        // SERVICE
	// FirstFound is FIRST_FOUND_DATETIME.
	FirstFound time.Time `json:"first_found,omitzero"`
	// LastFound is LAST_FOUND_DATETIME.
	LastFound time.Time `json:"last_found,omitzero"`
	// LastFixed is LAST_FIXED_DATETIME.
	LastFixed time.Time `json:"last_fixed,omitzero"`
	// FirstReopened is FIRST_REOPENED_DATETIME.
	FirstReopened time.Time `json:"first_reopened,omitzero"`
	// LastReopened is LAST_REOPENED_DATETIME.
	LastReopened time.Time `json:"last_reopened,omitzero"`
	// LastTest is LAST_TEST_DATETIME.
	LastTest time.Time `json:"last_test,omitzero"`
	// LastUpdate is LAST_UPDATE_DATETIME.
	LastUpdate time.Time `json:"last_update,omitzero"`
	// LastProcessed is LAST_PROCESSED_DATETIME.
	LastProcessed time.Time `json:"last_processed,omitzero"`
	TimesFound    int       `json:"times_found,omitzero"`    // TIMES_FOUND
	TimesReopened int       `json:"times_reopened,omitzero"` // TIMES_REOPENED
	Ignored       bool      `json:"ignored,omitzero"`        // IS_IGNORED
	Disabled      bool      `json:"disabled,omitzero"`       // IS_DISABLED
	// AffectRunningKernel, AffectRunningService and
	// AffectExploitableConfig are the ARF flags, as sent ("0", "1" or "").
	AffectRunningKernel     string `json:"affect_running_kernel,omitzero"`
	AffectRunningService    string `json:"affect_running_service,omitzero"`
	AffectExploitableConfig string `json:"affect_exploitable_config,omitzero"`
	// QDS is the Qualys Detection Score (1-100, 0 when absent) and
	// QDSSeverity its severity attribute (LOW, MEDIUM, HIGH, CRITICAL).
	QDS         int    `json:"qds,omitzero"`
	QDSSeverity string `json:"qds_severity,omitzero"`
	// QDSFactors are the contributing factors (show_qds_factors=1).
	QDSFactors []QDSFactor `json:"qds_factors,omitzero"`
	// AssetCVE is ASSET_CVE, as sent.
	AssetCVE string `json:"asset_cve,omitzero"`
	// CVEs are the CVE ids of the detection (HLD 5.0): the CVE element
	// (one comma-separated text, repeated elements, or a CVE_LIST), or,
	// when the response has none, the ids in ASSET_CVE. Nil when empty.
	CVEs []string `json:"cves,omitzero"`
	// DetectionSources is VULNERABILITY_DETECTION_SOURCES and
	// LatestDetectionSource LATEST_VULNERABILITY_DETECTION_SOURCE
	// (vuln_detection_source=1), as sent.
	DetectionSources      string `json:"detection_sources,omitzero"`
	LatestDetectionSource string `json:"latest_detection_source,omitzero"`
	// MITRE ATT&CK mapping of the QID (HLD 5.0), as sent.
	MitreTacticName    string `json:"mitre_tactic_name,omitzero"`    // MITRE_TACTIC_NAME
	MitreTechniqueName string `json:"mitre_technique_name,omitzero"` // MITRE_TECHNIQUE_NAME
	MitreTacticID      string `json:"mitre_tactic_id,omitzero"`      // MITRE_TACTIC_ID
	MitreTechniqueID   string `json:"mitre_technique_id,omitzero"`   // MITRE_TECHNIQUE_ID
	// TruRiskEliminationStatus is TRURISK_ELIMINATION_STATUS.
	TruRiskEliminationStatus string `json:"tru_risk_elimination_status,omitzero"`
}

// QDSFactor is one QDS_FACTOR: its name attribute and its value.
type QDSFactor struct {
	Name  string `json:"name,omitzero"`
	Value string `json:"value,omitzero"`
}

// Warning is the WARNING element that ends a truncated detection response.
type Warning struct {
	Code string `json:"code,omitzero"`
	Text string `json:"text,omitzero"`
	URL  string `json:"url,omitzero"`
}

// MarshalJSON writes the host with its scan durations in seconds, as the
// programs print durations.
func (h DetectionHost) MarshalJSON() ([]byte, error) {
	type plain DetectionHost
	return json.Marshal(struct {
		plain
		LastVMScannedDuration     float64 `json:"last_vm_scanned_duration,omitzero"`
		LastVMAuthScannedDuration float64 `json:"last_vm_auth_scanned_duration,omitzero"`
	}{plain(h), h.LastVMScannedDuration.Seconds(), h.LastVMAuthScannedDuration.Seconds()})
}
