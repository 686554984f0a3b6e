package car

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"regexp"
	"strconv"
	"strings"
)

// Vertex is a CAR vertex. Its collection decides how it is identified:
// ipaddress, hostname and macaddress by their _key, every other
// collection by external_id.
type Vertex interface {
	// Collection is the CAR collection name (asset, ipaddress, ...).
	Collection() string
	// ID is the vertex's identity in its collection: its _key for the
	// naturally keyed collections, else its external_id.
	ID() string
	// Validate checks the vertex against the CAR import schema rules.
	Validate() error
}

// Asset is an asset vertex.
type Asset struct {
	ExternalID  string `json:"external_id"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	AssetType   string `json:"asset_type,omitempty"`
	// Risk is the asset's risk, 0-10.
	Risk *float64 `json:"risk,omitempty"`
	// BusinessValue is what the asset is worth to the business (CAR
	// ranks assets by it with risk); a non-negative number.
	BusinessValue *float64 `json:"business_value,omitempty"`
	Source        string   `json:"source,omitempty"`
}

// IPAddress is an ipaddress vertex, keyed by the address (IPv4 or IPv6).
type IPAddress struct {
	Key      string `json:"_key"`
	RegionID string `json:"region_id,omitempty"`
	Source   string `json:"source,omitempty"`
}

// MACAddress is a macaddress vertex, keyed by the MAC address.
type MACAddress struct {
	Key       string `json:"_key"`
	Interface string `json:"interface,omitempty"`
	Source    string `json:"source,omitempty"`
}

// Hostname is a hostname vertex, keyed by the host name. CAR does not
// allow an object to carry both _key and external_id, so it has no
// external_id.
type Hostname struct {
	Key      string `json:"_key"`
	HostName string `json:"host_name"`
	Source   string `json:"source,omitempty"`
}

// Vulnerability is a vulnerability vertex.
type Vulnerability struct {
	ExternalID  string   `json:"external_id"`
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	BaseScore   *float64 `json:"base_score,omitempty"`
	PublishedOn int64    `json:"published_on,omitempty"` // epoch ms
	UpdatedOn   int64    `json:"updated_on,omitempty"`   // epoch ms
	Solution    string   `json:"solution,omitempty"`
	// XfrCVSS2Base and XfrCVSS3Base are the CVSS v2 and v3 base scores.
	XfrCVSS2Base *float64 `json:"xfr_cvss2_base,omitempty"`
	XfrCVSS3Base *float64 `json:"xfr_cvss3_base,omitempty"`
	// Custom properties, stored by CAR as strings.
	CVEIDs      string `json:"cve_ids,omitempty"`
	Diagnosis   string `json:"diagnosis,omitempty"`
	Consequence string `json:"consequence,omitempty"`
	Source      string `json:"source,omitempty"`
}

// Application is an application vertex.
type Application struct {
	ExternalID string `json:"external_id"`
	Name       string `json:"name"`
	Source     string `json:"source,omitempty"`
}

// Account is an account vertex.
type Account struct {
	ExternalID string `json:"external_id"`
	Name       string `json:"name"`
	Source     string `json:"source,omitempty"`
}

// User is a user vertex.
type User struct {
	ExternalID string `json:"external_id"`
	Username   string `json:"username,omitempty"`
	Source     string `json:"source,omitempty"`
}

// Geolocation is a geolocation vertex identified by a region name.
type Geolocation struct {
	ExternalID string `json:"external_id"`
	Region     string `json:"region"`
	Source     string `json:"source,omitempty"`
}

// Vertex collection names.
const (
	CollAsset         = "asset"
	CollIPAddress     = "ipaddress"
	CollMACAddress    = "macaddress"
	CollHostname      = "hostname"
	CollVulnerability = "vulnerability"
	CollApplication   = "application"
	CollAccount       = "account"
	CollUser          = "user"
	CollGeolocation   = "geolocation"
)

// Edge collection names (<from>_<to>) the Qualys graph uses.
const (
	EdgeAssetIPAddress           = "asset_ipaddress"
	EdgeAssetMACAddress          = "asset_macaddress"
	EdgeAssetHostname            = "asset_hostname"
	EdgeAssetVulnerability       = "asset_vulnerability"
	EdgeAssetApplication         = "asset_application"
	EdgeAssetAccount             = "asset_account"
	EdgeAssetGeolocation         = "asset_geolocation"
	EdgeIPAddressMACAddress      = "ipaddress_macaddress"
	EdgeIPAddressVulnerability   = "ipaddress_vulnerability"
	EdgeApplicationVulnerability = "application_vulnerability"
	EdgeUserAccount              = "user_account"
)

// vertexOrder is the order in which vertex collections are sent.
var vertexOrder = []string{CollAsset, CollIPAddress, CollHostname, CollMACAddress, CollAccount, CollUser, CollGeolocation, CollVulnerability, CollApplication}

// Keyed reports whether a collection is identified by _key rather than
// external_id.
func Keyed(collection string) bool {
	switch collection {
	case CollIPAddress, CollHostname, CollMACAddress:
		return true
	}
	return false
}

// Collection implements Vertex.
func (v *Asset) Collection() string { return CollAsset }

// Collection implements Vertex.
func (v *IPAddress) Collection() string { return CollIPAddress }

// Collection implements Vertex.
func (v *MACAddress) Collection() string { return CollMACAddress }

// Collection implements Vertex.
func (v *Hostname) Collection() string { return CollHostname }

// Collection implements Vertex.
func (v *Vulnerability) Collection() string { return CollVulnerability }

// Collection implements Vertex.
func (v *Application) Collection() string { return CollApplication }

// Collection implements Vertex.
func (v *Account) Collection() string { return CollAccount }

// Collection implements Vertex.
func (v *User) Collection() string { return CollUser }

// Collection implements Vertex.
func (v *Geolocation) Collection() string { return CollGeolocation }

// ID implements Vertex.
func (v *Asset) ID() string { return v.ExternalID }

// ID implements Vertex.
func (v *IPAddress) ID() string { return v.Key }

// ID implements Vertex.
func (v *MACAddress) ID() string { return v.Key }

// ID implements Vertex.
func (v *Hostname) ID() string { return v.Key }

// ID implements Vertex.
func (v *Vulnerability) ID() string { return v.ExternalID }

// ID implements Vertex.
func (v *Application) ID() string { return v.ExternalID }

// ID implements Vertex.
func (v *Account) ID() string { return v.ExternalID }

// ID implements Vertex.
func (v *User) ID() string { return v.ExternalID }

// ID implements Vertex.
func (v *Geolocation) ID() string { return v.ExternalID }

func (v *Asset) sourceField() *string         { return &v.Source }
func (v *IPAddress) sourceField() *string     { return &v.Source }
func (v *MACAddress) sourceField() *string    { return &v.Source }
func (v *Hostname) sourceField() *string      { return &v.Source }
func (v *Vulnerability) sourceField() *string { return &v.Source }
func (v *Application) sourceField() *string   { return &v.Source }
func (v *Account) sourceField() *string       { return &v.Source }
func (v *User) sourceField() *string          { return &v.Source }
func (v *Geolocation) sourceField() *string   { return &v.Source }

// ValidationError names the object and field that break the import schema.
type ValidationError struct {
	Collection string
	ID         string
	Field      string
	Reason     string
}

// Error describes the violation.
func (e *ValidationError) Error() string {
	id := e.ID
	if len(id) > 80 {
		id = id[:80] + "…"
	}
	return fmt.Sprintf("car: invalid %s %q: field %s %s", e.Collection, id, e.Field, e.Reason)
}

func invalid(coll, id, field, reason string) error {
	return &ValidationError{Collection: coll, ID: id, Field: field, Reason: reason}
}

var (
	keyPattern     = regexp.MustCompile(`^[a-zA-Z0-9_:@=;!'%\-\.\(\)\+\,\$\*]+$`)
	ipNamePattern  = regexp.MustCompile(`^[a-fA-F0-9:\.]+$`)
	macPattern     = regexp.MustCompile(`^([0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}$|^([0-9A-Fa-f]{4}[:.]){3}[0-9A-Fa-f]{4}$|^([0-9A-Fa-f]{4}\.){2}[0-9A-Fa-f]{4}$`)
	badHostExtChar = "&#^|?<>[]"
)

func required(coll, id, field, v string) error {
	if strings.TrimSpace(v) == "" {
		return invalid(coll, id, field, "is required")
	}
	return nil
}

// Validate checks the asset.
func (v *Asset) Validate() error {
	if err := required(CollAsset, v.ExternalID, "external_id", v.ExternalID); err != nil {
		return err
	}
	if err := required(CollAsset, v.ExternalID, "name", v.Name); err != nil {
		return err
	}
	if v.Risk != nil && !(*v.Risk >= 0 && *v.Risk <= 10) {
		return invalid(CollAsset, v.ExternalID, "risk", "must be between 0 and 10")
	}
	if v.BusinessValue != nil && !(*v.BusinessValue >= 0 && !math.IsInf(*v.BusinessValue, 1)) {
		return invalid(CollAsset, v.ExternalID, "business_value", "must be a non-negative number")
	}
	return nil
}

// Validate checks the address.
func (v *IPAddress) Validate() error {
	if err := required(CollIPAddress, v.Key, "_key", v.Key); err != nil {
		return err
	}
	if !ipNamePattern.MatchString(v.Key) || net.ParseIP(v.Key) == nil {
		return invalid(CollIPAddress, v.Key, "_key", "is not an IP address")
	}
	return nil
}

// Validate checks the address.
func (v *MACAddress) Validate() error {
	if err := required(CollMACAddress, v.Key, "_key", v.Key); err != nil {
		return err
	}
	if !macPattern.MatchString(v.Key) {
		return invalid(CollMACAddress, v.Key, "_key", "is not a MAC address")
	}
	return nil
}

// Validate checks the host name.
func (v *Hostname) Validate() error {
	if err := required(CollHostname, v.Key, "_key", v.Key); err != nil {
		return err
	}
	if err := required(CollHostname, v.Key, "host_name", v.HostName); err != nil {
		return err
	}
	if strings.ContainsAny(v.Key, badHostExtChar+" /") {
		return invalid(CollHostname, v.Key, "_key", "contains a character CAR refuses ("+badHostExtChar+", space or /)")
	}
	return nil
}

// Validate checks the vulnerability.
func (v *Vulnerability) Validate() error {
	if err := required(CollVulnerability, v.ExternalID, "external_id", v.ExternalID); err != nil {
		return err
	}
	if err := required(CollVulnerability, v.ExternalID, "name", v.Name); err != nil {
		return err
	}
	if v.BaseScore != nil && (*v.BaseScore < 0 || *v.BaseScore > 10) {
		return invalid(CollVulnerability, v.ExternalID, "base_score", "must be between 0 and 10")
	}
	return nil
}

// Validate checks the application.
func (v *Application) Validate() error {
	if err := required(CollApplication, v.ExternalID, "external_id", v.ExternalID); err != nil {
		return err
	}
	return required(CollApplication, v.ExternalID, "name", v.Name)
}

// Validate checks the account.
func (v *Account) Validate() error {
	if err := required(CollAccount, v.ExternalID, "external_id", v.ExternalID); err != nil {
		return err
	}
	return required(CollAccount, v.ExternalID, "name", v.Name)
}

// Validate checks the user.
func (v *User) Validate() error {
	return required(CollUser, v.ExternalID, "external_id", v.ExternalID)
}

// Validate checks the geolocation.
func (v *Geolocation) Validate() error {
	if err := required(CollGeolocation, v.ExternalID, "external_id", v.ExternalID); err != nil {
		return err
	}
	return required(CollGeolocation, v.ExternalID, "region", v.Region)
}

// Edge links two vertices. From and To are the raw identities of the ends
// (an external id, or the key of an ipaddress, hostname or macaddress);
// the JSON form chooses _from/_from_external_id and _to/_to_external_id
// from the collection name (end1_end2) and prefixes keyed ends with their
// collection ("ipaddress/10.0.0.1"), as the CAR import schema requires.
type Edge struct {
	// Collection is the edge collection, "<end1>_<end2>".
	Collection string
	From       string
	To         string
	// Disabled marks an edge reported as no longer holding (active:
	// false). The zero value is an active edge.
	Disabled bool
	// Properties are extra edge fields (risk_score, port, ...).
	Properties map[string]any
	// Source is the CAR source id (set by the Import when empty).
	Source string
}

// Ends returns the collections of the edge's two ends.
func (e *Edge) Ends() (from, to string, ok bool) {
	from, to, ok = strings.Cut(e.Collection, "_")
	return from, to, ok && from != "" && to != "" && !strings.Contains(to, "_")
}

// ID is the edge's identity: collection, from and to.
func (e *Edge) ID() string { return e.Collection + "|" + e.From + "|" + e.To }

// Validate checks the edge's collection and ends.
func (e *Edge) Validate() error {
	from, to, ok := e.Ends()
	if !ok {
		return invalid(e.Collection, e.ID(), "collection", "is not of the form end1_end2")
	}
	if strings.TrimSpace(e.From) == "" {
		return invalid(e.Collection, e.ID(), fromField(from), "is required")
	}
	if strings.TrimSpace(e.To) == "" {
		return invalid(e.Collection, e.ID(), toField(to), "is required")
	}
	// A keyed end must be a key its vertex would accept: an edge Add
	// takes never fails the import's validation at Close.
	for _, end := range []struct{ coll, key, field string }{{from, e.From, fromField(from)}, {to, e.To, toField(to)}} {
		if err := keyedEnd(end.coll, end.key); err != nil {
			return invalid(e.Collection, e.ID(), end.field, err.Error())
		}
	}
	return nil
}

// keyedEnd checks the key of a naturally keyed edge end as its vertex's
// Validate checks it.
func keyedEnd(coll, key string) error {
	switch coll {
	case CollIPAddress:
		if !ipNamePattern.MatchString(key) || net.ParseIP(key) == nil {
			return errors.New("is not an IP address")
		}
	case CollMACAddress:
		if !macPattern.MatchString(key) {
			return errors.New("is not a MAC address")
		}
	case CollHostname:
		if strings.ContainsAny(key, badHostExtChar+" /") {
			return errors.New("contains a character CAR refuses (" + badHostExtChar + ", space or /)")
		}
	}
	return nil
}

func fromField(coll string) string {
	if Keyed(coll) {
		return "_from"
	}
	return "_from_external_id"
}

func toField(coll string) string {
	if Keyed(coll) {
		return "_to"
	}
	return "_to_external_id"
}

func endValue(coll, id string) string {
	if Keyed(coll) {
		return coll + "/" + id
	}
	return id
}

// MarshalJSON writes the edge in the import schema's form: its properties
// and the fixed fields (the ends, active, source, which win over a
// property of the same name) as one object with sorted keys, exactly as
// encoding/json writes a map. It is written by hand because the import
// encodes hundreds of thousands of edges a run: encoding/json's map path
// (a map per edge, sorted keys, the Marshaler result validated again) was
// the largest part of an import's CPU time.
func (e Edge) MarshalJSON() ([]byte, error) {
	return e.appendJSON(make([]byte, 0, 160), "", 0, false)
}

// edgeField is one key and value of an edge's JSON object, held without
// boxing the fixed fields' values into interfaces (an allocation each).
type edgeField struct {
	key  string
	kind byte // 's' string, 'b' bool, 'f' float64, 'v' any
	s    string
	b    bool
	f    float64
	v    any
}

// appendJSON appends the edge's object: with report set (withReport), the
// import's report key and timestamp take the place of properties of the
// same name, without touching e.Properties.
func (e *Edge) appendJSON(b []byte, report string, ts float64, withReport bool) ([]byte, error) {
	from, to, _ := e.Ends()
	var buf [12]edgeField
	fields := append(buf[:0],
		edgeField{key: fromField(from), kind: 's', s: endValue(from, e.From)},
		edgeField{key: toField(to), kind: 's', s: endValue(to, e.To)},
		edgeField{key: "active", kind: 'b', b: !e.Disabled})
	if e.Source != "" {
		fields = append(fields, edgeField{key: "source", kind: 's', s: e.Source})
	}
	if withReport {
		fields = append(fields, edgeField{key: "report", kind: 's', s: report}, edgeField{key: "timestamp", kind: 'f', f: ts})
	}
	fixed := len(fields)
	for k, v := range e.Properties {
		taken := false
		for _, f := range fields[:fixed] {
			if f.key == k {
				taken = true
				break
			}
		}
		if !taken {
			fields = append(fields, edgeField{key: k, kind: 'v', v: v})
		}
	}
	// Insertion sort: a handful of fields, no allocation.
	for i := 1; i < len(fields); i++ {
		for j := i; j > 0 && fields[j].key < fields[j-1].key; j-- {
			fields[j], fields[j-1] = fields[j-1], fields[j]
		}
	}
	b = append(b, '{')
	for i := range fields {
		f := &fields[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, f.key)
		b = append(b, ':')
		switch f.kind {
		case 's':
			b = appendJSONString(b, f.s)
		case 'b':
			b = strconv.AppendBool(b, f.b)
		case 'f':
			var err error
			if b, err = appendJSONValue(b, f.f); err != nil {
				return nil, err
			}
		default:
			var err error
			if b, err = appendJSONValue(b, f.v); err != nil {
				return nil, err
			}
		}
	}
	return append(b, '}'), nil
}

// appendJSONString appends s as encoding/json writes it (HTML characters
// escaped): plain printable ASCII directly, anything else through
// encoding/json.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendJSONValue appends a property value as encoding/json writes it.
func appendJSONValue(b []byte, v any) ([]byte, error) {
	if f, ok := v.(float64); ok {
		return appendJSONFloat(b, f)
	}
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case string:
		return appendJSONString(b, x), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case int:
		return strconv.AppendInt(b, int64(x), 10), nil
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	}
	j, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(b, j...), nil
}

// appendJSONFloat appends f as encoding/json writes a float64.
func appendJSONFloat(b []byte, f float64) ([]byte, error) {
	// encoding/json's 'f' range; other values (exponents, NaN) through it.
	if a := math.Abs(f); a == 0 || (a >= 1e-6 && a < 1e21) {
		return strconv.AppendFloat(b, f, 'f', -1, 64), nil
	}
	j, err := json.Marshal(f)
	if err != nil {
		return nil, err
	}
	return append(b, j...), nil
}

// Graph is a set of vertices and edges to import.
type Graph struct {
	Vertices []Vertex
	Edges    []Edge
}

// Validate checks every vertex and edge.
func (g *Graph) Validate() error {
	for _, v := range g.Vertices {
		if err := v.Validate(); err != nil {
			return err
		}
	}
	for i := range g.Edges {
		if err := g.Edges[i].Validate(); err != nil {
			return err
		}
	}
	return nil
}

// Source is the CAR source (data provider) an import belongs to.
type Source struct {
	Key         string `json:"_key"`
	Name        string `json:"name,omitempty"`
	Description string `json:"description,omitempty"`
	ProductLink string `json:"product_link,omitempty"`
}

// Validate checks the source key against the import schema.
func (s *Source) Validate() error {
	if !keyPattern.MatchString(s.Key) {
		return invalid("source", s.Key, "_key", "must match "+keyPattern.String()+" (no spaces or /)")
	}
	return nil
}

// Report is the report of an import: the run it came from.
type Report struct {
	Key         string  `json:"_key"`
	Timestamp   float64 `json:"timestamp"` // epoch ms
	Type        string  `json:"type,omitempty"`
	Description string  `json:"description,omitempty"`
}
