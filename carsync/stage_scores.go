package carsync

import (
	"context"

	"github.com/qualysbridge/qualysbridge/qualys"
	"golang.org/x/sync/errgroup"
)

// scoresJob asks the scores stage for a page's Host List scores.
type scoresJob struct {
	sp  *streamPage
	ids []int64 // the page's VM host ids, ascending
}

// scoresStage reads each page's scores (QualysScores), off the detection
// calls' path: one Host List call a page, started as soon as the page is
// listed and run beside the other pages' (the client's gate for the Host
// List API bounds them, and the open pages bound the jobs). One call at a
// time would make the join wait: with three detection calls starting
// together, the third page's hosts would arrive before its scores, and
// the join, which maps hosts in order, would hold every stream meanwhile.
func (p *pipeline) scoresStage(ctx context.Context, jobs <-chan *scoresJob) error {
	g, gctx := errgroup.WithContext(ctx)
	for {
		job, ok, err := recv(gctx, jobs)
		if err != nil || !ok {
			break
		}
		g.Go(func() error { return p.readScores(gctx, job) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return context.Cause(ctx)
}

// readScores lists the page's hosts with their TruRisk and criticality
// scores (one call: ids= the page's hosts, truncation_limit covering
// them), keeps those that carry a score, and marks the page's scores
// ready.
func (p *pipeline) readScores(ctx context.Context, job *scoresJob) error {
	yes := qualys.Bool(true)
	q := &qualys.HostQuery{IDs: job.ids, ShowTruRisk: yes, TruncationLimit: len(job.ids)}
	scores := make(map[int64]hostScores, len(job.ids))
	for h, err := range p.r.cfg.Qualys.Hosts.List(ctx, q) {
		if err != nil {
			return failed(ctx, err, "listing host scores")
		}
		if s, ok := scoresOf(h); ok {
			scores[h.ID] = s
		}
	}
	job.sp.mu.Lock()
	job.sp.scores = scores
	job.sp.mu.Unlock()
	close(job.sp.scoresReady)
	return nil
}

// hostScores is a host's scores as a page holds them until its hosts are
// mapped: 8 bytes, not a decoded host (memory is the run's budget).
type hostScores struct {
	truRisk, criticality int16 // -1: not given
}

// scoresOf keeps a Host List host's scores; false when it has none.
func scoresOf(h *qualys.Host) (hostScores, bool) {
	s := hostScores{truRisk: -1, criticality: -1}
	if h.TruRisk != nil {
		s.truRisk = int16(min(max(*h.TruRisk, 0), 1000))
	}
	if h.AssetCriticality != nil {
		s.criticality = int16(min(max(*h.AssetCriticality, 0), 5))
	}
	return s, s.truRisk >= 0 || s.criticality >= 0
}

// host is the scores as the mapping takes them (nil when none).
func (s hostScores) host(id int64) *qualys.Host {
	if s.truRisk < 0 && s.criticality < 0 {
		return nil
	}
	h := &qualys.Host{}
	h.ID = id
	if s.truRisk >= 0 {
		v := int(s.truRisk)
		h.TruRisk = &v
	}
	if s.criticality >= 0 {
		v := int(s.criticality)
		h.AssetCriticality = &v
	}
	return h
}
