package carsync

import (
	"context"
	"iter"
	"time"

	"github.com/qualysbridge/qualysbridge/qualys"
)

// appsStage merge-joins the gateway listing (in asset id order, like the
// pages) with each page in turn, off the detection calls' path, and marks
// the page's applications ready. With spec.apps it takes them from there
// instead; with spec.changed it keeps the gateway assets no page matched.
func (p *pipeline) appsStage(ctx context.Context, ahead int, jobs <-chan *appsJob) error {
	gw := p.r.gatewayAhead(ctx, ahead, p.since())
	defer gw.stop()
	for job := range jobs {
		apps := map[int64]*qualys.Asset{}
		switch {
		case p.spec.apps != nil:
			for id := range job.want {
				if a := p.spec.apps[id]; a != nil {
					apps[id] = a
				}
			}
		case !p.r.cfg.SkipApplications:
			matched, orphans, err := gw.upTo(job.maxID, job.want)
			if err != nil {
				return failed(ctx, err, "listing gateway applications")
			}
			apps = matched
			if p.spec.changed {
				p.orphans = append(p.orphans, orphans...)
			}
		}
		job.sp.mu.Lock()
		job.sp.apps = apps
		job.sp.mu.Unlock()
		close(job.sp.appsReady)
	}
	if err := context.Cause(ctx); err != nil {
		return err
	}
	if p.spec.changed && p.spec.apps == nil && !p.r.cfg.SkipApplications {
		rest, err := gw.rest()
		if err != nil {
			return failed(ctx, err, "listing changed applications")
		}
		p.orphans = append(p.orphans, rest...)
	}
	return nil
}

// since is the start of the gateway window listed: zero but for an
// incremental run's first step.
func (p *pipeline) since() time.Time {
	if p.spec.changed {
		return p.r.since
	}
	return time.Time{}
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

// prefetch runs a listing in its own goroutine, up to n items ahead of the
// consumer (n = 0: in the consumer's goroutine, as it is). Stopping the
// iteration cancels the listing and waits for its goroutine.
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

// pull is a merge-join cursor over the gateway assets, which arrive in
// asset id order like the host asset pages.
type pull struct {
	next func() (*qualys.Asset, error, bool)
	stop func()
	head *qualys.Asset
	err  error
	end  bool
}

func newPull(seq iter.Seq2[*qualys.Asset, error]) *pull {
	next, stop := iter.Pull2(seq)
	return &pull{next: next, stop: stop}
}

// upTo consumes the gateway assets with ids up to maxID: those in want are
// returned in matched, keyed by id, and the others (assets no host asset
// of the page has) in orphans.
func (p *pull) upTo(maxID int64, want map[int64]bool) (matched map[int64]*qualys.Asset, orphans []*qualys.Asset, err error) {
	matched = map[int64]*qualys.Asset{}
	for {
		if p.err != nil {
			return matched, orphans, p.err
		}
		if p.head == nil && !p.end {
			a, err, ok := p.next()
			switch {
			case !ok:
				p.end = true
			case err != nil:
				p.err = err
				return matched, orphans, err
			default:
				p.head = a
			}
		}
		if p.head == nil || p.head.AssetID > maxID {
			return matched, orphans, nil
		}
		if want[p.head.AssetID] {
			matched[p.head.AssetID] = p.head
		} else {
			orphans = append(orphans, p.head)
		}
		p.head = nil
	}
}

// rest drains the cursor.
func (p *pull) rest() ([]*qualys.Asset, error) {
	var out []*qualys.Asset
	if p.head != nil {
		out = append(out, p.head)
		p.head = nil
	}
	for !p.end && p.err == nil {
		a, err, ok := p.next()
		if !ok {
			p.end = true
			break
		}
		if err != nil {
			p.err = err
			break
		}
		out = append(out, a)
	}
	return out, p.err
}
