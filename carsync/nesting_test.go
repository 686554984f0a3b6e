package carsync_test

import (
	"context"
	"testing"
	"time"

	"github.com/qualysbridge/qualysbridge/carsync"
	"github.com/qualysbridge/qualysbridge/qualys"
	"github.com/qualysbridge/qualysbridge/qualys/qualystest"
)

// TestChangedDetectionsAtConcurrencyOne: a subscription that allows one
// detection call at a time, and more hosts with changed detections than
// a page holds: the incremental run's listing of changed detections
// must not hold the API's only slot while it sends a page of those hosts
// (whose own detection calls need it), or the run waits for ever.
func TestChangedDetectionsAtConcurrencyOne(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 130, qualystest.WithLimit(qualystest.APIDetections, qualystest.Limit{Concurrency: 1}),
		qualystest.WithLimit(qualystest.APIHosts, qualystest.Limit{Concurrency: 1}))
	clk := useClock(&e.cfg)
	mustRun(t, e.cfg)
	now := clk.step()
	changed := 0
	for _, h := range e.tenant.Detections {
		if len(h.Detections) == 0 {
			continue
		}
		cp := *h
		cp.Detections = append([]qualys.Detection(nil), h.Detections...)
		cp.Detections[0].LastUpdate = now
		e.q.SetDetectionHost(&cp)
		changed++
	}
	if changed <= e.cfg.PageSize {
		t.Fatalf("%d hosts changed, want more than a page (%d)", changed, e.cfg.PageSize)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sum, err := carsync.Run(ctx, e.cfg)
	if err != nil {
		t.Fatalf("incremental run at a concurrency of one: %v", err)
	}
	if sum.Mode != carsync.Incremental || sum.Hosts < changed {
		t.Errorf("incremental run: mode %v, %d hosts; want %d", sum.Mode, sum.Hosts, changed)
	}
}
