// Package cartest is an in-process fake IBM Connected Assets and Risk (CAR)
// service for tests and demos. It implements the REST routes the car
// package uses with the documented response shapes, validates every import
// against the import schema's rules (answering data_mal_formed as the
// server does), stores the graph per source, runs import jobs
// asynchronously, keeps the model state on the source, implements the
// full-import bracket, soft deletes, edge PATCH and the GraphQL subset
// connectors use, and can inject faults.
//
// Import jobs complete at their first status poll by default, so that a
// test does not wait on the client's polling; WithJobPolls keeps them
// incomplete for some polls, as a busy CAR does.
//
// What CAR does with an edge whose vertex it does not hold yet is not
// documented. The fake takes the strict reading: the job of such an edge
// fails, naming the missing vertex, unless a finished job of the source
// imported it (WithDanglingEdges accepts such edges).
//
// # GraphQL subset
//
// POST /api/car/v3/query answers two query shapes, with rows sorted:
//
//	{ <a>_<b>(where: {<a>_id: {_in: ["<source>/<key>", ...]}}) { <a>_id, <b>_id, source } }
//	    the active edges of a collection whose <a> (or <b>) end is one of
//	    the ids (_eq takes one id); ids are "<source>/<key>", and an
//	    ipaddress id carries a region: "<source>/0/<ip>".
//	{ <collection>(where: {source: {_eq: "<source>"}}) { id, <field>, ... } }
//	    the active vertices of a collection for a source, with the fields
//	    asked for (id is "<source>/<external id or key>").
//
// Any other query is answered with a GraphQL error naming these shapes.
// Which filters the real CAR GraphQL accepts on edge collections is not
// documented; the fake's choice (either end's id) is what the connector
// relies on.
package cartest

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/qualysbridge/qualysbridge/car"
	"github.com/qualysbridge/qualysbridge/internal/fakefault"
)

// Default credentials.
const (
	DefaultAPIKey   = "cartest-key"
	DefaultPassword = "cartest-password"
	DefaultToken    = "cartest-token"
)

// Option configures a Server.
type Option func(*Server)

// WithJobPolls sets how many status polls an import job stays incomplete
// before it completes (default 0: complete at the first poll).
func WithJobPolls(n int) Option { return func(s *Server) { s.jobPolls = n } }

// WithLatency answers every request after d, as a CAR that far away (a
// round trip to a remote Cloud Pak for Security) would: a benchmark's
// latency model. The requests a run makes then set its pace.
func WithLatency(d time.Duration) Option { return func(s *Server) { s.latency = d } }

// WithTLS serves HTTPS with httptest's certificate (use Server.Client, or
// skip verification).
func WithTLS() Option { return func(s *Server) { s.tls = true } }

// WithDanglingEdges accepts an edge whose vertex no finished job of the
// source imported (by default its job fails; see the package doc).
func WithDanglingEdges() Option { return func(s *Server) { s.danglingEdges = true } }

// WithDatabaseMissing starts with no database, as a new CAR tenant.
func WithDatabaseMissing() Option { return func(s *Server) { s.dbExists = false } }

// Fault is an injected failure.
type Fault struct {
	// Name labels the fault in FaultsFired (default "fault").
	Name string
	// Method and Route select requests: Route is a path prefix after
	// /api/car/v2 (or /api/car/v3), such as "/imports".
	Method string
	Route  string
	// Call is the 1-based number of the matching request that fails; 0
	// fails every matching request, up to Times (0: no bound).
	Call  int
	Times int
	// Status and Body are the response; Header adds headers.
	Status int
	Body   string
	Header http.Header
	// FailJob makes matching imports accepted but their job end in error
	// (Collection narrows it to requests carrying that collection).
	FailJob    bool
	Collection string
	// StallJob keeps matching import jobs incomplete for this many polls.
	StallJob int
	// Applied makes the request take effect before the fault's Status
	// and Body are answered: the server acted and the client sees a
	// failure, as when a connection drops after the request or the
	// client is killed while the server works (an import is accepted
	// and its job runs, an edge is disabled, ...).
	Applied bool
	// Do, when set, is called when the fault fires, before the request
	// is handled (a test kills or cancels its client there).
	Do func()

	count fakefault.Counter
}

// Request is a request the server received.
type Request struct {
	Method string
	Path   string
	Query  string
	Body   []byte
}

type vkey struct{ source, coll, id string }
type ekey struct{ source, coll, from, to string }

// VertexRecord is a stored vertex.
type VertexRecord struct {
	Collection string
	ID         string
	Fields     map[string]any
	Active     bool
	Report     string
}

// EdgeRecord is a stored edge.
type EdgeRecord struct {
	Collection string
	From, To   string
	Fields     map[string]any
	Active     bool
	Report     string
}

type job struct {
	id          string
	pollsLeft   int
	err         string
	statusCode  int
	coll        string
	apply       func()
	applied     bool
	jobStatusID bool
	finished    bool
}

// Server is a fake CAR. Its methods are safe for concurrent use.
type Server struct {
	// URL is the v2 base URL (ending in /api/car/v2), for car.NewClient.
	URL string

	hs       *httptest.Server
	tls      bool
	jobPolls int
	latency  time.Duration
	// danglingEdges: see WithDanglingEdges.
	danglingEdges bool
	dbExists      bool

	mu        sync.Mutex
	vertices  map[vkey]*VertexRecord
	edges     map[ekey]*EdgeRecord
	states    map[string]string
	sources   map[string]map[string]any
	brackets  map[string]map[string]bool // source -> reports seen during a full import
	jobs      map[string]*job
	seq       int
	faults    []*Fault
	requests  []Request
	imports   int
	importLog []ImportRecord
	running   int
	peak      int
	fired     map[string]int
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

// PeakOutstandingJobs returns the most import jobs that were running at
// once (accepted and not yet reported finished by a status call).
func (s *Server) PeakOutstandingJobs() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak
}

// ImportRecord describes one accepted import request.
type ImportRecord struct {
	// Collection names the request's collections, sorted and
	// comma-separated ("" for the source and report alone).
	Collection string
	// Collections counts its objects per collection.
	Collections map[string]int
	Objects     int
	Bytes       int
}

// NewServer starts a fake CAR.
func NewServer(opts ...Option) *Server {
	s := &Server{jobPolls: 0, dbExists: true, vertices: map[vkey]*VertexRecord{}, edges: map[ekey]*EdgeRecord{},
		states: map[string]string{}, sources: map[string]map[string]any{}, brackets: map[string]map[string]bool{}, jobs: map[string]*job{}}
	for _, o := range opts {
		o(s)
	}
	if s.tls {
		s.hs = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	} else {
		s.hs = httptest.NewServer(http.HandlerFunc(s.serve))
	}
	s.URL = s.hs.URL + "/api/car/v2"
	return s
}

// Close shuts the server down.
func (s *Server) Close() { s.hs.Close() }

// Client returns an HTTP client that trusts the server's certificate.
func (s *Server) Client() *http.Client { return s.hs.Client() }

// NewClient returns a car.Client ready for this server: the default API
// key, loopback http:// allowed (or the TLS certificate trusted, WithTLS)
// and quick polling (5 ms to 100 ms), so that a test does not wait on a
// real CAR's pace. opts come after those and win over them.
func (s *Server) NewClient(opts ...car.Option) (*car.Client, error) {
	base := []car.Option{car.WithAPIKey(DefaultAPIKey, DefaultPassword), car.WithInsecureLoopback(),
		car.WithPolling(5*time.Millisecond, 100*time.Millisecond), car.WithBackoff(func(int) time.Duration { return 5 * time.Millisecond })}
	if s.tls {
		base = append(base, car.WithHTTPClient(s.Client()))
	}
	return car.NewClient(s.URL, append(base, opts...)...)
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

// Requests returns the requests received.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// RequestCounts returns how many requests the server received by kind:
// the method and the route's first segment ("POST imports", "GET
// importstatus", "PATCH asset_ipaddress", "POST v3/query", ...).
func (s *Server) RequestCounts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for _, r := range s.requests {
		out[requestKind(r.Method, r.Path)]++
	}
	return out
}

func requestKind(method, path string) string {
	m := v2re.FindStringSubmatch(path)
	if m == nil {
		return method + " " + path
	}
	seg, _, _ := strings.Cut(strings.TrimPrefix(m[2], "/"), "/")
	if m[1] == "v3" {
		seg = "v3/" + seg
	}
	return method + " " + seg
}

// Imports returns a record of every accepted import request.
func (s *Server) Imports() []ImportRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ImportRecord(nil), s.importLog...)
}

// ModelState returns the model state saved on a source.
func (s *Server) ModelState(source string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.states[source]
}

// SetModelState sets a source's model state.
func (s *Server) SetModelState(source, id string) {
	s.mu.Lock()
	s.states[source] = id
	s.mu.Unlock()
}

// Graph is a snapshot of what CAR holds for a source.
type Graph struct {
	Vertices map[string]map[string]*VertexRecord // collection -> id -> vertex
	Edges    map[string][]*EdgeRecord            // collection -> edges
}

// Counts returns the number of active vertices and edges per collection.
func (g *Graph) Counts() map[string]int {
	out := map[string]int{}
	for c, vs := range g.Vertices {
		for _, v := range vs {
			if v.Active {
				out[c]++
			}
		}
	}
	for c, es := range g.Edges {
		for _, e := range es {
			if e.Active {
				out[c]++
			}
		}
	}
	return out
}

// ActiveEdges returns the active edges of a collection from one vertex id,
// as "to" ids, sorted.
func (g *Graph) ActiveEdges(coll, from string) []string {
	var out []string
	for _, e := range g.Edges[coll] {
		if e.Active && e.From == from {
			out = append(out, e.To)
		}
	}
	sort.Strings(out)
	return out
}

// Graph returns a deep snapshot of a source's graph (active and inactive
// objects, with their Active flag).
func (s *Server) Graph(source string) *Graph {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := &Graph{Vertices: map[string]map[string]*VertexRecord{}, Edges: map[string][]*EdgeRecord{}}
	for k, v := range s.vertices {
		if k.source != source {
			continue
		}
		if g.Vertices[k.coll] == nil {
			g.Vertices[k.coll] = map[string]*VertexRecord{}
		}
		cp := *v
		cp.Fields = cloneMap(v.Fields)
		g.Vertices[k.coll][k.id] = &cp
	}
	for k, e := range s.edges {
		if k.source != source {
			continue
		}
		cp := *e
		cp.Fields = cloneMap(e.Fields)
		g.Edges[k.coll] = append(g.Edges[k.coll], &cp)
	}
	for _, es := range g.Edges {
		sort.Slice(es, func(i, j int) bool {
			if es[i].From != es[j].From {
				return es[i].From < es[j].From
			}
			return es[i].To < es[j].To
		})
	}
	return g
}

func cloneMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

func carError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"errors": []map[string]any{{"code": code, "message": msg}}, "trace": fmt.Sprintf("cartest-%d", time.Now().UnixNano())})
}

func (s *Server) authOK(r *http.Request) bool {
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "car-token "); ok {
		return tok == DefaultToken
	}
	u, p, ok := r.BasicAuth()
	return ok && u == DefaultAPIKey && p == DefaultPassword
}

func (s *Server) matchFault(method, route string) *Fault {
	f, ok := fakefault.Pick(s.faults, func(f *Fault) (*fakefault.Counter, int, int, bool) {
		return &f.count, f.Call, f.Times, (f.Method == "" || f.Method == method) && strings.HasPrefix(route, f.Route)
	})
	if ok {
		name := f.Name
		if name == "" {
			name = "fault"
		}
		if s.fired == nil {
			s.fired = map[string]int{}
		}
		s.fired[name]++
		return f
	}
	return nil
}

var v2re = regexp.MustCompile(`^/api/car/(v2|v3)(/.*)?$`)

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	m := v2re.FindStringSubmatch(r.URL.Path)
	if m == nil {
		carError(w, 404, "not_found", "no such route")
		return
	}
	version, route := m[1], m[2]
	body, _ := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	if s.latency > 0 {
		select {
		case <-time.After(s.latency):
		case <-r.Context().Done():
			return
		}
	}
	s.mu.Lock()
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Body: body})
	f := s.matchFault(r.Method, route)
	s.mu.Unlock()
	if !s.authOK(r) {
		carError(w, 401, "unauthorized", "Unauthorized")
		return
	}
	if f != nil && f.Do != nil {
		f.Do()
	}
	if f != nil && f.Status != 0 && f.Applied {
		s.handle(httptest.NewRecorder(), r, version, route, body, f)
	}
	if f != nil && f.Status != 0 {
		for k, v := range f.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(f.Status)
		io.WriteString(w, f.Body)
		return
	}
	s.handle(w, r, version, route, body, f)
}

// handle answers an authenticated request.
func (s *Server) handle(w http.ResponseWriter, r *http.Request, version, route string, body []byte, f *Fault) {
	if r.Header.Get("Content-Type") != "application/json" {
		carError(w, 415, "unsupported_media_type", "Content-Type must be application/json")
		return
	}
	if version == "v3" {
		s.serveV3(w, r, route, body)
		return
	}
	seg := strings.Split(strings.Trim(route, "/"), "/")
	switch {
	case seg[0] == "databases":
		s.serveDatabases(w, r)
	case seg[0] == "jobstatus" && len(seg) == 2:
		s.serveJobStatus(w, seg[1])
	case seg[0] == "source" && len(seg) == 1 && r.Method == "PATCH":
		s.patchSource(w, r, body)
	case seg[0] == "source" && len(seg) == 2 && r.Method == "GET":
		s.mu.Lock()
		src, ok := s.sources[seg[1]]
		state, hasState := s.states[seg[1]]
		s.mu.Unlock()
		if !ok && !hasState {
			carError(w, 404, "source_not_found", "source "+seg[1]+" not found")
			return
		}
		out := cloneMap(src)
		out["_key"] = seg[1]
		if hasState {
			out["model_state_id"] = state
		}
		writeJSON(w, 200, out)
	case seg[0] == "source" && len(seg) == 3 && seg[2] == "full-import-in-progress":
		s.fullImport(w, r, seg[1])
	case seg[0] == "source" && len(seg) == 3 && r.Method == "DELETE":
		s.softDelete(w, r, seg[1], seg[2])
	case seg[0] == "imports" && r.Method == "POST":
		s.importData(w, body, f)
	case seg[0] == "importstatus":
		s.importStatus(w, r)
	case len(seg) == 1 && r.Method == "PATCH" && strings.Contains(seg[0], "_"):
		s.patchEdge(w, r, seg[0], body)
	default:
		carError(w, 404, "not_found", "no such route: "+r.Method+" "+route)
	}
}

func (s *Server) newJob(j *job) string {
	s.seq++
	j.id = fmt.Sprintf("%08x-cartest-%d", s.seq, s.seq)
	s.jobs[j.id] = j
	return j.id
}

func (s *Server) serveDatabases(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch r.Method {
	case "GET":
		if !s.dbExists {
			carError(w, 400, "database_not_found", "The database assets-ACCT_cartest is not setup yet.")
			return
		}
		writeJSON(w, 200, map[string]any{"databases": []map[string]any{{"name": "assets-ACCT_cartest", "graph_name": "assets",
			"missing_collections": []string{}, "collections_without_indexes": []string{}, "collections": []string{}, "is_ready": true}}})
	case "POST", "PATCH":
		id := s.newJob(&job{pollsLeft: s.jobPolls, jobStatusID: true, apply: func() { s.dbExists = true }})
		writeJSON(w, 200, map[string]any{"job_id": id})
	default:
		carError(w, 405, "method_not_allowed", r.Method)
	}
}

func (s *Server) serveJobStatus(w http.ResponseWriter, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j := s.jobs[id]
	if j == nil {
		carError(w, 404, "job_not_found", "job "+id+" not found")
		return
	}
	status := s.advance(j)
	writeJSON(w, 200, map[string]any{"id": id, "status": status})
}

// advance moves a job one poll forward and returns its status.
func (s *Server) advance(j *job) string {
	if j.pollsLeft > 0 {
		j.pollsLeft--
		return "INPROGRESS"
	}
	if !j.finished {
		j.finished = true
		if j.coll != "" || !j.jobStatusID {
			s.running--
		}
	}
	if j.err != "" {
		return "ERROR"
	}
	if !j.applied && j.apply != nil {
		j.apply()
	}
	j.applied = true
	return "COMPLETE"
}

func (s *Server) patchSource(w http.ResponseWriter, r *http.Request, body []byte) {
	key := r.URL.Query().Get("key")
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil || key == "" {
		carError(w, 400, "bad_request", "want ?key=<source> and a JSON body")
		return
	}
	s.mu.Lock()
	if v, ok := m["model_state_id"]; ok {
		s.states[key] = fmt.Sprint(v)
	}
	if s.sources[key] == nil {
		s.sources[key] = map[string]any{}
	}
	s.mu.Unlock()
	writeJSON(w, 200, map[string]any{"result": "OK"})
}

func (s *Server) fullImport(w http.ResponseWriter, r *http.Request, source string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var apply func()
	switch r.Method {
	case "POST":
		s.brackets[source] = map[string]bool{}
	case "DELETE":
		seen, ok := s.brackets[source]
		if !ok {
			carError(w, 400, "not_in_full_import", "source "+source+" is not in a full import")
			return
		}
		delete(s.brackets, source)
		apply = func() {
			// Leaving the bracket deactivates the source's edges that
			// were not reported during it.
			for k, e := range s.edges {
				if k.source == source && !seen[e.Report] {
					e.Active = false
				}
			}
		}
	default:
		carError(w, 405, "method_not_allowed", r.Method)
		return
	}
	id := s.newJob(&job{pollsLeft: s.jobPolls, jobStatusID: true, apply: apply})
	writeJSON(w, 200, map[string]any{"job_id": id, "status": "INPROGRESS", "message": "Check the status of the job by calling the endpoint GET /jobstatus/" + id})
}

func (s *Server) importStatus(w http.ResponseWriter, r *http.Request) {
	ids := strings.Split(r.URL.Query().Get("ids"), ",")
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]any{"success": true}
	complete, incomplete, notfound, errs := []map[string]any{}, []map[string]any{}, []string{}, []map[string]any{}
	for _, id := range ids {
		j := s.jobs[id]
		if j == nil {
			notfound = append(notfound, id)
			continue
		}
		switch s.advance(j) {
		case "INPROGRESS":
			incomplete = append(incomplete, map[string]any{"id": id})
		case "ERROR":
			errs = append(errs, map[string]any{"id": id, "error": j.err, "statusCode": j.statusCode})
		default:
			complete = append(complete, map[string]any{"id": id, "status": "COMPLETE"})
		}
	}
	out["complete_imports"], out["incomplete_imports"], out["notfound_imports"], out["error_imports"] = complete, incomplete, notfound, errs
	writeJSON(w, 200, out)
}

func (s *Server) softDelete(w http.ResponseWriter, r *http.Request, source, coll string) {
	q := r.URL.Query()
	param := "external_ids"
	if keyed(coll) {
		param = "keys"
	}
	raw := q.Get(param)
	if raw == "" {
		carError(w, 400, "bad_request", "want ?"+param+"=")
		return
	}
	s.mu.Lock()
	gone := map[string]bool{}
	for _, id := range strings.Split(raw, ",") {
		if v := s.vertices[vkey{source, coll, id}]; v != nil {
			v.Active = false
			gone[id] = true
		}
	}
	if len(gone) > 0 {
		// The vertices' edges, both ways, in one pass.
		for k, e := range s.edges {
			if k.source != source || !e.Active {
				continue
			}
			end1, end2, _ := strings.Cut(k.coll, "_")
			if end1 == coll && gone[k.from] || end2 == coll && gone[k.to] {
				e.Active = false
			}
		}
	}
	s.mu.Unlock()
	writeJSON(w, 200, map[string]any{"success": true, "message": "edges has been disabled successfully"})
}

func (s *Server) patchEdge(w http.ResponseWriter, r *http.Request, coll string, body []byte) {
	q := r.URL.Query()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		carError(w, 400, "bad_request", "invalid JSON body")
		return
	}
	end1, end2, _ := strings.Cut(coll, "_")
	k := ekey{q.Get("source"), coll, stripPrefix(end1, q.Get("from")), stripPrefix(end2, q.Get("to"))}
	s.mu.Lock()
	e := s.edges[k]
	if e != nil {
		if a, ok := m["active"].(bool); ok {
			e.Active = a
		}
	}
	s.mu.Unlock()
	if e == nil {
		carError(w, 404, "edge_not_found", "no such edge")
		return
	}
	writeJSON(w, 200, map[string]any{"success": true, "message": "Node/s has been updated successfully"})
}

func keyed(coll string) bool {
	return coll == "ipaddress" || coll == "hostname" || coll == "macaddress"
}

// stripPrefix accepts keyed ends with or without their "collection/"
// prefix, as the real server tolerates both.
func stripPrefix(coll, v string) string {
	return strings.TrimPrefix(v, coll+"/")
}

func validIP(s string) bool { return net.ParseIP(s) != nil }
