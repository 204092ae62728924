package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/oauth"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
)

// PhaseRefreshing marks a lease whose holder is calling the provider.
const PhaseRefreshing = "refreshing"

// PhaseBackoff marks a lease kept after a failed refresh (the provider answered, nothing was
// rotated) until its holder's next attempt at ExpiresAt: no replica refreshes before, so all
// may serve the cached token until then.
const PhaseBackoff = "backoff"

var errPendingWrite = errors.New("a refreshed token set is waiting to be stored in Vault")

// sync brings the entry up to date with Vault and refreshes the token when it is due. It
// runs inside the single-flight group of the connection, so at most one sync per
// connection runs in this process.
func (b *Broker) sync(ctx context.Context, e *entry) error {
	name := e.name
	e.mu.Lock()
	pending := e.pending != nil
	e.mu.Unlock()
	if pending {
		// The retry goroutine owns the only valid refresh token; do not refresh again.
		return errPendingWrite
	}
	ts, err := b.o.Store.GetTokens(ctx, name)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			_, cerr := b.o.Store.GetConnection(ctx, name)
			switch {
			case errors.Is(cerr, store.ErrNotFound):
				b.publishMissing(e, true)
				return nil
			case cerr != nil:
				return b.failStore(e, cerr)
			}
			b.publishMissing(e, false)
			return nil
		}
		return b.failStore(e, err)
	}
	now := b.now()
	if ts.Status != "" && ts.Status != store.StatusAuthorized || !b.due(ts, now) {
		b.publish(e, ts)
		b.clearFailures(e)
		return nil
	}
	if ts.RefreshToken == "" && now.Before(ts.Expiry) {
		// Nothing to refresh with (the provider issued no refresh token): serve the access
		// token until it expires; then the refresh fails and asks for re-authorization.
		b.publish(e, ts)
		b.touch(e, ts.Expiry)
		return nil
	}
	if next, ok := b.backoffUntil(e, now); ok {
		// Keep serving what Vault has (a still-valid token) until the next attempt.
		b.publish(e, ts)
		b.touch(e, next)
		return e.err()
	}
	return b.refreshWithLease(ctx, e, ts)
}

// refreshWithLease takes the connection's refresh lease, or waits for the replica that
// holds it to store its result.
func (b *Broker) refreshWithLease(ctx context.Context, e *entry, ts *store.TokenSet) error {
	name := e.name
	for round := 0; round < 4; round++ {
		select {
		case <-b.closed:
			// A refresh started now could be cut off by the exit after the provider rotated
			// the token (the crash window); another replica, or the next start, refreshes.
			return b.failStore(e, errClosing)
		default:
		}
		lease, prev, err := b.o.Store.AcquireLease(ctx, name, b.o.ReplicaID, b.o.LeaseTTL)
		var held *store.LeaseHeldError
		if errors.As(err, &held) && prev != nil && prev.Phase == PhaseBackoff && prev.Holder == held.Holder && prev.TokenVersion == ts.Version {
			// The holder's refresh failed and it retries at the lease's end: nobody refreshes
			// before then, so the cached token may be served until then (less the skew), and
			// this replica backs off with it (one attempt per backoff period in all).
			b.publish(e, ts)
			b.followBackoff(e, ts, prev)
			return e.err()
		}
		if errors.As(err, &held) {
			b.log.Debug("refresh in progress elsewhere; waiting for its result", "connection", name, "holder", held.Holder)
			next, err := b.waitForOther(ctx, name, ts.Version, held.ExpiresAt)
			if err != nil {
				return b.failStore(e, err)
			}
			if next.Version != ts.Version {
				b.publish(e, next)
				b.clearFailures(e)
				b.o.Observer.Refresh(name, OutcomeOtherReplica)
				return nil
			}
			ts = next // the lease ended without a new record: try to take it
			continue
		}
		if err != nil {
			return b.failStore(e, err)
		}
		return b.refreshHolding(ctx, e, lease, prev)
	}
	return b.failStore(e, errors.New("the refresh lease stayed busy without the token record changing"))
}

// errClosing ends a wait for another replica's refresh when the broker shuts down: the
// waiting replica holds nothing that could be lost.
var errClosing = errors.New("tokend is shutting down")

// waitForOther polls the token record until its version differs from version, or the
// other holder's lease has expired, or ctx ends, or the broker is closing.
func (b *Broker) waitForOther(ctx context.Context, name string, version int, leaseEnd time.Time) (*store.TokenSet, error) {
	t := time.NewTicker(b.o.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-b.closed:
			return nil, errClosing
		case <-t.C:
		}
		ts, err := b.o.Store.GetTokens(ctx, name)
		if err != nil {
			return nil, err
		}
		if ts.Version != version || !b.now().Before(leaseEnd) {
			return ts, nil
		}
	}
}

// refreshHolding does the refresh while this replica holds lease.
func (b *Broker) refreshHolding(ctx context.Context, e *entry, lease, prev *store.Lease) error {
	name := e.name
	release := func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := b.o.Store.ReleaseLease(rctx, lease); err != nil {
			b.log.Warn("could not release the refresh lease; it expires by itself", "connection", name, "until", lease.ExpiresAt, "error", err)
		}
	}
	// (c) Re-read under the lease: another replica may have refreshed between our read and
	// our acquisition.
	ts, err := b.o.Store.GetTokens(ctx, name)
	if err != nil {
		release()
		return b.failStore(e, err)
	}
	now := b.now()
	if ts.Status != "" && ts.Status != store.StatusAuthorized || !b.due(ts, now) {
		release()
		b.publish(e, ts)
		b.clearFailures(e)
		b.o.Observer.Refresh(name, OutcomeOtherReplica)
		return nil
	}
	if prev != nil && prev.Phase == PhaseRefreshing && prev.Holder != "" && prev.Holder != b.o.ReplicaID && prev.TokenVersion == ts.Version {
		b.log.Warn("the previous refresh of this connection did not finish: its replica stopped or lost Vault after it may have called the provider; "+
			"retrying with the stored refresh token, which works only while the provider still accepts it (rotation grace period)",
			"connection", name, "previous_holder", prev.Holder, "lease_expired_at", prev.ExpiresAt)
	}
	// (d) Mark the lease: the check-and-set proves we still hold it.
	lease.Phase, lease.TokenVersion = PhaseRefreshing, ts.Version
	if err := b.o.Store.UpdateLease(ctx, lease); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return b.failStore(e, errors.New("lost the refresh lease before calling the provider"))
		}
		release()
		return b.failStore(e, err)
	}
	// (e) Call the provider with a deadline well inside the lease.
	deadline := lease.ExpiresAt.Add(-b.o.LeaseSafety)
	newTS, err := b.callProvider(ctx, name, ts, deadline)
	if err != nil {
		if oauth.IsInvalidGrant(err) {
			defer release()
			return b.markNeedsReauth(ctx, e, ts, err)
		}
		var oe *oauth.Error
		// An answer from the provider itself (5xx, 429, 408) says nothing was rotated; 502 and
		// 504 come from a gateway that may have lost the provider's answer.
		answered := errors.As(err, &oe) && oe.StatusCode != 0 && oe.StatusCode != http.StatusBadGateway && oe.StatusCode != http.StatusGatewayTimeout
		b.publish(e, ts)
		err = b.failProvider(e, err)
		if !answered {
			// No answer (timeout, connection lost): the provider may have rotated the tokens
			// and revoked the cached access token. Do not serve it past the cutoff.
			release()
			e.mu.Lock()
			e.taintedVersion = ts.Version
			e.mu.Unlock()
			return err
		}
		// The provider answered that it did not refresh, and this replica held the lease, so
		// the cached token is still the current one. Keep the lease, in phase "backoff",
		// until the next attempt: no replica refreshes (and revokes the token) before then,
		// so every replica may serve it until then, less the skew.
		e.mu.Lock()
		next := e.nextAttempt
		e.mu.Unlock()
		lease.Phase, lease.TokenVersion, lease.AcquiredAt, lease.ExpiresAt = PhaseBackoff, ts.Version, b.now(), next
		if uerr := b.o.Store.UpdateLease(ctx, lease); uerr != nil {
			release()
			return err
		}
		b.oldTokenOK(e, ts.Version, next.Add(-b.skew(ts)))
		return err
	}
	// (f) Store first. Nothing is served from newTS before Vault has it.
	return b.storeRefreshed(ctx, e, lease, ts.Version, newTS, release)
}

// callProvider reads the connection and its client secret (every time, so a secret rotated
// through Terraform is used without a restart) and calls the token endpoint. It reports
// every failed call to the observer; the caller reports success after storing.
func (b *Broker) callProvider(ctx context.Context, name string, ts *store.TokenSet, deadline time.Time) (*store.TokenSet, error) {
	conn, err := b.o.Store.GetConnection(ctx, name)
	if err != nil {
		b.o.Observer.Refresh(name, OutcomeStoreError)
		return nil, err
	}
	cs, err := b.o.Store.GetClientSecret(ctx, name)
	if err != nil {
		b.o.Observer.Refresh(name, OutcomeStoreError)
		return nil, err
	}
	rctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	p, err := b.provider(rctx, conn)
	if err != nil {
		b.o.Observer.Refresh(name, outcomeOf(err))
		return nil, err
	}
	newTS, err := b.o.OAuth.Refresh(rctx, p, oauth.Credentials{ClientID: conn.ClientID, ClientSecret: cs.Value}, ts)
	if err == nil {
		return newTS, nil
	}
	b.o.Observer.Refresh(name, outcomeOf(err))
	var oe *oauth.Error
	if errors.As(err, &oe) && oe.Kind == oauth.KindInvalidClient {
		// Client authentication fails before the grant is looked at, so the refresh token
		// is not spent: try the previous secret version once (a rotation may not have
		// reached the provider yet, or was rolled back there).
		prevSecret, perr := b.o.Store.GetPreviousClientSecret(ctx, name, cs.Version)
		if perr != nil {
			return nil, err
		}
		b.log.Warn("the provider refused the current client secret; trying the previous version", "connection", name, "current_version", cs.Version, "previous_version", prevSecret.Version)
		newTS, err2 := b.o.OAuth.Refresh(rctx, p, oauth.Credentials{ClientID: conn.ClientID, ClientSecret: prevSecret.Value}, ts)
		if err2 == nil {
			return newTS, nil
		}
		b.o.Observer.Refresh(name, outcomeOf(err2))
		return nil, err2
	}
	return nil, err
}

func outcomeOf(err error) string {
	var oe *oauth.Error
	if !errors.As(err, &oe) {
		return OutcomeTransient
	}
	switch oe.Kind {
	case oauth.KindInvalidGrant:
		return OutcomeInvalidGrant
	case oauth.KindInvalidClient:
		return OutcomeInvalidClient
	case oauth.KindTransient:
		return OutcomeTransient
	}
	return OutcomeRejected
}

// provider resolves the connection's endpoints, cached per connection version.
func (b *Broker) provider(ctx context.Context, conn *store.Connection) (*oauth.Provider, error) {
	b.provMu.Lock()
	pe, ok := b.providers[conn.Name]
	b.provMu.Unlock()
	if ok && pe.version == conn.Version {
		return pe.p, nil
	}
	p, err := b.o.OAuth.Resolve(ctx, conn)
	if err != nil {
		return nil, err
	}
	b.provMu.Lock()
	b.providers[conn.Name] = provEntry{version: conn.Version, p: p}
	b.provMu.Unlock()
	return p, nil
}

// storeRefreshed writes newTS with check-and-set on the version the refresh started from.
func (b *Broker) storeRefreshed(ctx context.Context, e *entry, lease *store.Lease, from int, newTS *store.TokenSet, release func()) error {
	name := e.name
	newTS.Version = from
	newTS.Status = store.StatusAuthorized
	newTS.LastError, newTS.LastErrorAt = "", time.Time{}
	err := b.o.Store.PutTokens(ctx, name, newTS)
	if err == nil || newTS.Version != from {
		if err != nil {
			b.log.Warn("tokens stored, but their status summary was not updated", "connection", name, "error", err)
		}
		release()
		b.stored(e, newTS)
		return nil
	}
	if errors.Is(err, store.ErrConflict) {
		release()
		return b.resolveConflict(ctx, e, newTS)
	}
	// Vault did not take the write. The provider has (probably) rotated the refresh token,
	// so newTS may hold the only valid one: keep it, keep the lease, retry until stored.
	b.log.Error("refreshed tokens could not be stored in Vault; keeping them in memory and retrying (the new access token is not served until stored)", "connection", name, "error", err)
	e.mu.Lock()
	e.pending = newTS
	e.lastErr = fmt.Errorf("storing refreshed tokens in Vault: %w", err)
	e.mu.Unlock()
	b.o.Observer.Refresh(name, OutcomeStoreError)
	if !b.track() {
		b.log.Error("shutting down with refreshed tokens that Vault did not accept; the connection may need `tokend authorize` unless the provider has a rotation grace period", "connection", name)
		return errPendingWrite
	}
	go b.storePending(e, lease, from, newTS)
	return errPendingWrite
}

// resolveConflict handles a check-and-set failure on a write of newTS: the record may hold
// newTS after all (a write whose answer was lost), or something newer (a re-authorization),
// which then wins.
func (b *Broker) resolveConflict(ctx context.Context, e *entry, newTS *store.TokenSet) error {
	cur, err := b.o.Store.GetTokens(ctx, e.name)
	if err != nil {
		return b.failStore(e, err)
	}
	if cur.RefreshToken == newTS.RefreshToken && cur.AccessToken == newTS.AccessToken {
		b.stored(e, cur)
		return nil
	}
	b.log.Warn("the token record changed while this replica refreshed (re-authorized, or the lease was taken over); keeping the stored record and discarding this refresh", "connection", e.name)
	b.o.Observer.Refresh(e.name, OutcomeSuperseded)
	b.publish(e, cur)
	b.clearFailures(e)
	return nil
}

func (b *Broker) stored(e *entry, ts *store.TokenSet) {
	b.publish(e, ts)
	b.clearFailures(e)
	b.o.Observer.Refresh(e.name, OutcomeSuccess)
	b.log.Info("token refreshed", "connection", e.name, "expires_at", ts.Expiry.UTC().Format(time.RFC3339), "version", ts.Version)
}

// storePending retries the write of a refreshed token set until Vault takes it, extending
// the lease meanwhile so that no other replica spends the old refresh token.
func (b *Broker) storePending(e *entry, lease *store.Lease, from int, newTS *store.TokenSet) {
	defer b.wg.Done()
	name := e.name
	delay := 250 * time.Millisecond
	closing := false
	for attempt := 1; ; attempt++ {
		if closing {
			b.log.Error("stopping with refreshed tokens that Vault never accepted; the connection may need `tokend authorize` unless the provider has a rotation grace period", "connection", name)
			return
		}
		select {
		case <-b.closed:
			closing = true // one last attempt
		case <-time.After(delay):
		}
		delay = min(delay*2, 5*time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		ts := *newTS
		ts.Version = from
		err := b.o.Store.PutTokens(ctx, name, &ts)
		if err == nil || ts.Version != from {
			b.finishPending(e)
			_ = b.o.Store.ReleaseLease(ctx, lease)
			cancel()
			b.stored(e, &ts)
			return
		}
		if errors.Is(err, store.ErrConflict) {
			b.finishPending(e)
			_ = b.o.Store.ReleaseLease(ctx, lease)
			_ = b.resolveConflict(ctx, e, &ts)
			cancel()
			return
		}
		// Keep the lease ours while we retry (best effort: Vault is failing anyway).
		ext := *lease
		ext.ExpiresAt = b.now().Add(b.o.LeaseTTL)
		if b.o.Store.UpdateLease(ctx, &ext) == nil {
			*lease = ext
		}
		cancel()
		b.log.Warn("retrying to store refreshed tokens", "connection", name, "attempt", attempt, "error", err)
	}
}

func (b *Broker) finishPending(e *entry) {
	e.mu.Lock()
	e.pending = nil
	e.mu.Unlock()
}

// markNeedsReauth records the provider's invalid_grant in Vault: status
// needs_reauthorization, which stops all replicas from retrying until the record changes.
func (b *Broker) markNeedsReauth(ctx context.Context, e *entry, ts *store.TokenSet, cause error) error {
	name := e.name
	b.log.Error("the provider refused the refresh token; the connection needs to be authorized again", "connection", name, "error", cause, "fix", "tokend authorize "+name)
	mark := *ts
	mark.Status = store.StatusNeedsReauthorization
	mark.LastError = cause.Error()
	mark.LastErrorAt = b.now().UTC()
	err := b.o.Store.PutTokens(ctx, name, &mark)
	if err != nil && mark.Version == ts.Version {
		if errors.Is(err, store.ErrConflict) {
			cur, gerr := b.o.Store.GetTokens(ctx, name)
			if gerr == nil {
				b.publish(e, cur)
				return nil
			}
		}
		// Could not record it in Vault: remember locally and try again after a backoff.
		b.publish(e, &mark)
		return b.failStore(e, fmt.Errorf("recording needs_reauthorization in Vault: %w", err))
	}
	b.publish(e, &mark)
	b.clearFailures(e)
	return nil
}

// failStore records a Vault failure and schedules the next attempt with backoff.
func (b *Broker) failStore(e *entry, err error) error {
	b.log.Warn("Vault error while syncing a connection; serving cached tokens while they are valid", "connection", e.name, "error", err)
	return b.fail(e, err)
}

// failProvider records a failed refresh and schedules the next attempt with backoff.
func (b *Broker) failProvider(e *entry, err error) error {
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
func (b *Broker) followBackoff(e *entry, ts *store.TokenSet, l *store.Lease) {
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
	b.oldTokenOK(e, ts.Version, l.ExpiresAt.Add(-b.skew(ts)))
	b.touch(e, l.ExpiresAt)
}

// skew is the clock difference tolerated for ts (Skew, at most a quarter of its lead).
func (b *Broker) skew(ts *store.TokenSet) time.Duration { return min(b.o.Skew, b.lead(ts)/4) }

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

func encodeToken(t *Token) []byte {
	b, _ := json.Marshal(struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresAt   string `json:"expires_at"`
	}{t.AccessToken, t.TokenType, t.ExpiresAt.UTC().Format(time.RFC3339)})
	return b
}
