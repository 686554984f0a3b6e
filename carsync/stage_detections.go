package carsync

import (
	"context"

	"github.com/qualysbridge/qualysbridge/qualys"
	"golang.org/x/sync/errgroup"
)

// detectionStage runs the pages' detection calls. With Sequential it runs
// them one at a time, in order. Otherwise each call starts in a group of
// its own once the backlog is open and it holds one of the client's slots
// for the Host List Detection API (HoldSlot): the client's gate, learned
// from the server, is the only limit on concurrent calls. A slot is held
// before the next page is taken, so a page waits for a slot in the page
// stage (the one listed ahead), not here.
func (p *pipeline) detectionStage(ctx context.Context, pages <-chan *streamPage, events chan<- hostEvent) error {
	if p.r.cfg.Sequential {
		for {
			sp, ok, err := recv(ctx, pages)
			if err != nil || !ok {
				return err
			}
			if len(sp.ranges) == 0 {
				if err := send(ctx, events, hostEvent{page: sp}); err != nil {
					return err
				}
			}
			for _, ids := range sp.ranges {
				if err := p.detectionCall(ctx, sp, ids, events); err != nil {
					return err
				}
			}
		}
	}
	calls, cctx := errgroup.WithContext(ctx)
	err := p.fanOut(cctx, calls, pages, events)
	if werr := calls.Wait(); werr != nil {
		return werr // the first call's failure (err is then its cause)
	}
	return err
}

// fanOut starts the pages' calls in the group until the pages end.
func (p *pipeline) fanOut(ctx context.Context, calls *errgroup.Group, pages <-chan *streamPage, events chan<- hostEvent) error {
	path := p.r.detectionPath()
	take := func() (context.Context, func(), error) {
		if err := p.backlog.wait(ctx); err != nil {
			return nil, nil, err
		}
		sctx, release, err := p.r.cfg.Qualys.HoldSlot(ctx, path)
		if err != nil {
			return nil, nil, context.Cause(ctx)
		}
		return sctx, release, nil
	}
	for {
		sctx, release, err := take()
		if err != nil {
			return err
		}
		sp, ok, err := recv(ctx, pages)
		if err != nil || !ok {
			release()
			return err
		}
		if len(sp.ranges) == 0 {
			release()
			if err := send(ctx, events, hostEvent{page: sp}); err != nil {
				return err
			}
			continue
		}
		for i, ids := range sp.ranges {
			if i > 0 {
				if sctx, release, err = take(); err != nil {
					return err
				}
			}
			callCtx, done := sctx, release
			calls.Go(func() error {
				defer done()
				return p.detectionCall(callCtx, sp, ids, events)
			})
		}
	}
}

// detectionCall is one detection call: each host goes to the join stage as
// it is decoded; the page's last call to finish sends the page's end.
func (p *pipeline) detectionCall(ctx context.Context, sp *streamPage, ids []int64, events chan<- hostEvent) error {
	q := qualys.DetectionQuery{IDs: ids, TruncationLimit: len(ids)}
	if p.r.cfg.RiskScores == QualysScores {
		q.ShowQDS = qualys.Bool(true)
	}
	for h, err := range p.r.cfg.Qualys.Detections.List(ctx, &q) {
		if err != nil {
			return failed(ctx, err, "listing detections")
		}
		if err := send(ctx, events, hostEvent{page: sp, host: h}); err != nil {
			return err
		}
	}
	if sp.callDone() {
		return send(ctx, events, hostEvent{page: sp})
	}
	return nil
}
