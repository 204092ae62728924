package broker

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
)

// entry is one connection's cache slot: the snapshot the hot path reads, and this replica's
// failure, backoff and pending-write state. Its fields are read and changed only by the
// methods in this file (TestEntryFieldsTouchedOnlyInEntryGo), each named for its rule.
type entry struct {
	key  string
	snap atomic.Pointer[snapshot]
	busy atomic.Bool // a background sync is queued or running

	mu       sync.Mutex
	failures int
	// failedEvent is the record version whose refresh_failed event this replica emitted.
	failedEvent int
	nextAttempt time.Time
	lastErr     error
	// pending is a refreshed token set the provider returned that is not stored in Vault
	// yet. It is never served; a goroutine keeps trying to store it.
	pending *authconn.TokenSet
	// pastCutoffUntil and pastCutoffVersion: after a failed refresh, the cached token of record
	// version pastCutoffVersion may be served past its serving cutoff (up to its expiry) until
	// pastCutoffUntil: the replica whose refresh failed holds the lease in phase "backoff"
	// until its next attempt, so no replica can refresh (and revoke) the token before then.
	pastCutoffUntil   time.Time
	pastCutoffVersion int
	// taintedVersion is a record version whose refresh got no answer (timeout, connection
	// lost, a gateway's 502/504): the provider may have rotated it, so its token is not
	// served past the cutoff.
	taintedVersion int
	// rejectedVersion is a record version whose access token the API refused (an HTTP 401
	// through the proxy): it is due for a refresh whatever its expiry (Broker.Refresh).
	rejectedVersion int
}

// snapshot is what the hot path reads: immutable once published.
type snapshot struct {
	token   *Token // nil when there is no access token
	expiry  time.Time
	version int
	// authorizedAt is when the token chain of this record was authorized.
	authorizedAt time.Time
	status       authconn.Status // "" for an unknown connection
	notFound     bool
	lastError    string
	lastErrorAt  time.Time
	checkedAt    time.Time
	refreshAt    time.Time // when the background loop refreshes: the cutoff plus a little jitter
	// serveUntil is the cutoff minus Skew: until then the token is served from memory
	// without any check (zero when there is no servable token).
	serveUntil time.Time
	recheckAt  time.Time // when the background loop re-reads the record
	lead       time.Duration
}

// cutoff is the moment from which any replica may refresh the snapshot's token (Broker.cutoff
// of its record).
func (s *snapshot) cutoff() time.Time { return s.expiry.Add(-s.lead) }

// refusal returns the cached answer of a snapshot that says the connection of name is not
// found or not authorized, or nil.
func (s *snapshot) refusal(name string) error {
	switch {
	case s.notFound:
		return fmt.Errorf("%w: %q (create it with Terraform or `tokend create`)", ErrNotFound, name)
	case s.status != "" && s.status != authconn.StatusAuthorized && s.status != authconn.StatusFailed:
		return &NotAuthorizedError{Name: name, Status: s.status, LastError: s.lastError}
	}
	return nil
}

// reject marks record version v's access token as refused by the API: due for a refresh.
func (e *entry) reject(v int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.rejectedVersion = max(e.rejectedVersion, v)
}

// rejected reports whether record version v's access token was refused by the API.
func (e *entry) rejected(v int) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return v > 0 && v == e.rejectedVersion
}

// newEntry returns the empty cache slot of connection name.
func newEntry(name string) *entry { return &entry{key: name} }

// name is the connection the entry caches.
func (e *entry) name() string { return e.key }

// current returns the published snapshot (nil before the first read).
func (e *entry) current() *snapshot { return e.snap.Load() }

// show publishes s: from now on the hot path reads it.
func (e *entry) show(s *snapshot) { e.snap.Store(s) }

// isNotFound reports whether the entry caches "no such connection".
func (e *entry) isNotFound() bool {
	s := e.snap.Load()
	return s != nil && s.notFound
}

// showNotFound caches "no such connection", read at now, re-read at recheck.
func (e *entry) showNotFound(now, recheck time.Time) {
	e.snap.Store(&snapshot{notFound: true, checkedAt: now, recheckAt: recheck})
}

// showNotAuthorized caches "not authorized" (the connection exists but has no token
// record), read at now, re-read at recheck.
func (e *entry) showNotAuthorized(now, recheck time.Time) {
	e.snap.Store(&snapshot{status: authconn.StatusNotAuthorized, checkedAt: now, recheckAt: recheck})
}

// postponeSyncUntil keeps the current snapshot but moves its next re-read, and its
// background refresh, to until, so that a failing background sync is not retried on every
// tick.
func (e *entry) postponeSyncUntil(until time.Time) {
	old := e.snap.Load()
	if old == nil {
		return
	}
	s := *old
	s.recheckAt = until
	if s.refreshAt.Before(until) {
		s.refreshAt = until
	}
	e.snap.Store(&s)
}

// recheckAt makes the background loop re-read the record at t, and the next request ask
// Vault again even for a cached negative answer. A snapshot published meanwhile is newer
// and needs no re-read, so it is left alone.
func (e *entry) recheckAt(t time.Time) {
	if s := e.snap.Load(); s != nil {
		n := *s
		n.recheckAt = t
		n.checkedAt = time.Time{}
		e.snap.CompareAndSwap(s, &n)
	}
}

// claimBackgroundSync marks a background sync of the entry queued; false when one already
// is (queued or running).
func (e *entry) claimBackgroundSync() bool { return e.busy.CompareAndSwap(false, true) }

// endBackgroundSync lets the next background sync of the entry be queued.
func (e *entry) endBackgroundSync() { e.busy.Store(false) }

// backgroundSyncQueued reports whether a background sync of the entry is queued or running.
func (e *entry) backgroundSyncQueued() bool { return e.busy.Load() }

// mayServe reports whether the token of s, the entry's snapshot, may be served at now: no
// refreshed token set waits to be stored (the provider has already rotated, and may have
// revoked, the cached token), it has not expired, and either nobody may refresh it yet
// (before the cutoff) or a backoff lease on its version keeps every replica from refreshing
// it (servePastCutoffUntil).
func (e *entry) mayServe(s *snapshot, now time.Time) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if s.token == nil || e.pending != nil || !now.Before(s.expiry) {
		return false
	}
	return now.Before(s.serveUntil) || now.Before(s.cutoff()) ||
		now.Before(e.pastCutoffUntil) && e.pastCutoffVersion == s.version
}

// unavailable is the answer to a request that gets no token at now: try again at the next
// attempt (at least a second from now), with the last error.
func (e *entry) unavailable(now time.Time) *UnavailableError {
	e.mu.Lock()
	retry := e.nextAttempt.Sub(now)
	lastErr := e.lastErr
	e.mu.Unlock()
	if retry < time.Second {
		retry = time.Second
	}
	if lastErr == nil {
		lastErr = errors.New("the token could not be refreshed")
	}
	return &UnavailableError{Name: e.key, RetryAfter: retry, Err: lastErr}
}

// failedOrPending reports whether the entry has a failure, an error or a pending write.
func (e *entry) failedOrPending() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.failures != 0 || e.pending != nil || e.lastErr != nil
}

// backOff records a failed attempt with err and schedules the next one delay(failures in a
// row) after now; the background loop leaves the entry alone until then.
func (e *entry) backOff(err error, now time.Time, delay func(failures int) time.Duration) {
	e.mu.Lock()
	e.failures++
	e.nextAttempt = now.Add(delay(e.failures))
	e.lastErr = err
	next := e.nextAttempt
	e.mu.Unlock()
	e.postponeSyncUntil(next)
}

// adoptBackoff takes on another replica's backoff: at least failures in a row, the next
// attempt at next, and err as the last error.
func (e *entry) adoptBackoff(failures int, next time.Time, err error) {
	e.mu.Lock()
	e.failures = max(e.failures, failures)
	e.nextAttempt = next
	e.lastErr = err
	e.mu.Unlock()
	e.postponeSyncUntil(next)
}

// clearFailures ends the entry's backoff after a record was read or stored: no failure
// counted, no error, no next attempt, no serving past the cutoff, nothing tainted.
func (e *entry) clearFailures() {
	e.mu.Lock()
	e.failures, e.nextAttempt, e.lastErr = 0, time.Time{}, nil
	e.pastCutoffUntil, e.taintedVersion = time.Time{}, 0
	e.mu.Unlock()
}

// servePastCutoffUntil records that no replica has refreshed or is refreshing record version
// v (a refresh needs the lease, held in phase "backoff" until about until): its cached token
// may be served past the serving cutoff until then. A tainted version never is.
func (e *entry) servePastCutoffUntil(v int, until time.Time) {
	e.mu.Lock()
	if e.taintedVersion != v {
		e.pastCutoffUntil, e.pastCutoffVersion = until, v
	}
	e.mu.Unlock()
}

// taint records that a refresh of record version v got no answer: the provider may have
// rotated it, so its token is never served past the cutoff.
func (e *entry) taint(v int) {
	e.mu.Lock()
	e.taintedVersion = v
	e.mu.Unlock()
}

// backingOff returns the time of the next attempt when the entry is backing off at now.
func (e *entry) backingOff(now time.Time) (time.Time, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.failures > 0 && now.Before(e.nextAttempt) {
		return e.nextAttempt, true
	}
	return time.Time{}, false
}

// nextAttemptAt returns when the entry's next refresh attempt is due (zero when none is
// scheduled).
func (e *entry) nextAttemptAt() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.nextAttempt
}

// backoffError returns why the entry is backing off.
func (e *entry) backoffError() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.lastErr == nil {
		return errors.New("backing off after a failed refresh")
	}
	return e.lastErr
}

// hasPendingWrite reports whether a refreshed token set waits to be stored in Vault.
func (e *entry) hasPendingWrite() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.pending != nil
}

// holdPending keeps ts, refreshed but not stored because of err, until dropPending: it is
// never served, and no refresh starts meanwhile.
func (e *entry) holdPending(ts *authconn.TokenSet, err error) {
	e.mu.Lock()
	e.pending = ts
	e.lastErr = fmt.Errorf("storing refreshed tokens in Vault: %w", err)
	e.mu.Unlock()
}

// dropPending ends holdPending: the set was stored, or superseded.
func (e *entry) dropPending() {
	e.mu.Lock()
	e.pending = nil
	e.mu.Unlock()
}

// claimFailedEvent reports whether refresh_failed is to be emitted for record version v:
// the last after attempts in a row failed, and it was not emitted for v yet (then it
// counts as emitted).
func (e *entry) claimFailedEvent(v, after int) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.failures < after || e.failedEvent == v {
		return false
	}
	e.failedEvent = v
	return true
}

// takeFailedEvent reports whether this replica emitted refresh_failed for record version
// from, and forgets it (a refresh from it succeeded).
func (e *entry) takeFailedEvent(from int) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	emitted := e.failedEvent != 0 && e.failedEvent == from
	e.failedEvent = 0
	return emitted
}

// reportLocalState adds to o the entry's cache and backoff state at now.
func (e *entry) reportLocalState(o *Status, now time.Time) {
	if s := e.snap.Load(); s != nil && s.token != nil && now.Before(s.expiry) {
		o.Cached = true
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	o.RefreshFailures = e.failures
	if e.failures > 0 && e.nextAttempt.After(now) {
		o.NextAttemptAt = timePtr(e.nextAttempt)
	}
	if e.lastErr != nil {
		o.LocalError = e.lastErr.Error()
	}
}
