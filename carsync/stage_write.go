package carsync

import (
	"context"
	"fmt"
	"slices"

	"github.com/qualysbridge/qualysbridge/car"
	"github.com/qualysbridge/qualysbridge/mapping"
	"github.com/qualysbridge/qualysbridge/qualys"
	"golang.org/x/sync/errgroup"
)

// heldVuln is a vulnerability vertex waiting for its KnowledgeBase entry,
// with the edges to it mapped meanwhile.
type heldVuln struct {
	vertex *car.Vulnerability
	edges  []car.Edge
}

// writer is the write stage's state.
type writer struct {
	p   *pipeline
	req chan<- []int64
	ans <-chan kbAnswer
	// held are the vulnerabilities waiting for their entry, by QID;
	// pending the held QIDs not asked for yet.
	held    map[int64]*heldVuln
	pending []int64
	// kbInFlight counts the requests not answered; heldEdges the edges in
	// held; kbCalls the requests made; seen the distinct QIDs held.
	kbInFlight, heldEdges, kbCalls, seen int
	// eager asks for entries as soon as the KB stage has a free slot and
	// takes the answers as they come; otherwise (Sequential) it asks at
	// the end of a page (or for a full chunk) and waits for the answer,
	// so that a run sends the same requests in the same order every time.
	eager bool
	// pageEnded is set by a page's end mark until askKB has seen it;
	// inputEnded once the join stage is done.
	pageEnded, inputEnded bool
	// views are the changed assets sent whose edges that no longer hold
	// are yet to be disabled, by clean.
	views []*assetView
	clean *cleaner
}

// writeStage adds each mapped host to the CAR import, holding each new
// QID's vulnerability part until its KnowledgeBase entry is in; it runs
// until the join stage is done and every held vulnerability is sent. It is
// the only stage that touches the import and r.sentQIDs.
func (p *pipeline) writeStage(ctx context.Context, in <-chan mappedHost, req chan<- []int64, ans <-chan kbAnswer) error {
	w := &writer{p: p, req: req, ans: ans, held: map[int64]*heldVuln{}, eager: !p.r.cfg.Sequential, clean: &cleaner{r: p.r}}
	defer func() { p.written.disabled = w.clean.disabled }()
	for !w.inputEnded || w.kbInFlight > 0 || len(w.held) > 0 {
		input := in
		if w.inputEnded || (w.heldEdges >= maxHeldEdges && w.kbInFlight > 0) {
			input = nil // enough held: an answer first
		}
		var err error
		select {
		case m, ok := <-input:
			if !ok {
				w.inputEnded = true
				if err := context.Cause(ctx); err != nil {
					return err
				}
				break
			}
			p.r.cfg.hooks.onReceived()
			p.backlog.done()
			err = w.add(ctx, m)
		case a, ok := <-ans:
			if !ok {
				return context.Cause(ctx)
			}
			err = w.answered(ctx, a)
		case <-ctx.Done():
			return context.Cause(ctx)
		}
		if err != nil {
			return err
		}
		if err := w.askKB(ctx); err != nil {
			return err
		}
	}
	return w.flushViews(ctx)
}

// add sends a host's part and the edges to QIDs already sent, and holds
// the parts of QIDs not sent yet.
func (w *writer) add(ctx context.Context, m mappedHost) error {
	if m.pageEnd {
		w.pageEnded = true
		// What the page gathered goes to CAR now, not with the next
		// page's first request.
		if err := w.p.r.im.Flush(ctx); err != nil {
			return failed(ctx, err, "sending a page to CAR")
		}
		return nil
	}
	r := w.p.r
	out := m.host
	for _, part := range m.vulns {
		if hv := w.held[part.QID]; hv != nil {
			hv.edges = append(hv.edges, part.Edges...)
			w.heldEdges += len(part.Edges)
			continue
		}
		if r.sentQIDs[part.QID] {
			out.Edges = append(out.Edges, part.Edges...)
			continue
		}
		w.held[part.QID] = &heldVuln{vertex: part.Vertex, edges: part.Edges}
		w.heldEdges += len(part.Edges)
		w.pending = append(w.pending, part.QID)
		w.seen++
	}
	if err := r.im.Add(ctx, out); err != nil {
		return failed(ctx, err, fmt.Sprintf("host asset %d", m.assetID))
	}
	if m.view != nil {
		w.views = append(w.views, m.view)
		if len(w.views) >= staleGroup {
			return w.flushViews(ctx)
		}
	}
	return nil
}

// staleGroup is the changed assets whose stale edges are looked up in CAR
// together.
const staleGroup = 100

// flushViews disables the edges of the changed assets in w.views that no
// longer hold (of the kinds in spec.stale).
func (w *writer) flushViews(ctx context.Context) error {
	if len(w.views) == 0 {
		return nil
	}
	err := w.clean.disableStale(ctx, w.views, w.p.spec.stale)
	w.views = w.views[:0]
	return err
}

// askKB asks the KB stage for the pending QIDs when it has a free slot and
// the call budget allows: a full chunk, or (eager) no more calls than
// pages listed plus one per 1,000 QIDs seen, or more than maxHeldEdges
// held (one more call per page at most), or (not eager) at the end of a
// page, or the last call once every host is in. A run thus makes at most
// 2 x pages + ceil(QIDs / 1,000) + 1 KnowledgeBase calls
// (pages + ceil(QIDs / 1,000) + 1 with Sequential), and while QIDs are
// being discovered (the first hosts) it asks often, with up to kbWorkers
// calls in flight, so that little is held.
func (w *writer) askKB(ctx context.Context) error {
	ended := w.pageEnded
	w.pageEnded = false
	for len(w.pending) > 0 {
		slots := 1
		if w.eager {
			kb := w.p.r.cfg.Qualys.EndpointPath(qualys.EndpointKnowledgeBase)
			slots = max(1, min(w.p.r.cfg.Qualys.Concurrency(kb), kbWorkers))
		}
		if w.kbInFlight >= slots {
			return nil
		}
		pages := w.p.listed.get()
		allowance := pages + (w.seen+kbChunk-1)/kbChunk
		due := len(w.pending) >= kbChunk || w.inputEnded || (!w.eager && ended) ||
			(w.eager && (w.kbCalls < allowance || (w.heldEdges >= maxHeldEdges && w.kbCalls < allowance+pages)))
		if !due {
			return nil
		}
		if err := w.ask(ctx); err != nil {
			return err
		}
	}
	return nil
}

// ask sends one request of up to kbChunk pending QIDs; when not eager, it
// waits for the answer.
func (w *writer) ask(ctx context.Context) error {
	n := min(len(w.pending), kbChunk)
	qids := slices.Clone(w.pending[:n])
	w.pending = w.pending[n:]
	if err := send(ctx, w.req, qids); err != nil {
		return err
	}
	w.kbInFlight++
	w.kbCalls++
	if w.eager {
		return nil
	}
	a, ok, err := recv(ctx, w.ans)
	if err != nil {
		return err
	}
	if !ok {
		return context.Cause(ctx)
	}
	return w.answered(ctx, a)
}

// answered sends the asked vulnerabilities, enriched, then the edges to
// them held meanwhile.
func (w *writer) answered(ctx context.Context, a kbAnswer) error {
	w.kbInFlight--
	r := w.p.r
	var g car.Graph
	for _, q := range a.qids {
		hv := w.held[q]
		if hv == nil {
			continue
		}
		mapping.EnrichVulnerability(hv.vertex, a.entries[q])
		g.Vertices = append(g.Vertices, hv.vertex)
		g.Edges = append(g.Edges, hv.edges...)
		w.heldEdges -= len(hv.edges)
		delete(w.held, q)
		r.sentQIDs[q] = true
	}
	if err := r.im.Add(ctx, g); err != nil {
		return failed(ctx, err, "vulnerabilities")
	}
	return nil
}

// kbStage reads the KnowledgeBase entries asked for, one call per request,
// up to kbWorkers at once.
func (p *pipeline) kbStage(ctx context.Context, req <-chan []int64, ans chan<- kbAnswer) error {
	g, gctx := errgroup.WithContext(ctx)
	for range kbWorkers {
		g.Go(func() error {
			for {
				qids, ok, err := recv(gctx, req)
				if err != nil || !ok {
					return err
				}
				a := kbAnswer{qids: qids, entries: make(map[int64]*qualys.Vulnerability, len(qids))}
				for v, err := range p.r.cfg.Qualys.KnowledgeBase.List(gctx, &qualys.KnowledgeBaseQuery{QIDs: qids, ChunkSize: kbChunk}) {
					if err != nil {
						return failed(gctx, err, "reading the KnowledgeBase")
					}
					a.entries[v.QID] = v
				}
				if err := send(gctx, ans, a); err != nil {
					return err
				}
			}
		})
	}
	return g.Wait()
}
