package cartest

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

var (
	keyRe = regexp.MustCompile(`^[a-zA-Z0-9_:@=;!'%\-\.\(\)\+\,\$\*]+$`)
	macRe = regexp.MustCompile(`^([0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}$|^([0-9A-Fa-f]{4}[:.]){3}[0-9A-Fa-f]{4}$|^([0-9A-Fa-f]{4}\.){2}[0-9A-Fa-f]{4}$`)
)

var vertexColls = map[string]bool{"asset": true, "container": true, "ipaddress": true, "user": true, "account": true, "application": true,
	"hostname": true, "businessprocess": true, "database": true, "macaddress": true, "port": true, "vulnerability": true, "geolocation": true, "tag": true}

// ajvError is one schema violation, shaped like the AJV errors CAR
// stringifies into its data_mal_formed message.
type ajvError struct {
	InstancePath string `json:"instancePath"`
	Message      string `json:"message"`
}

func str(o map[string]any, f string) (string, bool) {
	v, ok := o[f].(string)
	return v, ok
}

// idOf reads an identifier that is a string or, as other writers left
// some (Seed), a JSON number, as text.
func idOf(o map[string]any, f string) (string, bool) {
	switch v := o[f].(type) {
	case string:
		return v, true
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), true
	}
	return "", false
}

// validateObject checks one object of a collection against the import
// schema's rules.
func validateObject(coll string, i int, o map[string]any) []ajvError {
	var errs []ajvError
	at := fmt.Sprintf("/%s/%d", coll, i)
	bad := func(field, msg string) { errs = append(errs, ajvError{at + "/" + field, msg}) }
	needStr := func(field string) {
		v, present := o[field]
		if !present {
			errs = append(errs, ajvError{at, "must have required property '" + field + "'"})
			return
		}
		if s, ok := v.(string); !ok {
			bad(field, "must be string")
		} else if strings.TrimSpace(s) == "" {
			bad(field, "must NOT have fewer than 1 characters")
		}
	}
	if vertexColls[coll] {
		vertexIDs(o, bad)
	}
	switch coll {
	case "asset":
		needStr("external_id")
		needStr("name")
		if v, ok := o["risk"]; ok {
			if n, isNum := v.(float64); !isNum || n < 0 || n > 10 {
				bad("risk", "must be <= 10 and >= 0")
			}
		}
		if v, ok := o["business_value"]; ok {
			if _, isNum := v.(float64); !isNum {
				bad("business_value", "must be number")
			}
		}
	case "ipaddress":
		needStr("_key")
		if k, ok := str(o, "_key"); ok && !validIP(k) {
			bad("_key", `must match pattern "^[a-fA-F0-9:\.]+$"`)
		}
	case "macaddress":
		needStr("_key")
		if k, ok := str(o, "_key"); ok && !macRe.MatchString(k) {
			bad("_key", "must match the MAC address pattern")
		}
	case "hostname":
		needStr("_key")
		needStr("host_name")
		for _, f := range []string{"_key", "external_id"} {
			if k, ok := str(o, f); ok && strings.ContainsAny(k, "&#^|?<>[]") {
				bad(f, "must not contain & # ^ | ? < > [ ]")
			}
		}
	case "vulnerability":
		needStr("external_id")
		needStr("name")
		for _, f := range []string{"base_score", "disclosed_on", "published_on", "updated_on", "xfr_cvss2_base", "xfr_cvss3_base"} {
			if v, ok := o[f]; ok {
				if _, isNum := v.(float64); !isNum {
					bad(f, "must be number")
				}
			}
		}
	case "application", "account":
		needStr("external_id")
		needStr("name")
	case "user":
		needStr("external_id")
	case "geolocation":
		_, hasRegion := o["region"]
		_, hasLat := o["latitude"]
		_, hasLon := o["longitude"]
		if !hasRegion && !(hasLat && hasLon) {
			errs = append(errs, ajvError{at, "must match exactly one schema in oneOf (region, or latitude and longitude)"})
		}
		needStr("external_id")
	default:
		errs = append(errs, validateEdge(coll, at, o)...)
	}
	return errs
}

// vertexIDs checks a vertex's identifiers: _key or external_id, not both,
// and strings.
func vertexIDs(o map[string]any, bad func(field, msg string)) {
	if _, hasKey := o["_key"]; hasKey {
		if _, hasExt := o["external_id"]; hasExt {
			bad("_key", "_key and external_id cannot be both put in the same import object")
		}
	}
	for _, f := range []string{"external_id", "_key", "name"} {
		if v, ok := o[f]; ok {
			if _, isStr := v.(string); !isStr {
				bad(f, "must be string")
			}
		}
	}
}

// validateEdge checks one object of an edge collection: both ends named
// (by _from/_to for keyed vertex collections, by external id otherwise),
// as strings, and a numeric timestamp.
func validateEdge(coll, at string, o map[string]any) []ajvError {
	var errs []ajvError
	bad := func(field, msg string) { errs = append(errs, ajvError{at + "/" + field, msg}) }
	end1, end2, ok := strings.Cut(coll, "_")
	if !ok || !vertexColls[end1] || !vertexColls[end2] {
		errs = append(errs, ajvError{"/" + coll, "unknown collection"})
		return errs
	}
	for _, end := range []struct{ coll, keyed, ext string }{{end1, "_from", "_from_external_id"}, {end2, "_to", "_to_external_id"}} {
		field := end.ext
		if keyed(end.coll) {
			field = end.keyed
		}
		v, ok := o[field]
		if !ok {
			// The server tolerates the other form for keyed ends
			// (peers send bare values in _to); an edge without
			// any end is rejected.
			if _, other := o[end.keyed]; !other {
				if _, other2 := o[end.ext]; !other2 {
					errs = append(errs, ajvError{at, "must have required property '" + field + "'"})
				}
			}
			continue
		}
		if _, isStr := v.(string); !isStr {
			bad(field, "must be string")
		}
	}
	if v, ok := o["timestamp"]; ok {
		if _, isNum := v.(float64); !isNum {
			bad("timestamp", "must be number")
		}
	}
	return errs
}

func endID(o map[string]any, coll, keyedField, extField string) string {
	if v, ok := idOf(o, keyedField); ok {
		return stripPrefix(coll, v)
	}
	v, _ := idOf(o, extField)
	return v
}

func (s *Server) importData(w http.ResponseWriter, body []byte, f *Fault) {
	var env map[string]json.RawMessage
	if err := json.Unmarshal(body, &env); err != nil {
		carError(w, 400, "data_mal_formed", "invalid JSON: "+err.Error())
		return
	}
	var errs []ajvError
	var src, rep map[string]any
	if err := json.Unmarshal(env["source"], &src); err != nil || src == nil {
		errs = append(errs, ajvError{"", "must have required property 'source'"})
	} else if k, ok := str(src, "_key"); !ok || !keyRe.MatchString(k) {
		errs = append(errs, ajvError{"/source/_key", "must match pattern " + keyRe.String()})
	}
	if err := json.Unmarshal(env["report"], &rep); err != nil || rep == nil {
		errs = append(errs, ajvError{"", "must have required property 'report'"})
	} else {
		if _, ok := rep["timestamp"].(float64); !ok {
			errs = append(errs, ajvError{"/report/timestamp", "must be number"})
		}
		if k, ok := str(rep, "_key"); ok && (!keyRe.MatchString(k) || len(k) > 254) {
			errs = append(errs, ajvError{"/report/_key", "must match pattern " + keyRe.String()})
		}
	}
	colls := map[string][]map[string]any{}
	count := 0
	for k, raw := range env {
		if k == "source" || k == "report" {
			continue
		}
		var objs []map[string]any
		if err := json.Unmarshal(raw, &objs); err != nil {
			errs = append(errs, ajvError{"/" + k, "must be array of objects"})
			continue
		}
		for i, o := range objs {
			errs = append(errs, validateObject(k, i, o)...)
		}
		colls[k] = objs
		count += len(objs)
	}
	counts := map[string]int{}
	for k, objs := range colls {
		counts[k] = len(objs)
	}
	collName := strings.Join(slices.Sorted(maps.Keys(counts)), ",")
	if len(errs) > 0 {
		var msg strings.Builder
		enc := json.NewEncoder(&msg)
		enc.SetEscapeHTML(false)
		enc.Encode(errs)
		carError(w, 400, "data_mal_formed", strings.TrimSpace(msg.String()))
		return
	}
	source, _ := str(src, "_key")
	reportKey, _ := str(rep, "_key")
	s.mu.Lock()
	defer s.mu.Unlock()
	s.imports++
	s.importLog = append(s.importLog, ImportRecord{Collection: collName, Collections: counts, Objects: count, Bytes: len(body)})
	j := &job{pollsLeft: s.jobPolls, coll: collName}
	if f != nil && (f.Collection == "" || counts[f.Collection] > 0 || f.Collection == collName) {
		if f.FailJob {
			what := collName
			if f.Collection != "" {
				what = f.Collection
			}
			j.err = "simulated import failure for " + what
			j.statusCode = 500
		}
		if f.StallJob > 0 {
			j.pollsLeft = f.StallJob
		}
	}
	if !s.danglingEdges && j.err == "" {
		if missing := s.missingEnd(source, colls); missing != "" {
			j.err, j.statusCode = "edge names a vertex not imported yet: "+missing, 400
		}
	}
	j.apply = func() { s.store(source, reportKey, src, colls) }
	id := s.newJob(j)
	s.running++
	s.peak = max(s.peak, s.running)
	writeJSON(w, 200, map[string]any{"id": id, "status": "INPROGRESS",
		"message": "Check the status of the import by calling the endpoint GET /importstatus/" + id + " or GET /importstatus?ids=" + id})
}

// missingEnd returns the first edge end, "<collection>/<id>", that no
// finished job of the source imported (s.mu held).
func (s *Server) missingEnd(source string, colls map[string][]map[string]any) string {
	for coll, objs := range colls {
		end1, end2, isEdge := strings.Cut(coll, "_")
		if !isEdge || vertexColls[coll] {
			continue
		}
		for _, o := range objs {
			for _, end := range [][2]string{{end1, endID(o, end1, "_from", "_from_external_id")}, {end2, endID(o, end2, "_to", "_to_external_id")}} {
				if s.vertices[vkey{source, end[0], end[1]}] == nil {
					return end[0] + "/" + end[1]
				}
			}
		}
	}
	return ""
}

// store applies a finished import job: the source's fields, the report in
// the open full-import bracket, and every vertex and edge, keyed as CAR
// keys them (s.mu held).
func (s *Server) store(source, reportKey string, src map[string]any, colls map[string][]map[string]any) {
	if s.sources[source] == nil {
		s.sources[source] = map[string]any{}
	}
	for k, v := range src {
		s.sources[source][k] = v
	}
	if b := s.brackets[source]; b != nil {
		b[reportKey] = true
	}
	for coll, objs := range colls {
		end1, end2, isEdge := strings.Cut(coll, "_")
		isEdge = isEdge && !vertexColls[coll]
		for _, o := range objs {
			if !isEdge {
				id, _ := idOf(o, "external_id")
				if keyed(coll) {
					id, _ = idOf(o, "_key")
				}
				s.vertices[vkey{source, coll, id}] = &VertexRecord{Collection: coll, ID: id, Fields: o, Active: true, Report: reportKey}
				continue
			}
			from := endID(o, end1, "_from", "_from_external_id")
			to := endID(o, end2, "_to", "_to_external_id")
			active := true
			if a, ok := o["active"].(bool); ok {
				active = a
			}
			s.edges[ekey{source, coll, from, to}] = &EdgeRecord{Collection: coll, From: from, To: to, Fields: o, Active: active, Report: reportKey}
		}
	}
}

// serveV3 answers the GraphQL subset connectors use (see graphql.go).
func (s *Server) serveV3(w http.ResponseWriter, r *http.Request, route string, body []byte) {
	if route != "/query" || r.Method != "POST" {
		carError(w, 404, "not_found", "no such route")
		return
	}
	var q struct {
		Query string `json:"query"`
	}
	if err := json.Unmarshal(body, &q); err != nil {
		carError(w, 400, "bad_request", "invalid JSON")
		return
	}
	fields, err := parseQuery(q.Query)
	if err != nil {
		writeJSON(w, 200, map[string]any{"errors": []map[string]any{{"message": "cartest: " + err.Error() + " (see the package doc for the GraphQL subset)"}}})
		return
	}
	s.mu.Lock()
	data, err := s.answer(fields)
	s.mu.Unlock()
	if err != nil {
		writeJSON(w, 200, map[string]any{"errors": []map[string]any{{"message": "cartest: " + err.Error()}}})
		return
	}
	writeJSON(w, 200, map[string]any{"data": data})
}

// Seed stores a source's objects as another writer left them in CAR,
// without the import schema's checks: IBM's Qualys connector sends asset
// ids as JSON numbers, keyed edge ends without their "collection/" prefix
// and IPv6 addresses in their expanded form, and a source it wrote holds
// them so (an older server stored what today's schema refuses). collections
// is a JSON object of collection name to objects, vertices and edges, as
// in an import. The objects are active and belong to no report; a later
// full import deactivates those it does not report. Use SetModelState for
// the source's saved state.
func (s *Server) Seed(source, collections string) error {
	var colls map[string][]map[string]any
	if err := json.Unmarshal([]byte(collections), &colls); err != nil {
		return fmt.Errorf("cartest: Seed: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.store(source, "seeded", map[string]any{"_key": source}, colls)
	return nil
}
