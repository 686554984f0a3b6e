package qualys

import (
	"errors"
	"net/http"
	"strings"
)

// Endpoint names one versioned FO API resource: the part of its path after
// /api/N.N/fo/. Each endpoint has its own version (see DefaultVersion), set
// with WithEndpointVersion.
type Endpoint string

// The FO API endpoints this package calls, with their current versions.
//
// Qualys versions every FO endpoint separately, gives about 12 months from a
// new version to the end of life of the old one, and answers calls to a
// retired version with errors. The defaults are the newest documented
// versions in late 2026:
//
//	EndpointDetections     /api/5.0/fo/asset/host/vm/detection/   HLD 2.0-4.0: end of support Dec 2025, end of life Jun 2026
//	EndpointKnowledgeBase  /api/4.0/fo/knowledge_base/vuln/       KB 2.0-3.0: end of support Dec 2025, end of life Jun 2026
//	EndpointSearchLists    /api/3.0/fo/qid/search_list/dynamic/   2.0 past end of support
//	EndpointAssetGroups    /api/2.0/fo/asset/group/               no newer version published
//	EndpointHosts          /api/5.0/fo/asset/host/                Host List 2.0-4.0: end of support Dec 2025
//
// Sources: the Qualys VM/PC API user guide's version table (quoted in
// elastic/integrations#15968 and #16640), the Qualys API versioning
// announcements of 2025, and the versions current clients moved to (Elastic
// qualys_vmdr, Cortex XSOAR, Microsoft Sentinel, ServiceNow; for the Host
// List, Cortex XSOAR and the n8n Qualys node).
const (
	EndpointDetections    Endpoint = "asset/host/vm/detection/"
	EndpointKnowledgeBase Endpoint = "knowledge_base/vuln/"
	EndpointSearchLists   Endpoint = "qid/search_list/dynamic/"
	EndpointAssetGroups   Endpoint = "asset/group/"
	EndpointHosts         Endpoint = "asset/host/"
)

// Endpoints lists the FO endpoints this package calls.
func Endpoints() []Endpoint {
	return []Endpoint{EndpointDetections, EndpointKnowledgeBase, EndpointSearchLists, EndpointAssetGroups, EndpointHosts}
}

// DefaultVersion returns the version used for an endpoint unless
// WithEndpointVersion says otherwise, or "" for an unknown endpoint.
func DefaultVersion(e Endpoint) string {
	switch e {
	case EndpointDetections:
		return "5.0"
	case EndpointKnowledgeBase:
		return "4.0"
	case EndpointSearchLists:
		return "3.0"
	case EndpointAssetGroups:
		return "2.0"
	case EndpointHosts:
		return "5.0"
	}
	return ""
}

func knownEndpoint(e Endpoint) bool { return DefaultVersion(e) != "" }

// WithEndpointVersion sets the API version of one FO endpoint, for a
// subscription that lags behind or runs ahead of the defaults (see
// DefaultVersion): WithEndpointVersion(EndpointDetections, "5.0") calls
// /api/5.0/fo/asset/host/vm/detection/. It may be given once per endpoint.
func WithEndpointVersion(e Endpoint, version string) Option {
	return func(c *config) error {
		opt := "WithEndpointVersion(" + string(e) + ")"
		if !knownEndpoint(e) {
			return &ConfigError{Option: opt, Reason: "unknown endpoint; want one of the qualys.Endpoint* constants"}
		}
		if !validVersion(version) {
			return &ConfigError{Option: opt, Reason: "want a version such as 5.0, got " + quoteShort(version)}
		}
		if c.versions == nil {
			c.versions = map[Endpoint]string{}
		}
		c.versions[e] = version
		return nil
	}
}

// validVersion accepts N.N with one or more digits on each side.
func validVersion(v string) bool {
	major, minor, ok := strings.Cut(v, ".")
	digits := func(s string) bool {
		if s == "" || len(s) > 4 {
			return false
		}
		for _, r := range s {
			if r < '0' || r > '9' {
				return false
			}
		}
		return true
	}
	return ok && digits(major) && digits(minor)
}

// Version returns the API version the client uses for an endpoint.
func (c *Client) Version(e Endpoint) string {
	if v, ok := c.cfg.versions[e]; ok {
		return v
	}
	return DefaultVersion(e)
}

// EndpointPath returns the path the client calls for an endpoint, such as
// "/api/5.0/fo/asset/host/vm/detection/" (after the base URL's own path):
// the key of Calls and RateFor.
func (c *Client) EndpointPath(e Endpoint) string {
	return c.base.Path + "/api/" + c.Version(e) + "/fo/" + string(e)
}

// ErrVersionUnsupported matches a call refused because the endpoint's API
// version is retired or not served to this subscription. The error is a
// *VersionError naming the endpoint, the version and the option to change.
var ErrVersionUnsupported = errors.New("qualys: API version not supported")

// VersionError reports a call to an API version the server does not serve
// (retired, or not enabled for the subscription). Err is the server's
// answer.
type VersionError struct {
	// Endpoint is the endpoint called.
	Endpoint Endpoint
	// Version is the version that was refused.
	Version string
	// Err is the *Error built from the server's answer.
	Err *Error
}

// Error says what failed and how to change it.
func (e *VersionError) Error() string {
	hint := "a newer version"
	if d := DefaultVersion(e.Endpoint); d != e.Version {
		hint = d + " (the current default)"
	}
	return "qualys: " + string(e.Endpoint) + " API version " + e.Version +
		" is not served (retired, or not enabled for this subscription); set another version with WithEndpointVersion(qualys." +
		endpointConstName(e.Endpoint) + ", ...), for example " + hint + ": " + e.Err.Error()
}

// Unwrap returns the server's answer.
func (e *VersionError) Unwrap() error { return e.Err }

// Is matches ErrVersionUnsupported.
func (e *VersionError) Is(target error) bool { return target == ErrVersionUnsupported }

func endpointConstName(e Endpoint) string {
	switch e {
	case EndpointDetections:
		return "EndpointDetections"
	case EndpointKnowledgeBase:
		return "EndpointKnowledgeBase"
	case EndpointSearchLists:
		return "EndpointSearchLists"
	case EndpointAssetGroups:
		return "EndpointAssetGroups"
	case EndpointHosts:
		return "EndpointHosts"
	}
	return "Endpoint(" + quoteShort(string(e)) + ")"
}

// versionRefused reports whether an FO answer says that the version in the
// path is not served: a 404 or 410 (the FO API reports missing objects with
// SIMPLE_RETURN codes, never with 404, so a 404 means the path itself is
// unknown), or an error text that says so.
func versionRefused(e *Error) bool {
	if e.StatusCode == http.StatusNotFound || e.StatusCode == http.StatusGone {
		return true
	}
	t := strings.ToLower(e.Message)
	if strings.Contains(t, "unrecognized api path") || strings.Contains(t, "api version") && (strings.Contains(t, "not supported") ||
		strings.Contains(t, "no longer") || strings.Contains(t, "end of life") || strings.Contains(t, "end-of-life") ||
		strings.Contains(t, "retired") || strings.Contains(t, "decommission")) {
		return true
	}
	return false
}

// endOfServiceNotice extracts an end-of-service or deprecation notice from
// response headers: the Deprecation and Sunset headers (RFC 9745, RFC
// 8594) and a Warning header. It returns "" when there is none.
func endOfServiceNotice(h http.Header) string {
	var parts []string
	if v := strings.TrimSpace(h.Get("Deprecation")); v != "" {
		parts = append(parts, "Deprecation: "+v)
	}
	if v := strings.TrimSpace(h.Get("Sunset")); v != "" {
		parts = append(parts, "Sunset: "+v)
	}
	if v := strings.TrimSpace(h.Get("Warning")); v != "" && eosText(v) {
		parts = append(parts, "Warning: "+v)
	}
	return strings.Join(parts, "; ")
}

// eosText reports whether a message announces the end of service or life
// of an API version.
func eosText(s string) bool {
	t := strings.ToLower(s)
	for _, k := range []string{"end of service", "end-of-service", "end of support", "end-of-support", "end of life", "end-of-life", "deprecat", "sunset"} {
		if strings.Contains(t, k) {
			return true
		}
	}
	return false
}

// warnEndOfService logs an end-of-service notice at WARN, once per endpoint
// path for the life of the client.
func (c *Client) warnEndOfService(path, notice string) {
	if notice == "" {
		return
	}
	if _, seen := c.eosWarned.LoadOrStore(path, true); seen {
		return
	}
	c.cfg.Logger.Warn("qualys: API version reaches end of service; move to a newer version with WithEndpointVersion",
		"endpoint", path, "notice", truncateNotice(notice))
}

func truncateNotice(s string) string {
	if len(s) > 300 {
		return s[:300] + "..."
	}
	return s
}
