package carsync

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/qualysbridge/qualysbridge/car"
	"github.com/qualysbridge/qualysbridge/mapping"
	"github.com/qualysbridge/qualysbridge/qualys"
)

// The full import is a pipeline of stages joined by channels, so that each
// Qualys API's latency hides behind the others' and memory holds hosts in
// flight, never a page of detections:
//
//   - the page stage lists host assets page by page (with Overlap, one
//     page beyond those whose detection calls run), hands each page to the applications stage and cuts the
//     page's VM host ids into host id ranges, one detection call each (see
//     split); at most openLimit pages are in flight;
//   - the applications stage merge-joins the gateway listing (which runs
//     ahead in its own goroutine) with each page in turn, off the
//     detection calls' path;
//   - detection calls run concurrently, as many as the client's slots for
//     the Host List Detection API (Client.Concurrency: what the server's
//     X-Concurrency-Limit-Limit allows, one until an answer has said it;
//     one without Overlap); each host is handed on as it is decoded;
//   - the join stage (the caller's goroutine, the only one that touches the
//     import, the summary and the KnowledgeBase state) maps each host with
//     its asset and applications as its detections arrive and adds it to
//     the CAR import, which keeps at most car.MaxOutstandingJobs jobs;
//   - the KnowledgeBase stage (kbWorkers goroutines) reads the entries of
//     QIDs seen for the first time. Until a QID's entry is back, its
//     vulnerability vertex and the edges to it are held (at most
//     maxHeldEdges before the join stage waits); then the vertex goes
//     first and its edges after it, so no edge precedes its vertex.
//
// The first error cancels every stage; the import is then aborted and no
// state is saved (Run).

// streamPage is one host asset page in flight.
type streamPage struct {
	assets []*qualys.HostAsset
	// byHost holds the index in assets of the page's VM hosts until their
	// detections arrive (join stage only, after the page event); a host
	// sent is removed from both, so that memory is given back as the
	// page streams.
	byHost map[int64]int
	// apps are the page's gateway assets by asset id (nil when not
	// fetched), set by the applications stage before appsReady is closed.
	apps      map[int64]*qualys.Asset
	appsErr   error
	appsReady chan struct{}
	calls     int // detection calls not finished (join stage)
}

// streamEvent is what the page stage and the detection calls send the join
// stage: a new page, one host's detections, the end of a detection call,
// the end of the pages, or an error. (KnowledgeBase answers come on their
// own channel, so that the join stage can wait for one alone.)
type streamEvent struct {
	page     *streamPage
	newPage  bool
	host     *qualys.DetectionHost
	callDone bool
	pagesEnd bool
	err      error
}

// kbAnswer is the KnowledgeBase stage's answer to one request.
type kbAnswer struct {
	qids    []string
	entries map[string]*qualys.Vulnerability
	err     error
}

// heldVuln is a vulnerability vertex waiting for its KnowledgeBase entry,
// with the edges to it mapped meanwhile.
type heldVuln struct {
	vertex *car.Vulnerability
	edges  []car.Edge
}

// slots counts work in flight against a limit that may change (the
// server's concurrency limit is learned from the first answers).
type slots struct {
	mu   sync.Mutex
	n    int
	wake chan struct{}
}

func newSlots() *slots { return &slots{wake: make(chan struct{})} }

// waitBelow returns when fewer than limit() are in flight.
func (s *slots) waitBelow(ctx context.Context, limit func() int) error {
	for {
		s.mu.Lock()
		if s.n < max(limit(), 1) {
			s.mu.Unlock()
			return nil
		}
		wake := s.wake
		s.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (s *slots) add(d int) {
	s.mu.Lock()
	s.n += d
	if d < 0 {
		close(s.wake)
		s.wake = make(chan struct{})
	}
	s.mu.Unlock()
}

// poke wakes the waiters to look at the limit again.
func (s *slots) poke() {
	s.mu.Lock()
	close(s.wake)
	s.wake = make(chan struct{})
	s.mu.Unlock()
}

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

// pipeline is one run of the stages: a full import's, or a step of an
// incremental one.
type pipeline struct {
	r          *run
	spec       streamSpec
	orphans    []*qualys.Asset // applications stage; read after appsDone
	orphansErr error
	appsDone   chan struct{}
	j          *joiner
	events     chan streamEvent
	kbReq      chan []string
	kbAns      chan *kbAnswer
	calls      *slots // detection calls in flight
	open       *slots // pages announced and not finished
	wg         sync.WaitGroup
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
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	p := &pipeline{r: r, spec: spec, appsDone: make(chan struct{}), events: make(chan streamEvent, 16),
		kbReq: make(chan []string, kbWorkers), kbAns: make(chan *kbAnswer, kbWorkers), calls: newSlots(), open: newSlots()}
	p.wg.Add(1 + kbWorkers)
	go func() { defer p.wg.Done(); p.emit(ctx, streamEvent{pagesEnd: true, err: p.pages(ctx)}) }()
	for range kbWorkers {
		go func() { defer p.wg.Done(); p.knowledgeBase(ctx) }()
	}
	err = p.join(ctx)
	if err == nil {
		// The applications stage drains the gateway listing (orphans).
		select {
		case <-p.appsDone:
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	cancel()
	p.wg.Wait()
	if err != nil {
		return nil, err
	}
	if p.orphansErr != nil {
		return nil, p.orphansErr
	}
	r.orphans = append(r.orphans, p.orphans...)
	return p.j.handled, nil
}

// kbChunk is QIDs per KnowledgeBase call: the ids travel in a POST body, so
// a large chunk costs no long URL and saves API calls.
const kbChunk = 1000

// Bounds of the pipeline.
const (
	// maxDetectionCalls is the most detection calls a run keeps in flight
	// (Qualys subscriptions allow 2 to 10), whatever the server allows.
	maxDetectionCalls = 10
	// maxOpenPages is the most host asset pages in flight (announced and
	// not finished): memory holds their host assets and applications.
	maxOpenPages = 4
	// minSplitHosts is the fewest hosts an automatic split puts in one
	// detection call.
	minSplitHosts = 100
	// kbWorkers is the most KnowledgeBase calls in flight (fewer when the
	// client's slots for the API are fewer).
	kbWorkers = 3
	// maxHeldEdges bounds the edges held for vulnerabilities whose
	// KnowledgeBase entry is not in yet (about 200 bytes each): beyond it,
	// the join stage asks for the pending entries (at most one such call
	// per page) and waits for an answer before it reads more detections.
	maxHeldEdges = 10000
)

// detectionLimit is how many detection calls run at once: the client's
// slots for the Host List Detection API (learned from the server), up to
// maxDetectionCalls; one without Overlap.
func (r *run) detectionLimit() int {
	if !r.cfg.Overlap {
		return 1
	}
	return r.learnedLimit(qualys.EndpointDetections, maxDetectionCalls)
}

// learnedLimit is the client's slots for an FO endpoint, up to most, and
// one until an answer of the endpoint has said what the subscription
// allows (X-Concurrency-Limit-Limit): the limit is never exceeded, not
// even by the first calls of a run.
func (r *run) learnedLimit(e qualys.Endpoint, most int) int {
	path := r.cfg.Qualys.EndpointPath(e)
	if _, known := r.cfg.Qualys.RateFor(path); !known {
		return 1
	}
	return min(r.cfg.Qualys.Concurrency(path), most)
}

// openLimit is how many pages may be in flight.
func (r *run) openLimit() int { return min(r.detectionLimit()+1, maxOpenPages) }

// split is the number of detection calls a page of hosts is cut into:
// DetectionSplit when set; else, with Overlap, enough for the pages in
// flight to use the detection limit (when the run has fewer pages than
// the limit, or the limit exceeds maxOpenPages), with at least
// minSplitHosts hosts a call; else 1. It is decided page by page, as the
// limit is learned from the first answers.
func (r *run) split(hosts int) int {
	switch {
	case r.cfg.DetectionSplit > 0:
		return r.cfg.DetectionSplit
	case !r.cfg.Overlap:
		return 1
	}
	pages := max(1, (r.expected+r.cfg.PageSize-1)/r.cfg.PageSize)
	inFlight := min(pages, r.openLimit())
	s := (r.detectionLimit() + inFlight - 1) / inFlight
	return max(1, min(s, (hosts+minSplitHosts-1)/minSplitHosts))
}

// emit sends an event to the join stage unless the run is over.
func (p *pipeline) emit(ctx context.Context, ev streamEvent) bool {
	select {
	case p.events <- ev:
		return true
	case <-ctx.Done():
		return false
	}
}

// pages is the page stage: it announces each host asset page to the join
// stage and starts its detection calls, keeping the calls in flight within
// the detection API's limit and, without Overlap, one page open at a time.
func (p *pipeline) pages(ctx context.Context) error {
	r := p.r
	ahead := 0
	if r.cfg.Overlap {
		ahead = 1
	}
	apps := make(chan *appsJob, maxOpenPages+1)
	defer close(apps)
	p.wg.Add(1)
	go func() { defer p.wg.Done(); p.applications(ctx, ahead, apps) }()
	// No prefetch here: the page beyond the detection calls that may be
	// open (openLimit) is the one listed ahead.
	q := p.spec.hosts
	q.PageSize = r.cfg.PageSize
	for page, err := range r.cfg.Qualys.HostAssets.Pages(ctx, &q) {
		if err != nil {
			return fmt.Errorf("carsync: listing host assets: %w", err)
		}
		sp := &streamPage{assets: page.Assets, byHost: make(map[int64]int, len(page.Assets)), appsReady: make(chan struct{})}
		want := make(map[int64]bool, len(page.Assets))
		var maxID int64
		var ids []int64
		for i, a := range page.Assets {
			want[a.ID] = true
			maxID = max(maxID, a.ID)
			if _, dup := sp.byHost[a.QWebHostID]; a.QWebHostID > 0 && !dup {
				sp.byHost[a.QWebHostID] = i
				ids = append(ids, a.QWebHostID)
			}
		}
		select {
		case apps <- &appsJob{sp: sp, maxID: maxID, want: want}:
		case <-ctx.Done():
			return ctx.Err()
		}
		slices.Sort(ids)
		ranges := splitIDs(ids, r.split(len(ids)))
		sp.calls = len(ranges)
		p.open.add(1)
		if !p.emit(ctx, streamEvent{page: sp, newPage: true}) {
			return ctx.Err()
		}
		for _, ids := range ranges {
			if err := p.calls.waitBelow(ctx, r.detectionLimit); err != nil {
				return err
			}
			p.calls.add(1)
			p.wg.Add(1)
			go func() { defer p.wg.Done(); p.detections(ctx, sp, ids) }()
		}
		if err := p.open.waitBelow(ctx, r.openLimit); err != nil {
			return err
		}
	}
	return nil
}

// appsJob asks the applications stage for a page's gateway assets.
type appsJob struct {
	sp    *streamPage
	maxID int64
	want  map[int64]bool
}

// applications is the applications stage: it merge-joins the gateway
// listing (in asset id order, like the pages) with each page in turn, off
// the detection calls' path, and marks the page's applications ready.
func (p *pipeline) applications(ctx context.Context, ahead int, jobs <-chan *appsJob) {
	defer close(p.appsDone)
	gw := p.r.gatewayAhead(ctx, ahead, p.since())
	defer gw.stop()
	for job := range jobs {
		if p.spec.apps != nil {
			job.sp.apps = map[int64]*qualys.Asset{}
			for id := range job.want {
				if a := p.spec.apps[id]; a != nil {
					job.sp.apps[id] = a
				}
			}
		} else if !p.r.cfg.SkipApplications {
			matched, orphans, err := gw.upTo(job.maxID, job.want)
			if err != nil {
				job.sp.appsErr = fmt.Errorf("carsync: listing gateway applications: %w", err)
			}
			job.sp.apps = matched
			if p.spec.changed {
				p.orphans = append(p.orphans, orphans...)
			}
		}
		close(job.sp.appsReady)
	}
	if p.spec.changed && ctx.Err() == nil {
		rest, err := gw.rest()
		if err != nil {
			p.orphansErr = fmt.Errorf("carsync: listing changed applications: %w", err)
		}
		p.orphans = append(p.orphans, rest...)
	}
}

// since is the start of the gateway window listed: zero but for an
// incremental run's first step.
func (p *pipeline) since() time.Time {
	if p.spec.changed {
		return p.r.since
	}
	return time.Time{}
}

// splitIDs cuts sorted ids into n contiguous ranges of nearly equal size
// (fewer when there are fewer ids).
func splitIDs(ids []int64, n int) [][]int64 {
	if len(ids) == 0 {
		return nil
	}
	n = max(1, min(n, len(ids)))
	out := make([][]int64, 0, n)
	for i := range n {
		out = append(out, ids[i*len(ids)/n:(i+1)*len(ids)/n])
	}
	return out
}

// detections is one detection call: each host goes to the join stage as it
// is decoded.
func (p *pipeline) detections(ctx context.Context, sp *streamPage, ids []int64) {
	defer p.calls.add(-1)
	q := qualys.DetectionQuery{IDs: ids, TruncationLimit: len(ids)}
	first := true
	for h, err := range p.r.cfg.Qualys.Detections.List(ctx, &q) {
		if err != nil {
			p.emit(ctx, streamEvent{err: fmt.Errorf("carsync: listing detections: %w", err)})
			return
		}
		if first {
			// The answer's headers are in: the limit may be known now.
			first = false
			p.calls.poke()
			p.open.poke()
		}
		if !p.emit(ctx, streamEvent{page: sp, host: h}) {
			return
		}
	}
	p.emit(ctx, streamEvent{page: sp, callDone: true})
}

// knowledgeBase is the KnowledgeBase stage: one call per request, answered
// to the join stage.
func (p *pipeline) knowledgeBase(ctx context.Context) {
	for {
		var qids []string
		select {
		case qids = <-p.kbReq:
		case <-ctx.Done():
			return
		}
		ans := &kbAnswer{qids: qids, entries: make(map[string]*qualys.Vulnerability, len(qids))}
		nums := make([]int64, 0, len(qids))
		for _, q := range qids {
			if n, err := strconv.ParseInt(q, 10, 64); err == nil && n > 0 {
				nums = append(nums, n)
			}
		}
		for v, err := range p.r.cfg.Qualys.KnowledgeBase.List(ctx, &qualys.KnowledgeBaseQuery{QIDs: nums, ChunkSize: kbChunk}) {
			if err != nil {
				ans.err = fmt.Errorf("carsync: reading the KnowledgeBase: %w", err)
				break
			}
			ans.entries[strconv.FormatInt(v.QID, 10)] = v
		}
		select {
		case p.kbAns <- ans:
		case <-ctx.Done():
			return
		}
	}
}

// joiner is the join stage's state.
type joiner struct {
	r       *run
	p       *pipeline
	held    map[string]*heldVuln // waiting for their KnowledgeBase entry
	pending []string             // held QIDs not asked for yet
	// kbInFlight counts KnowledgeBase requests not answered; heldEdges
	// the edges held in held.
	kbInFlight int
	heldEdges  int
	// eager asks for entries as soon as the KnowledgeBase stage is idle
	// and takes the answers as they come (Overlap); otherwise it asks at
	// the end of a page (or for a full chunk) and waits for the answer,
	// so that a run sends the same requests in the same order every time.
	eager     bool
	pageEnded bool
	kbCalls   int
	seen      int // distinct QIDs seen
	pages     int // pages announced
	// handled (incremental) holds the VM host ids of the changed host
	// assets; views the changed assets mapped whose edges that no longer
	// hold are yet to be disabled.
	handled  map[int64]bool
	views    []*assetView
	open     int // pages whose detections are not all in
	pagesEnd bool
}

// join is the join stage: it runs until every page is finished and every
// held vulnerability is sent, or the first error.
func (p *pipeline) join(ctx context.Context) error {
	j := &joiner{r: p.r, p: p, eager: p.r.cfg.Overlap, held: map[string]*heldVuln{}}
	p.j = j
	if p.spec.changed {
		j.handled = map[int64]bool{}
	}
	for !j.pagesEnd || j.open > 0 || j.kbInFlight > 0 || len(j.held) > 0 {
		var err error
		if j.heldEdges >= maxHeldEdges && j.kbInFlight > 0 {
			// Enough held: take an answer before reading on.
			select {
			case ans := <-p.kbAns:
				err = j.kbAnswered(ctx, ans)
			case <-ctx.Done():
				return ctx.Err()
			}
		} else {
			select {
			case ev := <-p.events:
				err = j.handle(ctx, ev)
			case ans := <-p.kbAns:
				err = j.kbAnswered(ctx, ans)
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if err != nil {
			return err
		}
		if err := j.askKB(ctx); err != nil {
			return err
		}
	}
	return j.flushViews(ctx)
}

func (j *joiner) handle(ctx context.Context, ev streamEvent) error {
	switch {
	case ev.err != nil:
		return ev.err
	case ev.pagesEnd:
		j.pagesEnd = true
	case ev.newPage:
		j.pages++
		j.open++
		if j.handled != nil {
			for _, a := range ev.page.assets {
				if a.QWebHostID > 0 {
					j.handled[a.QWebHostID] = true
				}
			}
		}
		if ev.page.calls == 0 {
			return j.pageDone(ctx, ev.page)
		}
	case ev.host != nil:
		i, ok := ev.page.byHost[ev.host.ID]
		if !ok {
			return nil // not asked for, or already sent
		}
		delete(ev.page.byHost, ev.host.ID)
		return j.host(ctx, ev.page, i, ev.host)
	case ev.callDone:
		if ev.page.calls--; ev.page.calls == 0 {
			return j.pageDone(ctx, ev.page)
		}
	}
	return nil
}

// pageDone sends the page's hosts that have no VM host id or that Qualys
// returned no detections for, and lets the page stage open another page.
func (j *joiner) pageDone(ctx context.Context, sp *streamPage) error {
	for i, a := range sp.assets {
		if a != nil {
			if err := j.host(ctx, sp, i, nil); err != nil {
				return err
			}
		}
	}
	select { // the applications stage is done with the page
	case <-sp.appsReady:
	case <-ctx.Done():
		return ctx.Err()
	}
	sp.assets, sp.byHost, sp.apps = nil, nil, nil
	j.pageEnded = true
	j.open--
	j.p.open.add(-1)
	return nil
}

// host maps one host and adds it to the import, holding the vulnerability
// vertices whose KnowledgeBase entry is not in yet, and the edges to them.
func (j *joiner) host(ctx context.Context, sp *streamPage, i int, det *qualys.DetectionHost) error {
	r := j.r
	select {
	case <-sp.appsReady:
		if sp.appsErr != nil {
			return sp.appsErr
		}
	case <-ctx.Done():
		return ctx.Err()
	}
	a := sp.assets[i]
	sp.assets[i] = nil
	ga := sp.apps[a.ID]
	delete(sp.apps, a.ID)
	if r.done[a.ID] {
		return nil
	}
	r.done[a.ID] = true
	h := mapping.Host{Asset: a}
	if det != nil {
		h.Detections = det
		r.sum.Detections += len(det.Detections)
	}
	if ga != nil {
		h.Applications = ga.Software
		r.sum.Applications += len(ga.Software)
	}
	g := mapping.CAR(h, r.cfg.Source.Key)
	r.sum.Hosts++
	r.sum.Vertices += len(g.Vertices)
	r.sum.Edges += len(g.Edges)
	if j.p.spec.stale != nil && !a.Created.IsZero() && a.Created.Before(r.since) {
		// A changed asset that existed before: its edges that no
		// longer hold are disabled once it is sent (flushViews).
		j.views = append(j.views, newAssetView(a.ID, g, ga != nil, true))
	}
	out := car.Graph{Vertices: g.Vertices[:0]}
	for _, v := range g.Vertices {
		cv, ok := v.(*car.Vulnerability)
		if !ok {
			out.Vertices = append(out.Vertices, v)
			continue
		}
		if j.held[cv.ExternalID] != nil {
			continue // held from an earlier host
		}
		if qid, err := strconv.ParseInt(cv.ExternalID, 10, 64); err == nil && r.sentQIDs[qid] {
			continue // sent
		}
		j.held[cv.ExternalID] = &heldVuln{vertex: cv}
		j.pending = append(j.pending, cv.ExternalID)
		j.seen++
	}
	for _, e := range g.Edges {
		if hv := j.held[e.To]; hv != nil && strings.HasSuffix(e.Collection, "_"+car.CollVulnerability) {
			hv.edges = append(hv.edges, e)
			j.heldEdges++
			continue
		}
		out.Edges = append(out.Edges, e)
	}
	if err := r.im.Add(ctx, out); err != nil {
		return fmt.Errorf("carsync: host asset %d: %w", a.ID, err)
	}
	r.progress(false)
	if len(j.views) >= staleGroup {
		return j.flushViews(ctx)
	}
	return nil
}

// staleGroup is the changed assets whose stale edges are looked up in CAR
// together.
const staleGroup = 100

// flushViews disables the edges of the changed assets in j.views that no
// longer hold (of the kinds in spec.stale).
func (j *joiner) flushViews(ctx context.Context) error {
	if len(j.views) == 0 {
		return nil
	}
	err := j.r.disableStale(ctx, j.views, j.p.spec.stale)
	j.views = j.views[:0]
	return err
}

// askKB asks the KnowledgeBase stage for the pending QIDs when it has a
// free slot and the call budget allows: a full chunk, or (eager) no more
// calls than pages announced plus one per 1,000 QIDs seen, or more than
// maxHeldEdges held (one more call per page at most), or (not eager) at
// the end of a page, or the last call once every detection is in. A run
// thus makes at most 2 x pages + ceil(QIDs / 1,000) + 1 KnowledgeBase
// calls (pages + ceil(QIDs / 1,000) + 1 without Overlap), and while QIDs
// are being discovered (the first hosts) it asks often, with up to
// kbWorkers calls in flight, so that little is held.
func (j *joiner) askKB(ctx context.Context) error {
	ended := j.pageEnded
	j.pageEnded = false
	for len(j.pending) > 0 {
		slots := 1
		if j.eager {
			slots = j.r.learnedLimit(qualys.EndpointKnowledgeBase, kbWorkers)
		}
		if j.kbInFlight >= slots {
			return nil
		}
		last := j.pagesEnd && j.open == 0
		allowance := j.pages + (j.seen+kbChunk-1)/kbChunk
		due := len(j.pending) >= kbChunk || last || (!j.eager && ended) ||
			(j.eager && (j.kbCalls < allowance || (j.heldEdges >= maxHeldEdges && j.kbCalls < allowance+j.pages)))
		if !due {
			return nil
		}
		if err := j.ask(ctx); err != nil {
			return err
		}
	}
	return nil
}

// ask sends one request of up to kbChunk pending QIDs; when not eager, it
// waits for the answer.
func (j *joiner) ask(ctx context.Context) error {
	n := min(len(j.pending), kbChunk)
	qids := slices.Clone(j.pending[:n])
	j.pending = j.pending[n:]
	j.kbInFlight++
	j.kbCalls++
	select {
	case j.p.kbReq <- qids:
	case <-ctx.Done():
		return ctx.Err()
	}
	if j.eager {
		return nil
	}
	select {
	case ans := <-j.p.kbAns:
		return j.kbAnswered(ctx, ans)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// kbAnswered sends the asked vulnerabilities, enriched, then the edges to
// them held meanwhile.
func (j *joiner) kbAnswered(ctx context.Context, ans *kbAnswer) error {
	j.kbInFlight--
	if ans.err != nil {
		return ans.err
	}
	var g car.Graph
	for _, q := range ans.qids {
		hv := j.held[q]
		if hv == nil {
			continue
		}
		mapping.EnrichVulnerability(hv.vertex, ans.entries[q])
		g.Vertices = append(g.Vertices, hv.vertex)
		g.Edges = append(g.Edges, hv.edges...)
		j.heldEdges -= len(hv.edges)
		delete(j.held, q)
		if qid, err := strconv.ParseInt(q, 10, 64); err == nil {
			j.r.sentQIDs[qid] = true
		}
	}
	if err := j.r.im.Add(ctx, g); err != nil {
		return fmt.Errorf("carsync: vulnerabilities: %w", err)
	}
	return nil
}

// prefetch runs a listing in its own goroutine, up to n items ahead of the
// consumer (n = 0: in the consumer's goroutine, as it is). Stopping the
// iteration cancels the listing.
func prefetch[T any](ctx context.Context, n int, list func(context.Context) iter.Seq2[T, error]) iter.Seq2[T, error] {
	if n <= 0 {
		return list(ctx)
	}
	type item struct {
		v   T
		err error
	}
	return func(yield func(T, error) bool) {
		ctx, cancel := context.WithCancel(ctx)
		ch := make(chan item, n)
		done := make(chan struct{})
		go func() {
			defer close(done)
			defer close(ch)
			for v, err := range list(ctx) {
				select {
				case ch <- item{v, err}:
				case <-ctx.Done():
					return
				}
				if err != nil {
					return
				}
			}
		}()
		defer func() { cancel(); <-done }()
		for it := range ch {
			if !yield(it.v, it.err) || it.err != nil {
				return
			}
		}
	}
}

// gatewayAhead starts the merge-join over gateway assets, listed up to
// ahead pages' worth in their own goroutine (300 assets a page).
func (r *run) gatewayAhead(ctx context.Context, ahead int, since time.Time) *pull {
	if r.cfg.SkipApplications {
		return newPull(func(func(*qualys.Asset, error) bool) {})
	}
	return newPull(prefetch(ctx, ahead*300, func(ctx context.Context) iter.Seq2[*qualys.Asset, error] {
		return r.cfg.Qualys.Assets.List(ctx, &qualys.AssetQuery{UpdatedSince: since})
	}))
}
