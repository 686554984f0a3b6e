package threatqtest

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request, route string, body []byte) {
	seg := strings.Split(strings.Trim(route, "/"), "/")
	switch {
	case route == "objects" && r.Method == "GET":
		writeJSON(w, 200, map[string]any{"total": 4, "data": []map[string]any{
			{"name": "indicator", "display_name": "Indicator", "display_name_plural": "Indicators", "collection": "indicators"},
			{"name": "event", "display_name": "Event", "display_name_plural": "Events", "collection": "events"},
			{"name": "asset", "display_name": "Asset", "display_name_plural": "Assets", "collection": s.assetColl},
			{"name": "vulnerability", "display_name": "Vulnerability", "display_name_plural": "Vulnerabilities", "collection": "vulnerability"},
		}})
	case route == "indicator/types" && r.Method == "GET":
		writeJSON(w, 200, map[string]any{"total": len(indicatorTypes), "data": indicatorTypes})
	case route == "indicator/statuses" && r.Method == "GET":
		writeJSON(w, 200, map[string]any{"total": len(indicatorStatuses), "data": indicatorStatuses})
	case seg[0] == "indicators" && len(seg) == 1:
		s.serveIndicators(w, r, body)
	case seg[0] == "indicators" && len(seg) == 2 && seg[1] != "query" && r.Method == "PUT":
		s.updateIndicator(w, seg[1], body)
	case route == "indicators/query" && r.Method == "POST":
		s.queryIndicators(w, r, body)
	case seg[0] == s.assetColl && len(seg) == 1:
		s.serveAssets(w, r, body)
	case seg[0] == s.assetColl && len(seg) == 2 && seg[1] == "consume" && r.Method == "POST":
		if s.noConsume {
			writeJSON(w, 404, map[string]any{"errors": []string{"Not found"}})
			return
		}
		s.consume(w, body)
	case (seg[0] == s.assetColl || seg[0] == "indicators") && len(seg) == 3:
		s.serveSub(w, r, seg[0], seg[1], seg[2], body)
	case (seg[0] == s.assetColl || seg[0] == "indicators") && len(seg) == 4 && seg[2] == "attributes":
		s.serveAttribute(w, r, seg[0], seg[1], seg[3], body)
	default:
		writeJSON(w, 404, map[string]any{"errors": []string{"Not found: " + r.Method + " /api/" + route}})
	}
}

func (s *Server) indicatorJSON(o *object) map[string]any {
	return map[string]any{"id": o.id, "value": o.value, "type_id": o.typeID, "status_id": o.statusID, "class": "host",
		"type": map[string]any{"id": o.typeID, "name": typeName(o.typeID)}, "created_at": "2026-01-01 00:00:00"}
}

func (s *Server) serveIndicators(w http.ResponseWriter, r *http.Request, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch r.Method {
	case "GET":
		v := r.URL.Query().Get("value")
		data := []map[string]any{}
		for _, o := range s.indicators {
			if v == "" || o.value == v {
				data = append(data, s.indicatorJSON(o))
			}
		}
		writeJSON(w, 200, map[string]any{"total": len(data), "data": data, "limit": 500, "offset": 0})
	case "POST":
		var one map[string]any
		var many []map[string]any
		if json.Unmarshal(body, &many) != nil {
			if err := json.Unmarshal(body, &one); err != nil {
				validationError(w, "body", "The body must be a JSON object or array.")
				return
			}
			many = []map[string]any{one}
		}
		var out []map[string]any
		for _, in := range many {
			value, _ := in["value"].(string)
			if value == "" {
				validationError(w, "value", "The value field is required.")
				return
			}
			tid, _ := in["type_id"].(float64)
			if tid == 0 {
				if t, ok := in["type"].(string); ok {
					tid = float64(typeID(t))
				}
			}
			if typeName(int64(tid)) == "" {
				validationError(w, "type_id", "The selected type id is invalid.")
				return
			}
			var existing *object
			for _, o := range s.indicators {
				if o.value == value && o.typeID == int64(tid) {
					existing = o
				}
			}
			flag := "Y"
			if existing == nil {
				flag = "N"
				s.seq++
				existing = &object{id: s.seq, value: value, typeID: int64(tid), statusID: 1}
				s.indicators[s.seq] = existing
			}
			j := s.indicatorJSON(existing)
			j["existing"] = flag
			out = append(out, j)
		}
		// Quirk of the real API: creating indicators answers a list.
		writeJSON(w, 201, map[string]any{"data": out})
	default:
		writeJSON(w, 405, map[string]any{"errors": []string{"Method not allowed"}})
	}
}

func (s *Server) assetJSON(o *object) map[string]any {
	return map[string]any{"id": o.id, "value": o.value, "description": o.description, "object_code": "asset",
		"object_name": "Asset", "object_name_plural": "Assets", "created_at": "2026-01-01 00:00:00", "updated_at": time.Now().UTC().Format("2006-01-02 15:04:05")}
}

func (s *Server) serveAssets(w http.ResponseWriter, r *http.Request, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch r.Method {
	case "GET":
		v := r.URL.Query().Get("value")
		var matched []*object
		if v != "" {
			if o := s.byValue[v]; o != nil {
				matched = append(matched, o)
			}
		} else {
			for _, o := range s.assets {
				matched = append(matched, o)
			}
		}
		sortObjects(matched)
		total := len(matched)
		offset, _ := strconv.Atoi(r.URL.Query().Get("offset"))
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		if offset > len(matched) {
			offset = len(matched)
		}
		matched = matched[offset:]
		if limit > 0 && limit < len(matched) {
			matched = matched[:limit]
		}
		data := []map[string]any{}
		for _, o := range matched {
			data = append(data, s.assetJSON(o))
		}
		writeJSON(w, 200, map[string]any{"total": total, "data": data, "limit": limit, "offset": offset})
	case "POST":
		var in struct {
			Value       string `json:"value"`
			Description string `json:"description"`
			Sources     []struct {
				Name string `json:"name"`
			} `json:"sources"`
			PublishedAt string `json:"published_at"`
		}
		if err := json.Unmarshal(body, &in); err != nil || in.Value == "" {
			validationError(w, "value", "The value field is required.")
			return
		}
		if s.byValue[in.Value] != nil {
			validationError(w, "value", "The value has already been taken.")
			return
		}
		s.seq++
		o := &object{id: s.seq, value: in.Value, description: in.Description, published: in.PublishedAt}
		for _, src := range in.Sources {
			o.sources = addUnique(o.sources, src.Name)
		}
		s.assets[o.id] = o
		s.byValue[o.value] = o
		writeJSON(w, 201, map[string]any{"data": s.assetJSON(o)})
	default:
		writeJSON(w, 405, map[string]any{"errors": []string{"Method not allowed"}})
	}
}

func sortObjects(os []*object) {
	for i := 1; i < len(os); i++ {
		for j := i; j > 0 && os[j].id < os[j-1].id; j-- {
			os[j], os[j-1] = os[j-1], os[j]
		}
	}
}

func addUnique(list []string, v string) []string {
	for _, x := range list {
		if strings.EqualFold(x, v) {
			return list
		}
	}
	return append(list, v)
}

type consumeIn struct {
	Value       string `json:"value"`
	Description string `json:"description"`
	Attributes  []struct {
		Name  string `json:"name"`
		Value any    `json:"value"`
	} `json:"attributes"`
	Sources []struct {
		Name string `json:"name"`
	} `json:"sources"`
	Tags       []any `json:"tags"`
	Indicators []struct {
		ID int64 `json:"id"`
	} `json:"indicators"`
	PublishedAt string `json:"published_at"`
}

// consume upserts by value, merging attributes (same name and value kept
// once), tags, sources and relations.
func (s *Server) consume(w http.ResponseWriter, body []byte) {
	var in []consumeIn
	if err := json.Unmarshal(body, &in); err != nil {
		validationError(w, "body", "The body must be a JSON array of objects.")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for i, c := range in {
		if c.Value == "" {
			writeJSON(w, 400, map[string]any{"errors": []any{"Object " + strconv.Itoa(i) + ": the value field is required."}})
			return
		}
		for _, ind := range c.Indicators {
			if s.indicators[ind.ID] == nil {
				writeJSON(w, 400, map[string]any{"errors": []any{"Object " + strconv.Itoa(i) + ": related indicator " + strconv.FormatInt(ind.ID, 10) + " does not exist."}})
				return
			}
		}
		o := s.byValue[c.Value]
		if o == nil {
			s.seq++
			o = &object{id: s.seq, value: c.Value}
			s.assets[o.id] = o
			s.byValue[o.value] = o
		}
		if c.Description != "" {
			o.description = c.Description
		}
		if c.PublishedAt != "" {
			o.published = c.PublishedAt
		}
		for _, a := range c.Attributes {
			val := stringify(a.Value)
			s.addAttr(o, a.Name, val)
		}
		for _, t := range c.Tags {
			name := stringify(t)
			if m, ok := t.(map[string]any); ok {
				name = stringify(m["name"])
			}
			o.tags = addUnique(o.tags, name)
		}
		for _, src := range c.Sources {
			o.sources = addUnique(o.sources, src.Name)
		}
		for _, ind := range c.Indicators {
			s.relate(o.id, ind.ID)
		}
		out = append(out, s.assetJSON(o))
	}
	writeJSON(w, 200, map[string]any{"total": len(out), "data": out})
}

func stringify(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case bool:
		if x {
			return "Yes"
		}
		return "No"
	case nil:
		return ""
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func (s *Server) addAttr(o *object, name, value string) bool {
	for _, a := range o.attrs {
		if a.name == name && a.value == value {
			return false
		}
	}
	s.seq++
	o.attrs = append(o.attrs, attrRow{id: s.seq, name: name, value: value})
	s.history = append(s.history, AttributeChange{ObjectID: o.id, Object: o.value, Name: name, Value: value, Action: "added"})
	return true
}

// relate links an asset and an indicator unless they already are (the
// consume upsert's semantics).
func (s *Server) relate(assetID, indicatorID int64) int64 {
	k := [2]int64{assetID, indicatorID}
	if p := s.relations[k]; len(p) > 0 {
		return p[0]
	}
	return s.addPivot(k)
}

// addPivot adds a relation row even when the pair is already related, as
// the per-object relation endpoint does: duplicates are the caller's to
// avoid, and show in Assets().
func (s *Server) addPivot(k [2]int64) int64 {
	s.seq++
	s.relations[k] = append(s.relations[k], s.seq)
	return s.seq
}

// serveSub serves /{collection}/{id}/{attributes|tags|sources|<collection>}.
func (s *Server) serveSub(w http.ResponseWriter, r *http.Request, coll, idStr, sub string, body []byte) {
	id, _ := strconv.ParseInt(idStr, 10, 64)
	s.mu.Lock()
	defer s.mu.Unlock()
	var o *object
	if coll == "indicators" {
		o = s.indicators[id]
	} else {
		o = s.assets[id]
	}
	if o == nil {
		writeJSON(w, 404, map[string]any{"errors": []string{"Object does not exist."}})
		return
	}
	switch {
	case sub == "attributes" && r.Method == "GET":
		data := []map[string]any{}
		for _, a := range o.attrs {
			data = append(data, map[string]any{"id": a.id, "attribute_id": 1, "name": a.name, "value": a.value})
		}
		writeJSON(w, 200, map[string]any{"total": len(data), "data": data})
	case sub == "attributes" && r.Method == "POST":
		s.addAttributes(w, o, body)
	case sub == "tags" && r.Method == "GET":
		data := []map[string]any{}
		for i, t := range o.tags {
			data = append(data, map[string]any{"id": i + 1, "name": t})
		}
		writeJSON(w, 200, map[string]any{"total": len(data), "data": data})
	case sub == "tags" && r.Method == "POST":
		var data []map[string]any
		for _, t := range bodyList(body) {
			name := stringify(t["name"])
			o.tags = append(o.tags, name) // duplicates are the caller's to avoid
			data = append(data, map[string]any{"name": name})
		}
		writeJSON(w, 201, map[string]any{"data": data})
	case sub == "sources" && r.Method == "POST":
		for _, src := range bodyList(body) {
			o.sources = addUnique(o.sources, stringify(src["name"]))
		}
		writeJSON(w, 201, map[string]any{"data": []map[string]any{}})
	case ((sub == "indicators" && coll == s.assetColl) || (sub == s.assetColl && coll == "indicators")) && r.Method == "GET":
		s.listRelated(w, r, coll, id)
	case ((sub == "indicators" && coll == s.assetColl) || (sub == s.assetColl && coll == "indicators")) && r.Method == "DELETE":
		s.deleteRelations(w, coll, id, body)
	case ((sub == "indicators" && coll == s.assetColl) || (sub == s.assetColl && coll == "indicators")) && r.Method == "POST":
		s.postRelations(w, coll, id, body)
	case (sub == "indicators" && coll == s.assetColl) || (sub == s.assetColl && coll == "indicators"):
		writeJSON(w, http.StatusMethodNotAllowed, map[string]any{"errors": []string{"The " + r.Method + " method is not supported for this route."}})
	default:
		writeJSON(w, 404, map[string]any{"errors": []string{"Not found"}})
	}
}

// bodyList reads a body that holds one object or a list of them.
func bodyList(v []byte) []map[string]any {
	var many []map[string]any
	if json.Unmarshal(v, &many) != nil {
		var one map[string]any
		if json.Unmarshal(v, &one) == nil {
			many = []map[string]any{one}
		}
	}
	return many
}

// addAttributes adds the posted attribute to o (s.mu held). It takes one
// attribute object, as ThreatQ's SDK and its public clients send it; a list
// is refused, since no vendor documentation shows ThreatQ taking one (the
// strict reading; see the package doc).
func (s *Server) addAttributes(w http.ResponseWriter, o *object, body []byte) {
	var one map[string]any
	if json.Unmarshal(body, &one) != nil {
		validationError(w, "name", "The name field is required.")
		return
	}
	var data []map[string]any
	for _, a := range []map[string]any{one} {
		name, value := stringify(a["name"]), stringify(a["value"])
		if name == "" || value == "" {
			validationError(w, "name", "The name and value fields are required.")
			return
		}
		// The real API adds a row even when the same pair exists;
		// the fake records that so that duplicates show in tests.
		s.seq++
		o.attrs = append(o.attrs, attrRow{id: s.seq, name: name, value: value})
		s.history = append(s.history, AttributeChange{ObjectID: o.id, Object: o.value, Name: name, Value: value, Action: "added"})
		data = append(data, map[string]any{"id": s.seq, "attribute_id": 1, "name": name, "value": value})
	}
	writeJSON(w, 201, map[string]any{"data": data})
}

// listRelated lists the objects related to an asset (its indicators) or
// to an indicator (its assets), each with its pivot, sorted by pivot and
// paged by limit and offset; with=sources adds their sources, and
// with=attributes their attribute rows (id, name, value), as ThreatQ's
// related listing gives them to its SOAR connector (s.mu held).
func (s *Server) listRelated(w http.ResponseWriter, r *http.Request, coll string, id int64) {
	type rel struct {
		pivot int64
		o     *object
		ind   bool
	}
	var all []rel
	with := r.URL.Query().Get("with")
	withSources, withAttrs := strings.Contains(with, "sources"), strings.Contains(with, "attributes")
	for k, pivots := range s.relations {
		for _, pivot := range pivots {
			switch {
			case coll == s.assetColl && k[0] == id:
				all = append(all, rel{pivot, s.indicators[k[1]], true})
			case coll == "indicators" && k[1] == id:
				all = append(all, rel{pivot, s.assets[k[0]], false})
			}
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].pivot < all[j].pivot })
	limit, offset := paging(r.URL.Query(), len(all))
	data := []map[string]any{}
	for i := offset; i < len(all) && i < offset+limit; i++ {
		o := all[i].o
		var j map[string]any
		if all[i].ind {
			j = s.indicatorJSON(o)
		} else {
			j = s.assetJSON(o)
		}
		j["pivot"] = map[string]any{"id": all[i].pivot}
		if withSources {
			srcs := []map[string]any{}
			for _, name := range o.sources {
				srcs = append(srcs, map[string]any{"name": name})
			}
			j["sources"] = srcs
		}
		if withAttrs {
			attrs := []map[string]any{}
			for _, a := range o.attrs {
				attrs = append(attrs, map[string]any{"id": a.id, "attribute_id": 1, "name": a.name, "value": a.value})
			}
			j["attributes"] = attrs
		}
		data = append(data, j)
	}
	writeJSON(w, 200, map[string]any{"total": len(all), "data": data, "limit": limit, "offset": offset})
}

// paging reads limit (default all) and offset.
func paging(q url.Values, n int) (limit, offset int) {
	limit, offset = n, 0
	if v, err := strconv.Atoi(q.Get("limit")); err == nil && v > 0 {
		limit = v
	}
	if v, err := strconv.Atoi(q.Get("offset")); err == nil && v > 0 {
		offset = v
	}
	return limit, offset
}

// deleteRelations removes relations by pivot id (s.mu held): all or none.
func (s *Server) deleteRelations(w http.ResponseWriter, coll string, id int64, body []byte) {
	var pivots []int64
	if err := json.Unmarshal(body, &pivots); err != nil || len(pivots) == 0 {
		validationError(w, "body", "The body must be a JSON array of relation (pivot) ids.")
		return
	}
	owner := map[int64][2]int64{}
	for k, ps := range s.relations {
		if (coll == s.assetColl && k[0] == id) || (coll == "indicators" && k[1] == id) {
			for _, p := range ps {
				owner[p] = k
			}
		}
	}
	for _, p := range pivots {
		if _, ok := owner[p]; !ok {
			writeJSON(w, 404, map[string]any{"errors": []string{fmt.Sprintf("Relation %d does not exist on this object.", p)}})
			return
		}
	}
	for _, p := range pivots {
		k := owner[p]
		s.relations[k] = slices.DeleteFunc(s.relations[k], func(v int64) bool { return v == p })
		if len(s.relations[k]) == 0 {
			delete(s.relations, k)
		}
		s.unrelated++
	}
	w.WriteHeader(http.StatusNoContent)
}

// queryIndicators serves POST /api/indicators/query (s.mu not held).
func (s *Server) queryIndicators(w http.ResponseWriter, r *http.Request, body []byte) {
	var in struct {
		Criteria map[string]any `json:"criteria"`
		Filters  map[string]any `json:"filters"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		validationError(w, "body", "The body must be a JSON object with criteria and filters.")
		return
	}
	less, err := indicatorOrder(r.URL.Query().Get("sort"))
	if err != nil {
		validationError(w, "sort", err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var matched []*object
	for _, o := range s.indicators {
		ok := true
		for _, cond := range []map[string]any{in.Criteria, in.Filters} {
			m, err := s.matches(o, cond)
			if err != nil {
				validationError(w, "filters", err.Error())
				return
			}
			ok = ok && m
		}
		if ok {
			matched = append(matched, o)
		}
	}
	sort.SliceStable(matched, func(i, j int) bool { return less(matched[i], matched[j]) })
	limit, offset := paging(r.URL.Query(), len(matched))
	withTags := strings.Contains(r.URL.Query().Get("with"), "tags")
	data := []map[string]any{}
	for i := offset; i < len(matched) && i < offset+limit; i++ {
		o := matched[i]
		j := s.indicatorJSON(o)
		j["score"] = o.score
		j["updated_at"] = o.updated.Format(time.DateTime)
		if withTags {
			tags := []map[string]any{}
			for n, t := range o.tags {
				tags = append(tags, map[string]any{"id": n + 1, "name": t})
			}
			j["tags"] = tags
		}
		data = append(data, j)
	}
	writeJSON(w, 200, map[string]any{"total": len(matched), "data": data, "limit": limit, "offset": offset})
}

// matches evaluates one filter object (an empty one matches).
func (s *Server) matches(o *object, cond map[string]any) (bool, error) {
	for k, v := range cond {
		var ok bool
		switch k {
		case "+and", "+or":
			list, isList := v.([]any)
			if !isList {
				return false, fmt.Errorf("%s takes a list", k)
			}
			ok = k == "+and"
			for _, item := range list {
				m, isMap := item.(map[string]any)
				if !isMap {
					return false, fmt.Errorf("%s items are objects", k)
				}
				r, err := s.matches(o, m)
				if err != nil {
					return false, err
				}
				if k == "+and" {
					ok = ok && r
				} else {
					ok = ok || r
				}
			}
		case "type_name":
			ok = typeName(o.typeID) == v
		case "value":
			var err error
			if ok, err = valueMatches(o.value, v); err != nil {
				return false, err
			}
		case "status_id":
			n, isNum := v.(float64)
			ok = isNum && int64(n) == o.statusID
		case "status_name", "status":
			name, isStr := v.(string)
			if m, isMap := v.(map[string]any); isMap {
				name, isStr = m["name"].(string)
			}
			if !isStr {
				return false, fmt.Errorf("%s takes a status name", k)
			}
			ok = strings.EqualFold(statusName(o.statusID), name)
		case "score":
			m, isMap := v.(map[string]any)
			if !isMap {
				return false, fmt.Errorf("score takes {\"+gte\": n} or {\"+lte\": n}")
			}
			ok = true
			for op, x := range m {
				n, isNum := x.(float64)
				switch {
				case !isNum:
					return false, fmt.Errorf("score %s takes a number", op)
				case op == "+gte":
					ok = ok && o.score >= n
				case op == "+lte":
					ok = ok && o.score <= n
				default:
					return false, fmt.Errorf("unknown score operator %s", op)
				}
			}
		default:
			return false, fmt.Errorf("unknown filter field %s", k)
		}
		if !ok {
			return false, nil
		}
	}
	return true, nil
}

// valueMatches evaluates a value filter: a string (equal), or an operator
// object public clients send: {"+equals": v} or {"is": v} (equal),
// {"+contains": v} or {"contains": v} (a substring, case-insensitive).
// Any other form is refused, never answered with nothing.
func valueMatches(value string, v any) (bool, error) {
	switch x := v.(type) {
	case string:
		return value == x, nil
	case map[string]any:
		ok := true
		for op, arg := range x {
			a, isStr := arg.(string)
			if !isStr {
				return false, fmt.Errorf("value %s takes a string", op)
			}
			switch op {
			case "+equals", "is", "=", "+eq":
				ok = ok && value == a
			case "+contains", "contains", "+like":
				ok = ok && strings.Contains(strings.ToLower(value), strings.ToLower(a))
			default:
				return false, fmt.Errorf("unknown value operator %s (the fake takes +equals, is, +contains)", op)
			}
		}
		return ok, nil
	}
	return false, fmt.Errorf("value takes a string or an operator object")
}

// statusName is an indicator status's name.
func statusName(id int64) string {
	for _, st := range indicatorStatuses {
		if n, _ := st["id"].(int); int64(n) == id {
			return st["name"].(string)
		}
	}
	return ""
}

// indicatorOrder reads sort: comma-separated fields among id, value,
// score, created_at and updated_at, each descending with a leading -, as
// ThreatQ's public clients send it (sort=-updated_at, sort=-created_at,id).
// Another field is refused.
func indicatorOrder(spec string) (func(a, b *object) bool, error) {
	if spec == "" {
		spec = "id"
	}
	type key struct {
		field string
		desc  bool
	}
	var keys []key
	for _, f := range strings.Split(spec, ",") {
		f = strings.TrimSpace(f)
		desc := strings.HasPrefix(f, "-")
		f = strings.TrimPrefix(strings.TrimPrefix(f, "-"), "+")
		switch f {
		case "id", "value", "score", "created_at", "updated_at":
		default:
			return nil, fmt.Errorf("the fake sorts by id, value, score, created_at or updated_at (each - for descending), not %q", f)
		}
		keys = append(keys, key{f, desc})
	}
	return func(a, b *object) bool {
		for _, k := range keys {
			var c int
			switch k.field {
			case "id", "created_at": // ids grow with creation
				c = cmp.Compare(a.id, b.id)
			case "value":
				c = strings.Compare(a.value, b.value)
			case "score":
				c = cmp.Compare(a.score, b.score)
			case "updated_at":
				c = a.updated.Compare(b.updated)
			}
			if k.desc {
				c = -c
			}
			if c != 0 {
				return c < 0
			}
		}
		return false
	}, nil
}

// updateIndicator serves PUT /api/indicators/{id}: the status (by
// {"status": {"name": …}}, as ThreatQ's SOAR connector sets it, or
// status_id), the score and the description.
func (s *Server) updateIndicator(w http.ResponseWriter, idStr string, body []byte) {
	id, _ := strconv.ParseInt(idStr, 10, 64)
	var in map[string]any
	if err := json.Unmarshal(body, &in); err != nil {
		validationError(w, "body", "The body must be a JSON object.")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.indicators[id]
	if o == nil {
		writeJSON(w, 404, map[string]any{"errors": []string{"Indicator does not exist."}})
		return
	}
	for k, v := range in {
		switch k {
		case "status":
			name := ""
			if m, ok := v.(map[string]any); ok {
				name, _ = m["name"].(string)
			} else {
				name, _ = v.(string)
			}
			found := false
			for _, st := range indicatorStatuses {
				if strings.EqualFold(st["name"].(string), name) {
					o.statusID, found = int64(st["id"].(int)), true
				}
			}
			if !found {
				validationError(w, "status", "The selected status is invalid.")
				return
			}
		case "status_id":
			n, _ := v.(float64)
			if statusName(int64(n)) == "" {
				validationError(w, "status_id", "The selected status id is invalid.")
				return
			}
			o.statusID = int64(n)
		case "score":
			n, ok := v.(float64)
			if !ok {
				validationError(w, "score", "The score must be a number.")
				return
			}
			o.score = n
		case "description":
			o.description, _ = v.(string)
		default:
			validationError(w, k, "The fake updates status, status_id, score and description only.")
			return
		}
	}
	o.updated = time.Now().UTC()
	writeJSON(w, 200, map[string]any{"data": s.indicatorJSON(o)})
}

// Unrelated returns the number of relations removed through the API.
func (s *Server) Unrelated() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.unrelated
}

// postRelations relates the posted objects to an asset or an indicator
// (s.mu held); a related object that does not exist is a validation error.
func (s *Server) postRelations(w http.ResponseWriter, coll string, id int64, body []byte) {
	assetID := id
	var data []map[string]any
	for _, rel := range bodyList(body) {
		target, _ := rel["id"].(float64)
		a, ind := assetID, int64(target)
		if coll == "indicators" {
			a, ind = int64(target), id
		}
		if s.assets[a] == nil || s.indicators[ind] == nil {
			validationError(w, "id", "The related object does not exist.")
			return
		}
		p := s.addPivot([2]int64{a, ind})
		data = append(data, map[string]any{"id": int64(target), "pivot": map[string]any{"id": p}})
	}
	writeJSON(w, 201, map[string]any{"data": data})
}

// serveAttribute serves PUT and DELETE /{collection}/{id}/attributes/{row}:
// an attribute row's value updated in place, or the row removed.
func (s *Server) serveAttribute(w http.ResponseWriter, r *http.Request, coll, idStr, rowStr string, body []byte) {
	id, _ := strconv.ParseInt(idStr, 10, 64)
	row, _ := strconv.ParseInt(rowStr, 10, 64)
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.assets[id]
	if coll == "indicators" {
		o = s.indicators[id]
	}
	idx := -1
	if o != nil {
		for i, a := range o.attrs {
			if a.id == row {
				idx = i
			}
		}
	}
	if idx < 0 {
		writeJSON(w, 404, map[string]any{"errors": []string{"Attribute does not exist."}})
		return
	}
	at := &o.attrs[idx]
	switch r.Method {
	case "PUT":
		var in map[string]any
		json.Unmarshal(body, &in)
		value := stringify(in["value"])
		if value == "" {
			validationError(w, "value", "The value field is required.")
			return
		}
		s.history = append(s.history, AttributeChange{ObjectID: o.id, Object: o.value, Name: at.name, Value: value, Old: at.value, Action: "updated"})
		at.value = value
		writeJSON(w, 200, map[string]any{"data": map[string]any{"id": at.id, "name": at.name, "value": at.value}})
	case "DELETE":
		s.history = append(s.history, AttributeChange{ObjectID: o.id, Object: o.value, Name: at.name, Old: at.value, Action: "deleted"})
		o.attrs = append(o.attrs[:idx], o.attrs[idx+1:]...)
		w.WriteHeader(http.StatusNoContent)
	default:
		writeJSON(w, 405, map[string]any{"errors": []string{"Method not allowed."}})
	}
}
