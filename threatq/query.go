package threatq

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// IndicatorQuery selects indicators for QueryIndicators. Every field given
// must hold.
//
// Only the filters public ThreatQ clients show the query endpoint taking
// are sent to the server: the type (type_name) and the minimum score
// (score +gte, as Polarity's integration sends it). Status, tags and
// updated-since are checked on each listed indicator, from fields ThreatQ
// documents in its answers (status_id, tags with with=tags, updated_at),
// so that no guessed filter syntax can widen or empty the selection
// silently.
type IndicatorQuery struct {
	// Type is the indicator type name, such as CVE (required).
	Type string
	// Statuses keeps indicators in one of these statuses (names, such as
	// Active; resolved to ids with IndicatorStatusID). Empty: any.
	Statuses []string
	// MinScore keeps indicators scored at least this (0: any).
	MinScore float64
	// Tags keeps indicators carrying one of these tags (case-insensitive).
	// Empty: any.
	Tags []string
	// UpdatedSince keeps indicators updated at or after this time (zero:
	// any).
	UpdatedSince time.Time
	// PageSize is the indicators asked for a page (default 500).
	PageSize int
}

// ListedIndicator is an indicator as QueryIndicators lists it.
type ListedIndicator struct {
	ID        int64
	Value     string
	StatusID  int64
	Score     float64
	Tags      []string
	UpdatedAt time.Time
}

// QueryIndicators lists the indicators the query selects with ThreatQ's
// indicator query (POST /api/indicators/query, paged with limit and offset,
// sorted by id so that pages do not shift), yielding the first error and
// stopping. Like Objects, it stops at the total the first page announced
// and after MaxObjectPages pages.
func (c *Client) QueryIndicators(ctx context.Context, q *IndicatorQuery) iter.Seq2[*ListedIndicator, error] {
	return func(yield func(*ListedIndicator, error) bool) {
		if q == nil || strings.TrimSpace(q.Type) == "" {
			yield(nil, &ConfigError{Option: "IndicatorQuery.Type", Reason: "an indicator type name is required"})
			return
		}
		if q.MinScore < 0 || q.PageSize < 0 {
			yield(nil, &ConfigError{Option: "IndicatorQuery", Reason: "MinScore and PageSize must not be negative"})
			return
		}
		statuses := map[int64]bool{}
		for _, name := range q.Statuses {
			id, err := c.IndicatorStatusID(ctx, name)
			if err != nil {
				yield(nil, err)
				return
			}
			statuses[id] = true
		}
		filters := []map[string]any{{"type_name": q.Type}}
		if q.MinScore > 0 {
			filters = append(filters, map[string]any{"score": map[string]any{"+gte": q.MinScore}})
		}
		body := map[string]any{"criteria": map[string]any{}, "filters": map[string]any{"+and": filters}}
		limit := q.PageSize
		if limit == 0 {
			limit = 500
		}
		// A query changes nothing: safe to repeat. Sorted by id so that
		// pages do not shift.
		r := &request{method: "POST", path: "indicators/query", body: body, idempotent: true,
			query: url.Values{"sort": {"id"}, "with": {"tags"}}}
		for raw, err := range c.paged(ctx, r, limit) {
			if err != nil {
				yield(nil, err)
				return
			}
			ind, err := decodeListed(raw)
			if err != nil {
				yield(nil, err)
				return
			}
			if ind.Score < q.MinScore || (len(statuses) > 0 && !statuses[ind.StatusID]) ||
				(!q.UpdatedSince.IsZero() && ind.UpdatedAt.Before(q.UpdatedSince)) || !anyTag(ind.Tags, q.Tags) {
				continue
			}
			if !yield(ind, nil) {
				return
			}
		}
	}
}

func anyTag(have, want []string) bool {
	if len(want) == 0 {
		return true
	}
	for _, h := range have {
		if slices.ContainsFunc(want, func(w string) bool { return strings.EqualFold(strings.TrimSpace(w), h) }) {
			return true
		}
	}
	return false
}

// decodeListed reads one indicator of a query answer. Its score is a
// number or a numeric string in list answers, or {generated_score,
// manual_score} (the effective score being the manual one when set).
func decodeListed(raw json.RawMessage) (*ListedIndicator, error) {
	var w struct {
		ID        json.Number     `json:"id"`
		Value     string          `json:"value"`
		StatusID  json.Number     `json:"status_id"`
		Score     json.RawMessage `json:"score"`
		UpdatedAt string          `json:"updated_at"`
		Tags      []struct {
			Name string `json:"name"`
		} `json:"tags"`
	}
	if err := json.Unmarshal(raw, &w); err != nil {
		return nil, &Error{Method: "POST", Endpoint: "/api/indicators/query", Messages: []string{"an indicator is not an object: " + err.Error()}}
	}
	id, err := objectID(w.ID, "POST", "/api/indicators/query")
	if err != nil {
		return nil, err
	}
	out := &ListedIndicator{ID: id, Value: w.Value}
	out.StatusID, _ = w.StatusID.Int64()
	out.Score = parseScore(w.Score)
	if w.UpdatedAt != "" {
		t, err := time.Parse(time.DateTime, w.UpdatedAt)
		if err != nil {
			// The server's text is not quoted: only its shape is wrong.
			return nil, &Error{Method: "POST", Endpoint: "/api/indicators/query", Messages: []string{fmt.Sprintf("indicator %d: updated_at (%d characters) is not YYYY-MM-DD HH:MM:SS", id, len(w.UpdatedAt))}}
		}
		out.UpdatedAt = t.UTC()
	}
	for _, t := range w.Tags {
		if t.Name != "" {
			out.Tags = append(out.Tags, t.Name)
		}
	}
	return out, nil
}

func parseScore(raw json.RawMessage) float64 {
	num := func(v any) float64 {
		switch x := v.(type) {
		case float64:
			return x
		case string:
			f, _ := strconv.ParseFloat(x, 64)
			return f
		}
		return 0
	}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return 0
	}
	if m, ok := v.(map[string]any); ok {
		if manual, set := m["manual_score"]; set && manual != nil {
			return num(manual)
		}
		return num(m["generated_score"])
	}
	return num(v)
}

// Related is an object related to another, as Related lists it.
type Related struct {
	ID    int64
	Value string
	// PivotID identifies the relation itself (what Unrelate takes).
	PivotID int64
	// Sources are the names of the related object's sources.
	Sources []string
}

// Related lists the objects of toCollection related to an object
// (GET /api/{collection}/{id}/{toCollection}?with=sources, paged).
func (c *Client) Related(ctx context.Context, collection string, id int64, toCollection string) iter.Seq2[*Related, error] {
	return func(yield func(*Related, error) bool) {
		path := collection + "/" + strconv.FormatInt(id, 10) + "/" + toCollection
		r := &request{method: "GET", path: path, query: url.Values{"with": {"sources"}}, idempotent: true}
		for raw, err := range c.paged(ctx, r, 500) {
			if err != nil {
				yield(nil, err)
				return
			}
			var d struct {
				ID      json.Number `json:"id"`
				Value   string      `json:"value"`
				Sources []struct {
					Name string `json:"name"`
				} `json:"sources"`
				Pivot struct {
					ID json.Number `json:"id"`
				} `json:"pivot"`
			}
			if err := json.Unmarshal(raw, &d); err != nil {
				yield(nil, &Error{Method: "GET", Endpoint: "/api/" + path, Messages: []string{"a related object is not an object: " + err.Error()}})
				return
			}
			oid, err := objectID(d.ID, "GET", "/api/"+path)
			if err != nil {
				yield(nil, err)
				return
			}
			pid, err := objectID(d.Pivot.ID, "GET", "/api/"+path+" (pivot)")
			if err != nil {
				yield(nil, err)
				return
			}
			rel := &Related{ID: oid, Value: d.Value, PivotID: pid}
			for _, s := range d.Sources {
				rel.Sources = append(rel.Sources, s.Name)
			}
			if !yield(rel, nil) {
				return
			}
		}
	}
}

// Unrelate removes relations of an object by their pivot ids (DELETE
// /api/{collection}/{id}/{toCollection} with the ids as a JSON array, as
// public ThreatQ clients send it). It is not retried when its answer is
// lost: a repeat of a delete that happened would be refused.
func (c *Client) Unrelate(ctx context.Context, collection string, id int64, toCollection string, pivotIDs []int64) error {
	if len(pivotIDs) == 0 {
		return nil
	}
	path := collection + "/" + strconv.FormatInt(id, 10) + "/" + toCollection
	return c.call(ctx, &request{method: "DELETE", path: path, body: pivotIDs}, nil)
}
