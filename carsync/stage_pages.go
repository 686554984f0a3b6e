package carsync

import (
	"context"
	"slices"

	"github.com/qualysbridge/qualysbridge/qualys"
)

// appsJob asks the applications stage for a page's gateway assets.
type appsJob struct {
	sp    *streamPage
	maxID int64
	want  map[int64]bool
}

// pageStage lists the host asset pages, each once it holds one of the
// open-page tokens (given back by the join stage when the page is
// finished), and hands each page to the applications stage and then to the
// detection stage.
func (p *pipeline) pageStage(ctx context.Context, open chan<- struct{}, pages chan<- *streamPage, apps chan<- *appsJob, scores chan<- *scoresJob) error {
	r := p.r
	q := p.spec.hosts
	q.PageSize = r.cfg.PageSize
	if err := send(ctx, open, struct{}{}); err != nil {
		return err
	}
	for page, err := range r.cfg.Qualys.HostAssets.Pages(ctx, &q) {
		if err != nil {
			return failed(ctx, err, "listing host assets")
		}
		sp := &streamPage{assets: page.Assets, byHost: make(map[int64]int, len(page.Assets)), appsReady: make(chan struct{}), scoresReady: make(chan struct{})}
		want := make(map[int64]bool, len(page.Assets))
		var maxID int64
		var ids []int64
		for i, a := range page.Assets {
			want[a.ID] = true
			maxID = max(maxID, a.ID)
			if _, dup := sp.byHost[a.QWebHostID]; a.QWebHostID > 0 && !dup {
				sp.byHost[a.QWebHostID] = i
				ids = append(ids, a.QWebHostID)
				if p.handled != nil {
					p.handled[a.QWebHostID] = true
				}
			}
		}
		slices.Sort(ids)
		sp.ranges = splitIDs(ids, r.split(len(ids), p.listed.get()))
		sp.callsLeft = len(sp.ranges)
		p.listed.add(1)
		if err := send(ctx, apps, &appsJob{sp: sp, maxID: maxID, want: want}); err != nil {
			return err
		}
		switch {
		case r.cfg.RiskScores != QualysScores || len(ids) == 0:
			close(sp.scoresReady)
		case r.cfg.Sequential:
			if err := p.readScores(ctx, &scoresJob{sp: sp, ids: ids}); err != nil {
				return err
			}
		default:
			if err := send(ctx, scores, &scoresJob{sp: sp, ids: ids}); err != nil {
				return err
			}
		}
		if err := send(ctx, pages, sp); err != nil {
			return err
		}
		// The next page is listed once a token is free.
		if err := send(ctx, open, struct{}{}); err != nil {
			return err
		}
	}
	return nil
}

// detectionPath is the Host List Detection API's path on the client.
func (r *run) detectionPath() string { return r.cfg.Qualys.EndpointPath(qualys.EndpointDetections) }

// detectionLimit is the detection calls a split plans for: the client's
// slots for the Host List Detection API now (its gate: 1 until an answer
// has said the subscription's limit), up to maxDetectionCalls.
func (r *run) detectionLimit() int {
	return max(1, min(r.cfg.Qualys.Concurrency(r.detectionPath()), maxDetectionCalls))
}

// split is the number of detection calls a page of hosts is cut into:
// DetectionSplit when set; 1 with Sequential; otherwise (automatic):
//   - when the run has fewer pages than the detection API's limit, enough
//     calls for its pages to use the limit;
//   - otherwise, when the pages do not fill the last wave of calls (pages
//     not a multiple of the limit, tail = pages mod limit), the run's last
//     min(tail, limit - tail) pages in two, so that the slots the last
//     wave would leave idle take half a page each (20 pages at a limit of
//     3: the last page in two, 21 calls, the run about a sixth of a call
//     shorter);
//   - 1 for every other page;
//
// and in every case at most maxAutoSplit, at least minSplitHosts hosts a
// call, and 1 when the server's rate-limit headers say the calls left in
// the window (X-RateLimit-Remaining) are fewer than twice what splitting
// the pages left would cost. It is decided page by page, as the limit is
// learned from the first answers; the pages are those the preflight
// counted, so a run whose hosts changed meanwhile may split a page that
// is not its last, never more than the bound.
func (r *run) split(hosts, listed int) int {
	switch {
	case r.cfg.DetectionSplit > 0:
		return r.cfg.DetectionSplit
	case r.cfg.Sequential:
		return 1
	}
	limit := r.detectionLimit()
	pages := max(1, (r.expected+r.cfg.PageSize-1)/r.cfg.PageSize)
	s := 1
	if pages < limit {
		together := min(pages, maxOpenPages)
		s = (limit + together - 1) / together
	} else if tail := pages % limit; tail > 0 && listed >= pages-min(tail, limit-tail) {
		s = 2
	}
	s = max(1, min(s, maxAutoSplit, (hosts+minSplitHosts-1)/minSplitHosts))
	if s > 1 {
		if rt, ok := r.cfg.Qualys.RateFor(r.detectionPath()); ok && rt.Limit > 0 {
			left := max(1, pages-listed)
			if rt.Remaining < 2*left*s {
				return 1
			}
		}
	}
	return s
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
