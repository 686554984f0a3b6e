package car

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/qualysbridge/qualysbridge/internal/redact"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

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

// Limits of one import request.
const (
	// MaxBatch is the most objects of one collection sent in one request.
	MaxBatch = 2000
	// MaxReportBytes keeps a request under CAR's 8 MB report limit.
	MaxReportBytes = 7 << 20
	// MaxOutstandingJobs is the most import jobs left running at once.
	MaxOutstandingJobs = 20
	// MaxBufferedBytes is how many bytes of encoded objects an import
	// holds, across collections, before it sends the largest batch early
	// (see WithBufferBytes): memory stays flat whatever the graph's mix.
	MaxBufferedBytes = 4 << 20
	// dedupeGeneration bounds the identities remembered per collection
	// (see isNew), so memory stays flat however large the graph.
	dedupeGeneration = 8192
)

// ImportOption tunes an Import. Options validate their values: NewImport
// returns the first option's error (a *ConfigError naming the option).
type ImportOption func(*importConfig) error

type importConfig struct {
	stateID     string
	batch       int
	maxJobs     int
	maxBytes    int
	maxBuffered int
	jobDeadline time.Duration
	reportDesc  string
}

// DefaultJobDeadline is how long an import job may stay incomplete before
// the import fails with its id (see WithJobDeadline).
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

// WithBatchSize sets the objects per request (1 to MaxBatch).
func WithBatchSize(n int) ImportOption {
	return func(c *importConfig) error {
		if n < 1 || n > MaxBatch {
			return &ConfigError{Option: "WithBatchSize", Reason: fmt.Sprintf("%d: want 1 to %d", n, MaxBatch)}
		}
		c.batch = n
		return nil
	}
}

// WithBufferBytes sets how many bytes of encoded objects an import holds
// across its collections' batches before it sends the largest one early
// (default MaxBufferedBytes; at least 64 KiB). Less memory, smaller
// requests.
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

// ImportSummary describes a finished import.
type ImportSummary struct {
	Source string `json:"source"`
	Mode   Mode   `json:"mode"`
	// Objects counts the objects sent per collection (after
	// deduplication).
	Objects map[string]int `json:"objects"`
	// Duplicates counts objects dropped as already sent.
	Duplicates int `json:"duplicates"`
	// Requests is the number of import requests (envelopes) posted.
	Requests int `json:"requests"`
	// Jobs is the number of import jobs CAR ran.
	Jobs         int           `json:"jobs"`
	Duration     time.Duration `json:"-"`
	ModelStateID string        `json:"model_state_id,omitempty"`
}

// JobFailedError reports an import job that CAR ran and failed, or whose
// outcome CAR cannot account for, or that outlived its deadline (then it
// matches ErrJobDeadline).
type JobFailedError struct {
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

type batch struct {
	objs  []json.RawMessage
	bytes int
	ids   map[string]struct{} // edge identities in this batch
}

type pendingJob struct {
	id, collection string
	vertex         bool
	posted         time.Time
	seq            int // vertex jobs: 1, 2, ... in posting order
}

// deferredEdges is an edge batch waiting for the vertex jobs posted before
// it (up to seq after) to complete.
type deferredEdges struct {
	coll  string
	objs  []json.RawMessage
	bytes int
	after int
}

// maxDeferred is the most edge batches an import keeps waiting for their
// vertex jobs before Add waits too.
const maxDeferred = 8

// Import streams a graph into CAR. Create it with Client.NewImport, Add
// graphs (typically one per host), then Close. It is not safe for
// concurrent use.
type Import struct {
	c       *Client
	source  Source
	report  Report
	mode    Mode
	cfg     importConfig
	start   time.Time
	vbuf    map[string]*batch
	ebuf    map[string]*batch
	seen    map[string]*dedupe
	pending []pendingJob
	// buffered is the bytes held in vbuf and ebuf.
	buffered int
	scratch  []byte
	// vseq numbers the vertex jobs posted; deferred are the edge batches
	// waiting for theirs, holding deferredBytes.
	vseq          int
	deferred      []deferredEdges
	deferredBytes int
	sum           ImportSummary
	err           error
	done          bool
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
	cfg := importConfig{batch: MaxBatch, maxJobs: MaxOutstandingJobs, maxBytes: MaxReportBytes, maxBuffered: MaxBufferedBytes, jobDeadline: c.waitLimit}
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
	im := &Import{c: c, source: source, mode: mode, cfg: cfg, start: time.Now(),
		report: Report{Key: key, Timestamp: ts, Type: source.Key, Description: cmp.Or(cfg.reportDesc, source.Key+" import")},
		vbuf:   map[string]*batch{}, ebuf: map[string]*batch{}, seen: map[string]*dedupe{},
		sum: ImportSummary{Source: source.Key, Mode: mode, Objects: map[string]int{}}}
	if mode == Full {
		if err := c.EnterFullImport(ctx, source.Key); err != nil {
			return nil, err
		}
		if err := im.post(ctx, "", nil, false); err != nil {
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

// isNewEdge deduplicates edges within the batch being built: an edge's
// identity includes its "from" end, so the same edge from two sources of
// the graph (two hosts) is rare, and remembering every edge sent would make
// memory grow with the graph.
func (im *Import) isNewEdge(coll, id string) bool {
	b := im.ebuf[coll]
	if b == nil {
		b = &batch{}
		im.ebuf[coll] = b
	}
	if b.ids == nil {
		b.ids = map[string]struct{}{}
	}
	if _, ok := b.ids[id]; ok {
		im.sum.Duplicates++
		return false
	}
	b.ids[id] = struct{}{}
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

// Add validates a graph and queues its objects, sending full batches as it
// goes. A graph that fails validation is refused whole, with an error that
// names the object and field, and the import goes on. Any other error (an
// object that cannot be encoded, a failed request or job) ends the import:
// Add and Close return it from then on. Add does not modify the graph
// (vertices without a source get the import's, as the caller's vertex
// does: that is the one change, made before it is encoded).
func (im *Import) Add(ctx context.Context, g Graph) error {
	if im.err != nil {
		return im.err
	}
	if im.done {
		return errors.New("car: Add after Close")
	}
	if err := g.Validate(); err != nil {
		return err
	}
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
		if err := im.queue(ctx, im.vbuf, coll, b, true); err != nil {
			return im.fail(err)
		}
	}
	for i := range g.Edges {
		e := g.Edges[i]
		if !im.isNewEdge(e.Collection, e.ID()) {
			continue
		}
		if e.Source == "" {
			e.Source = im.source.Key // e is a copy; the caller's edge is not touched
		}
		// Encoded directly (json.Marshal would check and compact it
		// again) into a scratch buffer, then copied at its exact size: the
		// batch holds many of these. The report and timestamp are added
		// as fields, not written into the caller's Properties.
		var err error
		im.scratch, err = e.appendJSON(im.scratch[:0], edgeField{"report", im.report.Key}, edgeField{"timestamp", im.report.Timestamp})
		if err != nil {
			return im.fail(fmt.Errorf("car: encoding %s edge %s -> %s: %w", e.Collection, e.From, e.To, err))
		}
		b := bytes.Clone(im.scratch)
		if err := im.queue(ctx, im.ebuf, e.Collection, b, false); err != nil {
			return im.fail(err)
		}
	}
	return nil
}

func (im *Import) fail(err error) error {
	if im.err == nil {
		im.err = err
	}
	return im.err
}

func (im *Import) queue(ctx context.Context, bufs map[string]*batch, coll string, obj []byte, vertex bool) error {
	b := bufs[coll]
	if b == nil {
		b = &batch{}
		bufs[coll] = b
	}
	if len(b.objs) > 0 && b.bytes+len(obj) > im.cfg.maxBytes {
		if err := im.flush(ctx, bufs, coll, vertex); err != nil {
			return err
		}
	}
	b.objs = append(b.objs, obj)
	b.bytes += len(obj) + 1
	im.buffered += len(obj) + 1
	im.sum.Objects[coll]++
	if len(b.objs) >= im.cfg.batch {
		return im.flush(ctx, bufs, coll, vertex)
	}
	if im.buffered > im.cfg.maxBuffered {
		return im.flushLargest(ctx)
	}
	return nil
}

// flushLargest sends the batch holding the most bytes.
func (im *Import) flushLargest(ctx context.Context) error {
	coll, vertex, size := "", false, 0
	for c, b := range im.vbuf {
		if b.bytes > size {
			coll, vertex, size = c, true, b.bytes
		}
	}
	for c, b := range im.ebuf {
		if b.bytes > size {
			coll, vertex, size = c, false, b.bytes
		}
	}
	if size == 0 {
		return nil
	}
	if vertex {
		return im.flush(ctx, im.vbuf, coll, true)
	}
	return im.flush(ctx, im.ebuf, coll, false)
}

// flush sends one collection's batch. An edge batch goes only after every
// vertex queued so far was sent and its job completed, so no edge refers to
// a vertex CAR does not have yet; it waits for those jobs without holding
// up the import (see release), so that CAR keeps up to
// MaxOutstandingJobs jobs running.
func (im *Import) flush(ctx context.Context, bufs map[string]*batch, coll string, vertex bool) error {
	b := bufs[coll]
	if b == nil || len(b.objs) == 0 {
		return nil
	}
	objs, size := b.objs, b.bytes
	im.buffered -= b.bytes
	b.objs, b.bytes, b.ids = nil, 0, nil
	if vertex {
		return im.post(ctx, coll, objs, true)
	}
	if err := im.flushVertices(ctx); err != nil {
		return err
	}
	im.deferred = append(im.deferred, deferredEdges{coll: coll, objs: objs, bytes: size, after: im.vseq})
	im.deferredBytes += size
	return im.release(ctx)
}

// release posts the deferred edge batches whose vertex jobs completed, in
// order. It asks CAR once about the vertex jobs when batches wait, and
// waits for jobs to complete only while more than maxDeferred batches (or
// half the buffer bound in bytes) wait.
func (im *Import) release(ctx context.Context) error {
	asked := false
	for {
		for len(im.deferred) > 0 && im.verticesDone(im.deferred[0].after) {
			d := im.deferred[0]
			im.deferred = im.deferred[1:]
			im.deferredBytes -= d.bytes
			if err := im.post(ctx, d.coll, d.objs, false); err != nil {
				return err
			}
		}
		switch {
		case len(im.deferred) == 0:
			return nil
		case len(im.deferred) > maxDeferred || im.deferredBytes > im.cfg.maxBuffered/2:
			if err := im.poll(ctx, true); err != nil {
				return err
			}
		case asked:
			return nil
		default:
			asked = true
			if _, err := im.pollRound(ctx, true); err != nil {
				return err
			}
		}
	}
}

// verticesDone reports whether the vertex jobs up to seq after completed.
func (im *Import) verticesDone(after int) bool {
	for _, p := range im.pending {
		if p.vertex && p.seq <= after {
			return false
		}
	}
	return true
}

func (im *Import) flushVertices(ctx context.Context) error {
	for _, coll := range vertexOrder {
		if err := im.flush(ctx, im.vbuf, coll, true); err != nil {
			return err
		}
	}
	for _, coll := range slices.Sorted(maps.Keys(im.vbuf)) {
		if err := im.flush(ctx, im.vbuf, coll, true); err != nil {
			return err
		}
	}
	return nil
}

func (im *Import) post(ctx context.Context, coll string, objs []json.RawMessage, vertex bool) error {
	for len(im.pending) >= im.cfg.maxJobs {
		if err := im.poll(ctx, false); err != nil {
			return err
		}
	}
	id, err := im.c.Import(ctx, &Envelope{Source: im.source, Report: im.report, Collection: coll, Objects: objs})
	im.sum.Requests++
	if err != nil {
		if coll != "" {
			return wrap(fmt.Sprintf("importing %d %s objects", len(objs), coll), err)
		}
		return err
	}
	im.sum.Jobs++
	job := pendingJob{id: id, collection: coll, vertex: vertex, posted: time.Now()}
	if vertex {
		im.vseq++
		job.seq = im.vseq
	}
	im.pending = append(im.pending, job)
	return nil
}

// poll asks CAR about the outstanding jobs (all of them, or only the vertex
// jobs when onlyVertices), waiting between rounds from pollMin up to
// pollMax, and removes the finished ones; it returns once at least one job
// finished (or none was outstanding), or with the first failed job's error.
func (im *Import) poll(ctx context.Context, onlyVertices bool) error {
	wait := im.c.pollMin
	for {
		progressed, err := im.pollRound(ctx, onlyVertices)
		if err != nil || progressed {
			return err
		}
		if err := retry.Sleep(ctx, wait); err != nil {
			return err
		}
		wait = min(wait*2, im.c.pollMax)
	}
}

// pollRound asks CAR once about the outstanding jobs and removes the
// finished ones; progressed is true when one finished or none was asked
// about.
func (im *Import) pollRound(ctx context.Context, onlyVertices bool) (progressed bool, err error) {
	var ids []string
	for _, p := range im.pending {
		if !onlyVertices || p.vertex {
			ids = append(ids, p.id)
		}
	}
	if len(ids) == 0 {
		return true, nil
	}
	st, err := im.c.ImportStatus(ctx, ids)
	if err != nil {
		return false, err
	}
	keep := im.pending[:0]
	var firstErr error
	for _, p := range im.pending {
		if !slices.Contains(ids, p.id) {
			keep = append(keep, p) // not asked about this time
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
	progressed = len(keep) < len(im.pending)
	im.pending = keep
	return progressed, firstErr
}

// jobState reads one job's state from an importstatus answer. Only a job
// listed as complete is done; one listed as failed, listed under
// notfound_imports, or not mentioned at all is an error (its data may be
// missing, so the model state must not move); an incomplete one is an
// error once it has been incomplete for longer than the job deadline.
func (im *Import) jobState(st *ImportStatus, p pendingJob) (done bool, err error) {
	fail := func(status int, msg string) error {
		return &JobFailedError{Collection: p.collection, JobID: p.id, StatusCode: status, Message: msg}
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
			return false, &JobFailedError{Collection: p.collection, JobID: p.id, deadline: true,
				Message: fmt.Sprintf("still incomplete after %s (deadline %s, WithJobDeadline)", roundWait(waited), im.cfg.jobDeadline)}
		}
		return false, nil
	case slices.Contains(st.NotFound, p.id):
		return false, fail(0, "CAR lists the job under notfound_imports: its outcome is unknown")
	}
	return false, fail(0, "CAR's importstatus answer does not mention the job: its outcome is unknown")
}

func (im *Import) waitAll(ctx context.Context) error {
	for len(im.pending) > 0 {
		if err := im.poll(ctx, false); err != nil {
			return err
		}
	}
	return nil
}

// Close sends what is queued (vertices, then edges), waits for every job,
// leaves the full-import state of a full import, and only then saves the
// model state. If a job failed, Close returns an error naming the
// collection and CAR's message and resets the model state so the next run
// is a full import (nothing is lost by skipping a window); the error then
// matches ErrModelStateReset.
func (im *Import) Close(ctx context.Context) (*ImportSummary, error) {
	if im.done {
		return &im.sum, im.err
	}
	im.done = true
	err := im.err
	if err == nil {
		err = im.finish(ctx)
	}
	im.sum.Duration = time.Since(im.start)
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
		return &im.sum, err
	}
	im.sum.ModelStateID = im.cfg.stateID
	im.c.logger.Info("car: import complete", "source", im.source.Key, "mode", im.mode.String(), "requests", im.sum.Requests, "duration", im.sum.Duration)
	return &im.sum, nil
}

func (im *Import) finish(ctx context.Context) error {
	if err := im.flushVertices(ctx); err != nil {
		return err
	}
	if err := im.waitAll(ctx); err != nil {
		return err
	}
	// Every vertex job completed: the deferred edge batches, then the
	// last ones, go now.
	if err := im.release(ctx); err != nil {
		return err
	}
	for _, coll := range slices.Sorted(maps.Keys(im.ebuf)) { // the same order every run
		b := im.ebuf[coll]
		if len(b.objs) == 0 {
			continue
		}
		objs := b.objs
		im.buffered -= b.bytes
		b.objs, b.bytes, b.ids = nil, 0, nil
		if err := im.post(ctx, coll, objs, false); err != nil {
			return err
		}
	}
	if err := im.waitAll(ctx); err != nil {
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
// sent; the next full import enters it again.
func (im *Import) Abort() {
	im.done = true
	if im.err == nil {
		im.err = errors.New("car: import aborted")
	}
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
