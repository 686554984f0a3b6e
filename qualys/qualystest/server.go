// Package qualystest is an in-process fake Qualys for tests and demos: the
// FO API (Host List Detection, Host List, dynamic search lists,
// KnowledgeBase, asset groups), the
// QPS host asset API and the gateway (/auth and the CSAM asset search), on
// httptest servers, with the real services' authentication, rate and
// concurrency limits, error shapes, truncation and pagination.
//
// Code that passes against it should work against the real service: it
// rejects what Qualys rejects (a missing X-Requested-With header, bad
// credentials, an over-long GET URL, an out-of-range page size) instead of
// accepting anything, and it can inject the faults real tenants see. WithLatency and WithLimit together
// make it as slow as a busy subscription: a wait before each answer's
// first byte, a paced body per call, and a concurrency limit that a slow
// call holds for its whole answer.
//
// Behaviour that the public documentation leaves open is chosen and listed
// here, each time the less forgiving reading:
//
//   - A missing X-Requested-With header gives HTTP 400 with SIMPLE_RETURN
//     code 1999; GET URLs longer than 8,000 bytes give HTTP 414; deleting
//     an unknown search list gives HTTP 400 with code 1905.
//   - Versions: the FO endpoints are served at their current versions only
//     (Host List Detection 5.0, KnowledgeBase 4.0, dynamic search lists 3.0
//     with 2.0 still served past its end of support, asset groups 2.0; see
//     VersionPolicy). Qualys says retired versions "return errors" without
//     a shape; the fake answers HTTP 404 with an HTML page by default and
//     offers other shapes (WithRetiredAnswer). Its end-of-service notice is
//     the Deprecation and Sunset headers (RFC 9745, RFC 8594), a shape
//     chosen by the fake.
//   - Host List Detection filters combine with AND, as Qualys documents:
//     ag_ids and ag_titles given together keep the hosts in both. Hosts
//     without a matching detection are left out. The detection's CVE
//     element (HLD 5.0) is one comma-separated text, filled from the
//     KnowledgeBase.
//   - A dynamic search list's cve_ids matches CVE ids by substring
//     (CVE-2019-1705 also selects CVE-2019-17053) unless WithCVEMatch says
//     exact: the documentation does not say, and public scripts send
//     cve_ids_filter.
//   - The QPS API answers XML unless JSON is accepted, and always XML with
//     WithQPSXMLOnly.
//   - The KnowledgeBase's details=Basic leaves DIAGNOSIS, CONSEQUENCE and
//     SOLUTION out and details=None returns the QIDs alone: the
//     documentation says Basic is "basic elements" without listing them.
//   - The Host List (5.0) lists the VM hosts (those with detections, fixed
//     ones included) and refuses any parameter it does not implement.
//     TRURISK_SCORE is the fake's formula (TruRisk: criticality x 2 x the
//     highest open QDS, at most 1000), not Qualys' undocumented one;
//     ASSET_CRITICALITY_SCORE comes with show_trurisk, as the Host List
//     documentation says the output shows it, and is DefaultCriticality
//     for a host the tenant gives none; ASSET_ID with show_asset_id is
//     the QPS host asset's id; VULN_COUNT counts open detections by
//     severity. details=None keeps the id and the scores asked for.
//     truncation_limit=0 means no limit, as Host List Detection documents
//     (the Host List page only shows a larger page size).
package qualystest

import (
	"bytes"
	"crypto/subtle"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/qualysbridge/qualysbridge/internal/fakefault"
	"github.com/qualysbridge/qualysbridge/qualys"
)

// Default credentials accepted by a new Server.
const (
	DefaultUser     = "qualystest"
	DefaultPassword = "qualystest-password"
)

// API names used for limits, faults and introspection. An FO API is named
// by its current version's path; a call to any served version of it
// (see VersionPolicy) counts under that name.
const (
	APIDetections    = "/api/5.0/fo/asset/host/vm/detection/"
	APISearchLists   = "/api/3.0/fo/qid/search_list/dynamic/"
	APIKnowledgeBase = "/api/4.0/fo/knowledge_base/vuln/"
	APIAssetGroups   = "/api/2.0/fo/asset/group/"
	APIHosts         = "/api/5.0/fo/asset/host/"
	APIHostAssets    = "/qps/rest/2.0/search/am/hostasset"
	APIHostCount     = "/qps/rest/2.0/count/am/hostasset"
	APIHostGet       = "/qps/rest/2.0/get/am/hostasset/"
	APIGatewayAuth   = "/auth"
	APIGatewayAssets = "/rest/2.0/search/am/asset"
)

// maxGetURL is the longest GET URL the fake accepts.
const maxGetURL = 8000

// AssetGroup is an asset group: a title and the host ids it holds.
type AssetGroup struct {
	ID      int64
	Title   string
	HostIDs []int64
}

// Tenant is the state of a subscription: what a Server serves.
type Tenant struct {
	HostAssets  []*qualys.HostAsset
	Detections  []*qualys.DetectionHost
	KB          []*qualys.Vulnerability
	Assets      []*qualys.Asset
	AssetGroups []AssetGroup
	// Criticality is each VM host's Asset Criticality Score (1-5), by
	// host id; a host without one scores DefaultCriticality.
	Criticality map[int64]int
}

// Limit is a call budget and concurrency limit for one FO API.
type Limit struct {
	// Calls allowed per Window; 0 means unlimited.
	Calls  int
	Window time.Duration
	// Concurrency is the number of calls allowed at once; 0 means
	// unlimited.
	Concurrency int
	// OmitToWaitFirst leaves X-RateLimit-ToWait-Sec out of the first
	// blocked response of each burst, as the real service sometimes does.
	OmitToWaitFirst bool
}

// Fault is an injected failure.
type Fault struct {
	// Name labels the fault in FaultsFired (default "fault").
	Name string
	// API is one of the API* constants (a path prefix).
	API string
	// Call is the 1-based number of the matching request, counted from
	// when the fault was injected, that fails; 0 fails every matching
	// request, up to Times (0: no bound). The rule is the same in every
	// fake (cartest, threatqtest).
	Call  int
	Times int
	// Status and Body, when Status is set, are the response. Header
	// adds response headers.
	Status int
	Body   string
	Header http.Header
	// Delay delays the response.
	Delay time.Duration
	// DropAfter, when positive, sends that many bytes of the real
	// response and then cuts the connection.
	DropAfter int
	// HTML answers a maintenance page with HTTP 503... or 200 when Status
	// is 200.
	HTML bool
	// SlowBody sends the real response in small chunks with this pause
	// between them.
	SlowBody time.Duration

	count fakefault.Counter
}

// Request is a request the server received.
type Request struct {
	Method string
	API    string
	Path   string
	Form   url.Values
	Header http.Header
	Time   time.Time
}

// Option configures a Server.
type Option func(*Server)

// WithCredentials sets the accepted user name and password.
func WithCredentials(user, pass string) Option {
	return func(s *Server) { s.user, s.pass = user, pass }
}

// WithTLS serves HTTPS (with httptest's certificate; use Server.Client).
func WithTLS() Option { return func(s *Server) { s.tls = true } }

// WithLimit sets the call budget and concurrency limit of one FO API (one
// of the API* constants). Limits are per API, as on the real service.
func WithLimit(api string, l Limit) Option {
	return func(s *Server) { s.limits[api] = &limitState{Limit: l} }
}

// WithQPSXMLOnly makes the QPS API answer XML even when the request
// accepts JSON, as the real service does on some requests.
func WithQPSXMLOnly() Option { return func(s *Server) { s.qpsXMLOnly = true } }

// WithTenant loads a tenant at start.
func WithTenant(t *Tenant) Option { return func(s *Server) { s.pendingTenant = t } }

// WithJWTLifetime sets how long the server accepts a gateway token (default
// 4 hours). The token's exp claim always says 4 hours, the documented
// lifetime: a shorter lifetime here makes the server refuse the token
// early (401), as for a revoked one.
func WithJWTLifetime(d time.Duration) Option { return func(s *Server) { s.jwtLife = d } }

// Server is a fake Qualys. Its methods are safe for concurrent use.
type Server struct {
	// URL is the API server's base URL (FO and QPS APIs).
	URL string
	// GatewayURL is the gateway's base URL.
	GatewayURL string

	api, gw       *httptest.Server
	user, pass    string
	tls           bool
	jwtLife       time.Duration
	pendingTenant *Tenant

	mu         sync.Mutex
	hostAssets map[int64]*qualys.HostAsset
	detections map[int64]*qualys.DetectionHost
	// criticality is the hosts' Asset Criticality Scores (Tenant).
	criticality map[int64]int
	kb          map[int64]*qualys.Vulnerability
	assets      map[int64]*qualys.Asset
	groups      []AssetGroup
	lists       map[int64]*searchList
	nextListID  int64
	tokens      map[string]time.Time
	tokenSeq    int
	limits      map[string]*limitState
	latency     map[string]latency
	faults      []*Fault
	barriers    []*Barrier
	requests    []Request
	calls       map[string]int
	inFlight    map[string]int
	peak        map[string]int
	// served counts answer body bytes per API, under its own lock (the
	// handlers write while holding mu).
	servedMu    sync.Mutex
	served      map[string]int64
	pageHook    func(api string, page int)
	listHook    func(id int64)
	pageCounter map[string]int
	fired       map[string]int
	refusals    map[string]int
	versions    map[qualys.Endpoint]VersionPolicy
	retired     RetiredAnswer
	cveMatch    CVEMatch
	qpsXMLOnly  bool
}

// FaultsFired returns how many times each injected fault fired, by Name.
func (s *Server) FaultsFired() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for k, v := range s.fired {
		out[k] = v
	}
	return out
}

// Refusals returns how many calls to an API the rate and concurrency
// limits refused (HTTP 409).
func (s *Server) Refusals(api string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refusals[api]
}

type limitState struct {
	Limit
	stamps       []time.Time
	blockedBurst bool
}

type searchList struct {
	id     int64
	title  string
	global bool
	cves   []string
	qids   []int64
}

// NewServer starts a fake Qualys. Close it when done.
func NewServer(opts ...Option) *Server {
	s := &Server{
		user: DefaultUser, pass: DefaultPassword, jwtLife: 4 * time.Hour,
		hostAssets: map[int64]*qualys.HostAsset{}, detections: map[int64]*qualys.DetectionHost{}, criticality: map[int64]int{},
		kb: map[int64]*qualys.Vulnerability{}, assets: map[int64]*qualys.Asset{},
		lists: map[int64]*searchList{}, nextListID: 1700000, tokens: map[string]time.Time{},
		limits: map[string]*limitState{}, latency: map[string]latency{}, calls: map[string]int{}, inFlight: map[string]int{},
		peak: map[string]int{}, served: map[string]int64{}, pageCounter: map[string]int{}, fired: map[string]int{}, refusals: map[string]int{},
		versions: defaultVersionPolicies(),
	}
	for _, o := range opts {
		o(s)
	}
	if s.pendingTenant != nil {
		s.Load(s.pendingTenant)
	}
	apiMux := http.NewServeMux()
	apiMux.HandleFunc("/api/", s.wrap(s.serveFO))
	apiMux.HandleFunc("/qps/", s.wrap(s.serveQPS))
	gwMux := http.NewServeMux()
	gwMux.HandleFunc("/", s.wrap(s.serveGateway))
	if s.tls {
		s.api = httptest.NewTLSServer(apiMux)
		s.gw = httptest.NewTLSServer(gwMux)
	} else {
		s.api = httptest.NewServer(apiMux)
		s.gw = httptest.NewServer(gwMux)
	}
	s.URL, s.GatewayURL = s.api.URL, s.gw.URL
	return s
}

// Close shuts the servers down.
func (s *Server) Close() {
	s.api.Close()
	s.gw.Close()
}

// Client returns an HTTP client that trusts the server's TLS certificate.
func (s *Server) Client() *http.Client { return s.api.Client() }

// NewClient returns a qualys.Client ready for this server: its
// credentials, its gateway, loopback http:// allowed (or its TLS
// certificate trusted, WithTLS) and short retry waits, so that a test
// does not wait on a real subscription's pace. opts come after those and
// win over them.
func (s *Server) NewClient(opts ...qualys.Option) (*qualys.Client, error) {
	user, pass := s.Credentials()
	base := []qualys.Option{qualys.WithCredentials(user, pass), qualys.WithGateway(s.GatewayURL), qualys.WithInsecureLoopback(),
		qualys.WithBackoff(func(int) time.Duration { return 5 * time.Millisecond })}
	if s.tls {
		base = append(base, qualys.WithHTTPClient(s.Client()))
	}
	return qualys.NewClient(s.URL, append(base, opts...)...)
}

// Certificate returns the TLS certificate the server presents (WithTLS),
// for a test that trusts it through a CA file.
func (s *Server) Certificate() *x509.Certificate { return s.api.Certificate() }

// Credentials returns the accepted user name and password.
func (s *Server) Credentials() (user, pass string) { return s.user, s.pass }

// Load adds (or replaces, by id) the tenant's objects.
func (s *Server) Load(t *Tenant) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range t.HostAssets {
		s.hostAssets[a.ID] = a
	}
	for _, h := range t.Detections {
		s.detections[h.ID] = h
	}
	for _, v := range t.KB {
		s.kb[v.QID] = v
	}
	for _, a := range t.Assets {
		s.assets[a.AssetID] = a
	}
	s.groups = append(s.groups, t.AssetGroups...)
	for id, c := range t.Criticality {
		s.criticality[id] = c
	}
}

// SetAssetCriticality sets a VM host's Asset Criticality Score (1-5), as
// a user editing it in Qualys does: the host's TruRisk follows.
func (s *Server) SetAssetCriticality(hostID int64, score int) {
	s.mu.Lock()
	s.criticality[hostID] = score
	s.mu.Unlock()
}

// AddHostAsset adds or replaces a host asset.
func (s *Server) AddHostAsset(a *qualys.HostAsset) {
	s.Load(&Tenant{HostAssets: []*qualys.HostAsset{a}})
}

// RemoveHostAsset removes a host asset (and nothing else).
func (s *Server) RemoveHostAsset(id int64) {
	s.mu.Lock()
	delete(s.hostAssets, id)
	s.mu.Unlock()
}

// SetDetectionHost adds or replaces a host's detections.
func (s *Server) SetDetectionHost(h *qualys.DetectionHost) {
	s.Load(&Tenant{Detections: []*qualys.DetectionHost{h}})
}

// RemoveDetectionHost removes a host's detections.
func (s *Server) RemoveDetectionHost(id int64) {
	s.mu.Lock()
	delete(s.detections, id)
	s.mu.Unlock()
}

// SetAsset adds or replaces a gateway asset.
func (s *Server) SetAsset(a *qualys.Asset) { s.Load(&Tenant{Assets: []*qualys.Asset{a}}) }

// RemoveAsset removes a gateway asset.
func (s *Server) RemoveAsset(id int64) {
	s.mu.Lock()
	delete(s.assets, id)
	s.mu.Unlock()
}

// OnPage sets a hook called before the server answers each page request of
// a paged API (APIHostAssets, APIDetections, APIGatewayAssets), with the
// 0-based page number counted per API, so a test can mutate the tenant
// between pages. The hook runs without the server's lock held.
func (s *Server) OnPage(hook func(api string, page int)) {
	s.mu.Lock()
	s.pageHook = hook
	s.mu.Unlock()
}

// OnSearchListCreated sets a hook called when a dynamic search list has
// been created, before the answer is written, so a test can act while the
// list exists and its id is not known to the client yet (cancel, say). The
// hook runs without the server's lock held.
func (s *Server) OnSearchListCreated(hook func(id int64)) {
	s.mu.Lock()
	s.listHook = hook
	s.mu.Unlock()
}

// ExpireGatewayTokens makes the gateway refuse (401) every token it has
// issued so far, as when they run out or are revoked, so a test can expire
// a token in the middle of a listing without waiting for its lifetime.
func (s *Server) ExpireGatewayTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	past := time.Now().Add(-time.Second)
	for tok := range s.tokens {
		s.tokens[tok] = past
	}
}

// InjectFault adds a fault.
func (s *Server) InjectFault(f Fault) {
	s.mu.Lock()
	s.faults = append(s.faults, &f)
	s.mu.Unlock()
}

// ClearFaults removes every fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	s.faults = nil
	s.mu.Unlock()
}

// Requests returns the requests received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// Calls returns the number of calls received by an API.
func (s *Server) Calls(api string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[api]
}

// TotalCalls returns the number of calls received by all APIs.
func (s *Server) TotalCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.calls {
		n += c
	}
	return n
}

// BytesServed returns the bytes of answer bodies an API has written (for
// example to compute the time a latency model needs to deliver them).
func (s *Server) BytesServed(api string) int64 {
	s.servedMu.Lock()
	defer s.servedMu.Unlock()
	return s.served[api]
}

// countWriter counts an API's answer bytes.
type countWriter struct {
	http.ResponseWriter
	s   *Server
	api string
}

func (c *countWriter) Write(b []byte) (int, error) {
	n, err := c.ResponseWriter.Write(b)
	c.s.servedMu.Lock()
	c.s.served[c.api] += int64(n)
	c.s.servedMu.Unlock()
	return n, err
}

// Flush passes a flush through.
func (c *countWriter) Flush() {
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// PeakConcurrency returns the most calls an API had in flight at once.
func (s *Server) PeakConcurrency(api string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak[api]
}

// SearchLists returns the ids of the dynamic search lists that exist.
func (s *Server) SearchLists() []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []int64
	for id := range s.lists {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// apiOf maps a request path to its API name: a served version of an FO
// endpoint is named by its current path; a retired one by its own path.
func (s *Server) apiOf(path string) string {
	if served, _, _ := s.versionState(path); served {
		_, e, _ := foEndpoint(path)
		switch e {
		case qualys.EndpointDetections:
			return APIDetections
		case qualys.EndpointKnowledgeBase:
			return APIKnowledgeBase
		case qualys.EndpointSearchLists:
			return APISearchLists
		case qualys.EndpointAssetGroups:
			return APIAssetGroups
		case qualys.EndpointHosts:
			return APIHosts
		}
	}
	for _, api := range []string{APIHostAssets, APIHostCount, APIGatewayAuth, APIGatewayAssets} {
		if strings.TrimSuffix(path, "/") == strings.TrimSuffix(api, "/") {
			return api
		}
	}
	if strings.HasPrefix(path, APIHostGet) {
		return APIHostGet
	}
	return path
}

type handler func(w http.ResponseWriter, r *http.Request, api string, form url.Values)

// wrap records the request, applies faults, the FO checks, limits and
// latency, and calls h.
func (s *Server) wrap(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		api := s.apiOf(r.URL.Path)
		if r.Method == http.MethodGet && len(r.URL.RequestURI()) > maxGetURL {
			http.Error(w, "Request-URI Too Long", http.StatusRequestURITooLong)
			return
		}
		form := readForm(r)
		s.mu.Lock()
		s.calls[api]++
		s.requests = append(s.requests, Request{Method: r.Method, API: api, Path: r.URL.Path, Form: form, Header: r.Header.Clone(), Time: time.Now()})
		s.inFlight[api]++
		if s.inFlight[api] > s.peak[api] {
			s.peak[api] = s.inFlight[api]
		}
		fault := s.matchFault(api)
		s.mu.Unlock()
		w = &countWriter{ResponseWriter: w, s: s, api: api}
		defer func() {
			s.mu.Lock()
			s.inFlight[api]--
			s.mu.Unlock()
		}()

		if fault != nil && answerFault(w, r, fault) {
			return
		}
		if strings.HasPrefix(api, "/api/") && !s.foGate(w, r, api) {
			return
		}
		if !s.hold(r.Context(), api) {
			return
		}
		out := w
		if lat, ok := s.latency[api]; ok {
			if !sleepCtx(r.Context(), lat.ttfb) {
				return
			}
			if lat.bytesPerSec > 0 {
				out = &pacedWriter{ResponseWriter: w, ctx: r.Context(), rate: lat.bytesPerSec}
			}
		}
		if fault != nil && (fault.DropAfter > 0 || fault.SlowBody > 0) {
			out = &cutWriter{ResponseWriter: out, limit: fault.DropAfter, pause: fault.SlowBody}
		}
		h(out, r, api, form)
	}
}

// readForm reads the query and a form body into one set of parameters,
// leaving the body readable again for the handler.
func readForm(r *http.Request) url.Values {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	form := url.Values{}
	for k, v := range r.URL.Query() {
		form[k] = v
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		pf, _ := url.ParseQuery(string(body))
		for k, v := range pf {
			form[k] = append(form[k], v...)
		}
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return form
}

// answerFault applies a fault's delay and, for a fault that replaces the
// answer (an HTML page, a status), writes it and reports true.
func answerFault(w http.ResponseWriter, r *http.Request, fault *Fault) bool {
	if fault.Delay > 0 && !sleepCtx(r.Context(), fault.Delay) {
		return true
	}
	if fault.HTML {
		status := fault.Status
		if status == 0 {
			status = http.StatusServiceUnavailable
		}
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(status)
		io.WriteString(w, "<!DOCTYPE html><html><head><title>Qualys Scheduled Maintenance</title></head><body><h1>The service is under maintenance.</h1></body></html>")
		return true
	}
	if fault.Status != 0 {
		for k, v := range fault.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(fault.Status)
		io.WriteString(w, fault.Body)
		return true
	}
	return false
}

// foGate applies what every FO call goes through: the version policy
// (retired versions refused, end-of-service headers), the
// X-Requested-With header, Basic authentication and the API's limits. It
// reports whether the call may proceed; otherwise it has answered.
func (s *Server) foGate(w http.ResponseWriter, r *http.Request, api string) bool {
	if served, eos, p := s.versionState(r.URL.Path); !served {
		if _, _, known := foEndpoint(r.URL.Path); known {
			s.answerRetired(w, r.URL.Path)
			return false
		}
	} else if eos {
		setEndOfService(w, p)
	}
	if r.Header.Get("X-Requested-With") == "" {
		writeXML(w, http.StatusBadRequest, simpleReturn("1999", "X-Requested-With header is required."))
		return false
	}
	if !s.basicOK(r) {
		writeXML(w, http.StatusUnauthorized, simpleReturn("2000", "Bad Login/Password"))
		return false
	}
	return s.admit(w, api)
}

func (s *Server) matchFault(api string) *Fault {
	f, ok := fakefault.Pick(s.faults, func(f *Fault) (*fakefault.Counter, int, int, bool) {
		return &f.count, f.Call, f.Times, f.API != "" && strings.HasPrefix(api, f.API)
	})
	if ok {
		name := f.Name
		if name == "" {
			name = "fault"
		}
		s.fired[name]++
		return f
	}
	return nil
}

func (s *Server) basicOK(r *http.Request) bool {
	u, p, ok := r.BasicAuth()
	return ok && subtle.ConstantTimeCompare([]byte(u), []byte(s.user)) == 1 && subtle.ConstantTimeCompare([]byte(p), []byte(s.pass)) == 1
}

// admit applies an FO API's budget and concurrency limit and writes the
// rate headers; false means the call was refused (409 written).
func (s *Server) admit(w http.ResponseWriter, api string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.limits[api]
	h := w.Header()
	if l == nil {
		h.Set("X-RateLimit-Limit", "300")
		h.Set("X-RateLimit-Window-Sec", "3600")
		h.Set("X-RateLimit-Remaining", "300")
		h.Set("X-RateLimit-ToWait-Sec", "0")
		h.Set("X-Concurrency-Limit-Limit", "100")
		h.Set("X-Concurrency-Limit-Running", strconv.Itoa(s.inFlight[api]))
		return true
	}
	now := time.Now()
	if l.Window > 0 {
		keep := l.stamps[:0]
		for _, t := range l.stamps {
			if now.Sub(t) < l.Window {
				keep = append(keep, t)
			}
		}
		l.stamps = keep
	}
	running := s.inFlight[api] // includes this call
	if l.Concurrency > 0 {
		h.Set("X-Concurrency-Limit-Limit", strconv.Itoa(l.Concurrency))
		h.Set("X-Concurrency-Limit-Running", strconv.Itoa(running))
	}
	if l.Calls > 0 {
		h.Set("X-RateLimit-Limit", strconv.Itoa(l.Calls))
		h.Set("X-RateLimit-Window-Sec", strconv.Itoa(max(1, int(l.Window/time.Second))))
	}
	if l.Concurrency > 0 && running > l.Concurrency {
		s.refusals[api]++
		writeXML(w, http.StatusConflict, simpleReturn("1960", "This API cannot be run again until 1 currently running API instance has finished.", [2]string{"CALLS_TO_FINISH", "1"}))
		return false
	}
	if l.Calls > 0 && len(l.stamps) >= l.Calls {
		wait := l.stamps[0].Add(l.Window).Sub(now)
		secs := int((wait + time.Second - 1) / time.Second)
		h.Set("X-RateLimit-Remaining", "0")
		if !(l.OmitToWaitFirst && !l.blockedBurst) {
			h.Set("X-RateLimit-ToWait-Sec", strconv.Itoa(secs))
		}
		l.blockedBurst = true
		s.refusals[api]++
		writeXML(w, http.StatusConflict, simpleReturn("1965", fmt.Sprintf("This API cannot be run again for another %d seconds.", secs), [2]string{"SECONDS_TO_WAIT", strconv.Itoa(secs)}))
		return false
	}
	l.blockedBurst = false
	l.stamps = append(l.stamps, now)
	if l.Calls > 0 {
		h.Set("X-RateLimit-Remaining", strconv.Itoa(l.Calls-len(l.stamps)))
		h.Set("X-RateLimit-ToWait-Sec", "0")
	}
	return true
}

func writeXML(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

// nextPage counts a page request and runs the page hook.
func (s *Server) nextPage(api string) {
	s.mu.Lock()
	page := s.pageCounter[api]
	s.pageCounter[api]++
	hook := s.pageHook
	s.mu.Unlock()
	if hook != nil {
		hook(api, page)
	}
}

// cutWriter sends at most limit bytes and then cuts the connection, or
// sends slowly.
type cutWriter struct {
	http.ResponseWriter
	limit   int
	pause   time.Duration
	written int
	cut     bool
}

func (c *cutWriter) Write(p []byte) (int, error) {
	if c.cut {
		return 0, io.ErrClosedPipe
	}
	if c.limit > 0 && c.written+len(p) > c.limit {
		p = p[:c.limit-c.written]
		c.ResponseWriter.Write(p)
		c.written += len(p)
		c.cut = true
		if f, ok := c.ResponseWriter.(http.Flusher); ok {
			f.Flush()
		}
		// Abort the connection mid-body: the client sees a truncated
		// response, as when a proxy or the network drops it.
		panic(http.ErrAbortHandler)
	}
	if c.pause > 0 {
		for len(p) > 0 {
			n := min(len(p), 256)
			if _, err := c.ResponseWriter.Write(p[:n]); err != nil {
				return c.written, err
			}
			if f, ok := c.ResponseWriter.(http.Flusher); ok {
				f.Flush()
			}
			c.written += n
			p = p[n:]
			time.Sleep(c.pause)
		}
		return c.written, nil
	}
	n, err := c.ResponseWriter.Write(p)
	c.written += n
	return n, err
}

// LoadDetectionsXML loads the hosts of a saved Host List Detection XML
// document (the API's format).
func (s *Server) LoadDetectionsXML(r io.Reader) error {
	var t Tenant
	for h, err := range qualys.DecodeDetections(r) {
		if err != nil {
			return err
		}
		t.Detections = append(t.Detections, h)
	}
	s.Load(&t)
	return nil
}

// LoadHostAssetsJSON loads the host assets of a saved QPS search response
// (JSON).
func (s *Server) LoadHostAssetsJSON(r io.Reader) error {
	var t Tenant
	for a, err := range qualys.DecodeHostAssets(r) {
		if err != nil {
			return err
		}
		t.HostAssets = append(t.HostAssets, a)
	}
	s.Load(&t)
	return nil
}

// LoadKnowledgeBaseXML loads the entries of a saved KnowledgeBase XML
// document.
func (s *Server) LoadKnowledgeBaseXML(r io.Reader) error {
	var t Tenant
	for v, err := range qualys.DecodeKnowledgeBase(r) {
		if err != nil {
			return err
		}
		t.KB = append(t.KB, v)
	}
	s.Load(&t)
	return nil
}

// LoadAssetsJSON loads the assets of a saved gateway asset search response
// (JSON).
func (s *Server) LoadAssetsJSON(r io.Reader) error {
	var t Tenant
	for a, err := range qualys.DecodeAssets(r) {
		if err != nil {
			return err
		}
		t.Assets = append(t.Assets, a)
	}
	s.Load(&t)
	return nil
}
