package qualys

import "time"

// DetectionHost is one <HOST> of the VM Host List Detection output: a host
// and its detections. Optional fields the response did not carry are zero
// values (zero time.Time for dates).
type DetectionHost struct {
	ID              int64  // HOST ID, the qwebHostId of the QPS HostAsset
	AssetID         int64  // ASSET_ID (show_asset_id=1)
	IP              string // IP
	IPv6            string // IPV6
	TrackingMethod  string // TRACKING_METHOD: IP, DNS, NETBIOS, AGENT, EC2, ...
	NetworkID       string // NETWORK_ID
	OS              string // OS
	OSCPE           string // OS_CPE
	DNS             string // DNS
	DNSData         DNSData
	CloudProvider   string // CLOUD_PROVIDER
	CloudService    string // CLOUD_SERVICE
	CloudResourceID string // CLOUD_RESOURCE_ID
	EC2InstanceID   string // EC2_INSTANCE_ID
	NetBIOS         string // NETBIOS
	QGHostID        string // QG_HOSTID, the agent's host id
	// LastScan is LAST_SCAN_DATETIME.
	LastScan time.Time
	// LastVMScanned is LAST_VM_SCANNED_DATE.
	LastVMScanned time.Time
	// LastVMScannedDuration is LAST_VM_SCANNED_DURATION.
	LastVMScannedDuration time.Duration
	// LastVMAuthScanned is LAST_VM_AUTH_SCANNED_DATE.
	LastVMAuthScanned time.Time
	// LastVMAuthScannedDuration is LAST_VM_AUTH_SCANNED_DURATION.
	LastVMAuthScannedDuration time.Duration
	// LastPCScanned is LAST_PC_SCANNED_DATE.
	LastPCScanned time.Time
	// Tags are the host's asset tags (show_tags=1).
	Tags []Tag
	// Metadata is the cloud instance metadata (host_metadata=...).
	Metadata HostMetadata
	// CloudTags are the cloud provider's tags (show_cloud_tags=1).
	CloudTags []CloudTag
	// AssetGroupIDs are the ids of the asset groups the host belongs to,
	// when the response lists them.
	AssetGroupIDs []int64
	// Detections are the host's detections, in response order.
	Detections []Detection
	// ReplacedChars counts characters in this host's text that XML 1.0
	// forbids (real tenants have them in RESULTS) and that were replaced
	// with U+FFFD instead of failing the whole response.
	ReplacedChars int
}

// DNSData is a host's DNS_DATA.
type DNSData struct {
	Hostname string
	Domain   string
	FQDN     string
}

// HostMetadata is a host's METADATA: instance attributes per cloud
// provider (HLD 5.0 added ALICLOUD).
type HostMetadata struct {
	EC2      []MetadataAttribute
	Azure    []MetadataAttribute
	Google   []MetadataAttribute
	AliCloud []MetadataAttribute
}

// IsZero reports whether no provider sent any attribute.
func (m *HostMetadata) IsZero() bool {
	return len(m.EC2) == 0 && len(m.Azure) == 0 && len(m.Google) == 0 && len(m.AliCloud) == 0
}

// MetadataAttribute is one METADATA/<provider>/ATTRIBUTE.
type MetadataAttribute struct {
	Name            string
	LastStatus      string
	Value           string
	LastSuccessDate time.Time
	LastErrorDate   time.Time
	LastError       string
}

// CloudTag is one CLOUD_PROVIDER_TAGS/CLOUD_TAG.
type CloudTag struct {
	Name            string
	Value           string
	LastSuccessDate time.Time
}

// Tag is an asset tag.
type Tag struct {
	ID              int64
	Name            string
	Color           string
	BackgroundColor string
}

// Detection is one <DETECTION> of a host.
type Detection struct {
	UniqueVulnID int64  // UNIQUE_VULN_ID
	QID          int64  // QID
	Type         string // TYPE: Confirmed, Potential or Info
	Severity     int    // SEVERITY, 1-5
	Port         int    // PORT, 0 when none
	Protocol     string // PROTOCOL: tcp, udp
	FQDN         string // FQDN
	SSL          bool   // SSL
	Instance     string // INSTANCE
	Results      string // RESULTS, exactly as sent
	Status       string // STATUS: New, Active, Fixed or Re-Opened
	Service      string // SERVICE
	// FirstFound is FIRST_FOUND_DATETIME.
	FirstFound time.Time
	// LastFound is LAST_FOUND_DATETIME.
	LastFound time.Time
	// LastFixed is LAST_FIXED_DATETIME.
	LastFixed time.Time
	// FirstReopened is FIRST_REOPENED_DATETIME.
	FirstReopened time.Time
	// LastReopened is LAST_REOPENED_DATETIME.
	LastReopened time.Time
	// LastTest is LAST_TEST_DATETIME.
	LastTest time.Time
	// LastUpdate is LAST_UPDATE_DATETIME.
	LastUpdate time.Time
	// LastProcessed is LAST_PROCESSED_DATETIME.
	LastProcessed time.Time
	TimesFound    int  // TIMES_FOUND
	TimesReopened int  // TIMES_REOPENED
	Ignored       bool // IS_IGNORED
	Disabled      bool // IS_DISABLED
	// AffectRunningKernel, AffectRunningService and
	// AffectExploitableConfig are the ARF flags, as sent ("0", "1" or "").
	AffectRunningKernel     string
	AffectRunningService    string
	AffectExploitableConfig string
	// QDS is the Qualys Detection Score (1-100, 0 when absent) and
	// QDSSeverity its severity attribute (LOW, MEDIUM, HIGH, CRITICAL).
	QDS         int
	QDSSeverity string
	// QDSFactors are the contributing factors (show_qds_factors=1).
	QDSFactors []QDSFactor
	// AssetCVE is ASSET_CVE, as sent.
	AssetCVE string
	// CVEs are the CVE ids of the detection (HLD 5.0): the CVE element
	// (one comma-separated text, repeated elements, or a CVE_LIST), or,
	// when the response has none, the ids in ASSET_CVE. Nil when empty.
	CVEs []string
	// DetectionSources is VULNERABILITY_DETECTION_SOURCES and
	// LatestDetectionSource LATEST_VULNERABILITY_DETECTION_SOURCE
	// (vuln_detection_source=1), as sent.
	DetectionSources      string
	LatestDetectionSource string
	// MITRE ATT&CK mapping of the QID (HLD 5.0), as sent.
	MitreTacticName    string // MITRE_TACTIC_NAME
	MitreTechniqueName string // MITRE_TECHNIQUE_NAME
	MitreTacticID      string // MITRE_TACTIC_ID
	MitreTechniqueID   string // MITRE_TECHNIQUE_ID
	// TruRiskEliminationStatus is TRURISK_ELIMINATION_STATUS.
	TruRiskEliminationStatus string
}

// QDSFactor is one QDS_FACTOR: its name attribute and its value.
type QDSFactor struct {
	Name  string
	Value string
}

// Warning is the WARNING element that ends a truncated detection response.
type Warning struct {
	Code string
	Text string
	URL  string
}
