package qualystest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/qualysbridge/qualysbridge/qualys"
)

type qpsCriteria struct {
	Field    string `json:"field" xml:"field,attr"`
	Operator string `json:"operator" xml:"operator,attr"`
	Value    string `json:"value" xml:",chardata"`
}

type qpsRequest struct {
	StartFromOffset int
	StartFromID     int64
	LimitResults    int
	Criteria        []qpsCriteria
}

func parseQPSRequest(body []byte) (qpsRequest, error) {
	var out qpsRequest
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return out, nil
	}
	if body[0] == '{' {
		var j struct {
			ServiceRequest struct {
				Preferences struct {
					StartFromOffset json.Number `json:"startFromOffset"`
					StartFromID     json.Number `json:"startFromId"`
					LimitResults    json.Number `json:"limitResults"`
				} `json:"preferences"`
				Filters struct {
					Criteria json.RawMessage `json:"Criteria"`
				} `json:"filters"`
			} `json:"ServiceRequest"`
		}
		if err := json.Unmarshal(body, &j); err != nil {
			return out, qfault(fmt.Sprintf("Invalid JSON: %v", err))
		}
		p := j.ServiceRequest.Preferences
		var err error
		for _, f := range []struct {
			n   json.Number
			dst *int64
		}{{p.StartFromID, &out.StartFromID}} {
			if f.n != "" {
				if *f.dst, err = f.n.Int64(); err != nil {
					return out, err
				}
			}
		}
		if p.StartFromOffset != "" {
			n, err := p.StartFromOffset.Int64()
			if err != nil {
				return out, err
			}
			out.StartFromOffset = int(n)
		}
		if p.LimitResults != "" {
			n, err := p.LimitResults.Int64()
			if err != nil {
				return out, err
			}
			out.LimitResults = int(n)
		}
		if c := bytes.TrimSpace(j.ServiceRequest.Filters.Criteria); len(c) > 0 {
			if c[0] == '[' {
				err = json.Unmarshal(c, &out.Criteria)
			} else {
				var one qpsCriteria
				err = json.Unmarshal(c, &one)
				out.Criteria = []qpsCriteria{one}
			}
			if err != nil {
				return out, err
			}
		}
		return out, nil
	}
	var x struct {
		Preferences struct {
			StartFromOffset int   `xml:"startFromOffset"`
			StartFromID     int64 `xml:"startFromId"`
			LimitResults    int   `xml:"limitResults"`
		} `xml:"preferences"`
		Criteria []qpsCriteria `xml:"filters>Criteria"`
	}
	if err := xml.Unmarshal(body, &x); err != nil {
		return out, qfault(fmt.Sprintf("Invalid XML: %v", err))
	}
	out.StartFromOffset, out.StartFromID, out.LimitResults = x.Preferences.StartFromOffset, x.Preferences.StartFromID, x.Preferences.LimitResults
	out.Criteria = x.Criteria
	return out, nil
}

func qpsError(w http.ResponseWriter, r *http.Request, code, msg, resolution string) {
	writeServiceResponse(w, r, map[string]any{"responseCode": code,
		"responseErrorDetails": map[string]any{"errorMessage": msg, "errorResolution": resolution}})
}

// writeServiceResponse answers in JSON when the request accepts it, and
// in XML otherwise, as the QPS API does.
func writeServiceResponse(w http.ResponseWriter, r *http.Request, resp map[string]any) {
	if strings.Contains(r.Header.Get("Accept"), "json") {
		w.Header().Set("Content-Type", "application/json")
		writeJSON(w, map[string]any{"ServiceResponse": resp})
		return
	}
	w.Header().Set("Content-Type", "application/xml")
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<ServiceResponse xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:noNamespaceSchemaLocation="https://qualysapi.qualystest.invalid/qps/xsd/2.0/am/hostasset.xsd">`)
	for _, k := range []string{"responseCode", "count", "hasMoreRecords", "lastId", "responseErrorDetails", "data"} {
		if v, ok := resp[k]; ok {
			xmlValue(&b, k, v)
		}
	}
	b.WriteString("</ServiceResponse>\n")
	io.WriteString(w, b.String())
}

// xmlValue renders a value built for the JSON form in the XML form: the
// JSON collections {"list": [{"Type": {...}}]} become
// <name><list><Type>...</Type></list></name>, and "data" holds the
// records directly.
func xmlValue(b *strings.Builder, name string, v any) {
	switch x := v.(type) {
	case map[string]any:
		b.WriteString("<" + name + ">")
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			xmlValue(b, k, x[k])
		}
		b.WriteString("</" + name + ">")
	case []map[string]any:
		b.WriteString("<" + name + ">")
		for _, item := range x {
			for k, inner := range item {
				xmlValue(b, k, inner)
			}
		}
		b.WriteString("</" + name + ">")
	case []any:
		b.WriteString("<" + name + ">")
		for _, item := range x {
			if m, ok := item.(map[string]any); ok {
				for k, inner := range m {
					xmlValue(b, k, inner)
				}
			}
		}
		b.WriteString("</" + name + ">")
	default:
		b.WriteString("<" + name + ">" + escapeText(fmt.Sprint(x)) + "</" + name + ">")
	}
}

// match applies one QPS criteria to an asset.
func match(a *qualys.HostAsset, c qpsCriteria) (bool, error) {
	switch c.Field {
	case "id":
		return matchNum(c, a.ID)
	case "qwebHostId":
		return matchNum(c, a.QWebHostID)
	case "updated":
		return matchDate(c, a.Modified)
	case "created":
		return matchDate(c, a.Created)
	case "lastVulnScan":
		return matchDate(c, a.LastVulnScan)
	case "name":
		return matchStr(c, a.Name)
	case "os":
		return matchStr(c, a.OS)
	case "address":
		return matchStr(c, a.Address)
	case "dnsHostName":
		return matchStr(c, a.DNSHostName)
	case "trackingMethod":
		return matchStr(c, a.TrackingMethod)
	case "tagName":
		for _, t := range a.Tags {
			if ok, err := matchStr(c, t.Name); ok || err != nil {
				return ok, err
			}
		}
		return false, nil
	}
	return false, qfault(fmt.Sprintf("Criteria: Unknown field '%s'.|Use a supported field.", c.Field))
}

func unsupportedOperator(c qpsCriteria) error {
	return qfault(fmt.Sprintf("Criteria: Unsupported operator '%s' for criteria '%s'.|Use a supported operator.", c.Operator, c.Field))
}

// matchNum applies a criteria on a Long field.
func matchNum(c qpsCriteria, v int64) (bool, error) {
	var vals []int64
	for _, p := range strings.Split(c.Value, ",") {
		n, err := strconv.ParseInt(strings.TrimSpace(p), 10, 64)
		if err != nil {
			return false, qfault(fmt.Sprintf("Criteria: Invalid value format for criteria '%s' (%s).|Specify criteria value(s) as Long.", c.Field, c.Value))
		}
		vals = append(vals, n)
	}
	switch c.Operator {
	case "EQUALS":
		return v == vals[0], nil
	case "NOT EQUALS":
		return v != vals[0], nil
	case "GREATER":
		return v > vals[0], nil
	case "LESSER":
		return v < vals[0], nil
	case "IN":
		return slices.Contains(vals, v), nil
	}
	return false, unsupportedOperator(c)
}

// matchDate applies a criteria on a Date field.
func matchDate(c qpsCriteria, v time.Time) (bool, error) {
	t, err := parseFormTime(c.Field, c.Value)
	if err != nil {
		return false, qfault(fmt.Sprintf("Criteria: Invalid value format for criteria '%s' (%s).|Specify criteria value(s) as Date (YYYY-MM-DDTHH:MM:SSZ).", c.Field, c.Value))
	}
	switch c.Operator {
	case "GREATER":
		return v.After(t), nil
	case "LESSER":
		return v.Before(t), nil
	case "EQUALS":
		return v.Equal(t), nil
	}
	return false, unsupportedOperator(c)
}

// matchStr applies a criteria on a String field.
func matchStr(c qpsCriteria, v string) (bool, error) {
	switch c.Operator {
	case "EQUALS":
		return v == c.Value, nil
	case "NOT EQUALS":
		return v != c.Value, nil
	case "CONTAINS":
		return strings.Contains(strings.ToLower(v), strings.ToLower(c.Value)), nil
	case "IN":
		for _, p := range strings.Split(c.Value, ",") {
			if strings.TrimSpace(p) == v {
				return true, nil
			}
		}
		return false, nil
	}
	return false, unsupportedOperator(c)
}

func (s *Server) selectAssets(crit []qpsCriteria) ([]*qualys.HostAsset, error) {
	var out []*qualys.HostAsset
	for _, a := range s.hostAssets {
		ok := true
		for _, c := range crit {
			m, err := match(a, c)
			if err != nil {
				return nil, err
			}
			if !m {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, a)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func (s *Server) serveQPS(w http.ResponseWriter, r *http.Request, api string, form url.Values) {
	if s.qpsXMLOnly {
		r.Header.Del("Accept") // answered as if JSON had not been asked for
	}
	if !s.basicOK(r) {
		qpsError(w, r, "INVALID_CREDENTIALS", "Authentication failed", "Verify both, user and password credentials.")
		return
	}
	body := readBody(r)
	switch api {
	case APIHostAssets, APIHostCount:
		if r.Method != http.MethodPost {
			qpsError(w, r, "INVALID_REQUEST", "Invalid Request", "Use POST with a ServiceRequest body.")
			return
		}
		req, err := parseQPSRequest(body)
		if err != nil {
			qpsError(w, r, "INVALID_REQUEST", err.Error(), "Send a valid ServiceRequest.")
			return
		}
		if req.LimitResults == 0 {
			req.LimitResults = 100
		}
		if req.LimitResults < 1 || req.LimitResults > 1000 {
			qpsError(w, r, "INVALID_REQUEST", fmt.Sprintf("Invalid value for limitResults (%d).", req.LimitResults), "Specify a value between 1 and 1000.")
			return
		}
		if api == APIHostAssets {
			s.nextPage(APIHostAssets)
		}
		s.mu.Lock()
		sel, err := s.selectAssets(req.Criteria)
		s.mu.Unlock()
		if err != nil {
			msg, res, _ := strings.Cut(err.Error(), "|")
			qpsError(w, r, "INVALID_REQUEST", msg, res)
			return
		}
		if api == APIHostCount {
			writeServiceResponse(w, r, map[string]any{"responseCode": "SUCCESS", "count": len(sel)})
			return
		}
		writeServiceResponse(w, r, hostAssetPage(sel, req))
	case APIHostGet:
		id, err := strconv.ParseInt(strings.TrimPrefix(r.URL.Path, APIHostGet), 10, 64)
		s.mu.Lock()
		a := s.hostAssets[id]
		s.mu.Unlock()
		if err != nil || a == nil {
			qpsError(w, r, "NOT_FOUND", fmt.Sprintf("HostAsset with id %s not found.", strings.TrimPrefix(r.URL.Path, APIHostGet)), "Specify an existing id.")
			return
		}
		writeServiceResponse(w, r, map[string]any{"responseCode": "SUCCESS", "count": 1,
			"data": []map[string]any{{"HostAsset": hostAssetJSON(a)}}})
	default:
		qpsError(w, r, "INVALID_REQUEST", "Unsupported QPS object.", "Use the hostasset API.")
	}
}

// hostAssetPage is the ServiceResponse of one search page: the selected
// assets from the request's start (id or offset), at most LimitResults,
// with hasMoreRecords and lastId when more follow.
func hostAssetPage(sel []*qualys.HostAsset, req qpsRequest) map[string]any {
	if req.StartFromID > 0 {
		i := sort.Search(len(sel), func(i int) bool { return sel[i].ID >= req.StartFromID })
		sel = sel[i:]
	}
	if req.StartFromOffset > 1 {
		sel = sel[min(len(sel), req.StartFromOffset-1):]
	}
	more := len(sel) > req.LimitResults
	if more {
		sel = sel[:req.LimitResults]
	}
	resp := map[string]any{"responseCode": "SUCCESS", "count": len(sel)}
	if len(sel) > 0 {
		data := make([]map[string]any, 0, len(sel))
		for _, a := range sel {
			data = append(data, map[string]any{"HostAsset": hostAssetJSON(a)})
		}
		resp["data"] = data
		resp["hasMoreRecords"] = strconv.FormatBool(more)
		if more {
			resp["lastId"] = sel[len(sel)-1].ID
		}
	}
	return resp
}

func readBody(r *http.Request) []byte {
	var b bytes.Buffer
	b.ReadFrom(r.Body)
	return b.Bytes()
}

// serveGateway serves /auth and the CSAM asset search.
func (s *Server) serveGateway(w http.ResponseWriter, r *http.Request, api string, form url.Values) {
	w.Header().Set("Content-Type", "application/json")
	switch api {
	case APIGatewayAuth:
		s.serveGatewayAuth(w, r, form)
	case APIGatewayAssets:
		s.serveGatewayAssets(w, r, form)
	default:
		w.WriteHeader(http.StatusNotFound)
		writeJSON(w, map[string]any{"status": 404, "error": "Not Found", "message": "No such gateway API"})
	}
}

// serveGatewayAuth is /auth: a JWT for the subscription's credentials.
func (s *Server) serveGatewayAuth(w http.ResponseWriter, r *http.Request, form url.Values) {
	if r.Method != http.MethodPost || form.Get("token") != "true" {
		w.WriteHeader(http.StatusBadRequest)
		writeJSON(w, map[string]any{"status": 400, "error": "Bad Request", "message": "POST username, password and token=true as a form"})
		return
	}
	if form.Get("username") != s.user || form.Get("password") != s.pass {
		w.WriteHeader(http.StatusUnauthorized)
		writeJSON(w, map[string]any{"status": 401, "error": "Unauthorized", "message": "Bad credentials"})
		return
	}
	s.mu.Lock()
	s.tokenSeq++
	expires := time.Now().Add(s.jwtLife)
	// A JWT as the gateway sends one: header, claims (with exp),
	// signature, each base64url without padding.
	enc := base64.RawURLEncoding.EncodeToString
	tok := enc([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." +
		enc([]byte(fmt.Sprintf(`{"sub":%q,"exp":%d,"jti":"%d-%d"}`, s.user, time.Now().Add(4*time.Hour).Unix(), s.tokenSeq, time.Now().UnixNano()))) + "." +
		enc([]byte(fmt.Sprintf("qualystest-signature-%d", s.tokenSeq)))
	s.tokens[tok] = expires
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusCreated)
	fmt.Fprint(w, tok)
}

// serveGatewayAssets is the CSAM asset search, paged by lastSeenAssetId.
func (s *Server) serveGatewayAssets(w http.ResponseWriter, r *http.Request, form url.Values) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	s.mu.Lock()
	exp, known := s.tokens[tok]
	s.mu.Unlock()
	if !ok || !known || time.Now().After(exp) {
		msg := "Not authenticated"
		if known {
			msg = "JWT expired"
		}
		w.WriteHeader(http.StatusUnauthorized)
		writeJSON(w, map[string]any{"timestamp": fmtTime(time.Now()), "path": r.URL.Path, "status": 401,
			"error": "Unauthorized", "message": msg, "responseCode": "Failure", "responseErrorDetails": "Unauthorized"})
		return
	}
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	size := 100
	if v := form.Get("pageSize"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 300 {
			w.WriteHeader(http.StatusBadRequest)
			writeJSON(w, map[string]any{"responseCode": "FAILED", "responseMessage": "pageSize must be between 1 and 300"})
			return
		}
		size = n
	}
	var after int64
	if v := form.Get("lastSeenAssetId"); v != "" {
		after, _ = strconv.ParseInt(v, 10, 64)
	}
	var since time.Time
	if v := form.Get("assetLastUpdated"); v != "" {
		t, err := parseFormTime("assetLastUpdated", v)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			writeJSON(w, map[string]any{"responseCode": "FAILED", "responseMessage": "Invalid assetLastUpdated"})
			return
		}
		since = t
	}
	swType := form.Get("softwareType")
	s.nextPage(APIGatewayAssets)
	s.mu.Lock()
	var sel []*qualys.Asset
	for _, a := range s.assets {
		if a.AssetID > after && (since.IsZero() || a.LastModified.After(since)) {
			cp := *a
			if swType != "" {
				cp.Software = nil
				for _, sw := range a.Software {
					if firstOr(sw.SoftwareType, "Application") == swType {
						cp.Software = append(cp.Software, sw)
					}
				}
			}
			sel = append(sel, &cp)
		}
	}
	s.mu.Unlock()
	sort.Slice(sel, func(i, j int) bool { return sel[i].AssetID < sel[j].AssetID })
	more := 0
	if len(sel) > size {
		sel = sel[:size]
		more = 1
	}
	list := make([]map[string]any, 0, len(sel))
	var last int64
	for _, a := range sel {
		list = append(list, assetJSON(a))
		last = a.AssetID
	}
	writeJSON(w, map[string]any{"responseMessage": "Valid API Access", "count": len(sel), "responseCode": "SUCCESS",
		"lastSeenAssetId": last, "hasMore": more, "assetListData": map[string]any{"asset": list}})
}

// qfault is an error in the QPS API's words: "message|resolution".
type qfault string

func (q qfault) Error() string { return string(q) }
