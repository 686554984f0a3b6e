// Package mapping turns Qualys data into CAR graphs and ThreatQ Assets. It
// is pure: no I/O, no clock, no randomness, and no input makes it panic.
//
// # Qualys to CAR
//
// CAR maps one Host (its QPS HostAsset, its detection HOST joined by
// qwebHostId = HOST ID, its gateway applications joined by asset id, and
// the KnowledgeBase entries of its QIDs):
//
//	CAR vertex/edge            field           from Qualys
//	asset                      external_id     HostAsset id, as a string
//	                           name            HostAsset name (normalised; else dnsHostName, fqdn, address, "asset-<id>")
//	                           description     os + type (lower case) + name as written in Qualys, empty parts left out
//	                           asset_type      HostAsset type
//	                           risk            Host List TRURISK_SCORE / 100 (0-1000 to 0-10), absent when not given (Host.Scores)
//	                           business_value  Host List ASSET_CRITICALITY_SCORE x 2 (1-5 to 2-10), absent when not given
//	vulnerability              external_id     detection QID, as a string
//	                           name            KB title, else "Host Instance Vulnerability"
//	                           description     detection RESULTS (of the first detection of the QID)
//	                           base_score      SEVERITY x 2 (1-5 to 0-10), replaced by the KB's highest CVSS base score (v3 or v2)
//	                           xfr_cvss2_base  KB CVSS base score (v2), when known; xfr_cvss3_base the CVSS v3 base score
//	                           cve_ids, ...    KB CVE ids (comma-separated), published_on, updated_on
//	                           diagnosis, ...  KB DIAGNOSIS, CONSEQUENCE, SOLUTION as plain text (PlainText: tags gone, paragraphs and breaks kept, links as text (URL))
//	ipaddress                  _key            networkInterface address (IPv4 or IPv6, canonical form); HostAsset address when there is no interface
//	macaddress                 _key            networkInterface macAddress (upper case, colon-separated); interface = interfaceName
//	hostname                   _key            dnsHostName, else name (lower case, characters CAR refuses removed)
//	                           host_name       HostAsset name (normalised)
//	account                    external_id     HostAssetAccount username; name = username
//	user                       external_id     HostAssetAccount username; username = username
//	application                external_id     gateway software id, as a string; name = fullName (else productName)
//	geolocation                external_id     sourceInfo region (AWS), else location (Azure), else zone (GCP; an EC2 source's "VPC" zone is no place); region = the same
//	asset_vulnerability        asset id -> QID, risk_score = the QID's highest QDS / 10 (1-100 to 0.1-10), else SEVERITY x 2; inactive when every detection of the QID is Fixed
//	asset_ipaddress            asset id -> ipaddress/<address>
//	asset_macaddress           asset id -> macaddress/<mac>
//	asset_hostname             asset id -> hostname/<key>
//	asset_application          asset id -> application id
//	asset_account              asset id -> username
//	asset_geolocation          asset id -> place
//	ipaddress_macaddress       ipaddress/<address> -> macaddress/<mac>, for an interface that has both
//	ipaddress_vulnerability    ipaddress/<address> -> QID, for each address of the asset and each detected QID; active like asset_vulnerability
//	application_vulnerability  application id -> QID, when the application's productName (3+ characters) appears in the RESULTS of a detection of the QID
//	user_account               username -> username
//
// Every vertex and edge carries the source. Decisions the table leaves open:
//
//   - Empty values are skipped: an interface without an address makes no
//     ipaddress, an empty username no account. Values that are not what
//     they claim (an address that does not parse, a MAC that is not 12 hex
//     digits or is all zeros) are skipped too, so that the output always
//     passes the CAR import schema.
//   - Names are normalised the same way everywhere: trimmed and lower case.
//     Addresses are canonical (an IPv4-mapped IPv6 address is unmapped;
//     "fe80:0:0:0:1:2:3:4" becomes "fe80::1:2:3:4"), so the same address
//     from two interfaces, or two hosts, is one vertex.
//   - Duplicates produce one object: repeated interfaces, accounts and
//     QIDs reported on several ports.
//   - Detections are used only when they belong to the asset (HOST ID equals
//     the asset's qwebHostId); an asset without a qwebHostId has none.
//   - Fixed detections are kept, as inactive asset_vulnerability edges, so
//     that an incremental import disables the edges of fixed
//     vulnerabilities.
//
// Where the table and CAR disagree, CAR wins. The table gives hostname both
// an external_id (qwebHostId) and a _key, but CAR's documentation says one
// object may not carry both ("_key and external_id cannot be both put in
// the same import object"): hostname is a naturally keyed collection, so it
// is sent with its _key only, as the replaced connector did in practice.
// The replaced connector's defects are fixed: ids are strings (it sent the
// asset id as a JSON integer, which the schema rejects), keyed edge ends
// carry their "collection/" prefix (it sent bare IPs in asset_ipaddress),
// and KnowledgeBase data is used for every QID (it enriched only the first
// chunk of 100).
//
// # Risk scores
//
// IBM's connector scores every asset_vulnerability edge SEVERITY x 2 and
// leaves an asset's risk and business_value empty. Given Qualys' own
// scores, this mapping carries them: the Qualys Detection Score of a
// detection listed with show_qds=1 (Critical 90-100, High 70-89, Medium
// 40-69, Low 1-39) as the edge's risk_score / 10, and a Host List host's
// TruRisk (Severe 850-1000, High 700-849, Medium 500-699, Low 0-499) and
// Asset Criticality Score as the asset's risk and business_value (see
// AssetRisk, BusinessValue, RiskScore). Without them (no QDS asked, no
// Host.Scores) the values are IBM's exactly; a score a host lacks leaves
// its field out, never zero. carsync.Config.RiskScores chooses.
//
// # One host at a time
//
// CAR maps a host to one graph. A caller that streams hosts into its own
// car.Import, as carsync does, uses the parts apart: CARHost returns the
// host's graph with its vulnerabilities as VulnerabilityParts (a QID's
// vertex and its edges), so that a vulnerability already sent can be left
// out, and EnrichVulnerability fills a part's vertex with a KnowledgeBase
// entry read after the host was mapped. These are public for such
// pipelines; CAR is CARHost(in, source).Graph().
//
// # Qualys to ThreatQ
//
// ThreatQ maps a vulnerable host of the "Search for Vulnerable Hosts"
// operation to an Asset:
//
//	ThreatQ              from the detection HOST                         on a re-run
//	Asset value          IP (else IPv6)
//	Asset tags           TAGS/TAG/NAME                                    added
//	Last Scan Date       LAST_SCAN_DATETIME                               current: replaced
//	Qualys ID            DETECTION QID, one per QID                       accumulates
//	Severity             DETECTION SEVERITY, one per distinct value       current: replaced
//	Scan Status          DETECTION STATUS, one per distinct value         current: replaced
//	Scan Type            DETECTION TYPE, one per distinct value           current: replaced
//	Last Found Date      the latest DETECTION LAST_FOUND_DATETIME         current: replaced
//	QDS                  the highest DETECTION QDS (with Scores)          current: replaced
//	TruRisk Score        Host List TRURISK_SCORE (with Scores, AddTruRisk) current: replaced
//
// Current-state attributes (CurrentStateAttributes, set in
// threatq.Asset.Current) describe the host at its latest scan: when the
// operation runs again after a rescan, their stored values are updated in
// place, so each holds the latest scan's values and nothing older.
// Accumulating attributes (Qualys ID) only gain values. Dates are ISO 8601
// in UTC ("2018-04-13T03:49:05Z", AttributeTimeLayout), as the operation's
// guide shows them. No attribute appears twice with the same name and value
// (the previous version of the operation duplicated them); the asset's
// source is "Qualys" unless set, its published date is the last scan, and
// it is related to the indicators given in ThreatQOptions.
package mapping
