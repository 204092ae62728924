package broker

import (
	"context"
	"encoding/json"
	"maps"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
	"github.com/authconnection/terraform-provider-tailor/internal/wire"
)

// Token is an access token as served to callers. It never holds the refresh token.
type Token struct {
	AccessToken string
	TokenType   string
	ExpiresAt   time.Time
	// Metadata and APIBaseURL are the connection's non-secret values and API base URL (the
	// catalog entry's), empty when it declares none.
	Metadata   map[string]string
	APIBaseURL string
	// JSON is the response body, a wire.Token {"access_token","token_type","expires_at",
	// "metadata","api_base_url"} (the last two only when set), encoded once per token version;
	// Length is its length as a Content-Length header value, a slice shared by every
	// response (never modify it).
	JSON   []byte
	Length []string
}

// String hides the token.
func (t *Token) String() string { return "Token(expires_at=" + t.ExpiresAt.Format(time.RFC3339) + ")" }

// GoString hides the token.
func (t *Token) GoString() string { return t.String() }

// Token returns a valid access token for connection name. Served from memory when the cached
// token is valid for longer than Skew; otherwise Vault is read and, when needed, the token
// is refreshed (once per connection across callers and replicas) before it is returned.
// Errors are ErrNotFound, *NotAuthorizedError, *UnavailableError, or a name validation error.
func (b *Broker) Token(ctx context.Context, name string) (*Token, error) {
	e := b.lookup(name)
	if tok := b.fromMemory(e); tok != nil {
		return tok, nil
	}
	now := b.now()
	if e == nil {
		if err := authconn.ValidateName(name); err != nil {
			return nil, err
		}
		e = b.entry(name)
	}
	b.o.Observer.CacheMiss(name)

	// Cached negative answers: do not ask Vault on every request.
	if s := e.current(); s != nil && now.Before(s.checkedAt.Add(b.o.NegativeTTL)) {
		if err := s.refusal(name); err != nil {
			return nil, err
		}
	}
	// Backing off after a failure (this replica's, or another's whose backoff lease it
	// saw): answer from what we have (a still-valid token or 503) without asking the
	// provider again.
	if _, ok := e.backingOff(now); ok {
		return b.answerFromCache(e)
	}
	if tok := b.fromRecentCheck(e, now); tok != nil {
		return tok, nil
	}
	for round := 0; ; round++ {
		since := now
		if round > 0 {
			since = time.Time{}
		}
		if err := b.syncSince(ctx, e, since); err != nil && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		b.rememberUnknown(e)
		tok, err := b.answerFromCache(e)
		// The sync found the token not due yet, but it reached its cutoff before the answer
		// (nothing failed and nothing is pending): sync again, which refreshes it or waits
		// for the replica that does.
		if err == nil || round == 2 || e.failedOrPending() {
			return tok, err
		}
	}
}

// Cached returns the token of connection name when it is served from memory (cached and
// before its serving cutoff), without touching Vault, or nil: then call Token. It is the
// hot path, and allocates nothing.
func (b *Broker) Cached(name string) *Token { return b.fromMemory(b.lookup(name)) }

// lookup returns the cache entry of name, or nil.
func (b *Broker) lookup(name string) *entry {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.entries[name]
}

// fromMemory returns e's token when it is served from memory (before its serving cutoff),
// or nil.
func (b *Broker) fromMemory(e *entry) *Token {
	if e == nil {
		return nil
	}
	if s := e.current(); s != nil && s.token != nil && b.now().Before(s.serveUntil) {
		b.o.Observer.CacheHit(e.name())
		return s.token
	}
	return nil
}

// In the skew window between a token's serving cutoff and its refresh cutoff, a replica whose
// clock runs ahead may already have refreshed it, so the token is served only after a re-read
// of its record. One re-read serves the callers of the next checkFresh; a caller after that
// and before checkStale is still served at once and starts the next re-read in the
// background. Under steady traffic nobody waits for Vault there, and the record is read
// about every checkFresh (not once per request).
const (
	checkFresh = 10 * time.Millisecond
	checkStale = 50 * time.Millisecond
)

// fromRecentCheck returns e's token when it is in the skew window and its record was read
// less than checkStale ago, or nil: then the caller syncs.
func (b *Broker) fromRecentCheck(e *entry, now time.Time) *Token {
	s := e.current()
	if s == nil || s.token == nil || !now.Before(s.cutoff()) {
		return nil
	}
	// A negative age is a read that ended after this call began: fresh.
	age := now.Sub(s.checkedAt)
	if age >= checkStale {
		return nil
	}
	tok, err := b.answerFromCache(e)
	if err != nil {
		return nil
	}
	if age >= checkFresh {
		// Never waits: when the background syncs are all busy, a caller after checkStale
		// syncs itself.
		b.startSync(context.Background(), e, false, now)
	}
	return tok
}

// answerFromCache turns the entry's current state into a token or an error, without asking
// Vault: the cached refusal, the cached token when it may be served (entry.mayServe), or an
// *UnavailableError.
func (b *Broker) answerFromCache(e *entry) (*Token, error) {
	if s := e.current(); s != nil {
		if err := s.refusal(e.name()); err != nil {
			return nil, err
		}
		if e.mayServe(s, b.now()) {
			return s.token, nil
		}
	}
	return nil, e.unavailable(b.now())
}

// syncNow runs the sync of e through the single-flight group and waits for it (or ctx).
func (b *Broker) syncNow(ctx context.Context, e *entry) error {
	return b.syncSince(ctx, e, time.Time{})
}

// syncSince is syncNow for a caller that saw e's state at since: when a read of the record
// ended after since (a sync that finished between the caller's look and its call), that read
// answers it and no new one starts. Without this, callers that all found the state stale
// each start a read the moment the previous one ends. A zero since always syncs.
func (b *Broker) syncSince(ctx context.Context, e *entry, since time.Time) error {
	// A flight started by another caller skips on that caller's look; a caller whose own
	// look no read answers joins again (a skipping flight ends at once, so rarely twice).
	for joined := 0; ; joined++ {
		ch := b.group.DoChan(e.name(), func() (any, error) { return b.flight(e, since) })
		select {
		case r := <-ch:
			if _, skipped := r.Val.(readSkipped); skipped && !readSince(e, since) && joined < 3 {
				continue
			}
			return r.Err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// readSkipped is the value of a flight that read nothing: a read had ended after its
// starter looked.
type readSkipped struct{}

// readSince reports whether a read of e's record ended after since (never for a zero since).
func readSince(e *entry, since time.Time) bool {
	s := e.current()
	return !since.IsZero() && s != nil && s.checkedAt.After(since)
}

// flight is the body of a single-flight sync of e started by a caller that looked at since.
func (b *Broker) flight(e *entry, since time.Time) (any, error) {
	if readSince(e, since) {
		return readSkipped{}, nil
	}
	// Close waits for it: a process stopping (SIGTERM) in the middle of a refresh must
	// store the rotated tokens before it exits.
	if b.addBackgroundWork() {
		defer b.wg.Done()
	}
	// Detached from the caller: one caller giving up must not abort a refresh others
	// wait for (or leave a half-done refresh behind).
	sctx, cancel := context.WithTimeout(context.Background(), b.o.LeaseTTL+30*time.Second)
	defer cancel()
	return nil, b.sync(sctx, e)
}

// lead returns how long before expiry ts is refreshed: max(10% of the lifetime, MinLead),
// at most a third of the lifetime. It depends only on the record, so every replica computes
// the same value.
func (b *Broker) lead(ts *authconn.TokenSet) time.Duration {
	issued := ts.RefreshedAt
	if ts.AuthorizedAt.After(issued) {
		issued = ts.AuthorizedAt
	}
	life := ts.Expiry.Truncate(time.Second).Sub(issued)
	if issued.IsZero() || life <= 0 {
		return b.o.MinLead
	}
	lead := max(life/10, b.o.MinLead)
	return min(lead, life/3)
}

// cutoff returns the moment from which ts may be refreshed, by any replica.
func (b *Broker) cutoff(ts *authconn.TokenSet) time.Time {
	return ts.Expiry.Truncate(time.Second).Add(-b.lead(ts))
}

// due reports whether ts should be refreshed now.
func (b *Broker) due(ts *authconn.TokenSet, now time.Time) bool {
	return ts.AccessToken == "" || !now.Before(b.cutoff(ts))
}

// publish caches the state of ts as read from Vault.
func (b *Broker) publish(e *entry, ts *store.TokenRecord) *snapshot {
	now := b.now()
	old := e.current()
	if older(ts, old) {
		// A read that lags behind what this replica has seen (a Vault standby serving reads
		// a moment behind the active node): keep the newer record.
		e.postponeSyncUntil(b.recheckAt(now))
		return e.current()
	}
	// Callers see expires_at in whole seconds; never serve past that.
	s := &snapshot{version: ts.Version, authorizedAt: ts.AuthorizedAt, status: ts.Status, expiry: ts.Expiry.Truncate(time.Second), lastError: ts.LastError, lastErrorAt: ts.LastErrorAt, checkedAt: now}
	if s.status == "" {
		s.status = authconn.StatusAuthorized
	}
	if s.status == authconn.StatusAuthorized && ts.AccessToken != "" {
		if old != nil && old.token != nil && old.version == ts.Version && old.token.AccessToken == ts.AccessToken {
			s.token = old.token
		} else {
			s.token = newToken(ts)
		}
	}
	s.lead = b.lead(&ts.TokenSet)
	cutoff := b.cutoff(&ts.TokenSet)
	// The background loop refreshes just after the cutoff; the small jitter spreads the
	// replicas' lease attempts, and the first to take the lease refreshes for all.
	s.refreshAt = cutoff.Add(time.Duration(rand.Int64N(int64(min(s.lead/8, 500*time.Millisecond)) + 1)))
	switch {
	case s.token == nil:
	case ts.RefreshToken == "" || ts.ValidAfterRefresh:
		// Nobody can refresh it, or a refresh leaves it valid (the provider's preset says so):
		// nobody can revoke it by refreshing, so serve it to expiry. The refresh still happens
		// at the cutoff, in the background, and callers never wait for it.
		s.serveUntil = s.expiry.Add(-min(b.o.Skew, s.lead/4))
	default:
		s.serveUntil = cutoff.Add(-min(b.o.Skew, s.lead/4))
	}
	s.recheckAt = b.recheckAt(now)
	e.show(s)
	return s
}

// recheckAt returns when a record read at now is read again: RecheckInterval later, less
// up to a fifth of it (jitter, so that replicas spread their re-reads).
func (b *Broker) recheckAt(now time.Time) time.Time {
	r := b.o.RecheckInterval
	return now.Add(r - time.Duration(rand.Int64N(int64(r/5)+1)))
}

// older reports whether ts is an earlier version of the record that old was made from: a
// lower version of the same authorization. (A record deleted and written again starts its
// versions anew, with a later authorization.)
//
// A record of version 0 is no record at all (a client-credentials connection before its first
// token, or after a revoke removed it), never a lagging read: its cached token, revoked by the
// operator, must not be served on, even while no new token can be had.
func older(ts *store.TokenRecord, old *snapshot) bool {
	return old != nil && !old.notFound && ts.Version > 0 && ts.Version < old.version && !ts.AuthorizedAt.After(old.authorizedAt)
}

func newToken(ts *store.TokenRecord) *Token {
	tt := ts.TokenType
	if tt == "" {
		tt = "Bearer"
	}
	t := &Token{AccessToken: ts.AccessToken, TokenType: tt, ExpiresAt: ts.Expiry.UTC().Truncate(time.Second),
		Metadata: maps.Clone(ts.Metadata), APIBaseURL: ts.APIBaseURL}
	t.JSON = encodeToken(t)
	t.Length = []string{strconv.Itoa(len(t.JSON))}
	return t
}

// encodeToken returns the body of the token answer, a wire.Token. newToken truncates
// ExpiresAt to whole seconds, so it is encoded as RFC 3339 without fraction.
func encodeToken(t *Token) []byte {
	b, _ := json.Marshal(wire.Token{AccessToken: t.AccessToken, TokenType: t.TokenType, ExpiresAt: t.ExpiresAt.UTC(),
		Metadata: t.Metadata, APIBaseURL: t.APIBaseURL})
	return b
}

// Refresh refreshes the token of connection name now because the API refused rejected (an
// HTTP 401 to a proxied call), and returns the token to retry with. It refreshes once per
// token version: callers of this replica share one sync (the single-flight group), and
// replicas share the refresh lease, taken for the refused version, so a replica that finds
// the record moved on serves the newer token instead of refreshing again. A token that was
// already replaced is not refreshed: the current one is returned. When no refresh was
// possible (backing off, no refresh token), the same token comes back.
func (b *Broker) Refresh(ctx context.Context, name string, rejected *Token) (*Token, error) {
	e := b.lookup(name)
	if e == nil {
		return b.Token(ctx, name)
	}
	for round := 0; round < 2; round++ {
		s := e.current()
		if s == nil || s.token == nil || s.token != rejected {
			return b.Token(ctx, name)
		}
		e.reject(s.version)
		if err := b.syncNow(ctx, e); err != nil && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		// A sync already running when this one was asked for may have read the record
		// before the refusal was noted: one more round, then whatever the cache holds.
	}
	return b.answerFromCache(e)
}
