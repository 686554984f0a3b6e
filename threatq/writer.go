package threatq

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"
)

// DefaultConcurrency is the default of WithConcurrency.
const DefaultConcurrency = 4

// WithConcurrency bounds the requests a client's bulk work sends at once:
// an AssetWriter's consume batches and attribute fixes (1 to 16, default
// DefaultConcurrency). Each request still honours 429 and 503 with their
// Retry-After.
func WithConcurrency(n int) Option {
	return func(c *config) error {
		if n < 1 || n > 16 {
			return &ConfigError{Option: "WithConcurrency", Reason: fmt.Sprintf("%d: want 1 to 16", n)}
		}
		c.concurrency = n
		return nil
	}
}

// WriteSummary is what an AssetWriter wrote.
type WriteSummary struct {
	// Assets is the assets written; ConsumeRequests the consume requests
	// that carried them.
	Assets          int `json:"assets"`
	ConsumeRequests int `json:"consume_requests"`
	// ReadPages is the pages of related assets read to compare their
	// current-state attributes; RowsUpdated the rows updated in place to
	// a new value, RowsDeleted those removed (values no longer current,
	// duplicate rows); AssetsSynced the assets reconciled one by one (not
	// related to the writer's indicator).
	ReadPages    int `json:"read_pages"`
	RowsUpdated  int `json:"rows_updated"`
	RowsDeleted  int `json:"rows_deleted"`
	AssetsSynced int `json:"assets_synced"`
}

// AssetWriter stores Asset objects in bulk, at about N/250 requests for N
// assets, keeping the meaning of UpsertAssets: attributes, sources, tags
// and relations accumulate, and the attributes an asset names Current end
// with exactly the values written last, an old value updated in place,
// with no duplicate row. Create it with Client.NewAssetWriter, Write
// batches, then Close.
//
// The request shapes, and the public record they rest on:
//
//   - Before the first Asset with a Current list is written, the assets
//     related to the writer's indicator are read with their attributes, a
//     page at a time (GET /api/indicators/{id}/{assets}?with=attributes,
//     limit and offset, as ThreatQ's SOAR connector in
//     splunk-soar-connectors/threatquotient lists related objects with
//     their attributes). An Asset found there has its current-state
//     values compared with those written: a value already there is left,
//     an old value is updated in place (PUT .../attributes/{row}), one
//     left over is deleted and a duplicate row removed (the lowest row id
//     kept) — one request per changed attribute, none for an unchanged
//     host.
//   - Write sends POST /api/{assets}/consume, BulkBatch (500) objects a
//     request, each with its value, description, attributes (name, value,
//     sources; the current-state values not handled in place above),
//     sources, tags, published_at and relations inline ("indicators":
//     [{"id": …}]): the shape ThreatQuotient's own SDK sends (threatqsdk
//     bulk_object.py, bulk_upload and _to_dict, in the same repository).
//     Up to the client's WithConcurrency requests are on their way at
//     once. The consume upsert adds what an object lacks; it never removes
//     or replaces an attribute.
//   - Close runs the in-place fixes (up to WithConcurrency at once) and,
//     when Assets were written that the first read did not find (new to
//     the indicator, but maybe carrying current-state values from another
//     writer), reads the related assets again and deletes their rows whose
//     current-state value is not the one written, and duplicate rows.
//     A row another writer changed or deleted first (404) is taken as
//     done, so that two writers storing the same hosts at once converge on
//     one row per value whatever the interleaving.
//   - Assets written with a Current list by a writer without an indicator
//     (NewAssetWriter(0)) cannot be read in pages: Close reconciles them
//     one at a time (SyncAttributes: a read, then the changes).
//
// Memory holds, per Asset related to the indicator, its current-state rows
// (until it is written), per Asset written that was not related yet a hash
// of each current-state value, the in-place fixes, and the batches on
// their way.
type AssetWriter struct {
	c         *Client
	indicator int64
	coll      string
	seed      maphash.Seed

	mu      sync.Mutex // guards the fields below, shared with the senders
	err     error
	seq     int            // batches written
	next    int            // the next batch to hand back, in order
	results map[int]result // batches done, not handed back yet
	// prior: the related assets' current-state rows, read before the
	// first Asset with a Current list (nil until then), by value; fixes
	// the in-place updates and deletions they call for.
	prior map[string]*priorAsset
	// priorNames are the current-state names prior holds rows of.
	priorNames map[string]bool
	fixes      []fix
	// want: assets written that prior did not hold, by value -> hashes
	// of their current-state (name, value) pairs; names: the
	// current-state names written.
	want  map[string][]uint64
	names map[string]bool
	// sync: assets whose current state is reconciled one by one.
	sync []Asset
	sum  WriteSummary

	slots chan struct{}
	wg    sync.WaitGroup
}

// priorAsset is a related asset's current-state rows as first read.
type priorAsset struct {
	id   int64
	rows []priorRow
}

type priorRow struct {
	id          int64
	name, value string
}

// fix is an in-place update (value set) or a deletion of one row.
type fix struct {
	asset, row int64
	value      string
}

// result is one batch's assets, or its error, with the callback to hand
// them to.
type result struct {
	assets []Asset
	done   func([]Asset)
	err    error
}

// NewAssetWriter returns a writer of Assets related to the indicator
// indicatorID (the relation is written with each asset: an asset's own
// Indicators are kept and this one added), or of unrelated assets with 0.
func (c *Client) NewAssetWriter(indicatorID int64) *AssetWriter {
	return &AssetWriter{c: c, indicator: indicatorID, seed: maphash.MakeSeed(), results: map[int]result{},
		want: map[string][]uint64{}, names: map[string]bool{}, slots: make(chan struct{}, c.concurrency)}
}

func (w *AssetWriter) pairHash(name, value string) uint64 {
	var h maphash.Hash
	h.SetSeed(w.seed)
	h.WriteString(name)
	h.WriteByte(0)
	h.WriteString(value)
	return h.Sum64()
}

// Write stores assets: BulkBatch at a time through consume, each batch
// sent by a goroutine of its own while up to the client's concurrency are
// on their way (Write waits for a free one). done, when not nil, receives
// each batch's assets with their ids once ThreatQ stored them, in the
// order written, from the goroutine that calls Write or Close. The first
// error is returned by the next Write or by Close.
func (w *AssetWriter) Write(ctx context.Context, assets []Asset, done func([]Asset)) error {
	if err := w.deliver(); err != nil {
		return err
	}
	if w.coll == "" {
		coll, err := w.c.AssetCollection(ctx)
		if err != nil {
			return w.fail(err)
		}
		w.coll = coll
	}
	if len(assets) == 0 && done != nil {
		// Nothing to write: handed back in its turn, after the batches
		// on their way.
		w.mu.Lock()
		w.results[w.seq] = result{done: done}
		w.seq++
		w.mu.Unlock()
		return w.deliver()
	}
	if w.indicator != 0 && w.prior == nil && slices.ContainsFunc(assets, func(a Asset) bool { return len(a.Current) > 0 }) {
		if err := w.loadPrior(ctx, assets); err != nil {
			return w.fail(err)
		}
	}
	for len(assets) > 0 {
		n := min(BulkBatch, len(assets))
		batch := slices.Clone(assets[:n])
		assets = assets[n:]
		for i := range batch {
			if w.indicator != 0 && !slices.Contains(batch[i].Indicators, w.indicator) {
				batch[i].Indicators = append(slices.Clone(batch[i].Indicators), w.indicator)
			}
			if w.indicator != 0 && len(batch[i].Current) > 0 {
				batch[i] = w.plan(batch[i])
			}
		}
		select {
		case w.slots <- struct{}{}:
		case <-ctx.Done():
			return w.fail(ctx.Err())
		}
		w.mu.Lock()
		seq := w.seq
		w.seq++
		w.mu.Unlock()
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			defer func() { <-w.slots }()
			out, bulk, err := w.c.consume(ctx, w.coll, batch)
			w.mu.Lock()
			defer w.mu.Unlock()
			if bulk {
				w.sum.ConsumeRequests++
			}
			if err != nil {
				if w.err == nil {
					w.err = err
				}
				w.results[seq] = result{err: err}
				return
			}
			w.sum.Assets += len(out)
			for _, a := range out {
				if len(a.Current) == 0 || !bulk {
					continue // nothing current, or completed one by one
				}
				if w.indicator == 0 {
					w.sync = append(w.sync, a)
				}
			}
			w.results[seq] = result{assets: out, done: done}
		}()
		if err := w.deliver(); err != nil {
			return err
		}
	}
	return nil
}

// deliver hands back the batches done, in order, and returns the first
// error.
func (w *AssetWriter) deliver() error {
	for {
		w.mu.Lock()
		r, ok := w.results[w.next]
		if ok {
			delete(w.results, w.next)
			w.next++
		}
		err := w.err
		w.mu.Unlock()
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		if r.done != nil {
			r.done(r.assets)
		}
	}
}

func (w *AssetWriter) fail(err error) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = err
	}
	return w.err
}

// loadPrior reads the indicator's related assets with their attributes and
// keeps, for each, its rows of the current-state names of assets.
func (w *AssetWriter) loadPrior(ctx context.Context, assets []Asset) error {
	for _, a := range assets {
		for _, n := range a.Current {
			w.names[n] = true
		}
	}
	w.prior = map[string]*priorAsset{}
	w.priorNames = maps.Clone(w.names)
	return w.related(ctx, func(a relatedAsset, id int64) {
		p := &priorAsset{id: id}
		for _, at := range a.Attributes {
			rid, err := at.ID.Int64()
			if err == nil && rid > 0 && w.names[at.Name] {
				p.rows = append(p.rows, priorRow{rid, at.Name, attrValue(at.Value)})
			}
		}
		w.prior[a.Value] = p
	})
}

// plan compares an asset's current-state values with its prior rows: the
// values already there are left out of the consume, an old value is
// updated in place to a new one (a fix), rows left over and duplicates are
// deleted (fixes), and the new values no old row can take stay in the
// consume. An asset the first read did not hold is kept for Close's
// second read (want).
func (w *AssetWriter) plan(a Asset) Asset {
	accumulating, current := splitCurrent(a)
	current = dedupeAttrs(current)
	for _, n := range a.Current {
		w.names[n] = true
	}
	p := w.prior[a.Value]
	if p != nil && slices.ContainsFunc(a.Current, func(n string) bool { return !w.priorNames[n] }) {
		p = nil // names the first read did not keep: compared after writing
	}
	if p == nil {
		hs := make([]uint64, 0, len(current))
		for _, at := range current {
			hs = append(hs, w.pairHash(at.Name, at.Value))
		}
		w.mu.Lock()
		w.want[a.Value] = hs
		w.mu.Unlock()
		return a
	}
	delete(w.prior, a.Value)
	slices.SortFunc(p.rows, func(x, y priorRow) int { return cmp.Compare(x.id, y.id) })
	var add []Attribute
	for _, name := range a.Current {
		var rows []attrRow
		for _, r := range p.rows {
			if r.name == name {
				rows = append(rows, attrRow{id: r.id, value: r.value})
			}
		}
		puts, adds, deletes := reconcileCurrent(rows, valuesNamed(current, name))
		for _, u := range puts {
			w.fixes = append(w.fixes, fix{asset: p.id, row: u.id, value: u.value})
		}
		for _, v := range adds {
			i := slices.IndexFunc(current, func(at Attribute) bool { return at.Name == name && at.Value == v })
			add = append(add, current[i])
		}
		for _, row := range deletes {
			w.fixes = append(w.fixes, fix{asset: p.id, row: row})
		}
	}
	a.Attributes = append(accumulating, add...)
	return a
}

// related pages through the indicator's related assets with their
// attributes, calling fn for each (from one goroutine at a time, in no
// set order): the first page, then the rest up to the client's
// concurrency at once (see readAll).
func (w *AssetWriter) related(ctx context.Context, fn func(relatedAsset, int64)) error {
	path := CollectionIndicators + "/" + strconv.FormatInt(w.indicator, 10) + "/" + w.coll
	r := &request{method: "GET", path: path, query: url.Values{"with": {"attributes"}}, idempotent: true}
	pages, err := readAll(ctx, w.c, r, BulkBatch, func(a *relatedAsset) string { return string(a.ID) }, func(a *relatedAsset) error {
		id, err := objectID(a.ID, "GET", "/api/"+path)
		if err != nil {
			return err
		}
		fn(*a, id)
		return nil
	})
	w.mu.Lock()
	w.sum.ReadPages += pages
	w.mu.Unlock()
	return err
}

// pageList is a page's data decoded straight into its items: a list, or
// nothing (null, or the empty object some servers answer).
type pageList[T any] []T

func (p *pageList[T]) UnmarshalJSON(b []byte) error {
	t := strings.TrimSpace(string(b))
	switch {
	case t == "null" || t == "{}":
		*p = nil
		return nil
	case strings.HasPrefix(t, "{"):
		return errors.New("a page's data is an object, not a list")
	}
	var items []T
	if err := json.Unmarshal(b, &items); err != nil {
		return err
	}
	*p = items
	return nil
}

// readAll reads a listing whose order does not matter, calling fn for each
// item (one call at a time), decoded straight from the page: the first
// page alone, then, when its total says more pages follow, the next ones
// in waves of up to the client's concurrency. The paging rules are
// paged's: without a total, pages are read one after another while they
// are full; an empty page ends it; a page holding the same items (by key)
// as the page before it ends it with ErrPageRepeated; the total the first
// page gave bounds it, and so does MaxObjectPages; a server that caps its
// page size below limit is followed by what it gives. It returns the
// pages read.
func readAll[T any](ctx context.Context, c *Client, r *request, limit int, key func(*T) string, fn func(*T) error) (pages int, err error) {
	type page struct {
		items []T
		keys  []string
		total int
	}
	fetch := func(offset int) (page, error) {
		q := r.page(limit, offset)
		var answer struct {
			Total *json.Number `json:"total"`
			Data  pageList[T]  `json:"data"`
		}
		if err := c.call(ctx, &q, &answer); err != nil {
			return page{}, err
		}
		p := page{items: answer.Data, total: -1}
		if answer.Total != nil {
			if t, err := answer.Total.Int64(); err == nil && t >= 0 {
				p.total = int(t)
			}
		}
		for i := range p.items {
			p.keys = append(p.keys, key(&p.items[i]))
		}
		return p, nil
	}
	repeated := func(offset int) error {
		return &Error{Method: r.method, Endpoint: "/api/" + r.path, StatusCode: 200, Err: ErrPageRepeated,
			Messages: []string{fmt.Sprintf("the page at offset %d holds the same %d items as the page before it; the server does not advance with the offset", offset, limit)}}
	}
	deliver := func(p *page) error {
		for i := range p.items {
			if err := fn(&p.items[i]); err != nil {
				return err
			}
		}
		return nil
	}
	first, err := fetch(0)
	if err != nil {
		return 0, err
	}
	pages = 1
	if err := deliver(&first); err != nil {
		return pages, err
	}
	offset, prev, total := len(first.items), first.keys, first.total
	// A server that caps its page size below limit gives short pages: the
	// waves then step by what it gives.
	step := limit
	if n := len(first.items); n > 0 && n < limit && total > n {
		step = n
	}
	for len(prev) > 0 {
		if total >= 0 && offset >= total || total < 0 && len(prev) < limit {
			return pages, nil
		}
		if pages >= MaxObjectPages {
			return pages, &Error{Method: r.method, Endpoint: "/api/" + r.path, Messages: []string{fmt.Sprintf("more than %d pages of %d items; stopping rather than paging without end", MaxObjectPages, limit)}}
		}
		wave := 1
		if total >= 0 {
			wave = max(1, min(c.concurrency, (total-offset+step-1)/step, MaxObjectPages-pages))
		}
		got := make([]page, wave)
		var g errgroup.Group
		for i := range wave {
			g.Go(func() error {
				p, err := fetch(offset + i*step)
				got[i] = p
				return err
			})
		}
		if err := g.Wait(); err != nil {
			return pages, err
		}
		for i := range got {
			p := &got[i]
			pages++
			if len(p.items) == 0 {
				return pages, nil
			}
			if slices.Equal(p.keys, prev) {
				return pages, repeated(offset)
			}
			if err := deliver(p); err != nil {
				return pages, err
			}
			prev = p.keys
			offset += len(p.items)
			if len(p.items) < step {
				// The last page (without a total), or a short page
				// inside the wave: what follows it is read again.
				break
			}
		}
	}
	return pages, nil
}

// Close waits for the batches on their way, hands them back, and then
// brings the current-state attributes of the assets written in line (see
// AssetWriter). It returns what was written.
func (w *AssetWriter) Close(ctx context.Context) (*WriteSummary, error) {
	w.wg.Wait()
	if err := w.deliver(); err != nil {
		return w.summary(), err
	}
	w.prior = nil
	if len(w.fixes) > 0 {
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(w.c.concurrency)
		for _, f := range w.fixes {
			g.Go(func() error { return w.c.fixAttribute(gctx, w.coll, f) })
		}
		if err := g.Wait(); err != nil {
			return w.summary(), err
		}
		w.mu.Lock()
		for _, f := range w.fixes {
			if f.value == "" {
				w.sum.RowsDeleted++
			} else {
				w.sum.RowsUpdated++
			}
		}
		w.mu.Unlock()
		w.fixes = nil
	}
	if len(w.want) > 0 {
		if err := w.reconcile(ctx); err != nil {
			return w.summary(), err
		}
	}
	if len(w.sync) > 0 {
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(w.c.concurrency)
		for _, a := range w.sync {
			_, current := splitCurrent(a)
			g.Go(func() error {
				return w.c.SyncAttributes(gctx, w.coll, a.ID, current, a.Current)
			})
		}
		if err := g.Wait(); err != nil {
			return w.summary(), err
		}
		w.sum.AssetsSynced += len(w.sync)
		w.sync = nil
	}
	return w.summary(), nil
}

// Abort waits for the batches on their way and ends the writer without
// reconciling: what was written stays (consume only adds), and a later
// writer's run brings the current-state values in line. Call it instead
// of Close when giving up, so that no request outlives the caller.
func (w *AssetWriter) Abort() {
	w.wg.Wait()
	w.fail(errors.New("threatq: the writer was aborted"))
}

func (w *AssetWriter) summary() *WriteSummary {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.sum
	return &s
}

// relatedAsset is an asset as the related listing gives it with its
// attributes.
type relatedAsset struct {
	ID         json.Number  `json:"id"`
	Value      string       `json:"value"`
	Attributes []relatedRow `json:"attributes"`
}

// relatedRow is one attribute row of a related asset.
type relatedRow struct {
	ID    json.Number `json:"id"`
	Name  string      `json:"name"`
	Value any         `json:"value"`
}

// reconcile reads the indicator's related assets with their attributes and
// deletes, on the assets written, the current-state rows whose value is
// not the one written and the duplicate rows.
func (w *AssetWriter) reconcile(ctx context.Context) error {
	type row struct {
		asset, id int64
	}
	var doomed []row
	err := w.related(ctx, func(a relatedAsset, id int64) {
		want, ok := w.want[a.Value]
		if !ok {
			return // related, but not written by this writer, or handled
		}
		delete(w.want, a.Value)
		first := map[[2]string]bool{}
		rows := a.Attributes
		slices.SortFunc(rows, func(x, y relatedRow) int {
			xi, _ := x.ID.Int64()
			yi, _ := y.ID.Int64()
			return cmp.Compare(xi, yi)
		})
		for _, at := range rows {
			rid, err := at.ID.Int64()
			if err != nil || rid <= 0 {
				continue // a row without an id cannot be deleted
			}
			v := attrValue(at.Value)
			k := [2]string{at.Name, v}
			if first[k] {
				doomed = append(doomed, row{id, rid})
				continue
			}
			first[k] = true
			if w.names[at.Name] && !slices.Contains(want, w.pairHash(at.Name, v)) {
				doomed = append(doomed, row{id, rid})
			}
		}
	})
	if err != nil {
		return err
	}
	if len(w.want) > 0 {
		// Written but not related to the indicator (ThreatQ kept the
		// relation elsewhere?): reconciled one by one.
		w.c.logger.Warn("threatq: assets written are not listed as related to the indicator; reconciling them one by one", "assets", len(w.want), "indicator", w.indicator)
		for value := range w.want {
			id, err := w.c.findByValue(ctx, w.coll, value)
			if err != nil {
				return err
			}
			if id != 0 {
				if err := w.dedupeOne(ctx, id); err != nil {
					return err
				}
			}
		}
		clear(w.want)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(w.c.concurrency)
	for _, d := range doomed {
		g.Go(func() error { return w.c.fixAttribute(gctx, w.coll, fix{asset: d.asset, row: d.id}) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	w.mu.Lock()
	w.sum.RowsDeleted += len(doomed)
	w.mu.Unlock()
	return nil
}

// dedupeOne removes the duplicate rows of one asset (the lowest row id of
// a name and value kept); its current state is then what consume left.
func (w *AssetWriter) dedupeOne(ctx context.Context, id int64) error {
	path := w.coll + "/" + strconv.FormatInt(id, 10) + "/attributes"
	var have struct {
		Data []Attribute `json:"data"`
	}
	if err := w.c.call(ctx, &request{method: "GET", path: path, idempotent: true}, &have); err != nil {
		return err
	}
	slices.SortFunc(have.Data, func(a, b Attribute) int { return cmp.Compare(a.ID, b.ID) })
	seen := map[[2]string]bool{}
	for _, a := range have.Data {
		k := [2]string{a.Name, a.Value}
		if seen[k] {
			if err := w.c.fixAttribute(ctx, w.coll, fix{asset: id, row: a.ID}); err != nil {
				return err
			}
			continue
		}
		seen[k] = true
	}
	return nil
}

// fixAttribute updates one attribute row in place (value set) or deletes
// it; a row already gone (404) is taken as done.
func (c *Client) fixAttribute(ctx context.Context, coll string, f fix) error {
	path := coll + "/" + strconv.FormatInt(f.asset, 10) + "/attributes/" + strconv.FormatInt(f.row, 10)
	r := &request{method: "DELETE", path: path, idempotent: true}
	if f.value != "" {
		r = &request{method: "PUT", path: path, body: map[string]string{"value": f.value}, idempotent: true}
	}
	err := c.call(ctx, r, nil)
	var te *Error
	if errors.As(err, &te) && te.StatusCode == http.StatusNotFound {
		return nil
	}
	return err
}

// attrValue reads an attribute value as text (ThreatQ answers strings;
// numbers and booleans as the consume stores them).
func attrValue(v any) string {
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

// consume sends one consume request with the batch's attributes (all of
// them, current-state ones included), sources, tags and relations inline,
// and returns the batch with its ids, matched back as ThreatQ's SDK
// matches consume results: by value, else name, else title; an asset the
// answer does not name is looked up by its value. Where consume is
// unavailable (404, 405), each asset is found or created and completed one
// by one (upsertOne, its current state included): bulk is then false.
func (c *Client) consume(ctx context.Context, coll string, batch []Asset) (out []Asset, bulk bool, err error) {
	c.cacheMu.Lock()
	noBulk := c.noBulk[coll]
	c.cacheMu.Unlock()
	if !noBulk {
		out, err := c.consumeBatch(ctx, coll, batch)
		var te *Error
		if !errors.As(err, &te) || (te.StatusCode != 404 && te.StatusCode != 405) {
			return out, true, err
		}
		c.logger.Info("threatq: bulk consume unavailable; writing assets one by one", "collection", coll)
		c.cacheMu.Lock()
		c.noBulk[coll] = true
		c.cacheMu.Unlock()
	}
	out = make([]Asset, 0, len(batch))
	for _, a := range batch {
		done, err := c.upsertOne(ctx, coll, a)
		if err != nil {
			return out, false, err
		}
		out = append(out, done)
	}
	return out, false, nil
}

func (c *Client) consumeBatch(ctx context.Context, coll string, batch []Asset) ([]Asset, error) {
	objs := make([]consumeObject, 0, len(batch))
	for _, a := range batch {
		o := consumeObject{Value: a.Value, Description: a.Description, Attributes: dedupeAttrs(a.Attributes), Sources: a.Sources, Tags: dedupeStrings(a.Tags)}
		for _, id := range a.Indicators {
			o.Indicators = append(o.Indicators, map[string]int64{"id": id})
		}
		if !a.PublishedAt.IsZero() {
			o.PublishedAt = FormatTime(a.PublishedAt)
		}
		objs = append(objs, o)
	}
	var resp struct {
		Data []struct {
			ID    json.Number `json:"id"`
			Value string      `json:"value"`
			Name  string      `json:"name"`
			Title string      `json:"title"`
		} `json:"data"`
	}
	if err := c.call(ctx, &request{method: "POST", path: coll + "/consume", body: objs, idempotent: true}, &resp); err != nil {
		return nil, err
	}
	ids := map[string]int64{}
	for _, d := range resp.Data {
		id, err := objectID(d.ID, "POST", "/api/"+coll+"/consume")
		if err != nil {
			return nil, err
		}
		for _, key := range []string{d.Value, d.Name, d.Title} {
			if key != "" {
				if _, seen := ids[key]; !seen {
					ids[key] = id
				}
			}
		}
	}
	out := make([]Asset, 0, len(batch))
	for _, a := range batch {
		id, ok := ids[a.Value]
		if !ok {
			found, err := c.findByValue(ctx, coll, a.Value)
			if err != nil {
				return out, err
			}
			if found == 0 {
				return out, &Error{Method: "POST", Endpoint: "/api/" + coll + "/consume", StatusCode: 200,
					Messages: []string{fmt.Sprintf("asset %q is neither in the consume response nor found by its value", a.Value)}}
			}
			id = found
		}
		a.ID = id
		out = append(out, a)
	}
	return out, nil
}
