package carsync

import (
	"context"

	"github.com/qualysbridge/qualysbridge/qualys"
)

// scoresJob asks the scores stage for a page's Host List scores.
type scoresJob struct {
	sp  *streamPage
	ids []int64 // the page's VM host ids, ascending
}

// scoresStage reads each page's scores in turn (QualysScores), off the
// detection calls' path: one Host List call a page, asked while the
// page's detection calls run.
func (p *pipeline) scoresStage(ctx context.Context, jobs <-chan *scoresJob) error {
	for job := range jobs {
		if err := p.readScores(ctx, job); err != nil {
			return err
		}
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
	scores := map[int64]*qualys.Host{}
	for h, err := range p.r.cfg.Qualys.Hosts.List(ctx, q) {
		if err != nil {
			return failed(ctx, err, "listing host scores")
		}
		if h.TruRisk != nil || h.AssetCriticality != nil {
			scores[h.ID] = &qualys.Host{TruRisk: h.TruRisk, AssetCriticality: h.AssetCriticality, DetectionHost: qualys.DetectionHost{ID: h.ID}}
		}
	}
	job.sp.mu.Lock()
	job.sp.scores = scores
	job.sp.mu.Unlock()
	close(job.sp.scoresReady)
	return nil
}
