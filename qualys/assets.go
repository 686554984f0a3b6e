package qualys

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// AssetService reads gateway (CSAM) assets with their installed software:
// POST {gateway}/rest/2.0/search/am/asset, authenticated with a JWT from
// the gateway's /auth that is renewed before it expires and once on 401.
type AssetService struct{ c *Client }

// MaxAssetPageSize is the largest page the gateway asset API serves.
const MaxAssetPageSize = 300

// AssetQuery selects gateway assets.
type AssetQuery struct {
	// SoftwareType filters the software list (default "Application"). It
	// is sent as softwareType, as IBM's connector and other public clients
	// send it; Qualys' public CSAM API documentation that could be checked
	// does not list the parameter, so the list is also filtered here:
	// software whose softwareType is given and differs is dropped (an
	// entry without a softwareType is kept).
	SoftwareType string
	// UpdatedSince keeps assets updated since then (assetLastUpdated).
	UpdatedSince time.Time
	// PageSize is 1 to MaxAssetPageSize (default the maximum).
	PageSize int
	// AfterID resumes after this asset id (lastSeenAssetId).
	AfterID int64
}

// Asset is a gateway asset with its installed software.
type Asset struct {
	AssetID      int64               `json:"asset_id,omitzero"` // equals the QPS HostAsset id
	HostID       int64               `json:"host_id,omitzero"`  // the VM host id (qwebHostId)
	Name         string              `json:"name,omitzero"`
	Address      string              `json:"address,omitzero"`
	DNSName      string              `json:"dns_name,omitzero"`
	LastModified time.Time           `json:"last_modified,omitzero"`
	Software     []InstalledSoftware `json:"software,omitzero"`
	// AssetUUID is the asset's UUID; NetBIOSName its NetBIOS name.
	AssetUUID   string `json:"asset_uuid,omitzero"`
	NetBIOSName string `json:"netbios_name,omitzero"`
	// LastBoot is when the host last started.
	LastBoot time.Time `json:"last_boot,omitzero"`
	// OS is the asset's operating system (operatingSystem).
	OS *AssetOS `json:"os,omitzero"`
	// OpenPorts, NetworkInterfaces and UserAccounts are the asset's
	// (openPortListData, networkInterfaceListData, userAccountListData).
	OpenPorts         []AssetOpenPort  `json:"open_ports,omitzero"`
	NetworkInterfaces []AssetInterface `json:"network_interfaces,omitzero"`
	UserAccounts      []string         `json:"user_accounts,omitzero"`
}

// AssetOS is a gateway asset's operating system.
type AssetOS struct {
	Name         string `json:"name,omitzero"`      // osName
	FullName     string `json:"full_name,omitzero"` // fullName
	Category     string `json:"category,omitzero"`  // Windows, Linux, ...
	Publisher    string `json:"publisher,omitzero"`
	Version      string `json:"version,omitzero"`
	Architecture string `json:"architecture,omitzero"`
}

// AssetOpenPort is one open port of a gateway asset.
type AssetOpenPort struct {
	Port            int    `json:"port,omitzero"`
	Protocol        string `json:"protocol,omitzero"`
	DetectedService string `json:"detected_service,omitzero"`
}

// AssetInterface is one network interface of a gateway asset.
type AssetInterface struct {
	Name           string `json:"name,omitzero"` // interfaceName
	Hostname       string `json:"hostname,omitzero"`
	IPv4           string `json:"ipv4,omitzero"`
	IPv6           string `json:"ipv6,omitzero"`
	MACAddress     string `json:"mac_address,omitzero"`
	GatewayAddress string `json:"gateway_address,omitzero"`
}

// InstalledSoftware is one entry of an asset's software list.
type InstalledSoftware struct {
	ID           int64  `json:"id,omitzero"`
	FullName     string `json:"full_name,omitzero"`
	ProductName  string `json:"product_name,omitzero"`
	Version      string `json:"version,omitzero"`
	Publisher    string `json:"publisher,omitzero"`
	Category     string `json:"category,omitzero"`
	SoftwareType string `json:"software_type,omitzero"`
}

type wireAsset struct {
	AssetID      flexInt    `json:"assetId"`
	HostID       flexInt    `json:"hostId"`
	AssetName    flexString `json:"assetName"`
	Address      flexString `json:"address"`
	DNSName      flexString `json:"dnsName"`
	LastModified flexTime   `json:"lastModifiedDate"`
	AssetUUID    flexString `json:"assetUUID"`
	NetBIOSName  flexString `json:"netbiosName"`
	LastBoot     flexTime   `json:"lastBoot"`
	OS           absentable[struct {
		OSName       flexString `json:"osName"`
		FullName     flexString `json:"fullName"`
		Category     flexString `json:"category"`
		Publisher    flexString `json:"publisher"`
		Version      flexString `json:"version"`
		Architecture flexString `json:"architecture"`
	}] `json:"operatingSystem"`
	OpenPorts absentable[struct {
		OpenPort oneOrMany[struct {
			Port            flexInt    `json:"port"`
			Protocol        flexString `json:"protocol"`
			DetectedService flexString `json:"detectedService"`
		}] `json:"openPort"`
	}] `json:"openPortListData"`
	Interfaces absentable[struct {
		NetworkInterface oneOrMany[struct {
			InterfaceName  flexString `json:"interfaceName"`
			Hostname       flexString `json:"hostname"`
			AddressIPv4    flexString `json:"addressIpV4"`
			AddressIPv6    flexString `json:"addressIpV6"`
			MACAddress     flexString `json:"macAddress"`
			GatewayAddress flexString `json:"gatewayAddress"`
		}] `json:"networkInterface"`
	}] `json:"networkInterfaceListData"`
	UserAccounts absentable[struct {
		UserAccount oneOrMany[struct {
			Name flexString `json:"name"`
		}] `json:"userAccount"`
	}] `json:"userAccountListData"`
	Software absentable[struct {
		Software oneOrMany[struct {
			ID           flexInt    `json:"id"`
			FullName     flexString `json:"fullName"`
			ProductName  flexString `json:"productName"`
			Version      flexString `json:"version"`
			Publisher    flexString `json:"publisher"`
			Category     flexString `json:"category"`
			SoftwareType flexString `json:"softwareType"`
		}] `json:"software"`
	}] `json:"softwareListData"`
}

// List streams gateway assets with their software, paging by
// lastSeenAssetId while the API says hasMore. It yields the first error and
// stops; breaking out of the loop stops fetching.
func (s *AssetService) List(ctx context.Context, q *AssetQuery) iter.Seq2[*Asset, error] {
	var qc AssetQuery
	if q != nil {
		qc = *q
	}
	return func(yield func(*Asset, error) bool) {
		out := &consumer[*Asset]{yield: scrubbed(s.c, yield)}
		if qc.PageSize < 0 || qc.PageSize > MaxAssetPageSize {
			out.fail(&ConfigError{Option: "AssetQuery.PageSize", Reason: fmt.Sprintf("want 1-%d (0 for the maximum)", MaxAssetPageSize)})
			return
		}
		size := qc.PageSize
		if size == 0 {
			size = MaxAssetPageSize
		}
		st := qc.SoftwareType
		if st == "" {
			st = "Application"
		}
		path := "/rest/2.0/search/am/asset"
		if s.c.gateway != nil {
			path = s.c.gateway.Path + path
		}
		p := &idPager{c: s.c, endpoint: path, action: "search", what: "gateway asset page", cursorName: "lastSeenAssetId",
			fetch: func(ctx context.Context, after int64) (idPage, error) {
				v := url.Values{"pageSize": {strconv.Itoa(size)}, "softwareType": {st}}
				if !qc.UpdatedSince.IsZero() {
					v.Set("assetLastUpdated", qualysTime(qc.UpdatedSince))
				}
				if after > 0 {
					v.Set("lastSeenAssetId", strconv.FormatInt(after, 10))
				}
				resp, err := s.c.do(ctx, &apiRequest{method: "POST", path: path, gateway: true, bearer: true, query: v,
					accept: "application/json", action: "search", idempotent: true})
				if err != nil {
					return idPage{}, err
				}
				defer resp.Body.Close()
				if resp.StatusCode == http.StatusNoContent {
					return idPage{}, nil // nothing (more) to list
				}
				meta, err := decodeGatewayPage(resp.Body, path, func(a *Asset) bool {
					a.Software = keepSoftwareType(a.Software, st)
					return out.put(a)
				})
				return idPage{maxID: meta.maxID, next: meta.lastID, more: meta.hasMore, stopped: out.stopped}, err
			}}
		out.fail(p.run(ctx, qc.AfterID))
	}
}

// decodeGatewayPage streams one gateway search response.
func decodeGatewayPage(body io.Reader, path string, onAsset func(*Asset) bool) (qpsMeta, error) {
	var meta qpsMeta
	p, br, empty, err := openJSONPage(body, path, "search", "asset search response")
	switch {
	case empty:
		return meta, nil // the API answers an empty body when there is nothing
	case err != nil:
		return meta, err
	case p == nil:
		return meta, notJSONError(br, path, "search", "asset search response")
	}
	code, message := "", ""
	for p.dec.More() {
		k, err := p.key("response")
		if err != nil {
			return meta, err
		}
		switch k {
		case "responseCode":
			code, err = p.str(k)
		case "responseMessage":
			message, err = p.str(k)
		case "hasMore":
			meta.hasMore, err = p.boolean(k)
		case "lastSeenAssetId":
			meta.lastID, err = p.natural(k)
		case "count":
			var n int64
			n, err = p.natural(k)
			meta.count = int(n)
		case "assetListData":
			err = p.gatewayAssets(&meta, onAsset)
		default:
			err = p.skip(k)
		}
		if err != nil || meta.stopped {
			meta.maxID = p.maxID
			return meta, err
		}
	}
	meta.maxID = p.maxID
	if code != "" && code != "SUCCESS" {
		return meta, &Error{Endpoint: path, Action: "search", Code: code, Message: cmp.Or(strings.TrimSpace(message), "gateway request failed")}
	}
	return meta, nil
}

// gatewayAssets decodes assetListData ({"asset": [...]}, either level may
// be null), calling onAsset for each asset.
func (p *jsonPage) gatewayAssets(meta *qpsMeta, onAsset func(*Asset) bool) error {
	const k = "assetListData"
	if err := expectDelimOrNull(p.dec, '{'); err != nil {
		if err == errNull {
			return nil
		}
		return p.fail(k, err)
	}
	for p.dec.More() {
		name, err := p.key(k)
		if err != nil {
			return err
		}
		if name != "asset" {
			if err := p.skip(k); err != nil {
				return err
			}
			continue
		}
		if err := expectDelimOrNull(p.dec, '['); err != nil {
			if err == errNull {
				continue
			}
			return p.fail("asset", err)
		}
		for p.dec.More() {
			var w wireAsset
			if err := p.value("asset", &w); err != nil {
				return err
			}
			a, err := w.asset()
			if err != nil {
				return p.fail("asset", err)
			}
			p.maxID = max(p.maxID, a.AssetID)
			if !onAsset(a) {
				meta.stopped = true
				return nil
			}
		}
		if err := p.close("asset"); err != nil {
			return err
		}
	}
	return p.close(k)
}

// keepSoftwareType drops the software whose softwareType is given and is
// not want (case-insensitive).
func keepSoftwareType(sw []InstalledSoftware, want string) []InstalledSoftware {
	out := sw[:0]
	for _, s := range sw {
		if s.SoftwareType == "" || strings.EqualFold(s.SoftwareType, want) {
			out = append(out, s)
		}
	}
	return out
}

// asset converts and checks one decoded gateway asset.
func (w *wireAsset) asset() (*Asset, error) {
	a := &Asset{AssetID: int64(w.AssetID), HostID: int64(w.HostID), Name: string(w.AssetName),
		Address: string(w.Address), DNSName: string(w.DNSName), LastModified: time.Time(w.LastModified),
		AssetUUID: string(w.AssetUUID), NetBIOSName: string(w.NetBIOSName), LastBoot: time.Time(w.LastBoot)}
	if o := w.OS.v; o != nil {
		a.OS = &AssetOS{Name: string(o.OSName), FullName: string(o.FullName), Category: string(o.Category),
			Publisher: string(o.Publisher), Version: string(o.Version), Architecture: string(o.Architecture)}
		if *a.OS == (AssetOS{}) {
			a.OS = nil
		}
	}
	if w.OpenPorts.v != nil {
		for _, p := range w.OpenPorts.v.OpenPort {
			a.OpenPorts = append(a.OpenPorts, AssetOpenPort{Port: int(p.Port), Protocol: string(p.Protocol), DetectedService: string(p.DetectedService)})
		}
	}
	if w.Interfaces.v != nil {
		for _, n := range w.Interfaces.v.NetworkInterface {
			a.NetworkInterfaces = append(a.NetworkInterfaces, AssetInterface{Name: string(n.InterfaceName), Hostname: string(n.Hostname),
				IPv4: string(n.AddressIPv4), IPv6: string(n.AddressIPv6), MACAddress: string(n.MACAddress), GatewayAddress: string(n.GatewayAddress)})
		}
	}
	if w.UserAccounts.v != nil {
		for _, u := range w.UserAccounts.v.UserAccount {
			if name := strings.TrimSpace(string(u.Name)); name != "" {
				a.UserAccounts = append(a.UserAccounts, name)
			}
		}
	}
	if w.Software.v != nil {
		for _, sw := range w.Software.v.Software {
			a.Software = append(a.Software, InstalledSoftware{ID: int64(sw.ID), FullName: string(sw.FullName),
				ProductName: string(sw.ProductName), Version: string(sw.Version), Publisher: string(sw.Publisher),
				Category: string(sw.Category), SoftwareType: string(sw.SoftwareType)})
		}
	}
	if a.AssetID <= 0 {
		return nil, fmt.Errorf("asset without a positive assetId")
	}
	if n := len(a.Software) + len(a.OpenPorts) + len(a.NetworkInterfaces) + len(a.UserAccounts); n > recordItemsLimit {
		return nil, fmt.Errorf("%w: asset %d has %d nested items (MaxRecordItems %d)", ErrRecordTooLarge, a.AssetID, n, recordItemsLimit)
	}
	return a, nil
}

// DecodeAssets decodes a saved gateway asset search response (JSON) one
// asset at a time.
func DecodeAssets(r io.Reader) iter.Seq2[*Asset, error] {
	return func(yield func(*Asset, error) bool) {
		out := &consumer[*Asset]{yield: yield}
		_, err := decodeGatewayPage(r, "", out.put)
		out.fail(err)
	}
}

// Login logs in to the gateway (POST /auth), or checks that the token
// held is still valid for a while: a cheap check that the gateway URL and
// the credentials work, which no listing call spends.
func (s *AssetService) Login(ctx context.Context) error {
	if s.c.gateway == nil {
		return &ConfigError{Option: "gateway URL", Reason: "no gateway configured; use WithGateway (see Platform)"}
	}
	_, err := s.c.jwt.get(ctx, s.c)
	return s.c.sanitize(err)
}
