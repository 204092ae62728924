package broker

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
)

// Run refreshes due tokens, follows the change log (Options.Changes) and re-reads cached
// records in the background until ctx ends.
func (b *Broker) Run(ctx context.Context) {
	if b.o.Changes != nil {
		b.initChanges(ctx)
		go b.watchChanges(ctx)
	}
	every(ctx, b.o.TickInterval, func() bool {
		for _, e := range b.dueEntries(b.now()) {
			if !b.dispatch(ctx, e) {
				return false
			}
		}
		return true
	})
}

// every calls f every d until ctx ends or f returns false.
func every(ctx context.Context, d time.Duration, f func() bool) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !f() {
			return
		}
	}
}

// dueEntries returns the cached entries whose token is due for a refresh or whose record is
// due for a re-read.
func (b *Broker) dueEntries(now time.Time) []*entry {
	var due []*entry
	b.mu.RLock()
	defer b.mu.RUnlock()
	for _, e := range b.entries {
		s := e.current()
		if s == nil || e.backgroundSyncQueued() || s.notFound {
			continue // not-found entries: only on demand
		}
		if (s.token != nil && s.status == authconn.StatusAuthorized && !now.Before(s.refreshAt)) || !now.Before(s.recheckAt) {
			due = append(due, e)
		}
	}
	return due
}

// dispatch starts a background sync of e, unless one is queued or running; it waits for a
// slot among Concurrency. It returns false when ctx ended or the broker is closing.
func (b *Broker) dispatch(ctx context.Context, e *entry) bool {
	return b.startSync(ctx, e, true, time.Time{})
}

// startSync runs a background sync of e, unless one is queued or running (true), once a
// place among the background syncs is free. With wait false it does not wait for a place
// (false when none is free); with wait true it waits until ctx ends. A non-zero since is
// the moment the caller saw e's state (see syncSince).
func (b *Broker) startSync(ctx context.Context, e *entry, wait bool, since time.Time) bool {
	if !e.claimBackgroundSync() {
		return true
	}
	if !b.acquireSyncSlot(ctx, wait) {
		e.endBackgroundSync()
		return false
	}
	if !b.addBackgroundWork() {
		<-b.sem
		e.endBackgroundSync()
		return false
	}
	go func() {
		defer b.wg.Done()
		defer func() { <-b.sem; e.endBackgroundSync() }()
		_ = b.syncSince(ctx, e, since)
	}()
	return true
}

// acquireSyncSlot takes a place among the Concurrency background syncs: waiting for one
// until ctx ends, or with wait false only if one is free now.
func (b *Broker) acquireSyncSlot(ctx context.Context, wait bool) bool {
	if !wait {
		select {
		case b.sem <- struct{}{}:
			return true
		default:
			return false
		}
	}
	select {
	case b.sem <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

// Warm loads every connection in Vault into the cache (and refreshes those that are due),
// so that background refreshes cover them before their first request. It returns the number
// of connections with a servable token.
func (b *Broker) Warm(ctx context.Context) (int, error) {
	b.initChanges(ctx)
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
			if s := e.current(); s != nil && s.token != nil {
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	return int(ok.Load()), nil
}
