package broker

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
)

// Run refreshes due tokens and re-reads cached records in the background until ctx ends.
func (b *Broker) Run(ctx context.Context) {
	t := time.NewTicker(b.o.TickInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := b.now()
		var due []*entry
		b.mu.RLock()
		for _, e := range b.entries {
			s := e.snap.Load()
			if s == nil || e.busy.Load() {
				continue
			}
			if s.notFound {
				continue // only on demand
			}
			if (s.token != nil && s.status == authconn.StatusAuthorized && !now.Before(s.refreshAt)) || !now.Before(s.recheckAt) {
				due = append(due, e)
			}
		}
		b.mu.RUnlock()
		for _, e := range due {
			if !e.busy.CompareAndSwap(false, true) {
				continue
			}
			select {
			case b.sem <- struct{}{}:
			case <-ctx.Done():
				e.busy.Store(false)
				return
			}
			if !b.track() {
				<-b.sem
				e.busy.Store(false)
				return
			}
			go func() {
				defer b.wg.Done()
				defer func() { <-b.sem; e.busy.Store(false) }()
				_ = b.syncNow(ctx, e)
			}()
		}
	}
}

// Warm loads every connection in Vault into the cache (and refreshes those that are due),
// so that background refreshes cover them before their first request. It returns the number
// of connections with a servable token.
func (b *Broker) Warm(ctx context.Context) (int, error) {
	names, err := b.o.Store.ListConnections(ctx)
	if err != nil {
		return 0, err
	}
	var wg sync.WaitGroup
	var ok atomic.Int64
	sem := make(chan struct{}, b.o.Concurrency)
	for _, n := range names {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return int(ok.Load()), ctx.Err()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			e := b.entry(n)
			_ = b.syncNow(ctx, e)
			if s := e.snap.Load(); s != nil && s.token != nil {
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	return int(ok.Load()), nil
}
