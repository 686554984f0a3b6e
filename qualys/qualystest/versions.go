package qualystest

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/qualysbridge/qualysbridge/qualys"
)

// VersionPolicy says how the fake answers the versions of one FO endpoint.
// A version in neither list is answered as retired (see RetiredAnswer).
type VersionPolicy struct {
	// Current versions are served normally.
	Current []string
	// EndOfService versions are served, with an end-of-service notice in
	// the Deprecation and Sunset response headers.
	EndOfService []string
	// Sunset is the date sent in the Sunset header of end-of-service
	// answers (an HTTP date; default "Mon, 01 Feb 2027 00:00:00 GMT").
	Sunset string
}

// RetiredAnswer is the shape of the answer to a call to a retired version.
// Qualys documents that calls to a version past its end of life "return
// errors" without saying which; the fake offers the plausible shapes.
type RetiredAnswer int

const (
	// RetiredNotFoundHTML answers HTTP 404 with an HTML page (the
	// default: the least informative shape, so a client must cope with it).
	RetiredNotFoundHTML RetiredAnswer = iota
	// RetiredNotFoundXML answers HTTP 404 with a SIMPLE_RETURN, code 1901
	// "Unrecognized API path.".
	RetiredNotFoundXML
	// RetiredSimpleReturn answers HTTP 400 with a SIMPLE_RETURN whose
	// code (2100, chosen by the fake) and text say that the API version is
	// no longer supported.
	RetiredSimpleReturn
	// RetiredGone answers HTTP 410 with an empty body.
	RetiredGone
)

// defaultVersionPolicies are the versions a new Server serves, as of late
// 2026: Host List Detection 5.0 (2.0-4.0 reached end of life in June 2026),
// KnowledgeBase 4.0 (2.0 and 3.0 likewise), dynamic search lists 3.0 with
// 2.0 past end of support (reported end of life February 2027, an
// unconfirmed date), asset groups 2.0, Host List 5.0 (2.0-4.0 past end
// of support in December 2025).
func defaultVersionPolicies() map[qualys.Endpoint]VersionPolicy {
	return map[qualys.Endpoint]VersionPolicy{
		qualys.EndpointDetections:    {Current: []string{"5.0"}},
		qualys.EndpointKnowledgeBase: {Current: []string{"4.0"}},
		qualys.EndpointSearchLists:   {Current: []string{"3.0"}, EndOfService: []string{"2.0"}},
		qualys.EndpointAssetGroups:   {Current: []string{"2.0"}},
		qualys.EndpointHosts:         {Current: []string{"5.0"}},
	}
}

// WithVersionPolicy replaces the versions served for one FO endpoint.
func WithVersionPolicy(e qualys.Endpoint, p VersionPolicy) Option {
	return func(s *Server) { s.versions[e] = p }
}

// WithRetiredAnswer sets how calls to retired versions are answered
// (default RetiredNotFoundHTML).
func WithRetiredAnswer(a RetiredAnswer) Option {
	return func(s *Server) { s.retired = a }
}

// foEndpoint splits an FO path into its version and endpoint; ok is false
// for a path that is not /api/N.N/fo/<known endpoint>.
func foEndpoint(path string) (version string, e qualys.Endpoint, ok bool) {
	rest, found := strings.CutPrefix(path, "/api/")
	if !found {
		return "", "", false
	}
	version, resource, found := strings.Cut(rest, "/fo/")
	if !found {
		return "", "", false
	}
	if !strings.HasSuffix(resource, "/") {
		resource += "/"
	}
	for _, known := range qualys.Endpoints() {
		if string(known) == resource {
			return version, known, true
		}
	}
	return "", "", false
}

// versionState classifies a request path: served (with or without an
// end-of-service notice) or retired.
func (s *Server) versionState(path string) (served, eos bool, p VersionPolicy) {
	v, e, ok := foEndpoint(path)
	if !ok {
		return false, false, p
	}
	p = s.versions[e]
	switch {
	case slices.Contains(p.Current, v):
		return true, false, p
	case slices.Contains(p.EndOfService, v):
		return true, true, p
	}
	return false, false, p
}

// answerRetired writes the configured answer for a retired version.
func (s *Server) answerRetired(w http.ResponseWriter, path string) {
	v, _, _ := foEndpoint(path)
	switch s.retired {
	case RetiredNotFoundXML:
		writeXML(w, http.StatusNotFound, simpleReturn("1901", "Unrecognized API path."))
	case RetiredSimpleReturn:
		writeXML(w, http.StatusBadRequest, simpleReturn("2100", fmt.Sprintf("API version %s of this API is no longer supported (end of life). Use the current version.", v)))
	case RetiredGone:
		w.WriteHeader(http.StatusGone)
	default:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, "<!DOCTYPE html><html><head><title>404 Not Found</title></head><body><h1>Not Found</h1><p>The requested URL was not found on this server.</p></body></html>")
	}
}

// setEndOfService adds the end-of-service notice headers.
func setEndOfService(w http.ResponseWriter, p VersionPolicy) {
	sunset := p.Sunset
	if sunset == "" {
		sunset = "Mon, 01 Feb 2027 00:00:00 GMT"
	}
	w.Header().Set("Deprecation", "true")
	w.Header().Set("Sunset", sunset)
}

// CVEMatch is how a dynamic search list's cve_ids criterion selects QIDs.
// Qualys does not document whether the match is exact; public scripts send
// cve_ids_filter, which suggests it is not.
type CVEMatch int

const (
	// CVESubstring (the default) selects every QID one of whose CVE ids
	// contains a given id: CVE-2019-1705 also selects CVE-2019-17053.
	// It is the less forgiving reading: a client must check the QIDs.
	CVESubstring CVEMatch = iota
	// CVEExact selects QIDs with exactly a given CVE id.
	CVEExact
)

func (m CVEMatch) matches(have, want string) bool {
	if m == CVEExact {
		return have == want
	}
	return strings.Contains(have, want)
}

// WithCVEMatch sets how search lists match CVE ids (default CVESubstring).
func WithCVEMatch(m CVEMatch) Option { return func(s *Server) { s.cveMatch = m } }
