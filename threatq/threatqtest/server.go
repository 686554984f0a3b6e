// Package threatqtest is an in-process fake ThreatQ for tests and demos:
// the OAuth token endpoint (all four request forms peers use, expiry and
// refresh, 401 on an expired token), /api/objects with an Asset object,
// indicator types and statuses, indicators, the Asset collection with the
// bulk consume upsert, attributes, tags, sources and relations with
// pivots, both documented error shapes, fault injection and introspection.
//
// Where ThreatQ's behaviour is not documented, the fake takes the strict
// reading and says so here: POST /api/{collection}/{id}/attributes takes
// one attribute object, as ThreatQ's SDK and every public client send it
// (a list is refused with a validation error); a consume answer names each
// object by its value.
//
// The indicator query (POST /api/indicators/query, limit, offset, sort on
// id, value, score, created_at or updated_at, comma-separated, - for
// descending, as public clients send sort=-updated_at or
// sort=-created_at,id) evaluates the filter forms public clients send: a
// "+and" or "+or" list, type_name, value (a string, or {"+equals": v},
// {"is": v}, {"+contains": v}), status_id, status_name, and score with
// "+gte"/"+lte"; any other filter field or operator is refused with a
// validation error rather than ignored or answered with nothing (a real
// server's unknown form would select something else, not nothing).
// PUT /api/indicators/{id} sets the status ({"status": {"name": …}}, as
// ThreatQ's SOAR connector sends it), status_id, score or description.
// Related objects are listed with their pivots, paged, with sources under
// with=sources and attribute rows under with=attributes. DELETE /api/{c1}/{id}/{c2} removes relations
// by a JSON array of pivot ids, as public clients send it; a pivot that is
// not one of the object's relations to c2 refuses the whole request (404)
// and removes nothing.
package threatqtest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/qualysbridge/qualysbridge/internal/fakefault"
	"github.com/qualysbridge/qualysbridge/threatq"
)

// Default credentials.
const (
	ClientID     = "threatqtest-client"
	ClientSecret = "threatqtest-secret"
	Email        = "analyst@example.com"
	Password     = "threatqtest-password"
)

// Option configures a Server.
type Option func(*Server)

// WithAssetCollection names the Asset object's API collection (default
// "asset").
func WithAssetCollection(name string) Option { return func(s *Server) { s.assetColl = name } }

// WithoutConsume makes the bulk consume endpoint answer 404, as on
// versions without it.
func WithoutConsume() Option { return func(s *Server) { s.noConsume = true } }

// WithTokenLifetime sets expires_in of issued tokens (default 1 hour).
func WithTokenLifetime(d time.Duration) Option { return func(s *Server) { s.tokenLife = d } }

// WithLatency answers every request after d, as a ThreatQ that far away
// or that busy would (the latency model of a benchmark, like qualystest's):
// the requests a run makes, and how many it sends at once, then set its
// pace. PeakConcurrency tells the most requests served at once.
func WithLatency(d time.Duration) Option { return func(s *Server) { s.latency = d } }

// PeakConcurrency returns the most requests the server was serving at once.
func (s *Server) PeakConcurrency() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak
}

// WithTLS serves HTTPS (use Server.Client).
func WithTLS() Option { return func(s *Server) { s.tls = true } }

// Fault is an injected failure for requests whose path (after /api/)
// starts with Route and whose method matches (empty: any).
type Fault struct {
	Method string
	Route  string
	Call   int // 1-based matching request; 0: every one, up to Times
	Times  int
	Status int
	Body   string
	// ErrorIn2xx answers 200 with an {"errors": [...]} body.
	ErrorIn2xx bool
	// ExpireToken expires the caller's token before answering, as when
	// a token runs out in the middle of a batch.
	ExpireToken bool

	count fakefault.Counter
}

// Request is a request the server received.
type Request struct {
	Method, Path, Query string
	Body                []byte
}

// AttributeChange is one change to an attribute, in the order the server
// saw it: a row added (by POST or by a consume), a value updated in place
// (PUT), a row deleted.
type AttributeChange struct {
	ObjectID int64
	Object   string // the object's value
	Name     string
	Value    string // the new value ("" for a delete)
	Old      string // the value before an update or delete
	Action   string // added, updated, deleted
}

// AttributeHistory returns every attribute change of the object with this
// value, oldest first.
func (s *Server) AttributeHistory(value string) []AttributeChange {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []AttributeChange
	for _, c := range s.history {
		if c.Object == value {
			out = append(out, c)
		}
	}
	return out
}

type attrRow struct {
	id          int64
	name, value string
}

type object struct {
	id          int64
	value       string
	description string
	typeID      int64
	statusID    int64
	attrs       []attrRow
	tags        []string
	sources     []string
	published   string
	score       float64   // indicators: the effective score
	updated     time.Time // indicators: updated_at
}

// AssetRecord is a stored Asset as the test sees it.
type AssetRecord struct {
	ID          int64
	Value       string
	Description string
	Attributes  [][2]string // name, value
	Tags        []string
	Sources     []string
	Indicators  []int64
}

// IndicatorRecord is a stored indicator.
type IndicatorRecord struct {
	ID    int64
	Value string
	Type  string
	Tags  []string
}

type token struct {
	expires time.Time
}

// Server is a fake ThreatQ. Its methods are safe for concurrent use.
type Server struct {
	// URL is the base URL to give threatq.NewClient.
	URL string

	hs        *httptest.Server
	assetColl string
	noConsume bool
	tokenLife time.Duration
	tls       bool
	latency   time.Duration
	inFlight  int
	peak      int

	mu         sync.Mutex
	seq        int64
	tokens     map[string]*token
	refresh    map[string]bool
	logins     int
	refreshes  int
	indicators map[int64]*object
	assets     map[int64]*object
	byValue    map[string]*object   // assets by value
	relations  map[[2]int64][]int64 // (asset id, indicator id) -> pivot ids
	history    []AttributeChange
	unrelated  int
	faults     []*Fault
	requests   []Request
}

var indicatorTypes = []map[string]any{{"id": 2, "name": "IP Address", "class": "network"}, {"id": 11, "name": "FQDN", "class": "network"}, {"id": 17, "name": "CVE", "class": "host"}}
var indicatorStatuses = []map[string]any{{"id": 1, "name": "Active"}, {"id": 2, "name": "Expired"}, {"id": 3, "name": "Indirect"}, {"id": 4, "name": "Review"}, {"id": 5, "name": "Whitelisted"}}

// NewServer starts a fake ThreatQ.
func NewServer(opts ...Option) *Server {
	s := &Server{assetColl: "asset", tokenLife: time.Hour, seq: 100, tokens: map[string]*token{}, refresh: map[string]bool{},
		indicators: map[int64]*object{}, assets: map[int64]*object{}, byValue: map[string]*object{}, relations: map[[2]int64][]int64{}}
	for _, o := range opts {
		o(s)
	}
	if s.tls {
		s.hs = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	} else {
		s.hs = httptest.NewServer(http.HandlerFunc(s.serve))
	}
	s.URL = s.hs.URL
	return s
}

// Close shuts the server down.
func (s *Server) Close() { s.hs.Close() }

// Client returns an HTTP client that trusts the server.
func (s *Server) Client() *http.Client { return s.hs.Client() }

// NewClient returns a threatq.Client ready for this server: the default
// password login, loopback http:// allowed (or the TLS certificate
// trusted, WithTLS) and short retry waits. opts come after those and win
// over them.
func (s *Server) NewClient(opts ...threatq.Option) (*threatq.Client, error) {
	base := []threatq.Option{threatq.WithPasswordGrant(threatq.PasswordGrant{ClientID: ClientID, Email: Email, Password: Password}), threatq.WithInsecureLoopback(),
		threatq.WithBackoff(func(int) time.Duration { return 5 * time.Millisecond })}
	if s.tls {
		base = append(base, threatq.WithHTTPClient(s.Client()))
	}
	return threatq.NewClient(s.URL, append(base, opts...)...)
}

// AssetCollection is the Asset object's collection.
func (s *Server) AssetCollection() string { return s.assetColl }

// InjectFault adds a fault.
func (s *Server) InjectFault(f Fault) {
	s.mu.Lock()
	s.faults = append(s.faults, &f)
	s.mu.Unlock()
}

// Requests returns the requests received.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Logins returns how many logins (not refreshes) were made.
func (s *Server) Logins() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logins
}

// Refreshes returns how many tokens were refreshed.
func (s *Server) Refreshes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refreshes
}

// ExpireTokens makes every issued token expired.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	for _, t := range s.tokens {
		t.expires = time.Now().Add(-time.Second)
	}
	s.mu.Unlock()
}

// Assets returns the stored assets, sorted by value.
func (s *Server) Assets() []AssetRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []AssetRecord
	for _, a := range s.assets {
		r := AssetRecord{ID: a.id, Value: a.value, Description: a.description, Tags: append([]string(nil), a.tags...), Sources: append([]string(nil), a.sources...)}
		for _, at := range a.attrs {
			r.Attributes = append(r.Attributes, [2]string{at.name, at.value})
		}
		for k, pivots := range s.relations {
			if k[0] == a.id {
				for range pivots {
					r.Indicators = append(r.Indicators, k[1])
				}
			}
		}
		sort.Slice(r.Indicators, func(i, j int) bool { return r.Indicators[i] < r.Indicators[j] })
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Value < out[j].Value })
	return out
}

// Indicators returns the stored indicators.
func (s *Server) Indicators() []IndicatorRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []IndicatorRecord
	for _, in := range s.indicators {
		out = append(out, IndicatorRecord{ID: in.id, Value: in.value, Type: typeName(in.typeID), Tags: append([]string(nil), in.tags...)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// AddIndicator stores an indicator (type by name) and returns its id.
func (s *Server) AddIndicator(typ, value string) int64 {
	return s.SeedIndicator(IndicatorSeed{Type: typ, Value: value})
}

// IndicatorSeed is an indicator as SeedIndicator stores it.
type IndicatorSeed struct {
	Type, Value string
	// Status is a status name (default Active).
	Status string
	Score  float64
	Tags   []string
	// UpdatedAt defaults to the time of the call.
	UpdatedAt time.Time
}

// SeedIndicator stores an indicator with a status, score, tags and update
// time, as the indicator query returns them, and returns its id. An
// unknown type or status panics (a test's mistake).
func (s *Server) SeedIndicator(in IndicatorSeed) int64 {
	tid := typeID(in.Type)
	if tid == 0 {
		panic("threatqtest: unknown indicator type " + in.Type)
	}
	status := int64(1)
	if in.Status != "" {
		status = 0
		for _, st := range indicatorStatuses {
			if st["name"] == in.Status {
				status = int64(st["id"].(int))
			}
		}
		if status == 0 {
			panic("threatqtest: unknown indicator status " + in.Status)
		}
	}
	updated := in.UpdatedAt
	if updated.IsZero() {
		updated = time.Now()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	s.indicators[s.seq] = &object{id: s.seq, value: in.Value, typeID: tid, statusID: status, score: in.Score,
		tags: append([]string(nil), in.Tags...), updated: updated.UTC().Truncate(time.Second)}
	return s.seq
}

func typeName(id int64) string {
	for _, t := range indicatorTypes {
		if int64(t["id"].(int)) == id {
			return t["name"].(string)
		}
	}
	return ""
}

func typeID(name string) int64 {
	for _, t := range indicatorTypes {
		if t["name"] == name {
			return int64(t["id"].(int))
		}
	}
	return 0
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	if d, ok := w.(*deferred); ok && !d.set {
		// Encoded once the handler returned (and released the lock).
		d.status, d.v, d.set = status, v, true
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// deferred holds a handler's JSON answer until the handler has returned,
// so that encoding a large answer does not hold the server's lock.
type deferred struct {
	http.ResponseWriter
	status int
	v      any
	set    bool
}

func (d *deferred) flush() {
	if d.set {
		d.set = false
		writeJSON(d.ResponseWriter, d.status, d.v)
	}
}

func validationError(w http.ResponseWriter, field, msg string) {
	writeJSON(w, 400, map[string]any{"data": map[string]any{"errors": map[string]any{field: []string{msg}}}})
}

func (s *Server) matchFault(method, route string) *Fault {
	f, ok := fakefault.Pick(s.faults, func(f *Fault) (*fakefault.Counter, int, int, bool) {
		return &f.count, f.Call, f.Times, (f.Method == "" || f.Method == method) && strings.HasPrefix(route, f.Route)
	})
	if ok {
		return f
	}
	return nil
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	route, ok := strings.CutPrefix(r.URL.Path, "/api/")
	body, _ := io.ReadAll(io.LimitReader(r.Body, 32<<20))
	s.mu.Lock()
	s.inFlight++
	s.peak = max(s.peak, s.inFlight)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inFlight--
		s.mu.Unlock()
	}()
	if s.latency > 0 {
		select {
		case <-time.After(s.latency):
		case <-r.Context().Done():
			return
		}
	}
	s.mu.Lock()
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Body: body})
	var f *Fault
	if ok {
		f = s.matchFault(r.Method, route)
	}
	s.mu.Unlock()
	if !ok {
		writeJSON(w, 404, map[string]any{"errors": []string{"Not found"}})
		return
	}
	if route == "token" {
		s.serveToken(w, r, body)
		return
	}
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	s.mu.Lock()
	if f != nil && f.ExpireToken {
		if t := s.tokens[tok]; t != nil {
			t.expires = time.Now().Add(-time.Second)
		}
	}
	t := s.tokens[tok]
	valid := t != nil && time.Now().Before(t.expires)
	s.mu.Unlock()
	if !valid {
		writeJSON(w, 401, map[string]any{"errors": []string{"Access denied: the access token is missing, invalid or expired."}})
		return
	}
	if f != nil && f.ErrorIn2xx {
		writeJSON(w, 200, map[string]any{"errors": []any{"Internal service error", []string{"try", "again"}}})
		return
	}
	if f != nil && f.Status != 0 {
		w.WriteHeader(f.Status)
		io.WriteString(w, f.Body)
		return
	}
	d := &deferred{ResponseWriter: w}
	s.serveAPI(d, r, route, body)
	d.flush()
}

// params merges query, form and JSON body parameters (the token endpoint
// accepts all of them).
func params(r *http.Request, body []byte) url.Values {
	p := url.Values{}
	for k, v := range r.URL.Query() {
		p[k] = v
	}
	ct := r.Header.Get("Content-Type")
	switch {
	case strings.HasPrefix(ct, "application/x-www-form-urlencoded"):
		f, _ := url.ParseQuery(string(body))
		for k, v := range f {
			p[k] = v
		}
	case len(body) > 0 && body[0] == '{':
		var m map[string]any
		if json.Unmarshal(body, &m) == nil {
			for k, v := range m {
				p.Set(k, fmt.Sprint(v))
			}
		}
	}
	return p
}

func (s *Server) serveToken(w http.ResponseWriter, r *http.Request, body []byte) {
	if r.Method != "POST" {
		writeJSON(w, 405, map[string]any{"errors": []string{"Method not allowed"}})
		return
	}
	p := params(r, body)
	s.mu.Lock()
	defer s.mu.Unlock()
	issue := func() {
		s.seq++
		access := fmt.Sprintf("tq-access-%d", s.seq)
		refresh := fmt.Sprintf("tq-refresh-%d", s.seq)
		s.tokens[access] = &token{expires: time.Now().Add(s.tokenLife)}
		s.refresh[refresh] = true
		writeJSON(w, 200, map[string]any{"access_token": access, "token_type": "Bearer", "expires_in": int(s.tokenLife / time.Second), "refresh_token": refresh})
	}
	switch p.Get("grant_type") {
	case "password":
		if p.Get("client_id") != ClientID || p.Get("email") != Email || p.Get("password") != Password {
			writeJSON(w, 400, map[string]any{"error": "invalid_credentials", "error_description": "The user credentials were incorrect."})
			return
		}
		s.logins++
		issue()
	case "client_credentials":
		id, secret, ok := r.BasicAuth()
		if !ok {
			id, secret = p.Get("client_id"), p.Get("client_secret")
		}
		if id != ClientID || secret != ClientSecret {
			writeJSON(w, 401, map[string]any{"error": "invalid_client", "error_description": "Client authentication failed"})
			return
		}
		s.logins++
		issue()
	case "refresh_token":
		rt := p.Get("refresh_token")
		if !s.refresh[rt] {
			writeJSON(w, 400, map[string]any{"error": "invalid_request", "error_description": "The refresh token is invalid."})
			return
		}
		delete(s.refresh, rt)
		s.refreshes++
		issue()
	default:
		writeJSON(w, 400, map[string]any{"error": "unsupported_grant_type", "error_description": "grant_type must be password, client_credentials or refresh_token"})
	}
}
