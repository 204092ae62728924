package broker

import (
	"context"
	"errors"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/connection"
	"github.com/authconnection/terraform-provider-tailor/internal/oauth"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
	"github.com/authconnection/terraform-provider-tailor/internal/tokens"
)

var errPendingWrite = errors.New("a refreshed token set is waiting to be stored in Vault")

// sync brings the entry up to date with Vault and refreshes the token when it is due. It
// runs inside the single-flight group of the connection, so at most one sync per
// connection runs in this process.
func (b *Broker) sync(ctx context.Context, e *entry) error {
	name := e.name()
	if e.hasPendingWrite() {
		// The retry goroutine owns the only valid refresh token; do not refresh again.
		return errPendingWrite
	}
	ts, err := b.readTokenRecord(ctx, name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		_, cerr := b.o.Store.GetConnection(ctx, name)
		now := b.now()
		switch {
		case errors.Is(cerr, store.ErrNotFound):
			e.showNotFound(now, b.recheckAt(now))
			return nil
		case cerr != nil:
			return b.failStore(e, cerr)
		}
		e.showNotAuthorized(now, b.recheckAt(now))
		return nil
	case err != nil:
		return b.failStore(e, err)
	}
	now := b.now()
	if b.needsNoRefresh(e, ts, now) {
		b.publish(e, ts)
		e.clearFailures()
		return nil
	}
	if ts.RefreshToken == "" && ts.Grant != authconn.GrantClientCredentials && now.Before(ts.Expiry) {
		// Nothing to refresh with (the provider issued no refresh token): serve the access
		// token until it expires; then the refresh fails and asks for re-authorization.
		b.publish(e, ts)
		e.postponeSyncUntil(ts.Expiry)
		return nil
	}
	if next, ok := e.backingOff(now); ok {
		// Keep serving what Vault has (a still-valid token) until the next attempt.
		b.publish(e, ts)
		e.postponeSyncUntil(next)
		return e.backoffError()
	}
	return b.refreshWithLease(ctx, e, ts)
}

// refreshWithLease takes the connection's refresh lease, or waits for the replica that
// holds it to store its result.
func (b *Broker) refreshWithLease(ctx context.Context, e *entry, ts *store.TokenRecord) error {
	name := e.name()
	for round := 0; round < 4; round++ {
		select {
		case <-b.closed:
			// A refresh started now could be cut off by the exit after the provider rotated
			// the token (the crash window); another replica, or the next start, refreshes.
			return b.failStore(e, errClosing)
		default:
		}
		lease, prev, err := b.o.Store.AcquireLease(ctx, name, b.o.ReplicaID, b.o.LeaseTTL, store.ForRefresh(store.PhaseRefreshing, ts.Version))
		var held *store.LeaseHeldError
		if errors.As(err, &held) && prev != nil && prev.Phase == store.PhaseBackoff && prev.Holder == held.Holder && prev.TokenVersion == ts.Version {
			// The holder's refresh failed and it retries at the lease's end: nobody refreshes
			// before then, so the cached token may be served until then (less the skew), and
			// this replica backs off with it (one attempt per backoff period in all).
			b.publish(e, ts)
			b.followBackoff(e, ts, prev)
			return e.backoffError()
		}
		if errors.As(err, &held) {
			b.log.Debug("refresh in progress elsewhere; waiting for its result", "connection", name, "holder", held.Holder)
			next, err := b.waitForOther(ctx, name, ts.Version, held.ExpiresAt)
			if err != nil {
				return b.failStore(e, err)
			}
			if next.Version != ts.Version && b.needsNoRefresh(e, next, b.now()) {
				b.publish(e, next)
				e.clearFailures()
				b.o.Observer.Refresh(name, OutcomeOtherReplica)
				return nil
			}
			// The lease ended without a new record, or the record read first was behind (a
			// standby serving reads a moment late) and the current one is due as well: try
			// the lease again, or wait for its holder's result.
			ts = next
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
// other holder's lease has expired, or ctx ends, or the broker is closing. It polls every
// fastPoll for the first fastPollFor (a refresh usually takes tens of milliseconds, and
// callers may be waiting), then every PollInterval.
func (b *Broker) waitForOther(ctx context.Context, name string, version int, leaseEnd time.Time) (*store.TokenRecord, error) {
	start := b.now()
	t := time.NewTimer(min(fastPoll, b.o.PollInterval))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-b.closed:
			return nil, errClosing
		case <-t.C:
		}
		ts, err := b.readTokenRecord(store.ConsistentReads(ctx), name)
		if err != nil {
			return nil, err
		}
		if ts.Version != version || !b.now().Before(leaseEnd) {
			return ts, nil
		}
		next := b.o.PollInterval
		if b.now().Sub(start) < fastPollFor {
			next = min(fastPoll, next)
		}
		t.Reset(next)
	}
}

// fastPoll and fastPollFor: see waitForOther.
const (
	fastPoll    = 10 * time.Millisecond
	fastPollFor = time.Second
)

// refreshHolding does the refresh while this replica holds lease, which was taken in phase
// "refreshing" for the record version read before. Callers may be waiting (the token reached
// its serving cutoff), so the reads the provider call needs run alongside the re-read.
func (b *Broker) refreshHolding(ctx context.Context, e *entry, lease, prev *store.Lease) error {
	name := e.name()
	release := b.releaser(ctx, name, lease)
	inputs := b.readInputs(ctx, name)
	// (c) Re-read under the lease: another replica may have refreshed between our read and
	// our acquisition. Consistent: on a cluster whose standbys serve reads, a lagging read
	// would present a refresh token that was already rotated.
	ts, err := b.readTokenRecord(store.ConsistentReads(ctx), name)
	if err != nil {
		release()
		return b.failStore(e, err)
	}
	if b.needsNoRefresh(e, ts, b.now()) {
		release()
		b.publish(e, ts)
		e.clearFailures()
		b.o.Observer.Refresh(name, OutcomeOtherReplica)
		return nil
	}
	if prev != nil && prev.Phase == store.PhaseRefreshing && prev.Holder != "" && prev.Holder != b.o.ReplicaID && prev.TokenVersion == ts.Version {
		b.log.Warn("the previous refresh of this connection did not finish: its replica stopped or lost Vault after it may have called the provider; "+
			"retrying with the stored refresh token, which works only while the provider still accepts it (rotation grace period)",
			"connection", name, "previous_holder", prev.Holder, "lease_expired_at", prev.ExpiresAt)
	}
	// (d) The lease names the version being refreshed (a successor that finds it expired
	// knows which refresh token may have been spent). It was taken for the version read
	// first; a record that moved on since, and is due as well, is marked again.
	if lease.TokenVersion != ts.Version {
		lease.TokenVersion = ts.Version
		if err := b.o.Store.UpdateLease(ctx, lease); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return b.failStore(e, errors.New("lost the refresh lease before calling the provider"))
			}
			release()
			return b.failStore(e, err)
		}
	}
	// (e) Call the provider with a deadline well inside the lease.
	newTS, err := b.callProvider(ctx, name, ts, lease.ExpiresAt.Add(-b.o.LeaseSafety), <-inputs)
	if err != nil {
		return b.refreshFailed(ctx, e, lease, ts, err, release)
	}
	// (f) Store first. Nothing is served from newTS before Vault has it.
	return b.storeRefreshed(ctx, e, lease, ts.Version, ts.Status == authconn.StatusFailed, newTS, release)
}

// refreshInputs is what a provider call needs besides the token record: the connection and
// its credential (read for every refresh, so a secret rotated through Terraform is used
// without a restart).
type refreshInputs struct {
	conn          *store.ConnectionRecord
	creds         oauth.Credentials
	secretVersion int
	// err is a failed read of the connection, credErr of its credential (missing, or written
	// for other endpoints: authconn.SecretMovedError).
	err, credErr error
}

// readInputs reads the refresh inputs of connection name in the background.
func (b *Broker) readInputs(ctx context.Context, name string) <-chan refreshInputs {
	ch := make(chan refreshInputs, 1)
	go func() {
		var in refreshInputs
		in.conn, in.err = b.o.Store.GetConnection(ctx, name)
		if in.err == nil {
			in.creds, in.secretVersion, in.credErr = connection.Credentials(ctx, b.o.Store, &in.conn.Connection)
		}
		ch <- in
	}()
	return ch
}

// needsNoRefresh reports whether ts needs no refresh now: it is not authorized (nothing to
// refresh with), or not due yet and its access token was not refused by the API (e.rejected).
func (b *Broker) needsNoRefresh(e *entry, ts *store.TokenRecord, now time.Time) bool {
	return !ts.Servable() || (!b.due(&ts.TokenSet, now) && !e.rejected(ts.Version))
}

// readTokenRecord reads the token record of connection name. A client-credentials connection
// without one gets an empty record (version 0: the first token creates it); any other
// missing record is a NotFoundError.
func (b *Broker) readTokenRecord(ctx context.Context, name string) (*store.TokenRecord, error) {
	ts, err := b.o.Store.GetTokens(ctx, name)
	if !errors.Is(err, store.ErrNotFound) {
		return ts, err
	}
	conn, cerr := b.o.Store.GetConnection(ctx, name)
	if cerr != nil || !conn.UsesClientCredentials() {
		return nil, err
	}
	return &store.TokenRecord{TokenSet: authconn.TokenSet{Grant: authconn.GrantClientCredentials, Status: authconn.StatusAuthorized}}, nil
}

// releaser returns a function that frees lease, even after ctx ended.
func (b *Broker) releaser(ctx context.Context, name string, lease *store.Lease) func() {
	return func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := b.o.Store.ReleaseLease(rctx, lease); err != nil {
			b.log.Warn("could not release the refresh lease; it expires by itself", "connection", name, "until", lease.ExpiresAt, "error", err)
		}
	}
}

// refreshFailed handles a failed provider call of a refresh of ts under lease.
func (b *Broker) refreshFailed(ctx context.Context, e *entry, lease *store.Lease, ts *store.TokenRecord, err error, release func()) error {
	var moved *authconn.EndpointMovedError
	if (oauth.IsInvalidGrant(err) || errors.As(err, &moved)) && ts.Grant != authconn.GrantClientCredentials {
		defer release()
		return b.markNeedsReauth(ctx, e, ts, err)
	}
	if ts.Grant == authconn.GrantClientCredentials && !oauth.IsTransient(err) {
		if marked := b.markFailed(ctx, e, ts, err); marked != nil {
			ts = marked
		}
	}
	var oe *oauth.Error
	answered := errors.As(err, &oe) && oe.Answered()
	b.publish(e, ts)
	cause := err
	err = b.failProvider(e, err)
	if ts.Status != authconn.StatusFailed {
		b.noteFailure(ctx, e, ts, cause)
	}
	if !answered {
		// No answer (timeout, connection lost, a gateway's 502/504): the provider may have
		// rotated the tokens and revoked the cached access token. Do not serve it past the
		// cutoff.
		release()
		e.taint(ts.Version)
		return err
	}
	// The provider answered that it did not refresh, and this replica held the lease, so
	// the cached token is still the current one. Keep the lease, in phase "backoff", until
	// the next attempt: no replica refreshes (and revokes the token) before then, so every
	// replica may serve it until then, less the skew.
	next := e.nextAttemptAt()
	lease.Phase, lease.TokenVersion, lease.AcquiredAt, lease.ExpiresAt = store.PhaseBackoff, ts.Version, b.now(), next
	if uerr := b.o.Store.UpdateLease(ctx, lease); uerr != nil {
		release()
		return err
	}
	e.servePastCutoffUntil(ts.Version, next.Add(-b.skew(&ts.TokenSet)))
	return err
}

// callProvider calls the token endpoint (refresh, or client credentials) with in, and
// returns the record to store (merged with ts by the rules of internal/tokens). It reports
// every failed call, and a failed read of in, to the observer; the caller reports success
// after storing.
func (b *Broker) callProvider(ctx context.Context, name string, ts *store.TokenRecord, deadline time.Time, in refreshInputs) (*authconn.TokenSet, error) {
	if in.err != nil {
		b.o.Observer.Refresh(name, OutcomeStoreError)
		return nil, in.err
	}
	conn, creds, secretVersion := in.conn, in.creds, in.secretVersion
	rctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	p, err := b.provider(rctx, conn)
	if err == nil && connection.FillsWithMetadata(&conn.Connection) {
		// Endpoints whose templates use metadata (Salesforce's instance_url) are filled
		// with the connection's; before it is known their fallbacks apply.
		p, err = p.WithMetadata(ts.Metadata)
	}
	if err != nil {
		b.o.Observer.Refresh(name, outcomeOf(err))
		return nil, err
	}
	if err := b.checkBinding(ctx, conn, ts, p); err != nil {
		b.o.Observer.Refresh(name, OutcomeInvalidGrant)
		return nil, err
	}
	if in.credErr != nil {
		b.o.Observer.Refresh(name, credOutcome(in.credErr))
		return nil, in.credErr
	}
	call := func(creds oauth.Credentials) (*authconn.TokenSet, error) {
		newTS, err := b.tokenRequest(rctx, p, creds, conn, ts)
		if err != nil {
			b.o.Observer.Refresh(name, outcomeOf(err))
			err = b.withPinNote(rctx, conn, err)
		}
		return newTS, err
	}
	newTS, err := call(creds)
	if err == nil || oauth.KindOf(err) != oauth.KindInvalidClient || creds.Key != nil {
		return newTS, err
	}
	// Client authentication fails before the grant is looked at, so the refresh token is not
	// spent: try the previous secret version once (a rotation may not have reached the
	// provider yet, or was rolled back there).
	prevSecret, perr := b.o.Store.GetPreviousClientSecret(ctx, name, secretVersion)
	if perr != nil {
		return nil, err
	}
	if len(prevSecret.EndpointOrigins) == 0 || connection.CheckOrigins(&conn.Connection, "previous client secret", prevSecret.EndpointOrigins) != nil {
		// Written for other endpoints, or for unknown ones (by an older version): the
		// previous secret is sent only where it is known to belong.
		return nil, err
	}
	b.log.Warn("the provider refused the current client secret; trying the previous version", "connection", name, "current_version", secretVersion, "previous_version", prevSecret.Version)
	creds.ClientSecret = prevSecret.Value
	return call(creds)
}

// tokenRequest asks for the next token of ts: a refresh, or for a client-credentials
// connection a new client-credentials token.
func (b *Broker) tokenRequest(ctx context.Context, p *oauth.Provider, creds oauth.Credentials, conn *store.ConnectionRecord, ts *store.TokenRecord) (*authconn.TokenSet, error) {
	if conn.UsesClientCredentials() {
		tok, err := b.o.OAuth.ClientCredentials(ctx, p, creds, conn.Scopes)
		if err != nil {
			return nil, err
		}
		issued := tokens.Issued(&ts.TokenSet, tok, conn.Scopes, b.o.FallbackLifetime)
		issued.IssuedBy = p.Issuance()
		b.updateMetadata(ctx, p, tok, issued)
		return issued, nil
	}
	tok, err := b.o.OAuth.Refresh(ctx, p, creds, ts.RefreshToken, ts.Scopes)
	if err != nil {
		return nil, err
	}
	refreshed := tokens.Refreshed(&ts.TokenSet, tok, b.o.FallbackLifetime)
	if refreshed.IssuedBy == nil {
		// A record of an older version that checkBinding let through: bind it now.
		refreshed.IssuedBy = p.Issuance()
	}
	b.updateMetadata(ctx, p, tok, refreshed)
	return refreshed, nil
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
func (b *Broker) provider(ctx context.Context, conn *store.ConnectionRecord) (*oauth.Provider, error) {
	b.provMu.Lock()
	pe, ok := b.providers[conn.Name]
	b.provMu.Unlock()
	if ok && pe.version == conn.Version {
		return pe.p, nil
	}
	p, err := b.o.OAuth.Resolve(ctx, &conn.Connection)
	if err != nil {
		return nil, err
	}
	b.provMu.Lock()
	b.providers[conn.Name] = provEntry{version: conn.Version, p: p}
	b.provMu.Unlock()
	if pc, ok := b.o.OAuth.(pinChecker); ok && conn.Discovered != nil {
		go b.reportPinChanges(context.WithoutCancel(ctx), pc, conn)
	}
	return p, nil
}
