package car

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/qualysbridge/qualysbridge/internal/redact"
	"github.com/qualysbridge/qualysbridge/internal/retry"
)

// Mode is the kind of import. Its zero value is no mode: NewImport refuses
// it, so that an import is always full or incremental by choice (unlike
// carsync.Mode, whose zero value Auto lets the model state decide).
type Mode int

const (
	// Full imports everything the source has; CAR deactivates what the
	// source did not report during it.
	Full Mode = iota + 1
	// Incremental imports what changed; deletions are separate calls.
	Incremental
)

// String names the mode.
func (m Mode) String() string {
	switch m {
	case Full:
		return "full"
	case Incremental:
		return "incremental"
	}
	return "unknown"
}

// MarshalText writes the mode as a word (JSON included).
func (m Mode) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText reads a mode written by MarshalText.
func (m *Mode) UnmarshalText(b []byte) error {
	switch string(b) {
	case "full":
		*m = Full
	case "incremental":
		*m = Incremental
	default:
		return fmt.Errorf("car: unknown mode %q", b)
	}
	return nil
}

// MarshalJSON adds the duration in seconds to the summary's fields.
func (s ImportSummary) MarshalJSON() ([]byte, error) {
	type plain ImportSummary
	return json.Marshal(struct {
		plain
		DurationSeconds float64 `json:"duration_seconds"`
	}{plain(s), s.Duration.Seconds()})
}

// Limits of an import.
const (
	// MaxBatch is the largest WithBatchSize: objects of one collection in
	// one request. (IBM's framework sends 2,000, its export page size,
	// which its users raise; CAR's import schema sets no bound.)
	MaxBatch = 100_000
	// MaxReportBytes keeps a request under CAR's 8 MB report limit.
	MaxReportBytes = 7 << 20
	// MaxOutstandingJobs is the most import jobs left running at once.
	MaxOutstandingJobs = 20
	// MaxBufferedBytes is the default of WithBufferBytes: the encoded
	// objects an import holds, gathered and waiting for their vertices'
	// jobs, before Add waits for CAR.
	MaxBufferedBytes = 12 << 20
	// DefaultConcurrentPosts is the default of WithConcurrentPosts.
	DefaultConcurrentPosts = 2
	// dedupeGeneration bounds the identities remembered per collection
	// (see isNew), so memory stays flat however large the graph.
	dedupeGeneration = 8192
	// chunkBytes is the size of the pieces encoded objects are gathered
	// in: requests are cut at their boundaries.
	chunkBytes = 64 << 10
)

// ImportOption tunes an Import. Options validate their values: NewImport
// returns the first option's error (a *ConfigError naming the option).
type ImportOption func(*importConfig) error

type importConfig struct {
	stateID     string
	batch       int
	maxJobs     int
	maxBuffered int
	posts       int
	jobDeadline time.Duration
	reportDesc  string
}

// DefaultJobDeadline is how long a CAR job may stay incomplete before the
// wait fails naming it (see WithJobDeadline and WithWaitDeadline).
const DefaultJobDeadline = time.Hour

// minBufferBytes is the smallest WithBufferBytes.
const minBufferBytes = 64 << 10

// WithReportDescription sets the import report's description (default
// "<source> import"), for example the program that wrote the report.
func WithReportDescription(d string) ImportOption {
	return func(c *importConfig) error {
		c.reportDesc = d
		return nil
	}
}

// WithJobDeadline sets how long one import job may stay incomplete before
// the import fails naming it, with a *JobFailedError matching
// ErrJobDeadline (default the client's WithWaitDeadline,
// DefaultJobDeadline unless set; it must be positive).
func WithJobDeadline(d time.Duration) ImportOption {
	return func(c *importConfig) error {
		if d <= 0 {
			return &ConfigError{Option: "WithJobDeadline", Reason: fmt.Sprintf("%s: want a positive duration", d)}
		}
		c.jobDeadline = d
		return nil
	}
}

// WithModelStateID sets the model state saved on the source when the
// import succeeds (default: the report key, the import's start time in
// epoch milliseconds). A connector saves the time its data window ended.
// It must not be empty.
func WithModelStateID(id string) ImportOption {
	return func(c *importConfig) error {
		if strings.TrimSpace(id) == "" {
			return &ConfigError{Option: "WithModelStateID", Reason: "empty model state"}
		}
		c.stateID = id
		return nil
	}
}

// WithBatchSize caps the objects of one collection in one request (1 to
// MaxBatch; by default only the request's bytes bound them). 2000 sends
// what IBM's framework sends by default.
func WithBatchSize(n int) ImportOption {
	return func(c *importConfig) error {
		if n < 1 || n > MaxBatch {
			return &ConfigError{Option: "WithBatchSize", Reason: fmt.Sprintf("%d: want 1 to %d", n, MaxBatch)}
		}
		c.batch = n
		return nil
	}
}

// WithBufferBytes sets how many bytes of encoded objects an import holds,
// gathered and waiting for the jobs of the vertices they name, before Add
// waits for CAR (default MaxBufferedBytes; at least 64 KiB). A request
// carries about a quarter of it (at most MaxReportBytes), and at most
// WithConcurrentPosts requests are being sent at once: with the defaults
// an import holds at most 18 MiB of encoded objects in all. Less memory,
// smaller and more requests.
func WithBufferBytes(n int) ImportOption {
	return func(c *importConfig) error {
		if n < minBufferBytes {
			return &ConfigError{Option: "WithBufferBytes", Reason: fmt.Sprintf("%d: want at least %d", n, minBufferBytes)}
		}
		c.maxBuffered = n
		return nil
	}
}

// WithMaxJobs sets the import jobs left outstanding (1 to
// MaxOutstandingJobs).
func WithMaxJobs(n int) ImportOption {
	return func(c *importConfig) error {
		if n < 1 || n > MaxOutstandingJobs {
			return &ConfigError{Option: "WithMaxJobs", Reason: fmt.Sprintf("%d: want 1 to %d", n, MaxOutstandingJobs)}
		}
		c.maxJobs = n
		return nil
	}
}

// WithConcurrentPosts sets how many import requests may be on their way to
// CAR at once, sent while Add goes on (1 to 8, default
// DefaultConcurrentPosts), with the context NewImport was given. 1 sends
// each request from the Add or Flush that cut it, with its context, before
// it returns: the requests are then made in the same order every time, as
// a recording's replay needs.
func WithConcurrentPosts(n int) ImportOption {
	return func(c *importConfig) error {
		if n < 1 || n > 8 {
			return &ConfigError{Option: "WithConcurrentPosts", Reason: fmt.Sprintf("%d: want 1 to 8", n)}
		}
		c.posts = n
		return nil
	}
}

// ImportSummary describes a finished import.
type ImportSummary struct {
	Source string `json:"source"`
	Mode   Mode   `json:"mode"`
	// Objects counts the objects sent per collection (after
	// deduplication).
	Objects map[string]int `json:"objects"`
	// Duplicates counts objects dropped as already sent.
	Duplicates int `json:"duplicates"`
	// Requests is the number of import requests (envelopes) posted, and
	// Bytes their bodies' bytes.
	Requests int   `json:"requests"`
	Bytes    int64 `json:"bytes"`
	// StatusPolls is the number of importstatus requests.
	StatusPolls int `json:"status_polls"`
	// Jobs is the number of import jobs CAR ran.
	Jobs         int           `json:"jobs"`
	Duration     time.Duration `json:"-"`
	ModelStateID string        `json:"model_state_id,omitempty"`
}

// JobFailedError reports an import job that CAR ran and failed, or whose
// outcome CAR cannot account for, or that outlived its deadline (then it
// matches ErrJobDeadline).
type JobFailedError struct {
	// Collection names the collections the job's request carried,
	// comma-separated (CAR does not say which of them failed).
	Collection string
	JobID      string
	StatusCode int
	Message    string
	deadline   bool
}

// Is matches ErrJobDeadline for a job still incomplete past its deadline.
func (e *JobFailedError) Is(target error) bool { return e.deadline && target == ErrJobDeadline }

// Error names the collection and CAR's message.
func (e *JobFailedError) Error() string {
	what := e.Collection
	if what == "" {
		what = "the source and report"
	}
	return fmt.Sprintf("car: import of %s failed (job %s, status %d): %s", what, redact.Clean(e.JobID, 128), e.StatusCode, redact.Clean(e.Message, 0))
}

// chunk is a piece of one collection's encoded objects, comma-separated.
type chunk struct {
	b []byte
	n int
	// ids are the edge identities in the chunk while it is the one
	// gathered (edges are deduplicated within it).
	ids map[edgeKey]struct{}
}

// edgeKey is an edge's identity, held without concatenating it.
type edgeKey struct{ coll, from, to string }

// objects are one collection's encoded objects of one generation.
type objects struct {
	chunks []*chunk
	bytes  int
}

// part is what one generation gathered of one kind (vertices or edges),
// by collection.
type part struct {
	gen   int
	colls map[string]*objects
	bytes int
	// batch, when set, bounds the objects of a chunk (WithBatchSize).
	batch int
}

func newPart(gen, batch int) *part {
	return &part{gen: gen, colls: map[string]*objects{}, batch: batch}
}

// add appends one encoded object to the collection.
func (p *part) add(coll string, obj []byte) *chunk {
	o := p.colls[coll]
	if o == nil {
		o = &objects{}
		p.colls[coll] = o
	}
	var c *chunk
	if k := len(o.chunks); k > 0 && p.fits(o.chunks[k-1], obj) {
		c = o.chunks[k-1]
	} else {
		if k > 0 {
			o.chunks[k-1].ids = nil
		}
		c = &chunk{b: make([]byte, 0, max(chunkBytes, len(obj)))}
		o.chunks = append(o.chunks, c)
	}
	if c.n > 0 {
		c.b = append(c.b, ',')
		o.bytes++
		p.bytes++
	}
	c.b = append(c.b, obj...)
	c.n++
	o.bytes += len(obj)
	p.bytes += len(obj)
	return c
}

// fits reports whether obj joins chunk c: chunks hold chunkBytes, or with
// WithBatchSize exactly its number of objects, so that requests can be cut
// at IBM's page size.
func (p *part) fits(c *chunk, obj []byte) bool {
	if p.batch > 0 {
		return c.n < p.batch
	}
	return len(c.b)+1+len(obj) <= cap(c.b)
}

func (p *part) empty() bool { return p.bytes == 0 }

// outbox is one request being composed: its body's pieces by collection.
type outbox struct {
	colls map[string][][]byte
	count map[string]int
	bytes int
	vgen  int // the generation whose vertices it carries (0: none)
}

func newOutbox() *outbox { return &outbox{colls: map[string][][]byte{}, count: map[string]int{}} }

// take moves whole chunks of p into the outbox while it has room (bytes up
// to limit, objects of one collection up to batch when set), in a stable
// collection order; it reports whether p is now empty.
func (b *outbox) take(p *part, order []string, limit, batch int) bool {
	for _, coll := range order {
		o := p.colls[coll]
		if o == nil {
			continue
		}
		for len(o.chunks) > 0 {
			c := o.chunks[0]
			over := b.bytes > 0 && b.bytes+len(c.b)+len(coll)+8 > limit
			full := batch > 0 && b.count[coll] > 0 && b.count[coll]+c.n > batch
			if over || full {
				return false
			}
			b.colls[coll] = append(b.colls[coll], c.b)
			b.count[coll] += c.n
			b.bytes += len(c.b) + 1
			o.chunks = o.chunks[1:]
			o.bytes -= len(c.b)
			p.bytes -= len(c.b)
		}
		delete(p.colls, coll)
	}
	return true
}

// collections returns the outbox's collections in a stable order:
// vertices first (in vertexOrder), then the rest sorted.
func (b *outbox) collections() []string {
	return orderOf(b.colls)
}

func orderOf[V any](m map[string]V) []string {
	var out []string
	for _, c := range vertexOrder {
		if _, ok := m[c]; ok {
			out = append(out, c)
		}
	}
	for _, c := range slices.Sorted(maps.Keys(m)) {
		if !slices.Contains(vertexOrder, c) {
			out = append(out, c)
		}
	}
	return out
}

// body returns the request body as pieces, and its length.
func (b *outbox) body(head []byte) ([][]byte, int) {
	parts := [][]byte{head}
	n := len(head)
	comma, close := []byte(","), []byte("]")
	for _, coll := range b.collections() {
		key := []byte(`,"` + coll + `":[`)
		parts = append(parts, key)
		n += len(key)
		for i, c := range b.colls[coll] {
			if i > 0 {
				parts = append(parts, comma)
				n++
			}
			parts = append(parts, c)
			n += len(c)
		}
		parts = append(parts, close)
		n++
	}
	parts = append(parts, []byte("}"))
	return parts, n + 1
}

type pendingJob struct {
	id     string
	colls  string
	vgen   int
	posted time.Time
}

// Import streams a graph into CAR. Create it with Client.NewImport, Add
// graphs (typically one per host), Flush at natural boundaries if you like
// (the end of a page), then Close. It is not safe for concurrent use.
//
// # Requests that follow the bytes
//
// Objects are encoded once, straight into the pieces requests are cut
// from, and requests carry several collections each (CAR's import schema
// takes every collection as a property of one envelope), up to a quarter
// of WithBufferBytes and never more than MaxReportBytes (CAR's report limit
// is 8 MB), so the number of requests follows the bytes, not the objects.
//
// Vertices go in jobs that finish before the edges that name them: the
// order inside one envelope is not documented, so the strict reading is
// taken. The objects of each Add join the current generation; when a
// generation has gathered a request's worth, it is cut: its vertices are
// sent at once, with the edges of earlier generations whose vertices' jobs
// CAR reported complete, and its edges wait. One importstatus request asks
// about every outstanding job, and only when edges wait on two
// generations, so a request in two is preceded by a poll (about
// requests / 2 polls in all). Requests are sent while Add goes on
// (WithConcurrentPosts); Add waits only when the bytes held reach
// WithBufferBytes or the jobs WithMaxJobs.
//
// The model state is saved only after every job is known to have
// succeeded.
type Import struct {
	c *Client
	// ctx is NewImport's context: requests sent in the background
	// (WithConcurrentPosts) live as long as the import, not as the Add
	// that cut them.
	ctx    context.Context
	source Source
	report Report
	mode   Mode
	cfg    importConfig
	start  time.Time
	head   []byte
	seen   map[string]*dedupe
	// gen is the generation being gathered: verts its vertices; edges
	// the edges by generation, oldest first, the last one gen's.
	gen   int
	verts *part
	edges []*part
	// held is the bytes of encoded objects in verts and edges.
	held int
	// confirmed: every vertex job of the generations up to it completed.
	confirmed int
	limit     int // the bytes of one request

	mu        sync.Mutex // guards the fields below, shared with the senders
	pending   []pendingJob
	postsOpen map[int]int // generation -> requests carrying its vertices not answered yet
	posting   int         // requests being sent
	postErr   error
	slots     chan struct{}
	wg        sync.WaitGroup
	sum       ImportSummary

	err  error
	done bool
}

// NewImport starts an import for a source. A full import enters CAR's
// full-import-in-progress state and posts the initial source+report
// envelope first.
func (c *Client) NewImport(ctx context.Context, source Source, mode Mode, opts ...ImportOption) (*Import, error) {
	if err := source.Validate(); err != nil {
		return nil, err
	}
	if mode != Full && mode != Incremental {
		return nil, &ConfigError{Option: "mode", Reason: "want car.Full or car.Incremental"}
	}
	cfg := importConfig{maxJobs: MaxOutstandingJobs, maxBuffered: MaxBufferedBytes, posts: DefaultConcurrentPosts, jobDeadline: c.waitLimit}
	for _, o := range opts {
		if o == nil {
			return nil, &ConfigError{Option: "ImportOption", Reason: "nil option"}
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	ts := nowMillis()
	key := strconv.FormatFloat(ts, 'f', 3, 64)
	if cfg.stateID == "" {
		cfg.stateID = key
	}
	im := &Import{c: c, ctx: ctx, source: source, mode: mode, cfg: cfg, start: time.Now(),
		report: Report{Key: key, Timestamp: ts, Type: source.Key, Description: cmp.Or(cfg.reportDesc, source.Key+" import")},
		seen:   map[string]*dedupe{}, gen: 1, verts: newPart(1, cfg.batch), edges: []*part{newPart(1, cfg.batch)},
		limit: min(MaxReportBytes, cfg.maxBuffered/4), postsOpen: map[int]int{},
		slots: make(chan struct{}, cfg.posts),
		sum:   ImportSummary{Source: source.Key, Mode: mode, Objects: map[string]int{}}}
	head, err := envelopeHead(source, im.report)
	if err != nil {
		return nil, err
	}
	im.head = head
	if mode == Full {
		if err := c.EnterFullImport(ctx, source.Key); err != nil {
			return nil, err
		}
		// The initial envelope (source and report alone), as IBM's
		// framework sends it, and its job, before any object.
		if err := im.post(ctx, newOutbox(), true); err != nil {
			return nil, err
		}
		if err := im.waitAll(ctx); err != nil {
			return nil, err
		}
	}
	c.logger.Info("car: import started", "source", source.Key, "mode", mode.String(), "report", key)
	return im, nil
}

// Report returns the import's report.
func (im *Import) Report() Report { return im.report }

// isNew reports whether a vertex was not sent yet, remembering it. The
// memory is bounded: each collection keeps two generations of at most
// dedupeGeneration identities, and an identity seen again moves to the
// current one, so frequently shared vertices (a vulnerability, the root
// account) stay known while one-off ones (an asset) age out. A forgotten
// identity only costs bandwidth: imports are upserts.
func (im *Import) isNew(coll, id string) bool {
	d := im.seen[coll]
	if d == nil {
		d = &dedupe{cur: map[string]struct{}{}}
		im.seen[coll] = d
	}
	if _, ok := d.cur[id]; ok {
		im.sum.Duplicates++
		return false
	}
	_, old := d.prev[id]
	if len(d.cur) >= dedupeGeneration {
		d.prev, d.cur = d.cur, make(map[string]struct{}, dedupeGeneration/4)
	}
	d.cur[id] = struct{}{}
	if old {
		im.sum.Duplicates++
		return false
	}
	return true
}

// dedupe is a two-generation set of identities (whole, so that two
// identities can never be taken for one).
type dedupe struct {
	cur, prev map[string]struct{}
}

// encodeVertex encodes a vertex, with the import's source when it has
// none (added to the encoding: the vertex itself is not changed). Source
// is every vertex type's last field, so the encoding is the one the
// vertex would have with its Source set.
func encodeVertex(v Vertex, src string) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	if s, ok := v.(interface{ sourceField() *string }); ok && *s.sourceField() == "" && len(b) > 2 && b[len(b)-1] == '}' {
		b = append(b[:len(b)-1], `,"source":`...)
		b = append(appendJSONString(b, src), '}')
	}
	return b, nil
}

// Add validates a graph and queues its objects, sending requests as they
// fill. A graph that fails validation is refused whole, with an error that
// names the object and field, and the import goes on. Any other error (an
// object that cannot be encoded, a failed request or job) ends the import:
// Add and Close return it from then on. Add does not modify the graph
// (vertices without a source get the import's, as the caller's vertex
// does: that is the one change, made before it is encoded).
func (im *Import) Add(ctx context.Context, g Graph) error {
	if err := im.usable(); err != nil {
		return err
	}
	if err := g.Validate(); err != nil {
		return err
	}
	edges := im.edges[len(im.edges)-1]
	before := im.verts.bytes + edges.bytes
	for _, v := range g.Vertices {
		coll := v.Collection()
		if !im.isNew(coll, v.ID()) {
			continue
		}
		b, err := encodeVertex(v, im.source.Key)
		if err != nil {
			// Part of the graph may be queued: the import cannot go on.
			return im.fail(fmt.Errorf("car: encoding %s %q: %w", coll, v.ID(), err))
		}
		im.verts.add(coll, b)
		im.sum.Objects[coll]++
	}
	var scratch [512]byte
	for i := range g.Edges {
		e := g.Edges[i]
		if e.Source == "" {
			e.Source = im.source.Key // e is a copy; the caller's edge is not touched
		}
		// Encoded directly, then appended to its chunk. The report and
		// timestamp are added as fields, not written into the caller's
		// Properties.
		key := edgeKey{e.Collection, e.From, e.To}
		if o := edges.colls[e.Collection]; o != nil && len(o.chunks) > 0 {
			if ids := o.chunks[len(o.chunks)-1].ids; ids != nil {
				if _, dup := ids[key]; dup {
					im.sum.Duplicates++
					continue
				}
			}
		}
		b, err := e.appendJSON(scratch[:0], im.report.Key, im.report.Timestamp, true)
		if err != nil {
			return im.fail(fmt.Errorf("car: encoding %s edge %s -> %s: %w", e.Collection, e.From, e.To, err))
		}
		c := edges.add(e.Collection, b)
		if c.ids == nil {
			c.ids = map[edgeKey]struct{}{}
		}
		c.ids[key] = struct{}{}
		im.sum.Objects[e.Collection]++
	}
	im.held += im.verts.bytes + edges.bytes - before
	if im.verts.bytes+edges.bytes >= im.limit || im.overBatch() {
		return im.cut(ctx, false)
	}
	if im.held >= im.cfg.maxBuffered {
		return im.relieve(ctx)
	}
	return nil
}

// overBatch reports whether a collection of the generation gathered has
// reached WithBatchSize.
func (im *Import) overBatch() bool {
	if im.cfg.batch == 0 {
		return false
	}
	for _, p := range []*part{im.verts, im.edges[len(im.edges)-1]} {
		for _, o := range p.colls {
			n := 0
			for _, c := range o.chunks {
				n += c.n
			}
			if n >= im.cfg.batch {
				return true
			}
		}
	}
	return false
}

// Flush cuts the generation being gathered and sends what can be sent
// (its vertices, and the edges whose vertices' jobs completed), as at a
// natural boundary of the caller's stream (the end of a page). It does
// not wait for CAR's jobs.
func (im *Import) Flush(ctx context.Context) error {
	if err := im.usable(); err != nil {
		return err
	}
	if im.verts.empty() && im.edges[len(im.edges)-1].empty() {
		return nil
	}
	return im.cut(ctx, false)
}

func (im *Import) usable() error {
	if im.err != nil {
		return im.err
	}
	if im.done {
		return errors.New("car: Add after Close")
	}
	im.mu.Lock()
	err := im.postErr
	im.mu.Unlock()
	if err != nil {
		return im.fail(err)
	}
	return nil
}

func (im *Import) fail(err error) error {
	if im.err == nil {
		im.err = err
	}
	return im.err
}

// cut ends the generation being gathered: its vertices go now, with the
// edges that are ready, and its edges wait for their vertices' jobs. A
// poll is made first when the edges of two generations or more wait on
// jobs not known complete (or when final).
func (im *Import) cut(ctx context.Context, final bool) error {
	// Generations whose edges wait on vertex jobs not known complete, and
	// whose vertex requests were answered (a poll cannot confirm a job
	// CAR has not given an id for yet).
	waiting := 0
	im.mu.Lock()
	for _, p := range im.edges[:len(im.edges)-1] {
		if p.gen > im.confirmed && !p.empty() && im.postsOpen[p.gen] == 0 {
			waiting++
		}
	}
	im.mu.Unlock()
	if waiting >= 2 || (final && waiting > 0) {
		if err := im.pollOnce(ctx); err != nil {
			return im.fail(err)
		}
	}
	box := newOutbox()
	box.vgen = im.gen
	held := im.verts.bytes
	complete := box.take(im.verts, orderOf(im.verts.colls), im.limit, im.cfg.batch)
	for !complete {
		// More vertices than one request holds: they go in several, the
		// generation's edges after all of them.
		if err := im.post(ctx, box, false); err != nil {
			return err
		}
		box = newOutbox()
		box.vgen = im.gen
		complete = box.take(im.verts, orderOf(im.verts.colls), im.limit, im.cfg.batch)
	}
	im.held -= held
	im.gen++
	im.verts = newPart(im.gen, im.cfg.batch)
	im.edges = append(im.edges, newPart(im.gen, im.cfg.batch))
	if err := im.sendReady(ctx, box, final); err != nil {
		return err
	}
	if im.held >= im.cfg.maxBuffered {
		return im.relieve(ctx)
	}
	return nil
}

// sendReady fills box with the edges whose vertices' jobs completed and
// posts it (when it holds anything), and further requests while ready
// edges fill a whole one (all of them when all): the rest go with the
// next cut's vertices.
func (im *Import) sendReady(ctx context.Context, box *outbox, all bool) error {
	for {
		for len(im.edges) > 1 && im.edges[0].empty() {
			im.edges = im.edges[1:]
		}
		more := false
		for _, p := range im.edges {
			if p.gen > im.confirmed {
				break
			}
			before := p.bytes
			if !box.take(p, orderOf(p.colls), im.limit, im.cfg.batch) {
				more = true
			}
			im.held -= before - p.bytes
			if more {
				break
			}
		}
		if len(box.colls) > 0 {
			if err := im.post(ctx, box, false); err != nil {
				return err
			}
		}
		if !more {
			return nil
		}
		box = newOutbox()
		if !all && im.readyBytes() < im.limit {
			return nil // the rest goes with the next cut's vertices
		}
	}
}

// readyBytes is the bytes of edges whose vertices' jobs completed.
func (im *Import) readyBytes() int {
	n := 0
	for _, p := range im.edges {
		if p.gen <= im.confirmed {
			n += p.bytes
		}
	}
	return n
}

// relieve waits for CAR while the import holds too much: it polls with
// backoff until edges can be sent and sends them.
func (im *Import) relieve(ctx context.Context) error {
	wait := im.c.pollMin
	for im.held >= im.cfg.maxBuffered {
		before := im.confirmed
		if err := im.pollOnce(ctx); err != nil {
			return im.fail(err)
		}
		if im.confirmed > before {
			if err := im.sendReady(ctx, newOutbox(), true); err != nil {
				return err
			}
			wait = im.c.pollMin
			continue
		}
		if err := retry.Sleep(ctx, wait); err != nil {
			return im.fail(err)
		}
		wait = min(wait*2, im.c.pollMax)
	}
	return nil
}

// post sends one request: from this goroutine when init or with one
// concurrent post, else from a goroutine of its own once a slot is free.
// The objects' bytes leave the import's held count when it is sent.
func (im *Import) post(ctx context.Context, box *outbox, init bool) error {
	for im.outstanding() >= im.cfg.maxJobs {
		if err := im.poll(ctx); err != nil {
			return im.fail(err)
		}
	}
	colls := box.collections()
	parts, size := box.body(im.head)
	job := pendingJob{colls: strings.Join(colls, ","), vgen: box.vgen}
	if !slices.ContainsFunc(colls, func(c string) bool { return !strings.Contains(c, "_") }) {
		job.vgen = 0 // no vertex: nothing waits on it
	}
	im.mu.Lock()
	im.sum.Requests++
	im.sum.Bytes += int64(size)
	if job.vgen > 0 {
		im.postsOpen[job.vgen]++
	}
	im.posting++
	im.mu.Unlock()
	send := func(ctx context.Context) error {
		id, err := im.c.postImport(ctx, parts, size)
		im.mu.Lock()
		defer im.mu.Unlock()
		im.posting--
		if job.vgen > 0 {
			if im.postsOpen[job.vgen]--; im.postsOpen[job.vgen] == 0 {
				delete(im.postsOpen, job.vgen)
			}
		}
		if err != nil {
			if job.colls != "" {
				err = wrap(fmt.Sprintf("importing %s", job.colls), err)
			}
			if im.postErr == nil {
				im.postErr = err
			}
			return err
		}
		im.sum.Jobs++
		job.id, job.posted = id, time.Now()
		im.pending = append(im.pending, job)
		return nil
	}
	if init || im.cfg.posts == 1 {
		if err := send(ctx); err != nil {
			return im.fail(err)
		}
		return nil
	}
	select {
	case im.slots <- struct{}{}:
	case <-ctx.Done():
		return im.fail(ctx.Err())
	}
	im.wg.Add(1)
	go func() {
		defer im.wg.Done()
		defer func() { <-im.slots }()
		send(im.ctx)
	}()
	return nil
}

// outstanding is the jobs posted and not known complete, and the requests
// being sent.
func (im *Import) outstanding() int {
	im.mu.Lock()
	defer im.mu.Unlock()
	return len(im.pending) + im.posting
}

// poll asks CAR about the outstanding jobs, waiting between rounds from
// pollMin up to pollMax, until at least one finished (or none was
// outstanding), or with the first failed job's error.
func (im *Import) poll(ctx context.Context) error {
	wait := im.c.pollMin
	for {
		n := im.outstanding()
		if n == 0 {
			return nil
		}
		if err := im.pollOnce(ctx); err != nil {
			return err
		}
		if im.outstanding() < n {
			return nil
		}
		if err := retry.Sleep(ctx, wait); err != nil {
			return err
		}
		wait = min(wait*2, im.c.pollMax)
	}
}

// pollOnce asks CAR once about every job posted and not known complete (one
// importstatus request), removes the finished ones, and moves confirmed to
// the last generation whose vertex jobs all completed.
func (im *Import) pollOnce(ctx context.Context) error {
	im.mu.Lock()
	if im.postErr != nil {
		err := im.postErr
		im.mu.Unlock()
		return err
	}
	ids := make([]string, len(im.pending))
	for i, p := range im.pending {
		ids[i] = p.id
	}
	im.mu.Unlock()
	if len(ids) > 0 {
		st, err := im.c.ImportStatus(ctx, ids)
		im.mu.Lock()
		im.sum.StatusPolls++
		im.mu.Unlock()
		if err != nil {
			return err
		}
		im.mu.Lock()
		keep := im.pending[:0]
		var firstErr error
		for _, p := range im.pending {
			if !slices.Contains(ids, p.id) {
				keep = append(keep, p) // posted since the question
				continue
			}
			done, err := im.jobState(st, p)
			if err != nil && firstErr == nil {
				firstErr = err
			}
			if !done && err == nil {
				keep = append(keep, p)
			}
		}
		im.pending = keep
		im.mu.Unlock()
		if firstErr != nil {
			return firstErr
		}
	}
	im.mu.Lock()
	defer im.mu.Unlock()
	// Generations below gen whose vertex requests were all answered and
	// whose jobs all completed.
	for g := im.confirmed + 1; g < im.gen; g++ {
		if im.postsOpen[g] > 0 || slices.ContainsFunc(im.pending, func(p pendingJob) bool { return p.vgen == g }) {
			break
		}
		im.confirmed = g
	}
	return nil
}

// jobState reads one job's state from an importstatus answer. Only a job
// listed as complete is done; one listed as failed, listed under
// notfound_imports, or not mentioned at all is an error (its data may be
// missing, so the model state must not move); an incomplete one is an
// error once it has been incomplete for longer than the job deadline.
func (im *Import) jobState(st *ImportStatus, p pendingJob) (done bool, err error) {
	fail := func(status int, msg string) error {
		return &JobFailedError{Collection: p.colls, JobID: p.id, StatusCode: status, Message: msg}
	}
	for _, e := range st.Errors {
		if e.ID == p.id {
			return false, fail(e.StatusCode, e.Message)
		}
	}
	switch {
	case slices.Contains(st.Complete, p.id):
		return true, nil
	case slices.Contains(st.Incomplete, p.id):
		if waited := time.Since(p.posted); waited > im.cfg.jobDeadline {
			return false, &JobFailedError{Collection: p.colls, JobID: p.id, deadline: true,
				Message: fmt.Sprintf("still incomplete after %s (deadline %s, WithJobDeadline)", roundWait(waited), im.cfg.jobDeadline)}
		}
		return false, nil
	case slices.Contains(st.NotFound, p.id):
		return false, fail(0, "CAR lists the job under notfound_imports: its outcome is unknown")
	}
	return false, fail(0, "CAR's importstatus answer does not mention the job: its outcome is unknown")
}

// waitAll waits until every request is answered and every job completed.
func (im *Import) waitAll(ctx context.Context) error {
	for {
		im.wg.Wait() // every request answered (or failed)
		if im.outstanding() == 0 {
			im.mu.Lock()
			err := im.postErr
			im.mu.Unlock()
			return err
		}
		if err := im.poll(ctx); err != nil {
			return err
		}
	}
}

// Close sends what is queued (the vertices, then the edges once their
// vertices' jobs completed), waits for every job, leaves the full-import
// state of a full import, and only then saves the model state. If a job
// failed, Close returns an error naming the collections and CAR's message
// and resets the model state so the next run is a full import (nothing is
// lost by skipping a window); the error then matches ErrModelStateReset.
func (im *Import) Close(ctx context.Context) (*ImportSummary, error) {
	if im.done {
		im.wg.Wait()
		return im.summary(), im.err
	}
	err := im.usable()
	im.done = true
	if err == nil {
		err = im.finish(ctx)
	}
	im.wg.Wait()
	if err != nil {
		im.err = err
		var jf *JobFailedError
		if errors.As(err, &jf) {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			if rerr := im.c.ResetModelStateID(rctx, im.source.Key); rerr != nil {
				err = errors.Join(err, wrap("resetting the model state", rerr))
			} else {
				err = &stateResetError{err}
			}
		}
		return im.summary(), err
	}
	im.sum.ModelStateID = im.cfg.stateID
	sum := im.summary()
	im.c.logger.Info("car: import complete", "source", im.source.Key, "mode", im.mode.String(), "requests", sum.Requests, "status_polls", sum.StatusPolls, "duration", sum.Duration)
	return sum, nil
}

// summary is a copy of the summary with its duration.
func (im *Import) summary() *ImportSummary {
	im.mu.Lock()
	defer im.mu.Unlock()
	s := im.sum
	s.Objects = maps.Clone(im.sum.Objects)
	s.Duration = time.Since(im.start)
	return &s
}

// Wait sends everything added so far (the vertices, then the edges once
// their vertices' jobs completed) and returns once CAR reported every job
// complete: what was added is then in CAR, as a later query or call
// sees it. The import goes on after it.
func (im *Import) Wait(ctx context.Context) error {
	if err := im.usable(); err != nil {
		return err
	}
	if err := im.drain(ctx); err != nil {
		return im.fail(err)
	}
	return nil
}

// drain sends everything gathered and waits for every job.
func (im *Import) drain(ctx context.Context) error {
	if !im.verts.empty() || !im.edges[len(im.edges)-1].empty() {
		if err := im.cut(ctx, false); err != nil {
			return err
		}
	}
	// Every vertex job, then the edges left, then their jobs.
	if err := im.waitAll(ctx); err != nil {
		return err
	}
	if err := im.pollOnce(ctx); err != nil { // confirms the last generations
		return err
	}
	if err := im.sendReady(ctx, newOutbox(), true); err != nil {
		return err
	}
	if err := im.waitAll(ctx); err != nil {
		return err
	}
	if im.held > 0 {
		return fmt.Errorf("car: %d bytes of edges could not be sent: their vertices' jobs are not known complete", im.held)
	}
	return nil
}

func (im *Import) finish(ctx context.Context) error {
	if err := im.drain(ctx); err != nil {
		return err
	}
	if im.mode == Full {
		if err := im.c.ExitFullImport(ctx, im.source.Key); err != nil {
			return err
		}
	}
	if err := im.c.SaveModelStateID(ctx, im.source.Key, im.cfg.stateID); err != nil {
		return wrap("saving the model state", err)
	}
	return nil
}

// Abort ends the import without saving a model state: the next run repeats
// the same window. A full import is left in CAR's full-import state rather
// than ended early, because ending it would deactivate everything not yet
// sent; the next full import enters it again. Requests already on their
// way are answered before Abort returns.
func (im *Import) Abort() {
	im.done = true
	if im.err == nil {
		im.err = errors.New("car: import aborted")
	}
	im.wg.Wait()
}

// wrapError adds what the import was doing to an error of this package
// without repeating the package's prefix: "car: leaving full import: POST
// /api/car/v2/...", not "car: leaving full import: car: POST ...".
type wrapError struct {
	doing string
	err   error
}

func wrap(doing string, err error) error { return &wrapError{doing, err} }

func (e *wrapError) Error() string {
	return "car: " + e.doing + ": " + strings.TrimPrefix(e.err.Error(), "car: ")
}

func (e *wrapError) Unwrap() error { return e.err }

// ErrModelStateReset is matched (errors.Is) by the error of an import whose
// job failed and whose model state Close then reset: the next run is a
// full import.
var ErrModelStateReset = errors.New("car: the model state was reset")

// stateResetError is a job failure after which the model state was reset.
type stateResetError struct{ err error }

func (e *stateResetError) Error() string {
	return e.err.Error() + " (the model state was reset: the next run is a full import)"
}

func (e *stateResetError) Unwrap() error { return e.err }

func (e *stateResetError) Is(target error) bool { return target == ErrModelStateReset }
