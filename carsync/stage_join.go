package carsync

import (
	"context"

	"github.com/qualysbridge/qualysbridge/mapping"
	"github.com/qualysbridge/qualysbridge/qualys"
)

// joinStage maps each host as its detections arrive, and the hosts of a
// finished page that Qualys gave no detections (or that have no VM host
// id), and hands them to the write stage. It is the only stage that
// touches r.done and p.joined.
func (p *pipeline) joinStage(ctx context.Context, events <-chan hostEvent, out chan<- mappedHost, open <-chan struct{}) error {
	for ev := range events {
		var err error
		if ev.host == nil {
			err = p.pageDone(ctx, ev.page, out, open)
		} else if i, ok := ev.page.byHost[ev.host.ID]; ok {
			delete(ev.page.byHost, ev.host.ID)
			err = p.mapHost(ctx, ev.page, i, ev.host, out)
		} // else: not asked for, or already mapped
		if err != nil {
			return err
		}
	}
	// The detection stage closed its output: at its end, or because the
	// run failed (then the context holds the cause).
	return context.Cause(ctx)
}

// pageDone maps the page's hosts not mapped yet, gives the page's token
// back to the page stage and marks the page's end for the write stage.
func (p *pipeline) pageDone(ctx context.Context, sp *streamPage, out chan<- mappedHost, open <-chan struct{}) error {
	for i, a := range sp.assets {
		if a != nil {
			if err := p.mapHost(ctx, sp, i, nil, out); err != nil {
				return err
			}
		}
	}
	if err := p.waitApps(ctx, sp); err != nil {
		return err
	}
	sp.assets, sp.byHost, sp.apps, sp.scores = nil, nil, nil, nil
	<-open
	return p.emit(ctx, out, mappedHost{pageEnd: true})
}

// waitApps waits until the applications and scores stages are done with
// the page.
func (p *pipeline) waitApps(ctx context.Context, sp *streamPage) error {
	for _, ready := range []chan struct{}{sp.appsReady, sp.scoresReady} {
		select {
		case <-ready:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	return nil
}

// emit hands a mapped host to the write stage, counted in the backlog
// first (see backlog).
func (p *pipeline) emit(ctx context.Context, out chan<- mappedHost, m mappedHost) error {
	if p.backlog.add() {
		p.r.cfg.hooks.onShutting()
	}
	return send(ctx, out, m)
}

// mapHost maps the page's host asset i with its detections (nil when
// Qualys gave none) and its applications.
func (p *pipeline) mapHost(ctx context.Context, sp *streamPage, i int, det *qualys.DetectionHost, out chan<- mappedHost) error {
	r := p.r
	if err := p.waitApps(ctx, sp); err != nil {
		return err
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
	if s, ok := sp.scores[a.QWebHostID]; ok {
		h.Scores = s.host(a.QWebHostID)
	}
	if det != nil {
		h.Detections = det
		p.joined.detections += len(det.Detections)
	}
	if ga != nil {
		h.Applications = ga.Software
		p.joined.applications += len(ga.Software)
	}
	hg := mapping.CARHost(h, r.cfg.Source.Key)
	p.joined.hosts++
	p.joined.vertices += len(hg.Host.Vertices) + len(hg.Vulnerabilities)
	p.joined.edges += len(hg.Host.Edges)
	for _, v := range hg.Vulnerabilities {
		p.joined.edges += len(v.Edges)
	}
	m := mappedHost{assetID: a.ID, host: hg.Host, vulns: hg.Vulnerabilities}
	if p.spec.stale != nil && !a.Created.IsZero() && a.Created.Before(r.since) {
		// A changed asset that existed before: its edges that no
		// longer hold are disabled once it is sent.
		m.view = newAssetView(a.ID, hg, ga != nil, true)
	}
	if err := p.emit(ctx, out, m); err != nil {
		return err
	}
	r.progress(false, &p.joined)
	return nil
}
