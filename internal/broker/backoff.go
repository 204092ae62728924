package broker

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
)

// failStore records a Vault failure and schedules the next attempt with backoff.
func (b *Broker) failStore(e *entry, err error) error {
	b.log.Warn("Vault error while syncing a connection; serving cached tokens while they are valid", "connection", e.name(), "error", err)
	e.backOff(err, b.now(), b.backoff)
	return err
}

// failProvider records a failed refresh and schedules the next attempt with backoff.
func (b *Broker) failProvider(e *entry, err error) error {
	err = withAdvice(e.name(), err)
	b.log.Warn("refresh failed; will retry with backoff, serving the cached token while it is valid", "connection", e.name(), "error", err)
	e.backOff(err, b.now(), b.backoff)
	return err
}

// backoff returns the delay before attempt n+1: exponential from BackoffBase, capped at
// BackoffMax, with "equal jitter" (half fixed, half random).
func (b *Broker) backoff(n int) time.Duration {
	d := b.o.BackoffBase
	for i := 1; i < n && d < b.o.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, b.o.BackoffMax)
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// followBackoff adopts another replica's backoff lease on record ts: serve the cached token
// until the lease ends (less the skew), and make no attempt before it ends. The failure
// count is inferred from the lease's length, so the backoff keeps growing when this replica
// makes the next attempt.
func (b *Broker) followBackoff(e *entry, ts *store.TokenRecord, l *store.Lease) {
	d := l.ExpiresAt.Sub(l.AcquiredAt)
	n := 1
	for step := b.o.BackoffBase; step < d && step < b.o.BackoffMax; step *= 2 {
		n++
	}
	e.adoptBackoff(n, l.ExpiresAt, fmt.Errorf("the last refresh failed (on replica %s); next attempt at %s", l.Holder, l.ExpiresAt.UTC().Format(time.RFC3339)))
	e.servePastCutoffUntil(ts.Version, l.ExpiresAt.Add(-b.skew(&ts.TokenSet)))
}

// skew is the clock difference tolerated for ts (Skew, at most a quarter of its lead).
func (b *Broker) skew(ts *authconn.TokenSet) time.Duration { return min(b.o.Skew, b.lead(ts)/4) }
