package threatq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Source is where a fact came from, with its TLP (red=1, amber=2,
// green=3, white=4; 0 for none).
type Source struct {
	Name  string `json:"name"`
	TLPID int    `json:"tlp_id,omitempty"`
}

// Attribute is a name/value pair on an object. An object may carry the
// same name with several values.
type Attribute struct {
	// ID is the attribute row's id on its object, when read back.
	ID      int64    `json:"id,omitempty"`
	Name    string   `json:"name"`
	Value   string   `json:"value"`
	Sources []Source `json:"sources,omitempty"`
}

// Indicator is a ThreatQ indicator.
type Indicator struct {
	ID          int64
	Value       string
	Type        string // indicator type name, such as CVE
	Status      string // status name, such as Active
	Description string
	Sources     []Source
	Attributes  []Attribute
}

// Asset is a ThreatQ Asset object: for Qualys, a host keyed by its IP.
type Asset struct {
	ID          int64
	Value       string
	Description string
	Attributes  []Attribute
	Tags        []string
	Sources     []Source
	// Indicators are the ids of indicators the asset is related to.
	Indicators []int64
	// PublishedAt is when the facts were published (zero: not sent).
	PublishedAt time.Time
	// Current names the attributes that describe the asset's current
	// state (its last scan date, a detection's status): on an asset that
	// already exists, their values replace the old ones, updated in place,
	// instead of being added beside them. Other attributes accumulate.
	Current []string
}

// Object is a generic object as listed by Objects.
type Object struct {
	ID    int64  `json:"id"`
	Value string `json:"value"`
	// Raw is the object's JSON.
	Raw json.RawMessage `json:"-"`
}

// objectType is an entry of GET /api/objects.
type objectType struct {
	Name        string `json:"name"`
	DisplayName string `json:"display_name"`
	Collection  string `json:"collection"`
}

// AssetCollection returns the API collection of Asset objects, from
// WithAssetCollection or GET /api/objects (cached).
func (c *Client) AssetCollection(ctx context.Context) (string, error) {
	if c.assetColl != "" {
		return c.assetColl, nil
	}
	return c.ObjectCollection(ctx, "Asset")
}

// ObjectCollection resolves an object type's API collection by its name or
// display name (case-insensitive), from GET /api/objects.
func (c *Client) ObjectCollection(ctx context.Context, name string) (string, error) {
	key := strings.ToLower(name)
	c.cacheMu.Lock()
	coll, ok := c.objColl[key]
	c.cacheMu.Unlock()
	if ok {
		return coll, nil
	}
	var out struct {
		Data []objectType `json:"data"`
	}
	if err := c.call(ctx, &request{method: "GET", path: "objects", idempotent: true}, &out); err != nil {
		return "", err
	}
	c.cacheMu.Lock()
	defer c.cacheMu.Unlock()
	for _, o := range out.Data {
		if o.Collection == "" {
			continue
		}
		for _, n := range []string{o.Name, o.DisplayName} {
			if n != "" {
				c.objColl[strings.ToLower(n)] = o.Collection
			}
		}
	}
	if coll, ok := c.objColl[key]; ok {
		return coll, nil
	}
	return "", &Error{Method: "GET", Endpoint: "/api/objects", StatusCode: 404,
		Messages: []string{fmt.Sprintf("no %q object type on this ThreatQ (install the Asset object, or name its collection with WithAssetCollection)", name)}}
}

type namedID struct {
	ID   json.Number `json:"id"`
	Name string      `json:"name"`
}

func (c *Client) lookupID(ctx context.Context, cache map[string]int64, path, name, what string) (int64, error) {
	key := strings.ToLower(name)
	c.cacheMu.Lock()
	id, ok := cache[key]
	c.cacheMu.Unlock()
	if ok {
		return id, nil
	}
	var out struct {
		Data []namedID `json:"data"`
	}
	if err := c.call(ctx, &request{method: "GET", path: path, idempotent: true}, &out); err != nil {
		return 0, err
	}
	c.cacheMu.Lock()
	defer c.cacheMu.Unlock()
	for _, t := range out.Data {
		if n, err := t.ID.Int64(); err == nil {
			cache[strings.ToLower(t.Name)] = n
		}
	}
	if id, ok := cache[key]; ok {
		return id, nil
	}
	return 0, &Error{Method: "GET", Endpoint: "/api/" + path, StatusCode: 404, Messages: []string{fmt.Sprintf("no %s named %q", what, name)}}
}

// IndicatorTypeID resolves an indicator type's id by name (never
// hard-coded: ids differ between instances).
func (c *Client) IndicatorTypeID(ctx context.Context, name string) (int64, error) {
	return c.lookupID(ctx, c.typeIDs, "indicator/types", name, "indicator type")
}

// IndicatorStatusID resolves an indicator status's id by name.
func (c *Client) IndicatorStatusID(ctx context.Context, name string) (int64, error) {
	return c.lookupID(ctx, c.statuses, "indicator/statuses", name, "indicator status")
}

type wireIndicator struct {
	ID          json.Number `json:"id"`
	Value       string      `json:"value"`
	TypeID      json.Number `json:"type_id"`
	StatusID    json.Number `json:"status_id"`
	Description string      `json:"description"`
	Type        *namedID    `json:"type"`
}

// FindIndicator finds an indicator of a type by its exact value; it
// returns nil (and no error) when there is none.
func (c *Client) FindIndicator(ctx context.Context, typ, value string) (*Indicator, error) {
	typeID, err := c.IndicatorTypeID(ctx, typ)
	if err != nil {
		return nil, err
	}
	var out struct {
		Data []wireIndicator `json:"data"`
	}
	if err := c.call(ctx, &request{method: "GET", path: "indicators", query: url.Values{"value": {value}, "with": {"type"}}, idempotent: true}, &out); err != nil {
		return nil, err
	}
	for _, w := range out.Data {
		tid, _ := w.TypeID.Int64()
		if w.Type != nil {
			if n, err := w.Type.ID.Int64(); err == nil {
				tid = n
			}
		}
		if w.Value == value && tid == typeID {
			id, err := objectID(w.ID, "GET", "/api/indicators")
			if err != nil {
				return nil, err
			}
			return &Indicator{ID: id, Value: w.Value, Type: typ, Description: w.Description}, nil
		}
	}
	return nil, nil
}

// EnsureIndicator finds the indicator by type and value, or creates it
// (status default Active) and returns it with its id.
func (c *Client) EnsureIndicator(ctx context.Context, in Indicator) (*Indicator, error) {
	if in.Type == "" || in.Value == "" {
		return nil, &ConfigError{Option: "Indicator", Reason: "type and value are required"}
	}
	found, err := c.FindIndicator(ctx, in.Type, in.Value)
	if err != nil || found != nil {
		return found, err
	}
	if in.Status == "" {
		in.Status = "Active"
	}
	typeID, err := c.IndicatorTypeID(ctx, in.Type)
	if err != nil {
		return nil, err
	}
	statusID, err := c.IndicatorStatusID(ctx, in.Status)
	if err != nil {
		return nil, err
	}
	body := map[string]any{"value": in.Value, "type_id": typeID, "status_id": statusID}
	if in.Description != "" {
		body["description"] = in.Description
	}
	if len(in.Sources) > 0 {
		body["sources"] = in.Sources
	}
	if len(in.Attributes) > 0 {
		body["attributes"] = in.Attributes
	}
	// The create response's data is a list even for one indicator.
	var out struct {
		Data json.RawMessage `json:"data"`
	}
	if err := c.call(ctx, &request{method: "POST", path: "indicators", body: body}, &out); err != nil {
		return nil, err
	}
	var list []wireIndicator
	var derr error
	if len(out.Data) > 0 && out.Data[0] == '{' {
		var one wireIndicator
		derr = json.Unmarshal(out.Data, &one)
		list = []wireIndicator{one}
	} else {
		derr = json.Unmarshal(out.Data, &list)
	}
	if derr != nil {
		return nil, &Error{Method: "POST", Endpoint: "/api/indicators", StatusCode: 200, Messages: []string{"unreadable create answer: " + derr.Error()}}
	}
	if len(list) == 0 {
		return nil, &Error{Method: "POST", Endpoint: "/api/indicators", StatusCode: 200, Messages: []string{"create returned no indicator"}}
	}
	id, err := objectID(list[0].ID, "POST", "/api/indicators")
	if err != nil {
		return nil, err
	}
	in.ID = id
	return &in, nil
}

// objectID reads an object id from an answer: a positive integer, or an
// error (never 0).
func objectID(n json.Number, method, endpoint string) (int64, error) {
	id, err := n.Int64()
	if err != nil || id <= 0 {
		return 0, &Error{Method: method, Endpoint: endpoint, StatusCode: 200, Messages: []string{fmt.Sprintf("answer with an invalid object id %q", n.String())}}
	}
	return id, nil
}

// BulkBatch is the number of objects sent in one consume request.
const BulkBatch = 500

type consumeObject struct {
	Value       string             `json:"value"`
	Description string             `json:"description,omitempty"`
	Attributes  []Attribute        `json:"attributes,omitempty"`
	Sources     []Source           `json:"sources,omitempty"`
	Tags        []string           `json:"tags,omitempty"`
	Indicators  []map[string]int64 `json:"indicators,omitempty"`
	PublishedAt string             `json:"published_at,omitempty"`
}

// UpsertAssets stores assets by value: through POST /api/{asset}/consume
// in batches (an upsert that merges attributes, tags, sources and
// relations), or, where consume is unavailable, by finding or creating
// each asset and adding what it lacks; the attributes an asset names
// Current then end with exactly the values given, reconciled one asset at a
// time. Either way, writing the same assets twice changes nothing. It
// returns the assets with their ids. Assets all related to one indicator
// are written at a fraction of the requests with an AssetWriter.
func (c *Client) UpsertAssets(ctx context.Context, assets []Asset) ([]Asset, error) {
	w := c.NewAssetWriter(0)
	out := make([]Asset, 0, len(assets))
	if err := w.Write(ctx, assets, func(done []Asset) { out = append(out, done...) }); err != nil {
		w.Close(ctx)
		return out, err
	}
	if _, err := w.Close(ctx); err != nil {
		return out, err
	}
	return out, nil
}

// upsertOne finds or creates one asset, then adds what it lacks.
func (c *Client) upsertOne(ctx context.Context, coll string, a Asset) (Asset, error) {
	id, err := c.findByValue(ctx, coll, a.Value)
	if err != nil {
		return a, err
	}
	if id == 0 {
		body := map[string]any{"value": a.Value}
		if a.Description != "" {
			body["description"] = a.Description
		}
		if len(a.Sources) > 0 {
			body["sources"] = a.Sources
		}
		if !a.PublishedAt.IsZero() {
			body["published_at"] = FormatTime(a.PublishedAt)
		}
		var out struct {
			Data json.RawMessage `json:"data"`
		}
		if err := c.call(ctx, &request{method: "POST", path: coll, body: body}, &out); err != nil {
			return a, err
		}
		if id, err = firstID(out.Data, "/api/"+coll); err != nil {
			return a, err
		}
	}
	a.ID = id
	if err := c.SyncAttributes(ctx, coll, id, a.Attributes, a.Current); err != nil {
		return a, err
	}
	if err := c.AddTags(ctx, coll, id, a.Tags); err != nil {
		return a, err
	}
	for _, ind := range a.Indicators {
		if err := c.Relate(ctx, coll, id, CollectionIndicators, ind); err != nil {
			return a, err
		}
	}
	return a, nil
}

// firstID reads the id of a create answer's data (an object or a list of
// one).
func firstID(raw json.RawMessage, endpoint string) (int64, error) {
	var one struct {
		ID json.Number `json:"id"`
	}
	var err error
	if len(raw) > 0 && raw[0] == '[' {
		var list []struct {
			ID json.Number `json:"id"`
		}
		if err = json.Unmarshal(raw, &list); err == nil && len(list) > 0 {
			one = list[0]
		}
	} else {
		err = json.Unmarshal(raw, &one)
	}
	if err != nil {
		return 0, &Error{Method: "POST", Endpoint: endpoint, StatusCode: 200, Messages: []string{"unreadable create answer: " + err.Error()}}
	}
	return objectID(one.ID, "POST", endpoint)
}

func (c *Client) findByValue(ctx context.Context, coll, value string) (int64, error) {
	var out struct {
		Data []struct {
			ID    json.Number `json:"id"`
			Value string      `json:"value"`
		} `json:"data"`
	}
	if err := c.call(ctx, &request{method: "GET", path: coll, query: url.Values{"value": {value}}, idempotent: true}, &out); err != nil {
		return 0, err
	}
	for _, d := range out.Data {
		if d.Value == value {
			return objectID(d.ID, "GET", "/api/"+coll)
		}
	}
	return 0, nil
}

// AddAttributes adds the attributes an object does not already carry (same
// name and value), so that adding the same attributes twice adds nothing.
func (c *Client) AddAttributes(ctx context.Context, collection string, id int64, attrs []Attribute) error {
	return c.SyncAttributes(ctx, collection, id, attrs, nil)
}

// splitCurrent separates an asset's accumulating attributes from those
// that describe its current state.
func splitCurrent(a Asset) (accumulating, current []Attribute) {
	for _, at := range a.Attributes {
		if slices.Contains(a.Current, at.Name) {
			current = append(current, at)
		} else {
			accumulating = append(accumulating, at)
		}
	}
	return accumulating, current
}

// SyncAttributes brings an object's attributes in line with attrs. For the
// names in current, the object ends with exactly the values attrs gives
// (none when attrs gives none): a value already there is kept, an old value
// is updated in place to a new one (PUT), old values left over are deleted
// and new values left over added. For every other name, values are only
// added when missing, as AddAttributes does.
func (c *Client) SyncAttributes(ctx context.Context, collection string, id int64, attrs []Attribute, current []string) error {
	attrs = dedupeAttrs(attrs)
	if len(attrs) == 0 && len(current) == 0 {
		return nil
	}
	path := collection + "/" + strconv.FormatInt(id, 10) + "/attributes"
	var have struct {
		Data []Attribute `json:"data"`
	}
	if err := c.call(ctx, &request{method: "GET", path: path, idempotent: true}, &have); err != nil {
		return err
	}
	existing := map[[2]string]bool{}
	for _, a := range have.Data {
		existing[[2]string{a.Name, a.Value}] = true
	}
	var add []Attribute
	for _, a := range attrs {
		if !slices.Contains(current, a.Name) && !existing[[2]string{a.Name, a.Value}] {
			add = append(add, a)
		}
	}
	for _, name := range current {
		var rows []attrRow
		for _, a := range have.Data {
			if a.Name == name {
				rows = append(rows, attrRow{id: a.ID, value: a.Value})
			}
		}
		puts, adds, deletes := reconcileCurrent(rows, valuesNamed(attrs, name))
		for _, p := range puts {
			if err := c.call(ctx, &request{method: "PUT", path: path + "/" + strconv.FormatInt(p.id, 10), body: map[string]string{"value": p.value}, idempotent: true}, nil); err != nil {
				return err
			}
		}
		for _, v := range adds {
			add = append(add, Attribute{Name: name, Value: v})
		}
		for _, row := range deletes {
			if err := c.call(ctx, &request{method: "DELETE", path: path + "/" + strconv.FormatInt(row, 10), idempotent: true}, nil); err != nil {
				var te *Error
				if !errors.As(err, &te) || te.StatusCode != http.StatusNotFound {
					return err
				}
			}
		}
	}
	// One attribute object a request, as ThreatQ's own SDK and every
	// public client send it (the list form is not documented).
	for _, a := range add {
		if err := c.call(ctx, &request{method: "POST", path: path, body: a}, nil); err != nil {
			return err
		}
	}
	return nil
}

// page is the request for one page of a listing: r with limit and offset
// set (r itself unchanged).
func (r *request) page(limit, offset int) request {
	q := *r
	q.query = url.Values{}
	for k, v := range r.query {
		q.query[k] = v
	}
	q.query.Set("limit", strconv.Itoa(limit))
	q.query.Set("offset", strconv.Itoa(offset))
	return q
}

// attrRow is one stored row of an attribute: its id and value.
type attrRow struct {
	id    int64
	value string
}

// valuesNamed is the distinct values attrs gives name, in order.
func valuesNamed(attrs []Attribute, name string) []string {
	var out []string
	for _, a := range attrs {
		if a.Name == name && !slices.Contains(out, a.Value) {
			out = append(out, a.Value)
		}
	}
	return out
}

// reconcileCurrent says how the stored rows of one current-state
// attribute come to hold exactly the values want (distinct, in order): a
// row whose value is wanted is kept (once; a duplicate row is stale),
// stale rows are updated in place to the values still missing (puts, in
// the rows' order), values left over are added, and stale rows left over
// are deleted. SyncAttributes and the AssetWriter both plan with it.
func reconcileCurrent(rows []attrRow, want []string) (puts []attrRow, adds []string, deletes []int64) {
	kept := map[string]bool{}
	var stale []int64
	for _, r := range rows {
		if slices.Contains(want, r.value) && !kept[r.value] {
			kept[r.value] = true
			continue
		}
		stale = append(stale, r.id) // an old value, or a duplicate row
	}
	for _, v := range want {
		switch {
		case kept[v]:
		case len(stale) > 0:
			puts = append(puts, attrRow{id: stale[0], value: v})
			stale = stale[1:]
		default:
			adds = append(adds, v)
		}
	}
	return puts, adds, stale
}

// AddTags adds the tags an object does not already carry.
func (c *Client) AddTags(ctx context.Context, collection string, id int64, tags []string) error {
	tags = dedupeStrings(tags)
	if len(tags) == 0 {
		return nil
	}
	path := collection + "/" + strconv.FormatInt(id, 10) + "/tags"
	var have struct {
		Data []struct {
			Name string `json:"name"`
		} `json:"data"`
	}
	if err := c.call(ctx, &request{method: "GET", path: path, idempotent: true}, &have); err != nil {
		return err
	}
	existing := map[string]bool{}
	for _, t := range have.Data {
		existing[strings.ToLower(t.Name)] = true
	}
	var add []map[string]string
	for _, t := range tags {
		if !existing[strings.ToLower(t)] {
			add = append(add, map[string]string{"name": t})
		}
	}
	if len(add) == 0 {
		return nil
	}
	return c.call(ctx, &request{method: "POST", path: path, body: add}, nil)
}

// Relate relates two objects unless they already are.
func (c *Client) Relate(ctx context.Context, fromCollection string, fromID int64, toCollection string, toID int64) error {
	path := fromCollection + "/" + strconv.FormatInt(fromID, 10) + "/" + toCollection
	var have struct {
		Data []struct {
			ID json.Number `json:"id"`
		} `json:"data"`
	}
	if err := c.call(ctx, &request{method: "GET", path: path, idempotent: true}, &have); err != nil {
		return err
	}
	for _, d := range have.Data {
		if n, _ := d.ID.Int64(); n == toID {
			return nil
		}
	}
	return c.call(ctx, &request{method: "POST", path: path, body: map[string]int64{"id": toID}}, nil)
}

// Collection names for the calls that take one (AddTags, AddAttributes,
// SyncAttributes, Relate, Objects). The Asset collection's name varies
// between ThreatQ versions: AssetCollection finds it.
const (
	CollectionIndicators  = "indicators"
	CollectionAdversaries = "adversaries"
	CollectionEvents      = "events"
)

// MaxObjectPages bounds the pages Objects, QueryIndicators and Related
// read.
const MaxObjectPages = 10_000

// Objects lists a collection page by page (limit/offset), yielding each
// object; params add filters such as value=. See paged for when a listing
// ends.
func (c *Client) Objects(ctx context.Context, collection string, params url.Values) iter.Seq2[*Object, error] {
	return func(yield func(*Object, error) bool) {
		for raw, err := range c.paged(ctx, &request{method: "GET", path: collection, query: params, idempotent: true}, 500) {
			if err != nil {
				yield(nil, err)
				return
			}
			var o Object
			if err := json.Unmarshal(raw, &o); err != nil {
				yield(nil, err)
				return
			}
			o.Raw = raw
			if !yield(&o, nil) {
				return
			}
		}
	}
}

// ErrPageRepeated is matched (errors.Is) by the error of a listing whose
// server answered a page with the same items as the page before it: the
// offset did not advance, and paging on would fetch the same page for
// ever.
var ErrPageRepeated = errors.New("threatq: a page repeated the previous page")

// paged sends r once a page, with limit and offset added to its query,
// and yields each item of the answers' data. No listing trusts total
// alone: without a total, a full page (limit items) is followed by the
// next one and a short page is the last; with one, pages are followed
// until the total the first page announced (a later, larger total is not
// followed; a server that caps its page size gives short pages); an empty
// page (an empty list, or the "data": {} some servers answer) always ends
// it. A page
// whose items are those of the page before (same ids, or same bytes for
// items without one) ends it at once with an error matching
// ErrPageRepeated; and MaxObjectPages bounds it whatever the server says.
func (c *Client) paged(ctx context.Context, r *request, limit int) iter.Seq2[json.RawMessage, error] {
	return func(yield func(json.RawMessage, error) bool) {
		offset, total := 0, -1
		var prev []string
		for pages := 0; ; pages++ {
			if pages >= MaxObjectPages {
				yield(nil, &Error{Method: r.method, Endpoint: "/api/" + r.path, Messages: []string{fmt.Sprintf("more than %d pages of %d items; stopping rather than paging without end", MaxObjectPages, limit)}})
				return
			}
			page := r.page(limit, offset)
			var answer struct {
				Total *json.Number    `json:"total"`
				Data  json.RawMessage `json:"data"`
			}
			if err := c.call(ctx, &page, &answer); err != nil {
				yield(nil, err)
				return
			}
			items, err := pageItems(answer.Data)
			if err != nil {
				yield(nil, &Error{Method: r.method, Endpoint: "/api/" + r.path, StatusCode: 200, Messages: []string{err.Error()}})
				return
			}
			keys := make([]string, len(items))
			for i, raw := range items {
				keys[i] = itemKey(raw)
			}
			if len(items) > 0 && slices.Equal(keys, prev) {
				yield(nil, &Error{Method: r.method, Endpoint: "/api/" + r.path, StatusCode: 200, Err: ErrPageRepeated,
					Messages: []string{fmt.Sprintf("the page at offset %d holds the same %d items as the page before it; the server does not advance with the offset", offset, len(items))}})
				return
			}
			prev = keys
			for _, raw := range items {
				if !yield(raw, nil) {
					return
				}
			}
			if answer.Total != nil {
				if t, err := answer.Total.Int64(); err == nil && t >= 0 && (total < 0 || int(t) < total) {
					total = int(t) // the first total bounds the listing; it may only shrink
				}
			}
			offset += len(items)
			switch {
			case len(items) == 0:
				return
			case total >= 0 && offset >= total:
				return
			case total < 0 && len(items) < limit:
				return // no total: a short page is the last
			}
		}
	}
}

// pageItems reads a page's data: a list of items, or nothing (null, an
// absent data, or an empty object).
func pageItems(data json.RawMessage) ([]json.RawMessage, error) {
	d := strings.TrimSpace(string(data))
	switch {
	case d == "" || d == "null" || d == "{}":
		return nil, nil
	case d[0] == '{':
		return nil, fmt.Errorf("a page's data is an object, not a list")
	}
	var items []json.RawMessage
	if err := json.Unmarshal(data, &items); err != nil {
		return nil, fmt.Errorf("unreadable page data: %v", err)
	}
	return items, nil
}

// itemKey identifies an item of a page: its id, else its bytes.
func itemKey(raw json.RawMessage) string {
	var o struct {
		ID json.Number `json:"id"`
	}
	if json.Unmarshal(raw, &o) == nil && o.ID != "" {
		return "id:" + o.ID.String()
	}
	return "raw:" + string(raw)
}

func dedupeAttrs(in []Attribute) []Attribute {
	seen := map[[2]string]bool{}
	var out []Attribute
	for _, a := range in {
		if a.Name == "" || a.Value == "" {
			continue
		}
		k := [2]string{a.Name, a.Value}
		if !seen[k] {
			seen[k] = true
			out = append(out, a)
		}
	}
	return out
}

func dedupeStrings(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		s = strings.TrimSpace(s)
		if s != "" && !seen[strings.ToLower(s)] {
			seen[strings.ToLower(s)] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}
