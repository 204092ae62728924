package connect

import (
	"context"
	"time"
)

// SweepInterval is how often Run removes expired pending authorizations.
const SweepInterval = 10 * time.Minute

// Run removes the expired pending authorizations of hosted flows (begun by any replica and
// never completed) every SweepInterval, until ctx ends.
func (s *Service) Run(ctx context.Context) {
	t := time.NewTicker(SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.sweep(ctx)
	}
}

// sweep removes the pending authorizations that have expired now.
func (s *Service) sweep(ctx context.Context) {
	if n, err := s.o.Store.SweepPending(ctx, time.Now()); err != nil {
		s.log.Debug("sweeping expired pending authorizations failed", "error", err)
	} else if n > 0 {
		s.log.Info("removed expired pending authorizations", "count", n)
	}
}
