package broker

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
)

// failStore records a Vault failure and schedules the next attempt with backoff.
func (b *Broker) failStore(e *entry, err error) error {
	b.log.Warn("Vault error while syncing a connection; serving cached tokens while they are valid", "connection", e.name, "error", err)
	return b.fail(e, err)
}

// failProvider records a failed refresh and schedules the next attempt with backoff.
func (b *Broker) failProvider(e *entry, err error) error {
	err = withAdvice(e.name, err)
	b.log.Warn("refresh failed; will retry with backoff, serving the cached token while it is valid", "connection", e.name, "error", err)
	return b.fail(e, err)
}

func (b *Broker) fail(e *entry, err error) error {
	e.mu.Lock()
	e.failures++
	d := b.backoff(e.failures)
	e.nextAttempt = b.now().Add(d)
	e.lastErr = err
	next := e.nextAttempt
	e.mu.Unlock()
	b.touch(e, next)
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

func (b *Broker) clearFailures(e *entry) {
	e.mu.Lock()
	e.failures, e.nextAttempt, e.lastErr = 0, time.Time{}, nil
	e.oldOKUntil, e.taintedVersion = time.Time{}, 0
	e.mu.Unlock()
}

// oldTokenOK records that no replica has refreshed or is refreshing record version v of
// e (a refresh needs the lease): its cached token may be served past the serving cutoff for
// the next PollInterval.
func (b *Broker) oldTokenOK(e *entry, v int, until time.Time) {
	e.mu.Lock()
	if e.taintedVersion != v {
		e.oldOKUntil, e.oldOKVersion = until, v
	}
	e.mu.Unlock()
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
	e.mu.Lock()
	e.failures = max(e.failures, n)
	e.nextAttempt = l.ExpiresAt
	e.lastErr = fmt.Errorf("the last refresh failed (on replica %s); next attempt at %s", l.Holder, l.ExpiresAt.UTC().Format(time.RFC3339))
	e.mu.Unlock()
	b.oldTokenOK(e, ts.Version, l.ExpiresAt.Add(-b.skew(&ts.TokenSet)))
	b.touch(e, l.ExpiresAt)
}

// skew is the clock difference tolerated for ts (Skew, at most a quarter of its lead).
func (b *Broker) skew(ts *authconn.TokenSet) time.Duration { return min(b.o.Skew, b.lead(ts)/4) }

func (b *Broker) oldTokenChecked(e *entry, now time.Time) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return now.Before(e.oldOKUntil)
}

func (b *Broker) oldVersion(e *entry) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.oldOKVersion
}

// backoffUntil returns the time of the next attempt when e is backing off.
func (b *Broker) backoffUntil(e *entry, now time.Time) (time.Time, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.failures > 0 && now.Before(e.nextAttempt) {
		return e.nextAttempt, true
	}
	return time.Time{}, false
}

func (e *entry) err() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.lastErr == nil {
		return errors.New("backing off after a failed refresh")
	}
	return e.lastErr
}
