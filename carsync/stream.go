package carsync

import (
	"context"
	"fmt"
	"sync"

	"github.com/qualysbridge/qualysbridge/car"
	"github.com/qualysbridge/qualysbridge/mapping"
	"github.com/qualysbridge/qualysbridge/qualys"
	"golang.org/x/sync/errgroup"
)

// A run's hosts go through a pipeline of seven stages, each a goroutine of
// one errgroup.Group that returns its error, joined by channels that each
// have one producer, which closes them when it returns:
//
//	page stage ──pages──▶ detection stage ──events──▶ join stage ──mapped──▶ write stage ──kbReq──▶ KB stage
//	     └──appsJobs──▶ applications stage ─(page.appsReady)─▶ join          ◀──kbAns──┘
//
//   - the page stage (stage_pages.go) lists host asset pages, cuts each
//     page's VM host ids into detection calls (see split), and hands the
//     page to the applications stage and to the detection stage. It takes
//     one of openPages tokens before it lists a page; the join stage gives
//     it back when the page is finished, so memory holds at most openPages
//     pages (their host assets and applications).
//   - the applications stage (stage_apps.go) merge-joins the gateway
//     listing, in asset id order like the pages, with each page in turn.
//   - the scores stage (stage_scores.go), with QualysScores, reads each
//     page's TruRisk and criticality scores with one Host List call (ids=
//     the page's hosts) while the page's detection calls run; the join
//     stage waits for them as it waits for the applications (with
//     Sequential the page stage makes the call itself, in turn).
//   - the detection stage (stage_detections.go) takes one of the client's
//     concurrency slots for the Host List Detection API (qualys.Client.
//     HoldSlot: the client's gate, learned from X-Concurrency-Limit-Limit
//     and shared with every other call of the client, is the only limit on
//     calls) before it takes a page, then starts the page's calls in a
//     group of its own; each call hands its hosts on as they are decoded,
//     and the page's last call to finish says the page is done. With
//     Config.Sequential the calls run one at a time, in order, in the
//     stage itself.
//   - the join stage (stage_join.go) ranges over those events: it maps
//     each host (mapping.CARHost) with its asset and applications as its
//     detections arrive, and when a page is done, the page's hosts that
//     Qualys gave no detections.
//   - the write stage (stage_write.go) is the only one that touches the
//     CAR import: it adds each host's part at once and holds each new
//     QID's vulnerability part until the KB stage has read its
//     KnowledgeBase entry, so that the vertex goes first, whole, and the
//     edges to it after.
//   - the KB stage (up to kbWorkers calls) reads the entries asked for.
//
// The first error cancels the run's context (with the error as its cause)
// before the failing stage's outputs are closed, so every other stage
// ends with that error, and Run aborts the import without saving a state.
// Every stage returns before stream does: no goroutine outlives a run, and
// every Qualys body is closed by the iteration that opened it.
//
// Back-pressure, decided: memory is the budget (a run holds hosts, never a
// call's worth of them), and Qualys calls are what a slow CAR must not
// waste. CAR's pace is absorbed first by the import itself, which keeps up
// to car.MaxOutstandingJobs jobs running and car.MaxBufferedBytes encoded
// before an Add waits. When Add waits, the mapped hosts handed to the
// write stage and not yet taken by it (the backlog) grow within a few
// hosts to backlogHigh and the backlog shuts: the detection stage starts
// no new call (it does not even take a slot) until the backlog is down to
// backlogLow. So a slow CAR shows as calls not started, costing no API
// budget; only the calls already streaming at that moment pause, each
// holding at most writeQueue mapped hosts plus the decoded hosts in
// eventBuffer, and resume as soon as a CAR job completes. (A call paused
// longer than the server tolerates is cut by the server; the run then
// fails without saving a state and the next run repeats the window.) The
// openPages tokens bound the host asset pages in memory.
//
// The backlog cannot lose a wakeup: its count, and whether it is shut, are
// one state under one lock; the join stage counts a host before it hands
// it on, the write stage uncounts it once taken, and the shut state is
// decided in the same critical section as the count that changes it. So
// "shut" implies "more than backlogLow hosts not yet taken", and the write
// stage, which takes them all, reopens it on its way down: no stale read
// of a queue's length decides anything (see backlog).

// Bounds of the pipeline.
const (
	// kbChunk is QIDs per KnowledgeBase call: the ids travel in a POST
	// body, so a large chunk costs no long URL and saves API calls.
	kbChunk = 1000
	// maxDetectionCalls is the most detection calls a split plans for
	// (Qualys subscriptions allow 2 to 10), whatever the server allows.
	maxDetectionCalls = 10
	// maxOpenPages is the most host asset pages in memory at once (listed
	// and not finished); sequentialOpenPages without overlap (the page
	// being written and the next one).
	maxOpenPages        = 4
	sequentialOpenPages = 2
	// maxAutoSplit is the most calls an automatic split cuts a page into,
	// so that a full import makes at most ceil(hosts / PageSize) x 2
	// detection calls.
	maxAutoSplit = 2
	// minSplitHosts is the fewest hosts an automatic split puts in one
	// detection call.
	minSplitHosts = 100
	// kbWorkers is the most KnowledgeBase calls in flight (fewer when the
	// client's slots for the API are fewer).
	kbWorkers = 3
	// maxHeldEdges bounds the edges held for vulnerabilities whose
	// KnowledgeBase entry is not in yet (about 200 bytes each): beyond it,
	// the write stage asks for the pending entries (at most one such call
	// per page) and takes no host until an answer is in.
	maxHeldEdges = 10000
	// eventBuffer is the decoded hosts waiting for the join stage.
	eventBuffer = 16
	// writeQueue is the mapped hosts waiting for the write stage.
	writeQueue = 8
	// backlogHigh and backlogLow: the backlog shuts at backlogHigh hosts
	// handed to the write stage and not yet taken, and opens again at
	// backlogLow.
	backlogHigh = writeQueue / 2
	backlogLow  = writeQueue / 4
)

// streamSpec says what a pipeline lists and how it treats what it sends.
type streamSpec struct {
	// hosts is the host asset listing (PageSize is set by the pipeline).
	hosts qualys.HostAssetQuery
	// apps, when not nil, are the applications to join, by asset id,
	// instead of the gateway listing.
	apps map[int64]*qualys.Asset
	// changed (an incremental run's first step) lists the gateway assets
	// changed since r.since, keeps those no page matched (orphans) and
	// returns the VM host ids of the pages (handled).
	changed bool
	// stale, when not nil, are the asset_<kind> edges whose members that
	// no longer hold are disabled for the assets sent that existed before
	// r.since (the detections are always fetched whole).
	stale []string
}

// streamPage is one host asset page in flight. The page stage fills it
// before handing it on; then the applications stage sets apps and closes
// appsReady, and the join stage alone touches assets and byHost.
type streamPage struct {
	assets []*qualys.HostAsset
	// byHost holds the index in assets of the page's VM hosts until their
	// detections arrive; a host mapped is removed from both, so that
	// memory is given back as the page streams.
	byHost map[int64]int
	// ranges are the page's detection calls (host ids, ascending).
	ranges [][]int64
	// callsLeft counts the calls not finished; the call that brings it to
	// zero tells the join stage the page is done.
	callsLeft int
	mu        sync.Mutex
	apps      map[int64]*qualys.Asset
	appsReady chan struct{}
	// scores are the page's Host List hosts by host id (QualysScores),
	// set by the scores stage before it closes scoresReady.
	scores      map[int64]hostScores
	scoresReady chan struct{}
}

// callDone counts one finished call and reports whether it was the last.
func (sp *streamPage) callDone() bool {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	sp.callsLeft--
	return sp.callsLeft == 0
}

// hostEvent is one host's detections, or (host nil) the end of a page's
// detection calls.
type hostEvent struct {
	page *streamPage
	host *qualys.DetectionHost
}

// mappedHost is one host mapped by the join stage, or (pageEnd) the mark
// that a page is finished.
type mappedHost struct {
	assetID int64
	host    car.Graph
	vulns   []mapping.VulnerabilityPart
	// view is the host's new graph, when its stale edges are to be
	// disabled once it is sent (incremental).
	view    *assetView
	pageEnd bool
}

// kbAnswer is the KB stage's answer to one request.
type kbAnswer struct {
	qids    []int64
	entries map[int64]*qualys.Vulnerability
}

// pipeline is one run of the stages: a full import's, or a step of an
// incremental one.
type pipeline struct {
	r       *run
	spec    streamSpec
	backlog *backlog
	// listed counts the pages the page stage has listed (read by the write
	// stage for its KnowledgeBase call budget).
	listed counter
	// handled (changed) holds the VM host ids of the pages listed: page
	// stage only, read after the run.
	handled map[int64]bool
	// orphans are the gateway assets no page matched: applications stage
	// only, read after the run.
	orphans []*qualys.Asset
	// joined are the join stage's counts, written only by it and merged
	// into the run's summary after the stages end; written the write
	// stage's.
	joined  counts
	written counts
}

// counts are what one stage counted; merged into the Summary after the
// stages end.
type counts struct {
	hosts, detections, applications, vertices, edges, disabled int
}

// addTo adds the counts to a summary.
func (c *counts) addTo(s *Summary) {
	s.Hosts += c.hosts
	s.Detections += c.detections
	s.Applications += c.applications
	s.Vertices += c.vertices
	s.Edges += c.edges
	s.DisabledEdges += c.disabled
}

// streamFull runs the full import's pipeline until every host is added to
// the import or the first error.
func (r *run) streamFull(ctx context.Context) error {
	_, err := r.stream(ctx, streamSpec{})
	return err
}

// stream runs the stages until every host is added to the import or the
// first error. With spec.changed it returns the VM host ids of the host
// assets listed and leaves the gateway assets no page matched in
// r.orphans.
func (r *run) stream(ctx context.Context, spec streamSpec) (handled map[int64]bool, err error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	p := &pipeline{r: r, spec: spec, backlog: newBacklog(r.cfg.hooks)}
	if spec.changed {
		p.handled = map[int64]bool{}
	}
	openPages, ahead := maxOpenPages, 1
	if r.cfg.Sequential {
		openPages, ahead = sequentialOpenPages, 0
	}
	var (
		open       = make(chan struct{}, openPages)
		pages      = make(chan *streamPage)
		appsJobs   = make(chan *appsJob, openPages)
		scoresJobs = make(chan *scoresJob, openPages)
		events     = make(chan hostEvent, eventBuffer)
		mapped     = make(chan mappedHost, writeQueue)
		kbReq      = make(chan []int64, kbWorkers)
		kbAns      = make(chan kbAnswer, kbWorkers)
	)
	var g errgroup.Group
	// stage runs one stage; a failure cancels the run (its cause the
	// failure) before the stage's outputs are closed, so a consumer that
	// sees its input end can tell an end from an abort (context.Cause).
	stage := func(run func() error, closeOutputs func()) {
		g.Go(func() error {
			err := run()
			if err != nil {
				cancel(err)
			}
			if closeOutputs != nil {
				closeOutputs()
			}
			return err
		})
	}
	stage(func() error { return p.pageStage(ctx, open, pages, appsJobs, scoresJobs) }, func() { close(pages); close(appsJobs); close(scoresJobs) })
	stage(func() error { return p.appsStage(ctx, ahead, appsJobs) }, nil)
	stage(func() error { return p.scoresStage(ctx, scoresJobs) }, nil)
	stage(func() error { return p.detectionStage(ctx, pages, events) }, func() { close(events) })
	stage(func() error { return p.joinStage(ctx, events, mapped, open) }, func() { close(mapped) })
	stage(func() error { return p.writeStage(ctx, mapped, kbReq, kbAns) }, func() { close(kbReq) })
	stage(func() error { return p.kbStage(ctx, kbReq, kbAns) }, func() { close(kbAns) })
	err = g.Wait()
	// Every stage has returned: their counts are theirs no longer.
	p.joined.addTo(r.sum)
	p.written.addTo(r.sum)
	if err != nil {
		// The cause that ended the run (the first stage's failure, or
		// the caller's), not a stage's report of the cancellation.
		if cause := context.Cause(ctx); cause != nil {
			return nil, cause
		}
		return nil, err
	}
	r.orphans = append(r.orphans, p.orphans...)
	return p.handled, nil
}

// send sends v on ch unless the run ends first (its cause returned).
func send[T any](ctx context.Context, ch chan<- T, v T) error {
	select {
	case ch <- v:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// recv receives from ch; ok is false when ch is closed. The error is the
// run's cause when it ends first.
func recv[T any](ctx context.Context, ch <-chan T) (v T, ok bool, err error) {
	select {
	case v, ok = <-ch:
		return v, ok, nil
	case <-ctx.Done():
		return v, false, context.Cause(ctx)
	}
}

// counter is a count written by one stage and read by another.
type counter struct {
	mu sync.Mutex
	n  int
}

func (c *counter) add(d int) {
	c.mu.Lock()
	c.n += d
	c.mu.Unlock()
}

func (c *counter) get() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// backlog counts the mapped hosts handed to the write stage and not yet
// taken by it, and is shut while they are backlogHigh or more, until they
// are down to backlogLow. Invariant (all under mu): shut implies
// n > backlogLow, and open is closed exactly while !shut. add and done
// change n and decide shut in one critical section, so a decrement that
// brings n to backlogLow always sees shut and reopens: no wakeup is lost
// whatever the interleaving of the join, write and detection stages.
type backlog struct {
	mu    sync.Mutex
	n     int
	shut  bool
	open  chan struct{}
	hooks *hooks
}

func newBacklog(h *hooks) *backlog {
	b := &backlog{open: make(chan struct{}), hooks: h}
	close(b.open)
	return b
}

// add counts a host the join stage is about to hand on, and reports
// whether that shut the backlog.
func (b *backlog) add() (shut bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.n++
	if !b.shut && b.n >= backlogHigh {
		b.shut = true
		b.open = make(chan struct{})
		return true
	}
	return false
}

// done uncounts a host the write stage took.
func (b *backlog) done() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.n--
	if b.shut && b.n <= backlogLow {
		b.shut = false
		close(b.open)
	}
}

// wait returns once the backlog is open, or with the run's cause. A
// waiter woken looks again (the backlog may have shut since); it cannot
// wait for ever, since shut implies hosts the write stage has yet to take,
// and taking them reopens it.
func (b *backlog) wait(ctx context.Context) error {
	for {
		b.mu.Lock()
		shut, open := b.shut, b.open
		b.mu.Unlock()
		if !shut {
			return nil
		}
		select {
		case <-open:
			b.hooks.onWoken()
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

// hooks are called at the pipeline's race windows (tests widen them with
// sleeps); nil outside tests.
type hooks struct {
	shutting func() // join: its count shut the backlog, the host not handed on yet
	received func() // write: a host received, not yet uncounted
	woken    func() // detection: woken by the backlog opening, before it looks again
}

func (h *hooks) onShutting() {
	if h != nil && h.shutting != nil {
		h.shutting()
	}
}

func (h *hooks) onReceived() {
	if h != nil && h.received != nil {
		h.received()
	}
}

func (h *hooks) onWoken() {
	if h != nil && h.woken != nil {
		h.woken()
	}
}

// failed is err, with what the stage was doing, when the run is still
// going; once the run is ending, its cause: a stage never reports a bare
// cancellation in place of what ended the run.
func failed(ctx context.Context, err error, doing string) error {
	if cause := context.Cause(ctx); cause != nil {
		return cause
	}
	return fmt.Errorf("carsync: %s: %w", doing, err)
}
