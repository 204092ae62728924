package broker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
)

// storeRefreshed writes newTS with check-and-set on the version the refresh started from.
func (b *Broker) storeRefreshed(ctx context.Context, e *entry, lease *store.Lease, from int, wasFailed bool, newTS *authconn.TokenSet, release func()) error {
	name := e.name()
	v, err := b.o.Store.PutTokens(ctx, name, newTS, from)
	if v > 0 {
		if err != nil {
			b.log.Warn("tokens stored, but their status summary was not updated", "connection", name, "error", err)
		}
		b.stored(e, &store.TokenRecord{TokenSet: *newTS, Version: v})
		// Callers waiting for this refresh go now; the lease is released behind them (it
		// only lets the next refresh start, a lifetime away, and expires by itself anyway).
		if b.addBackgroundWork() {
			go func() { defer b.wg.Done(); release() }()
		} else {
			release()
		}
		b.noteRecovery(ctx, e, from, wasFailed, v)
		return nil
	}
	if errors.Is(err, store.ErrConflict) {
		release()
		return b.resolveConflict(ctx, e, newTS)
	}
	// Vault did not take the write. The provider has (probably) rotated the refresh token,
	// so newTS may hold the only valid one: keep it, keep the lease, retry until stored.
	b.log.Error("refreshed tokens could not be stored in Vault; keeping them in memory and retrying (the new access token is not served until stored)", "connection", name, "error", err)
	e.holdPending(newTS, err)
	b.o.Observer.Refresh(name, OutcomeStoreError)
	if !b.addBackgroundWork() {
		b.log.Error("shutting down with refreshed tokens that Vault did not accept; the connection may need to be authorized again unless the provider has a rotation grace period", "connection", name)
		return errPendingWrite
	}
	go b.storePending(e, lease, from, newTS)
	return errPendingWrite
}

// resolveConflict handles a check-and-set failure on a write of newTS: the record may hold
// newTS after all (a write whose answer was lost), or something newer (a re-authorization),
// which then wins.
func (b *Broker) resolveConflict(ctx context.Context, e *entry, newTS *authconn.TokenSet) error {
	cur, err := b.o.Store.GetTokens(store.ConsistentReads(ctx), e.name())
	if err != nil {
		return b.failStore(e, err)
	}
	if cur.RefreshToken == newTS.RefreshToken && cur.AccessToken == newTS.AccessToken {
		b.stored(e, cur)
		return nil
	}
	b.log.Warn("the token record changed while this replica refreshed (re-authorized, or the lease was taken over); keeping the stored record and discarding this refresh", "connection", e.name())
	b.o.Observer.Refresh(e.name(), OutcomeSuperseded)
	b.publish(e, cur)
	e.clearFailures()
	return nil
}

// stored publishes ts, the record this replica just refreshed and stored, and ends the
// backoff.
func (b *Broker) stored(e *entry, ts *store.TokenRecord) {
	b.publish(e, ts)
	e.clearFailures()
	b.o.Observer.Refresh(e.name(), OutcomeSuccess)
	b.log.Info("token refreshed", "connection", e.name(), "expires_at", ts.Expiry.UTC().Format(time.RFC3339), "version", ts.Version)
}

// storePending retries the write of a refreshed token set until Vault takes it, extending
// the lease meanwhile so that no other replica spends the old refresh token.
func (b *Broker) storePending(e *entry, lease *store.Lease, from int, newTS *authconn.TokenSet) {
	defer b.wg.Done()
	delay := 250 * time.Millisecond
	closing := false
	for attempt := 1; ; attempt++ {
		if closing {
			b.log.Error("stopping with refreshed tokens that Vault never accepted; the connection may need to be authorized again unless the provider has a rotation grace period", "connection", e.name())
			return
		}
		select {
		case <-b.closed:
			closing = true // one last attempt
		case <-time.After(delay):
		}
		delay = min(delay*2, 5*time.Second)
		if b.retryPending(e, lease, from, newTS, attempt) {
			return
		}
	}
}

// retryPending makes one attempt to store the pending newTS; it reports whether the pending
// set is settled (stored, or superseded by a newer record).
func (b *Broker) retryPending(e *entry, lease *store.Lease, from int, newTS *authconn.TokenSet, attempt int) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := b.o.Store.PutTokens(ctx, e.name(), newTS, from)
	switch {
	case v > 0:
		e.dropPending()
		_ = b.o.Store.ReleaseLease(ctx, lease)
		b.log.Info("pending refreshed tokens stored after the Vault failure", "connection", e.name(), "attempts", attempt, "version", v)
		b.stored(e, &store.TokenRecord{TokenSet: *newTS, Version: v})
		return true
	case errors.Is(err, store.ErrConflict):
		e.dropPending()
		_ = b.o.Store.ReleaseLease(ctx, lease)
		_ = b.resolveConflict(ctx, e, newTS)
		return true
	}
	// Keep the lease ours while we retry (best effort: Vault is failing anyway).
	ext := *lease
	ext.ExpiresAt = b.now().Add(b.o.LeaseTTL)
	if b.o.Store.UpdateLease(ctx, &ext) == nil {
		*lease = ext
	}
	b.log.Warn("retrying to store refreshed tokens", "connection", e.name(), "attempt", attempt, "error", err)
	return false
}

// markNeedsReauth records the provider's invalid_grant (or a token endpoint that moved away
// from the one that issued the refresh token) in Vault: status needs_reauthorization, which
// stops all replicas from retrying until the record changes.
func (b *Broker) markNeedsReauth(ctx context.Context, e *entry, ts *store.TokenRecord, cause error) error {
	name := e.name()
	b.log.Error("the refresh token cannot be used (refused by the provider, or its token endpoint moved); the connection needs to be authorized again", "connection", name, "error", cause)
	mark := *ts
	mark.Status = authconn.StatusNeedsReauthorization
	mark.LastError = withAdvice(name, cause).Error()
	mark.LastErrorAt = b.now().UTC()
	v, err := b.o.Store.PutTokens(ctx, name, &mark.TokenSet, ts.Version)
	if v > 0 {
		mark.Version = v
		b.publish(e, &mark)
		e.clearFailures()
		b.emit(ctx, authconn.EventNeedsReauthorization, name, v, mark.Status, cause, mark.LastError)
		return nil
	}
	if errors.Is(err, store.ErrConflict) {
		if cur, gerr := b.o.Store.GetTokens(store.ConsistentReads(ctx), name); gerr == nil {
			b.publish(e, cur)
			return nil
		}
	}
	// Could not record it in Vault: remember locally and try again after a backoff.
	b.publish(e, &mark)
	return b.failStore(e, fmt.Errorf("recording needs_reauthorization in Vault: %w", err))
}

// markFailed records in Vault that the provider refused a client-credentials token request
// for a reason authorizing cannot fix (status failed, with the error), keeping a
// still-valid access token, and returns the stored record (nil when Vault did not take
// it). The caller backs off and tries again.
func (b *Broker) markFailed(ctx context.Context, e *entry, ts *store.TokenRecord, cause error) *store.TokenRecord {
	mark := *ts
	mark.Status = authconn.StatusFailed
	mark.LastError = withAdvice(e.name(), cause).Error()
	mark.LastErrorAt = b.now().UTC()
	v, err := b.o.Store.PutTokens(ctx, e.name(), &mark.TokenSet, ts.Version)
	if v == 0 {
		b.log.Warn("could not record the failed token request in Vault", "connection", e.name(), "error", err)
		return nil
	}
	mark.Version = v
	if ts.Status != authconn.StatusFailed {
		b.emit(ctx, authconn.EventRefreshFailed, e.name(), v, mark.Status, cause, mark.LastError)
	}
	return &mark
}
