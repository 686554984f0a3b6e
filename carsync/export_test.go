package carsync

// SetRaceHooks makes a run call shutting when the join stage's count has
// shut the backlog (before it hands the host on), received after the write
// stage receives a host (before it is uncounted), and woken after the
// detection stage finds the backlog open: tests sleep there to widen the
// pipeline's race windows.
func SetRaceHooks(cfg *Config, shutting, received, woken func()) {
	cfg.hooks = &hooks{shutting: shutting, received: received, woken: woken}
}
