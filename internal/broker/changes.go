package broker

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/store"
)

// ChangeLog is the part of *store.Store that reads the change log: every write through the
// store (a connection created, updated or deleted, a client secret rotated, tokens authorized,
// refreshed, revoked or deleted, an API key deleted) appends an entry to one Vault key.
type ChangeLog interface {
	ChangesSince(ctx context.Context, seen int) ([]store.Change, int, bool, error)
}

// changeFeed is the broker's position in the change log.
type changeFeed struct {
	mu     sync.Mutex
	seen   int
	inited bool
}

// initChanges records the change log's current position once, before the first records are
// read (Warm, Run), so that no change made after a record was read is missed.
func (b *Broker) initChanges(ctx context.Context) {
	if b.o.Changes == nil {
		return
	}
	b.feed.mu.Lock()
	defer b.feed.mu.Unlock()
	if b.feed.inited {
		return
	}
	_, cur, _, err := b.o.Changes.ChangesSince(ctx, -1)
	if err != nil {
		b.log.Debug("reading the change log's position", "error", err)
		return // tried again at the next poll
	}
	b.feed.seen, b.feed.inited = cur, true
}

// watchChanges polls the change log every ChangeInterval until ctx ends: one Vault read
// when nothing changed, however many connections are cached. A connection named in a change
// is re-read at once; API key changes go to OnChange. When the log has moved on too far to
// be read entry by entry, every cached record is re-read, spread over a few seconds.
func (b *Broker) watchChanges(ctx context.Context) {
	every(ctx, b.o.ChangeInterval, func() bool { b.pollChanges(ctx); return true })
}

// pollChanges reads the change log once and acts on what it finds.
func (b *Broker) pollChanges(ctx context.Context) {
	b.initChanges(ctx)
	b.feed.mu.Lock()
	defer b.feed.mu.Unlock()
	if !b.feed.inited {
		return
	}
	changes, cur, complete, err := b.o.Changes.ChangesSince(ctx, b.feed.seen)
	for _, c := range changes {
		b.applyChange(ctx, c)
	}
	if err != nil {
		b.log.Debug("reading the change log", "error", err)
		b.feed.seen = cur
		return
	}
	if !complete {
		b.log.Info("the change log moved on too far to follow entry by entry; re-reading every cached record", "from", b.feed.seen, "to", cur)
		b.recheckAll(5 * time.Second)
	}
	b.feed.seen = cur
}

// applyChange brings the cached state of a changed record up to date.
func (b *Broker) applyChange(ctx context.Context, c store.Change) {
	if b.o.OnChange != nil {
		b.o.OnChange(c)
	}
	if c.Kind != store.ChangeTokens && c.Kind != store.ChangeConnection {
		return
	}
	if c.Kind == store.ChangeConnection && c.Deleted {
		b.noteDeleted(ctx, c)
	}
	b.mu.RLock()
	e := b.entries[c.Name]
	b.mu.RUnlock()
	if e == nil {
		return // not cached here: read on first request
	}
	if s := e.current(); c.Kind == store.ChangeTokens && c.Version > 0 && s != nil && !s.notFound && s.version >= c.Version {
		return // this replica's own write, or one it has already read
	}
	// What this replica read may predate the change: no sync may skip on that read
	// (syncSince), and the background loop re-reads it now should the dispatch find a
	// sync already queued.
	e.recheckAt(b.now())
	b.dispatch(ctx, e)
}

// recheckAll makes the background loop re-read every cached record within spread.
func (b *Broker) recheckAll(spread time.Duration) {
	now := b.now()
	b.mu.RLock()
	defer b.mu.RUnlock()
	for _, e := range b.entries {
		e.recheckAt(now.Add(time.Duration(rand.Int64N(int64(spread) + 1))))
	}
}
