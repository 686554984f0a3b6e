package qualys

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// HostAssetService reads Asset Management host assets through the QPS API
// (/qps/rest/2.0/{search,count,get}/am/hostasset). It asks for JSON and
// also reads the XML the service sends when it ignores Accept.
type HostAssetService struct{ c *Client }

// maxEmptyPages is how many pages in a row may hold no record while the
// server still announces more before a listing fails.
const maxEmptyPages = 3

// MaxHostAssetPageSize is the largest page the QPS API serves.
const MaxHostAssetPageSize = 1000

// Criteria is one QPS search filter. Several are ANDed.
type Criteria struct {
	// Field is a HostAsset filter field: id, name, updated, created,
	// qwebHostId, tagName, os, address, trackingMethod, ...
	Field string
	// Operator is EQUALS, NOT EQUALS, GREATER, LESSER, IN or CONTAINS.
	Operator string
	// Value is the criteria value; IN takes a comma-separated list; dates
	// are YYYY-MM-DDTHH:MM:SSZ.
	Value string
}

var qpsOperators = map[string]bool{"EQUALS": true, "NOT EQUALS": true, "GREATER": true, "LESSER": true, "IN": true, "CONTAINS": true}

// HostAssetQuery selects host assets.
type HostAssetQuery struct {
	// Criteria are arbitrary filters.
	Criteria []Criteria
	// UpdatedSince adds "updated GREATER <time>" (sent in UTC with Z).
	UpdatedSince time.Time
	// PageSize is the number of assets per call, 1 to
	// MaxHostAssetPageSize (default the maximum, to spend the fewest calls).
	PageSize int
	// Fields, when set, asks the API for only these HostAsset fields
	// (the fields= parameter), making pages smaller.
	Fields []string
	// AfterID resumes a listing after this asset id (a cursor saved from
	// HostAssetPage.Cursor).
	AfterID int64
}

// HostAsset is an Asset Management host asset.
type HostAsset struct {
	ID                 int64              `json:"id,omitzero"`
	Name               string             `json:"name,omitzero"`
	DNSHostName        string             `json:"dns_host_name,omitzero"`
	FQDN               string             `json:"fqdn,omitzero"`
	NetBIOSName        string             `json:"netbios_name,omitzero"`
	OS                 string             `json:"os,omitzero"`
	Type               string             `json:"type,omitzero"`         // HOST, ...
	QWebHostID         int64              `json:"qweb_host_id,omitzero"` // the VM host id (Host List Detection HOST ID)
	Address            string             `json:"address,omitzero"`
	TrackingMethod     string             `json:"tracking_method,omitzero"`
	CloudProvider      string             `json:"cloud_provider,omitzero"`
	LastLoggedOnUser   string             `json:"last_logged_on_user,omitzero"`
	Created            time.Time          `json:"created,omitzero"`
	Modified           time.Time          `json:"modified,omitzero"`
	LastVulnScan       time.Time          `json:"last_vuln_scan,omitzero"`
	LastComplianceScan time.Time          `json:"last_compliance_scan,omitzero"`
	LastSystemBoot     time.Time          `json:"last_system_boot,omitzero"`
	AgentInfo          *AgentInfo         `json:"agent_info,omitzero"`
	NetworkInterfaces  []NetworkInterface `json:"network_interfaces,omitzero"`
	Accounts           []Account          `json:"accounts,omitzero"`
	Software           []Software         `json:"software,omitzero"`
	Vulns              []HostAssetVuln    `json:"vulns,omitzero"`
	SourceInfo         []SourceInfo       `json:"source_info,omitzero"`
	Tags               []Tag              `json:"tags,omitzero"`
	OpenPorts          []OpenPort         `json:"open_ports,omitzero"`
	// Processors and Volumes are the host's CPUs and disks.
	Processors []Processor `json:"processors,omitzero"`
	Volumes    []Volume    `json:"volumes,omitzero"`
	// IsDockerHost reports that the host runs Docker (isDockerHost).
	IsDockerHost bool `json:"is_docker_host,omitzero"`
}

// Processor is one HostAssetProcessor.
type Processor struct {
	Name  string `json:"name,omitzero"`
	Speed int64  `json:"speed,omitzero"` // MHz
}

// Volume is one HostAssetVolume (sizes in bytes).
type Volume struct {
	Name string `json:"name,omitzero"`
	Size int64  `json:"size,omitzero"`
	Free int64  `json:"free,omitzero"`
}

// SourceTag is a cloud provider's tag on an instance (EC2 instance tags,
// Azure VM tags).
type SourceTag struct {
	Key   string `json:"key,omitzero"`
	Value string `json:"value,omitzero"`
}

// SecurityGroup is an EC2 security group of an instance.
type SecurityGroup struct {
	ID   string `json:"id,omitzero"`
	Name string `json:"name,omitzero"`
}

// AgentInfo describes the Cloud Agent installed on a host.
type AgentInfo struct {
	AgentID         string    `json:"agent_id,omitzero"`
	AgentVersion    string    `json:"agent_version,omitzero"`
	Status          string    `json:"status,omitzero"`
	Platform        string    `json:"platform,omitzero"`
	ActivatedModule string    `json:"activated_module,omitzero"`
	ChirpStatus     string    `json:"chirp_status,omitzero"`
	ConnectedFrom   string    `json:"connected_from,omitzero"`
	LastCheckedIn   time.Time `json:"last_checked_in,omitzero"`
}

// NetworkInterface is one HostAssetInterface.
type NetworkInterface struct {
	Address        string `json:"address,omitzero"`
	Hostname       string `json:"hostname,omitzero"`
	MACAddress     string `json:"mac_address,omitzero"`
	InterfaceName  string `json:"interface_name,omitzero"`
	GatewayAddress string `json:"gateway_address,omitzero"`
	Type           string `json:"type,omitzero"` // PRIVATE, PUBLIC
	InterfaceID    string `json:"interface_id,omitzero"`
}

// Account is one HostAssetAccount.
type Account struct {
	Username string `json:"username,omitzero"`
}

// Software is one HostAssetSoftware.
type Software struct {
	Name    string `json:"name,omitzero"`
	Version string `json:"version,omitzero"`
}

// HostAssetVuln is one HostAssetVuln.
type HostAssetVuln struct {
	QID                int64     `json:"qid,omitzero"`
	HostInstanceVulnID int64     `json:"host_instance_vuln_id,omitzero"`
	FirstFound         time.Time `json:"first_found,omitzero"`
	LastFound          time.Time `json:"last_found,omitzero"`
}

// OpenPort is one HostAssetOpenPort.
type OpenPort struct {
	Port        int    `json:"port,omitzero"`
	Protocol    string `json:"protocol,omitzero"`
	ServiceName string `json:"service_name,omitzero"`
}

// SourceInfo is one entry of a host's sourceInfo list: where the asset was
// discovered (an EC2, Azure or GCP instance, or a generic source).
type SourceInfo struct {
	// Kind is the element name: Ec2AssetSourceSimple,
	// AzureAssetSourceSimple, GcpAssetSourceSimple, AssetSource, ...
	Kind             string    `json:"kind,omitzero"`
	Type             string    `json:"type,omitzero"` // EC_2, AZURE, GCP, ...
	AssetID          int64     `json:"asset_id,omitzero"`
	Region           string    `json:"region,omitzero"`   // EC2 region
	Location         string    `json:"location,omitzero"` // Azure location
	Zone             string    `json:"zone,omitzero"`     // GCP zone (EC2 sends "VPC" here)
	AvailabilityZone string    `json:"availability_zone,omitzero"`
	AccountID        string    `json:"account_id,omitzero"`    // EC2 account, Azure subscription, GCP project
	InstanceID       string    `json:"instance_id,omitzero"`   // EC2 and GCP instanceId, Azure vmId
	InstanceType     string    `json:"instance_type,omitzero"` // EC2 instanceType, Azure vmSize, GCP machineType
	InstanceState    string    `json:"instance_state,omitzero"`
	ImageID          string    `json:"image_id,omitzero"`
	PrivateIPAddress string    `json:"private_ip_address,omitzero"`
	PublicIPAddress  string    `json:"public_ip_address,omitzero"`
	MACAddress       string    `json:"mac_address,omitzero"`
	FirstDiscovered  time.Time `json:"first_discovered,omitzero"`
	LastUpdated      time.Time `json:"last_updated,omitzero"`
	// EC2: the instance's VPC, subnet, security groups, DNS names and
	// reservation.
	VPCID          string          `json:"vpc_id,omitzero"`
	SubnetID       string          `json:"subnet_id,omitzero"` // also Azure's subnet
	SecurityGroups []SecurityGroup `json:"security_groups,omitzero"`
	PrivateDNSName string          `json:"private_dns_name,omitzero"`
	PublicDNSName  string          `json:"public_dns_name,omitzero"`
	ReservationID  string          `json:"reservation_id,omitzero"`
	// Tags are the instance's EC2 tags or the VM's Azure tags.
	Tags []SourceTag `json:"tags,omitzero"`
	// Azure: the VM's resource group.
	ResourceGroup string `json:"resource_group,omitzero"`
	// GCP: the instance's host name, network and project number.
	Hostname      string `json:"hostname,omitzero"`
	Network       string `json:"network,omitzero"`
	ProjectNumber string `json:"project_number,omitzero"`
}

// Place returns where the source is: its region (AWS), else its location
// (Azure, OCI), else its zone (GCP), or "" when it names none. An EC2
// source's zone ("VPC") is not a place: an EC2 source without a region has
// no place.
func (s SourceInfo) Place() string {
	switch {
	case strings.TrimSpace(s.Region) != "":
		return strings.TrimSpace(s.Region)
	case strings.TrimSpace(s.Location) != "":
		return strings.TrimSpace(s.Location)
	case s.Type == "EC_2" || s.Kind == "Ec2AssetSourceSimple" || strings.EqualFold(strings.TrimSpace(s.Zone), "VPC"):
		return ""
	}
	return strings.TrimSpace(s.Zone)
}

// HostAssetPage is one page of a host asset listing.
type HostAssetPage struct {
	Assets []*HostAsset
	// Cursor is the id after which the next page starts; pass it as
	// HostAssetQuery.AfterID to resume after this page.
	Cursor int64
	// HasMore reports whether another page follows.
	HasMore bool
}

// List streams the host assets matching q, each exactly once, paging by id
// ("id GREATER lastId", never by offset, so hosts added or removed between
// pages cause no skip and no duplicate). Assets are decoded one at a time.
// It yields the first error and stops; a cursor that does not advance is an
// error, not an endless loop.
func (s *HostAssetService) List(ctx context.Context, q *HostAssetQuery) iter.Seq2[*HostAsset, error] {
	qc := copyHostAssetQuery(q)
	return func(yield func(*HostAsset, error) bool) {
		out := &consumer[*HostAsset]{yield: scrubbed(s.c, yield)}
		out.fail(s.run(ctx, qc, out.put, nil))
	}
}

// Pages streams whole pages with their cursor, for callers that checkpoint.
func (s *HostAssetService) Pages(ctx context.Context, q *HostAssetQuery) iter.Seq2[*HostAssetPage, error] {
	qc := copyHostAssetQuery(q)
	return func(yield func(*HostAssetPage, error) bool) {
		out := &consumer[*HostAssetPage]{yield: scrubbed(s.c, yield)}
		page := &HostAssetPage{}
		out.fail(s.run(ctx, qc, func(a *HostAsset) bool {
			page.Assets = append(page.Assets, a)
			return true
		}, func(cursor int64, hasMore bool) bool {
			page.Cursor, page.HasMore = cursor, hasMore
			if !out.put(page) {
				return false
			}
			page = &HostAssetPage{}
			return true
		}))
	}
}

func copyHostAssetQuery(q *HostAssetQuery) HostAssetQuery {
	var qc HostAssetQuery
	if q != nil {
		qc = *q
		qc.Criteria = append([]Criteria(nil), q.Criteria...)
		qc.Fields = append([]string(nil), q.Fields...)
	}
	return qc
}

func (q *HostAssetQuery) validate() error {
	if q.PageSize < 0 || q.PageSize > MaxHostAssetPageSize {
		return &ConfigError{Option: "HostAssetQuery.PageSize", Reason: fmt.Sprintf("want 1-%d (0 for the maximum)", MaxHostAssetPageSize)}
	}
	for _, c := range q.Criteria {
		if c.Field == "" {
			return &ConfigError{Option: "HostAssetQuery.Criteria", Reason: "empty field"}
		}
		if !qpsOperators[c.Operator] {
			return &ConfigError{Option: "HostAssetQuery.Criteria", Reason: "unknown operator " + quoteShort(c.Operator) + " (want EQUALS, NOT EQUALS, GREATER, LESSER, IN or CONTAINS)"}
		}
	}
	return nil
}

type qpsCriteria struct {
	Field    string `json:"field"`
	Operator string `json:"operator"`
	Value    string `json:"value"`
}

type qpsRequest struct {
	ServiceRequest struct {
		Preferences *struct {
			LimitResults int `json:"limitResults,omitempty"`
		} `json:"preferences,omitempty"`
		Filters *struct {
			Criteria []qpsCriteria `json:"Criteria"`
		} `json:"filters,omitempty"`
	} `json:"ServiceRequest"`
}

func (q *HostAssetQuery) body(after int64, withPrefs bool) []byte {
	var r qpsRequest
	if withPrefs {
		size := q.PageSize
		if size == 0 {
			size = MaxHostAssetPageSize
		}
		r.ServiceRequest.Preferences = &struct {
			LimitResults int `json:"limitResults,omitempty"`
		}{size}
	}
	var crit []qpsCriteria
	for _, c := range q.Criteria {
		crit = append(crit, qpsCriteria(c))
	}
	if !q.UpdatedSince.IsZero() {
		crit = append(crit, qpsCriteria{"updated", "GREATER", qualysTime(q.UpdatedSince)})
	}
	if after > 0 {
		crit = append(crit, qpsCriteria{"id", "GREATER", strconv.FormatInt(after, 10)})
	}
	if len(crit) > 0 {
		r.ServiceRequest.Filters = &struct {
			Criteria []qpsCriteria `json:"Criteria"`
		}{crit}
	}
	b, _ := json.Marshal(r)
	return b
}

// run pages through the search, calling onAsset for each asset and onPage
// (if set) at the end of each page. Either returning false stops.
func (s *HostAssetService) run(ctx context.Context, q HostAssetQuery, onAsset func(*HostAsset) bool, onPage func(cursor int64, hasMore bool) bool) error {
	if err := q.validate(); err != nil {
		return err
	}
	path := s.c.base.Path + "/qps/rest/2.0/search/am/hostasset"
	var query url.Values
	if len(q.Fields) > 0 {
		query = url.Values{"fields": {strings.Join(q.Fields, ",")}}
	}
	p := &idPager{c: s.c, endpoint: path, action: "search", what: "host asset page", cursorName: "lastId", onPage: onPage,
		fetch: func(ctx context.Context, after int64) (idPage, error) {
			resp, err := s.c.do(ctx, &apiRequest{method: "POST", path: path, query: query, body: q.body(after, true),
				contentType: "application/json", accept: "application/json", action: "search", idempotent: true})
			if err != nil {
				return idPage{}, err
			}
			defer resp.Body.Close()
			meta, err := decodeQPS(resp.Body, path, "search", func(raw json.RawMessage) (int64, bool, error) {
				a, err := decodeHostAsset(raw)
				if err != nil {
					return 0, false, err
				}
				return a.ID, onAsset(a), nil
			})
			return idPage{maxID: meta.maxID, next: meta.lastID, more: meta.hasMore, stopped: meta.stopped}, err
		}}
	return p.run(ctx, q.AfterID)
}

// Count returns the number of host assets matching q.
func (s *HostAssetService) Count(ctx context.Context, q *HostAssetQuery) (int, error) {
	qc := copyHostAssetQuery(q)
	if err := qc.validate(); err != nil {
		return 0, err
	}
	path := s.c.base.Path + "/qps/rest/2.0/count/am/hostasset"
	resp, err := s.c.do(ctx, &apiRequest{method: "POST", path: path, body: qc.body(qc.AfterID, false),
		contentType: "application/json", accept: "application/json", action: "count", idempotent: true})
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	meta, err := decodeQPS(resp.Body, path, "count", nil)
	if err != nil {
		return 0, s.c.sanitize(err)
	}
	return meta.count, nil
}

// Get returns one host asset by id. A missing asset gives an error matching
// ErrNotFound.
func (s *HostAssetService) Get(ctx context.Context, id int64) (*HostAsset, error) {
	if id <= 0 {
		return nil, &ConfigError{Option: "host asset id", Reason: "must be positive"}
	}
	path := s.c.base.Path + "/qps/rest/2.0/get/am/hostasset/" + strconv.FormatInt(id, 10)
	resp, err := s.c.do(ctx, &apiRequest{method: "GET", path: path, api: s.c.base.Path + "/qps/rest/2.0/get/am/hostasset/",
		accept: "application/json", action: "get", idempotent: true})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var got *HostAsset
	_, err = decodeQPS(resp.Body, path, "get", func(raw json.RawMessage) (int64, bool, error) {
		a, err := decodeHostAsset(raw)
		got = a
		return 0, false, err
	})
	if err != nil {
		return nil, s.c.sanitize(err)
	}
	if got == nil {
		return nil, &Error{Endpoint: path, Action: "get", Code: "NOT_FOUND", Message: fmt.Sprintf("host asset %d not found", id)}
	}
	return got, nil
}

type wireHostAsset struct {
	ID                 flexInt    `json:"id"`
	Name               flexString `json:"name"`
	DNSHostName        flexString `json:"dnsHostName"`
	FQDN               flexString `json:"fqdn"`
	NetBIOSName        flexString `json:"netbiosName"`
	OS                 flexString `json:"os"`
	Type               flexString `json:"type"`
	QWebHostID         flexInt    `json:"qwebHostId"`
	Address            flexString `json:"address"`
	TrackingMethod     flexString `json:"trackingMethod"`
	CloudProvider      flexString `json:"cloudProvider"`
	LastLoggedOnUser   flexString `json:"lastLoggedOnUser"`
	Created            flexTime   `json:"created"`
	Modified           flexTime   `json:"modified"`
	LastVulnScan       flexTime   `json:"lastVulnScan"`
	LastComplianceScan flexTime   `json:"lastComplianceScan"`
	LastSystemBoot     flexTime   `json:"lastSystemBoot"`
	AgentInfo          *struct {
		AgentID         flexString `json:"agentId"`
		AgentVersion    flexString `json:"agentVersion"`
		Status          flexString `json:"status"`
		Platform        flexString `json:"platform"`
		ActivatedModule flexString `json:"activatedModule"`
		ChirpStatus     flexString `json:"chirpStatus"`
		ConnectedFrom   flexString `json:"connectedFrom"`
		LastCheckedIn   flexTime   `json:"lastCheckedIn"`
	} `json:"agentInfo"`
	NetworkInterface qpsList[struct {
		Address        flexString `json:"address"`
		Hostname       flexString `json:"hostname"`
		MACAddress     flexString `json:"macAddress"`
		InterfaceName  flexString `json:"interfaceName"`
		GatewayAddress flexString `json:"gatewayAddress"`
		Type           flexString `json:"type"`
		InterfaceID    flexString `json:"interfaceId"`
	}] `json:"networkInterface"`
	Account qpsList[struct {
		Username flexString `json:"username"`
	}] `json:"account"`
	Software qpsList[struct {
		Name    flexString `json:"name"`
		Version flexString `json:"version"`
	}] `json:"software"`
	Vuln qpsList[struct {
		QID                flexInt  `json:"qid"`
		HostInstanceVulnID flexInt  `json:"hostInstanceVulnId"`
		FirstFound         flexTime `json:"firstFound"`
		LastFound          flexTime `json:"lastFound"`
	}] `json:"vuln"`
	OpenPort qpsList[struct {
		Port        flexInt    `json:"port"`
		Protocol    flexString `json:"protocol"`
		ServiceName flexString `json:"serviceName"`
	}] `json:"openPort"`
	Tags qpsList[struct {
		ID   flexInt    `json:"id"`
		Name flexString `json:"name"`
	}] `json:"tags"`
	SourceInfo sourceList `json:"sourceInfo"`
	Processor  qpsList[struct {
		Name  flexString `json:"name"`
		Speed flexInt    `json:"speed"`
	}] `json:"processor"`
	Volume qpsList[struct {
		Name flexString `json:"name"`
		Size flexInt    `json:"size"`
		Free flexInt    `json:"free"`
	}] `json:"volume"`
	IsDockerHost flexBool `json:"isDockerHost"`
}

type wireSource struct {
	Type             flexString `json:"type"`
	AssetID          flexInt    `json:"assetId"`
	Region           flexString `json:"region"`
	Location         flexString `json:"location"`
	Zone             flexString `json:"zone"`
	AvailabilityZone flexString `json:"availabilityZone"`
	AccountID        flexString `json:"accountId"`
	SubscriptionID   flexString `json:"subscriptionId"`
	ProjectID        flexString `json:"projectId"`
	InstanceID       flexString `json:"instanceId"`
	VMID             flexString `json:"vmId"`
	InstanceType     flexString `json:"instanceType"`
	VMSize           flexString `json:"vmSize"`
	MachineType      flexString `json:"machineType"`
	InstanceState    flexString `json:"instanceState"`
	State            flexString `json:"state"`
	ImageID          flexString `json:"imageId"`
	PrivateIPAddress flexString `json:"privateIpAddress"`
	PublicIPAddress  flexString `json:"publicIpAddress"`
	MACAddress       flexString `json:"macAddress"`
	FirstDiscovered  flexTime   `json:"firstDiscovered"`
	LastUpdated      flexTime   `json:"lastUpdated"`
	VPCID            flexString `json:"vpcId"`
	SubnetID         flexString `json:"subnetId"`
	Subnet           flexString `json:"subnet"`
	GroupID          flexString `json:"groupId"`
	GroupName        flexString `json:"groupName"`
	PrivateDNSName   flexString `json:"privateDnsName"`
	PublicDNSName    flexString `json:"publicDnsName"`
	ReservationID    flexString `json:"reservationId"`
	ResourceGroup    flexString `json:"resourceGroupName"`
	Hostname         flexString `json:"hostname"`
	Network          flexString `json:"network"`
	ProjectIDNo      flexString `json:"projectIdNo"`
	EC2Tags          *wireTags  `json:"ec2InstanceTags"`
	AzureTags        *wireTags  `json:"azureVmTags"`
}

// wireTags is {"tags": {"list": [{"EC2Tags"|"AzureTags": {key, value}}]}}.
type wireTags struct {
	Tags qpsList[struct {
		Key   flexString `json:"key"`
		Value flexString `json:"value"`
	}] `json:"tags"`
}

func (t *wireTags) list() []SourceTag {
	if t == nil {
		return nil
	}
	var out []SourceTag
	for _, x := range t.Tags {
		if x.Key != "" || x.Value != "" {
			out = append(out, SourceTag{Key: string(x.Key), Value: string(x.Value)})
		}
	}
	return out
}

// securityGroups pairs EC2's groupId and groupName, which list several
// groups comma-separated in the same order.
func securityGroups(ids, names string) []SecurityGroup {
	split := func(s string) []string {
		var out []string
		for _, p := range strings.Split(s, ",") {
			out = append(out, strings.TrimSpace(p))
		}
		return out
	}
	if strings.TrimSpace(ids) == "" && strings.TrimSpace(names) == "" {
		return nil
	}
	is, ns := split(ids), split(names)
	var out []SecurityGroup
	for i := range max(len(is), len(ns)) {
		var g SecurityGroup
		if i < len(is) {
			g.ID = is[i]
		}
		if i < len(ns) {
			g.Name = ns[i]
		}
		if g.ID != "" || g.Name != "" {
			out = append(out, g)
		}
	}
	return out
}

// sourceList is a sourceInfo collection; it keeps each element's kind.
type sourceList []SourceInfo

func (l *sourceList) UnmarshalJSON(b []byte) error {
	type kinded map[string]json.RawMessage
	if nullish(b) {
		*l = nil
		return nil
	}
	var wrap struct {
		List oneOrMany[kinded] `json:"list"`
	}
	if err := json.Unmarshal(b, &wrap); err != nil {
		return err
	}
	var out sourceList
	for _, k := range wrap.List {
		for kind, v := range k {
			var items oneOrMany[wireSource]
			if err := json.Unmarshal(v, &items); err != nil {
				return err
			}
			for _, w := range items {
				out = append(out, SourceInfo{
					Kind: kind, Type: string(w.Type), AssetID: int64(w.AssetID),
					Region: string(w.Region), Location: string(w.Location), Zone: string(w.Zone),
					AvailabilityZone: string(w.AvailabilityZone),
					AccountID:        firstNonEmpty(string(w.AccountID), string(w.SubscriptionID), string(w.ProjectID)),
					InstanceID:       firstNonEmpty(string(w.InstanceID), string(w.VMID)),
					InstanceType:     firstNonEmpty(string(w.InstanceType), string(w.VMSize), string(w.MachineType)),
					InstanceState:    firstNonEmpty(string(w.InstanceState), string(w.State)),
					ImageID:          string(w.ImageID), PrivateIPAddress: string(w.PrivateIPAddress),
					PublicIPAddress: string(w.PublicIPAddress), MACAddress: string(w.MACAddress),
					FirstDiscovered: time.Time(w.FirstDiscovered), LastUpdated: time.Time(w.LastUpdated),
					VPCID: string(w.VPCID), SubnetID: firstNonEmpty(string(w.SubnetID), string(w.Subnet)),
					SecurityGroups: securityGroups(string(w.GroupID), string(w.GroupName)),
					PrivateDNSName: string(w.PrivateDNSName), PublicDNSName: string(w.PublicDNSName), ReservationID: string(w.ReservationID),
					Tags:          append(w.EC2Tags.list(), w.AzureTags.list()...),
					ResourceGroup: string(w.ResourceGroup), Hostname: string(w.Hostname), Network: string(w.Network), ProjectNumber: string(w.ProjectIDNo),
				})
			}
		}
	}
	*l = out
	return nil
}

// decodeHostAsset decodes one {"HostAsset": {...}} data element.
func decodeHostAsset(raw json.RawMessage) (*HostAsset, error) {
	var w struct {
		HostAsset *wireHostAsset `json:"HostAsset"`
	}
	if err := json.Unmarshal(raw, &w); err != nil {
		return nil, err
	}
	if w.HostAsset == nil {
		return nil, errors.New("data element without a HostAsset")
	}
	x := w.HostAsset
	if x.ID <= 0 {
		return nil, errors.New("HostAsset without a positive id")
	}
	if x.QWebHostID < 0 {
		return nil, fmt.Errorf("HostAsset %d: negative qwebHostId %d", x.ID, x.QWebHostID)
	}
	a := &HostAsset{
		ID: int64(x.ID), Name: string(x.Name), DNSHostName: string(x.DNSHostName), FQDN: string(x.FQDN),
		NetBIOSName: string(x.NetBIOSName), OS: string(x.OS), Type: string(x.Type), QWebHostID: int64(x.QWebHostID),
		Address: string(x.Address), TrackingMethod: string(x.TrackingMethod), CloudProvider: string(x.CloudProvider),
		LastLoggedOnUser: string(x.LastLoggedOnUser),
		Created:          time.Time(x.Created), Modified: time.Time(x.Modified), LastVulnScan: time.Time(x.LastVulnScan),
		LastComplianceScan: time.Time(x.LastComplianceScan), LastSystemBoot: time.Time(x.LastSystemBoot),
		SourceInfo: x.SourceInfo,
	}
	if ai := x.AgentInfo; ai != nil {
		a.AgentInfo = &AgentInfo{AgentID: string(ai.AgentID), AgentVersion: string(ai.AgentVersion), Status: string(ai.Status),
			Platform: string(ai.Platform), ActivatedModule: string(ai.ActivatedModule), ChirpStatus: string(ai.ChirpStatus),
			ConnectedFrom: string(ai.ConnectedFrom), LastCheckedIn: time.Time(ai.LastCheckedIn)}
	}
	for _, n := range x.NetworkInterface {
		a.NetworkInterfaces = append(a.NetworkInterfaces, NetworkInterface{Address: string(n.Address), Hostname: string(n.Hostname),
			MACAddress: string(n.MACAddress), InterfaceName: string(n.InterfaceName), GatewayAddress: string(n.GatewayAddress), Type: string(n.Type),
			InterfaceID: string(n.InterfaceID)})
	}
	for _, ac := range x.Account {
		a.Accounts = append(a.Accounts, Account{Username: string(ac.Username)})
	}
	for _, s := range x.Software {
		a.Software = append(a.Software, Software{Name: string(s.Name), Version: string(s.Version)})
	}
	for _, v := range x.Vuln {
		a.Vulns = append(a.Vulns, HostAssetVuln{QID: int64(v.QID), HostInstanceVulnID: int64(v.HostInstanceVulnID),
			FirstFound: time.Time(v.FirstFound), LastFound: time.Time(v.LastFound)})
	}
	for _, p := range x.OpenPort {
		a.OpenPorts = append(a.OpenPorts, OpenPort{Port: int(p.Port), Protocol: string(p.Protocol), ServiceName: string(p.ServiceName)})
	}
	for _, t := range x.Tags {
		a.Tags = append(a.Tags, Tag{ID: int64(t.ID), Name: string(t.Name)})
	}
	for _, p := range x.Processor {
		a.Processors = append(a.Processors, Processor{Name: string(p.Name), Speed: int64(p.Speed)})
	}
	for _, v := range x.Volume {
		a.Volumes = append(a.Volumes, Volume{Name: string(v.Name), Size: int64(v.Size), Free: int64(v.Free)})
	}
	a.IsDockerHost = bool(x.IsDockerHost)
	if n := len(a.NetworkInterfaces) + len(a.Accounts) + len(a.Software) + len(a.Vulns) + len(a.OpenPorts) + len(a.Tags) + len(a.SourceInfo) + len(a.Processors) + len(a.Volumes); n > recordItemsLimit {
		return nil, fmt.Errorf("%w: HostAsset %d has %d nested items (MaxRecordItems %d)", ErrRecordTooLarge, a.ID, n, recordItemsLimit)
	}
	return a, nil
}

// DecodeHostAssets decodes a saved QPS host asset search response (JSON or
// XML) one asset at a time. A responseCode other than SUCCESS is an *Error.
func DecodeHostAssets(r io.Reader) iter.Seq2[*HostAsset, error] {
	return func(yield func(*HostAsset, error) bool) {
		out := &consumer[*HostAsset]{yield: yield}
		_, err := decodeQPS(r, "", "search", func(raw json.RawMessage) (int64, bool, error) {
			a, err := decodeHostAsset(raw)
			if err != nil {
				return 0, false, err
			}
			return a.ID, out.put(a), nil
		})
		out.fail(err)
	}
}
