// Package broker is the token cache and refresher behind `tokend serve`.
//
// A Broker keeps valid access tokens in memory and hands them out without touching Vault.
// Ahead of expiry (the lead) one replica refreshes the token; a request that finds it due
// waits for that refresh. Because some providers (Ory Hydra, for one) revoke the previous
// access token when its refresh token is used, every replica computes the same cutoff from
// the token record, no replica refreshes before it, and no replica serves the cached token
// from Skew before it: no access token is served after a refresh may have revoked it. Refreshes of one connection are serialized
// inside the process (single-flight) and across replicas by a refresh lease in Vault plus
// check-and-set on the token record; see docs/tokend.md for why that is safe and what it
// cannot protect against.
package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/authconnection/terraform-provider-tailor/internal/oauth"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
)

// Store is the part of *store.Store the broker uses.
type Store interface {
	GetTokens(ctx context.Context, name string) (*store.TokenSet, error)
	PutTokens(ctx context.Context, name string, t *store.TokenSet) error
	GetConnection(ctx context.Context, name string) (*store.Connection, error)
	GetClientSecret(ctx context.Context, name string) (*store.ClientSecret, error)
	GetPreviousClientSecret(ctx context.Context, name string, current int) (*store.ClientSecret, error)
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (*store.Lease, *store.Lease, error)
	UpdateLease(ctx context.Context, l *store.Lease) error
	ReleaseLease(ctx context.Context, l *store.Lease) error
	ListConnections(ctx context.Context) ([]string, error)
	GetTokenStatus(ctx context.Context, name string) (store.TokenStatus, error)
	Ping(ctx context.Context) error
}

// OAuth is the part of *oauth.Client the broker uses.
type OAuth interface {
	Resolve(ctx context.Context, conn *store.Connection) (*oauth.Provider, error)
	Refresh(ctx context.Context, p *oauth.Provider, creds oauth.Credentials, old *store.TokenSet) (*store.TokenSet, error)
}

// Observer receives events for metrics. Implementations must be fast and safe for
// concurrent use.
type Observer interface {
	// CacheHit is called when a token is served from memory, CacheMiss when a request had
	// to wait for Vault or the provider.
	CacheHit(name string)
	CacheMiss(name string)
	// Refresh is called once per call to the provider's token endpoint, and for refreshes
	// this replica did not have to make: outcome is one of the Outcome* constants.
	Refresh(name, outcome string)
}

// Refresh outcomes reported to the Observer.
const (
	OutcomeSuccess       = "success"        // the provider returned a new token set and it is stored
	OutcomeInvalidGrant  = "invalid_grant"  // the provider refused the refresh token; marked needs_reauthorization
	OutcomeInvalidClient = "invalid_client" // the provider refused the client credentials (after trying the previous secret)
	OutcomeTransient     = "transient"      // network error, timeout or 5xx: backing off
	OutcomeRejected      = "rejected"       // any other refusal
	OutcomeStoreError    = "store_error"    // Vault could not be read or written
	OutcomeOtherReplica  = "other_replica"  // another replica (or tokend authorize) refreshed; this one used its result
	OutcomeSuperseded    = "superseded"     // the record changed during our refresh; our result was discarded
)

type nopObserver struct{}

func (nopObserver) CacheHit(string)        {}
func (nopObserver) CacheMiss(string)       {}
func (nopObserver) Refresh(string, string) {}

// Options configures a Broker. Zero values get the defaults in brackets.
type Options struct {
	Store Store
	OAuth OAuth
	// ReplicaID names this process in refresh leases; it must differ between replicas.
	ReplicaID string
	// LeaseTTL is how long a refresh lease lasts [60s].
	LeaseTTL time.Duration
	// LeaseSafety is how long before the lease expires the provider call must have ended:
	// the refresh runs with a deadline of lease expiry minus LeaseSafety [15s, at most
	// LeaseTTL/2]. It also bounds the clock skew between replicas that is tolerated.
	LeaseSafety time.Duration
	// MinLead is the minimum time before expiry at which a token is refreshed in the
	// background [30s]; the lead is max(10% of the lifetime, MinLead), but at most a third
	// of the lifetime, so short-lived tokens work too.
	MinLead time.Duration
	// Skew is the clock difference tolerated between replicas: a cached token stops being
	// served Skew before the cutoff at which any replica may refresh it [1s].
	Skew time.Duration
	// PollInterval is how often a replica waiting for another replica's refresh re-reads
	// the token record [100ms].
	PollInterval time.Duration
	// TickInterval is how often the background loop looks for due refreshes [500ms].
	TickInterval time.Duration
	// RecheckInterval is how often a cached record is re-read from Vault to pick up changes
	// made elsewhere (re-authorization, revocation) [30s].
	RecheckInterval time.Duration
	// NegativeTTL is how long "unknown connection" and "not authorized" answers are cached
	// before Vault is asked again on demand [5s].
	NegativeTTL time.Duration
	// BackoffBase and BackoffMax bound the exponential backoff after failed refreshes
	// [1s, 3m]. Jitter is applied.
	BackoffBase, BackoffMax time.Duration
	// Concurrency bounds the background refreshes running at once [8].
	Concurrency int
	// Observer receives metrics events (none when nil).
	Observer Observer
	Logger   *slog.Logger
	// Now returns the current time [time.Now].
	Now func() time.Time
}

func (o *Options) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.LeaseTTL, 60*time.Second)
	def(&o.LeaseSafety, 15*time.Second)
	if o.LeaseSafety > o.LeaseTTL/2 {
		o.LeaseSafety = o.LeaseTTL / 2
	}
	def(&o.MinLead, 30*time.Second)
	def(&o.Skew, time.Second)
	def(&o.PollInterval, 100*time.Millisecond)
	def(&o.TickInterval, 500*time.Millisecond)
	def(&o.RecheckInterval, 30*time.Second)
	def(&o.NegativeTTL, 5*time.Second)
	def(&o.BackoffBase, time.Second)
	def(&o.BackoffMax, 3*time.Minute)
	if o.Concurrency <= 0 {
		o.Concurrency = 8
	}
	if o.Observer == nil {
		o.Observer = nopObserver{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Token is an access token as served to callers. It never holds the refresh token.
type Token struct {
	AccessToken string
	TokenType   string
	ExpiresAt   time.Time
	// JSON is the response body {"access_token","token_type","expires_at"}, encoded once.
	JSON []byte
}

// String hides the token.
func (t *Token) String() string { return "Token(expires_at=" + t.ExpiresAt.Format(time.RFC3339) + ")" }

// GoString hides the token.
func (t *Token) GoString() string { return t.String() }

// ErrNotFound is returned for a connection that does not exist in Vault.
var ErrNotFound = errors.New("connection not found")

// NotAuthorizedError is returned for a connection without usable tokens: never authorized,
// revoked, or refused by the provider (needs re-authorization).
type NotAuthorizedError struct {
	Name      string
	Status    store.Status
	LastError string
}

func (e *NotAuthorizedError) Error() string {
	switch e.Status {
	case store.StatusNeedsReauthorization:
		msg := fmt.Sprintf("connection %q needs to be authorized again: the provider no longer accepts its refresh token", e.Name)
		if e.LastError != "" {
			msg += " (" + e.LastError + ")"
		}
		return msg + fmt.Sprintf("; run `tokend authorize %s`", e.Name)
	default:
		return fmt.Sprintf("connection %q is not authorized yet: run `tokend authorize %s`", e.Name, e.Name)
	}
}

// UnavailableError is returned when no valid token is left and a new one cannot be obtained
// now (provider or Vault unreachable). RetryAfter says when to try again.
type UnavailableError struct {
	Name       string
	RetryAfter time.Duration
	Err        error
}

func (e *UnavailableError) Error() string {
	msg := fmt.Sprintf("no valid access token for %q right now", e.Name)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *UnavailableError) Unwrap() error { return e.Err }

// Broker caches and refreshes tokens. Create it with New, start the background refresher
// with Run, and call Token from request handlers.
type Broker struct {
	o     Options
	log   *slog.Logger
	group singleflight.Group
	sem   chan struct{}

	mu      sync.RWMutex
	entries map[string]*entry

	provMu    sync.Mutex
	providers map[string]provEntry

	closed   chan struct{}
	closeMu  sync.Mutex
	isClosed bool
	wg       sync.WaitGroup
}

// track registers a background goroutine; false once Close has begun.
func (b *Broker) track() bool {
	b.closeMu.Lock()
	defer b.closeMu.Unlock()
	if b.isClosed {
		return false
	}
	b.wg.Add(1)
	return true
}

type provEntry struct {
	version int
	p       *oauth.Provider
}

// entry is one connection's cache slot.
type entry struct {
	name string
	snap atomic.Pointer[snapshot]
	busy atomic.Bool // a background sync is queued or running

	mu          sync.Mutex
	failures    int
	nextAttempt time.Time
	lastErr     error
	// pending is a refreshed token set the provider returned that is not stored in Vault
	// yet. It is never served; a goroutine keeps trying to store it.
	pending *store.TokenSet
	// oldOKUntil and oldOKVersion: after a failed refresh, the cached token of record
	// version oldOKVersion may be served past its serving cutoff (up to its expiry) until
	// oldOKUntil: the replica whose refresh failed holds the lease in phase "backoff" until
	// its next attempt, so no replica can refresh (and revoke) the token before then.
	oldOKUntil   time.Time
	oldOKVersion int
	// taintedVersion is a record version whose refresh got no answer (timeout, connection
	// lost, a gateway's 502/504): the provider may have rotated it, so its token is not
	// served past the cutoff.
	taintedVersion int
}

// snapshot is what the hot path reads: immutable once published.
type snapshot struct {
	token     *Token // nil when there is no access token
	expiry    time.Time
	version   int
	status    store.Status // "" for an unknown connection
	notFound  bool
	lastError string
	checkedAt time.Time
	refreshAt time.Time // when the background loop refreshes: the cutoff plus a little jitter
	// serveUntil is the cutoff minus Skew: until then the token is served from memory
	// without any check (zero when there is no servable token).
	serveUntil time.Time
	recheckAt  time.Time // when the background loop re-reads the record
	lead       time.Duration
}

// New returns a Broker. It does not contact Vault.
func New(o Options) (*Broker, error) {
	if o.Store == nil || o.OAuth == nil {
		return nil, errors.New("broker: Store and OAuth are required")
	}
	if o.ReplicaID == "" {
		return nil, errors.New("broker: ReplicaID is required")
	}
	o.defaults()
	return &Broker{
		o: o, log: o.Logger, sem: make(chan struct{}, o.Concurrency),
		entries: map[string]*entry{}, providers: map[string]provEntry{}, closed: make(chan struct{}),
	}, nil
}

// ReplicaID returns the id this broker uses in refresh leases.
func (b *Broker) ReplicaID() string { return b.o.ReplicaID }

func (b *Broker) now() time.Time { return b.o.Now() }

func (b *Broker) entry(name string) *entry {
	b.mu.RLock()
	e := b.entries[name]
	b.mu.RUnlock()
	if e != nil {
		return e
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if e = b.entries[name]; e == nil {
		e = &entry{name: name}
		b.entries[name] = e
	}
	return e
}

// Token returns a valid access token for connection name. Served from memory when the cached
// token is valid for longer than Skew; otherwise Vault is read and, when needed, the token
// is refreshed (once per connection across callers and replicas) before it is returned.
// Errors are ErrNotFound, *NotAuthorizedError, *UnavailableError, or a name validation error.
func (b *Broker) Token(ctx context.Context, name string) (*Token, error) {
	now := b.now()
	b.mu.RLock()
	e := b.entries[name]
	b.mu.RUnlock()
	if e != nil {
		if s := e.snap.Load(); s != nil && s.token != nil && now.Before(s.serveUntil) {
			b.o.Observer.CacheHit(name)
			return s.token, nil
		}
	} else {
		if err := store.ValidateName(name); err != nil {
			return nil, err
		}
		e = b.entry(name)
	}
	b.o.Observer.CacheMiss(name)

	// Cached negative answers: do not ask Vault on every request.
	if s := e.snap.Load(); s != nil && now.Before(s.checkedAt.Add(b.o.NegativeTTL)) {
		if err := b.negative(e, s); err != nil {
			return nil, err
		}
	}
	// Backing off after a failure (this replica's, or another's whose backoff lease it
	// saw): answer from what we have (a still-valid token or 503) without asking the
	// provider again.
	if _, ok := b.backoffUntil(e, now); ok {
		return b.answer(e)
	}
	for round := 0; ; round++ {
		if err := b.syncNow(ctx, e); err != nil && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		tok, err := b.answer(e)
		// The sync found the token not due yet, but it reached its cutoff before the answer
		// (nothing failed and nothing is pending): sync again, which refreshes it or waits
		// for the replica that does.
		if err == nil || round == 2 || !b.quiet(e) {
			return tok, err
		}
	}
}

// quiet reports whether e has no failure and no pending write.
func (b *Broker) quiet(e *entry) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.failures == 0 && e.pending == nil && e.lastErr == nil
}

// negative returns the cached error for a not-found or not-authorized snapshot.
func (b *Broker) negative(e *entry, s *snapshot) error {
	switch {
	case s.notFound:
		return fmt.Errorf("%w: %q (create it with Terraform or `tokend create`)", ErrNotFound, e.name)
	case s.status != "" && s.status != store.StatusAuthorized:
		return &NotAuthorizedError{Name: e.name, Status: s.status, LastError: s.lastError}
	}
	return nil
}

// answer turns the entry's current state into a token or an error.
func (b *Broker) answer(e *entry) (*Token, error) {
	s := e.snap.Load()
	e.mu.Lock()
	pending := e.pending != nil
	e.mu.Unlock()
	if s != nil {
		if err := b.negative(e, s); err != nil {
			return nil, err
		}
		// While a refreshed token set waits to be stored, the provider has already rotated
		// (and may have revoked) the cached token, and the new one may not be served yet.
		// Before the cutoff nobody refreshes: the token read from Vault is served. From the
		// cutoff on, any replica may refresh (and so revoke) it: it is served past the cutoff
		// only while a backoff lease keeps every replica from refreshing.
		now := b.now()
		servable := now.Before(s.serveUntil) || now.Before(s.expiry.Add(-s.lead)) || b.oldTokenChecked(e, now) && b.oldVersion(e) == s.version
		if s.token != nil && !pending && now.Before(s.expiry) && servable {
			return s.token, nil
		}
	}
	e.mu.Lock()
	retry := time.Until(e.nextAttempt)
	lastErr := e.lastErr
	e.mu.Unlock()
	if retry < time.Second {
		retry = time.Second
	}
	if lastErr == nil {
		lastErr = errors.New("the token could not be refreshed")
	}
	return nil, &UnavailableError{Name: e.name, RetryAfter: retry, Err: lastErr}
}

// syncNow runs the sync of e through the single-flight group and waits for it (or ctx).
func (b *Broker) syncNow(ctx context.Context, e *entry) error {
	ch := b.group.DoChan(e.name, func() (any, error) {
		// Close waits for it: a process stopping (SIGTERM) in the middle of a refresh must
		// store the rotated tokens before it exits.
		if b.track() {
			defer b.wg.Done()
		}
		// Detached from the caller: one caller giving up must not abort a refresh others
		// wait for (or leave a half-done refresh behind).
		sctx, cancel := context.WithTimeout(context.Background(), b.o.LeaseTTL+30*time.Second)
		defer cancel()
		return nil, b.sync(sctx, e)
	})
	select {
	case r := <-ch:
		return r.Err
	case <-ctx.Done():
		return ctx.Err()
	}
}

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
			if (s.token != nil && s.status == store.StatusAuthorized && !now.Before(s.refreshAt)) || !now.Before(s.recheckAt) {
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

// Close waits for background work started by Run and for syncs in flight (a refresh whose
// provider call has been sent finishes and stores its result); call it after Run's context
// ended. A refreshed token set that could not be stored in Vault yet is logged as lost.
func (b *Broker) Close() {
	b.closeMu.Lock()
	if !b.isClosed {
		b.isClosed = true
		close(b.closed)
	}
	b.closeMu.Unlock()
	b.wg.Wait()
}

// lead returns how long before expiry ts is refreshed: max(10% of the lifetime, MinLead),
// at most a third of the lifetime. It depends only on the record, so every replica computes
// the same value.
func (b *Broker) lead(ts *store.TokenSet) time.Duration {
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
func (b *Broker) cutoff(ts *store.TokenSet) time.Time {
	return ts.Expiry.Truncate(time.Second).Add(-b.lead(ts))
}

// due reports whether ts should be refreshed now.
func (b *Broker) due(ts *store.TokenSet, now time.Time) bool {
	return ts.AccessToken == "" || !now.Before(b.cutoff(ts))
}

// publish caches the state of ts as read from Vault.
func (b *Broker) publish(e *entry, ts *store.TokenSet) *snapshot {
	now := b.now()
	// Callers see expires_at in whole seconds; never serve past that.
	s := &snapshot{version: ts.Version, status: ts.Status, expiry: ts.Expiry.Truncate(time.Second), lastError: ts.LastError, checkedAt: now}
	if s.status == "" {
		s.status = store.StatusAuthorized
	}
	if s.status == store.StatusAuthorized && ts.AccessToken != "" {
		if old := e.snap.Load(); old != nil && old.token != nil && old.version == ts.Version && old.token.AccessToken == ts.AccessToken {
			s.token = old.token
		} else {
			s.token = newToken(ts)
		}
	}
	s.lead = b.lead(ts)
	cutoff := b.cutoff(ts)
	// The background loop refreshes just after the cutoff; the small jitter spreads the
	// replicas' lease attempts, and the first to take the lease refreshes for all.
	s.refreshAt = cutoff.Add(time.Duration(rand.Int64N(int64(min(s.lead/8, 500*time.Millisecond)) + 1)))
	switch {
	case s.token == nil:
	case ts.RefreshToken == "":
		// Nobody can refresh it, so nobody can revoke it by refreshing: serve to expiry.
		s.serveUntil = s.expiry.Add(-min(b.o.Skew, s.lead/4))
	default:
		s.serveUntil = cutoff.Add(-min(b.o.Skew, s.lead/4))
	}
	s.recheckAt = b.recheckAt(now)
	e.snap.Store(s)
	return s
}

func (b *Broker) recheckAt(now time.Time) time.Time {
	r := b.o.RecheckInterval
	return now.Add(r - time.Duration(rand.Int64N(int64(r/5)+1)))
}

// publishMissing caches "no such connection" or "not authorized".
func (b *Broker) publishMissing(e *entry, notFound bool) {
	now := b.now()
	s := &snapshot{notFound: notFound, checkedAt: now, recheckAt: b.recheckAt(now)}
	if !notFound {
		s.status = store.StatusNotAuthorized
	}
	e.snap.Store(s)
}

// touch keeps the current snapshot but moves its next re-check, so that a failing
// background re-read is not retried on every tick.
func (b *Broker) touch(e *entry, until time.Time) {
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

func newToken(ts *store.TokenSet) *Token {
	tt := ts.TokenType
	if tt == "" {
		tt = "Bearer"
	}
	t := &Token{AccessToken: ts.AccessToken, TokenType: tt, ExpiresAt: ts.Expiry.UTC().Truncate(time.Second)}
	t.JSON = encodeToken(t)
	return t
}

// Status is the non-secret state of one connection as this replica sees it.
type Status struct {
	Name string `json:"name"`
	// Status is authorized, needs_reauthorization or not_authorized (from Vault).
	Status      store.Status `json:"status"`
	ExpiresAt   *time.Time   `json:"expires_at,omitempty"`
	LastError   string       `json:"last_error,omitempty"`
	LastErrorAt *time.Time   `json:"last_error_at,omitempty"`
	// Cached is true when this replica holds a valid access token in memory.
	Cached bool `json:"cached"`
	// RefreshFailures counts consecutive failed refresh attempts on this replica.
	RefreshFailures int        `json:"refresh_failures,omitempty"`
	NextAttemptAt   *time.Time `json:"next_attempt_at,omitempty"`
	LocalError      string     `json:"local_error,omitempty"`
}

// Statuses lists every connection in Vault for which keep returns true, with its status
// from its token record and this replica's cache state. It never includes tokens.
func (b *Broker) Statuses(ctx context.Context, keep func(name string) bool) ([]Status, error) {
	names, err := b.o.Store.ListConnections(ctx)
	if err != nil {
		return nil, err
	}
	var out []Status
	for _, n := range names {
		if keep != nil && !keep(n) {
			continue
		}
		out = append(out, Status{Name: n})
	}
	var wg sync.WaitGroup
	errs := make([]error, len(out))
	sem := make(chan struct{}, 8)
	for i := range out {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			o := &out[i]
			ts, err := b.o.Store.GetTokens(ctx, o.Name)
			if errors.Is(err, store.ErrNotFound) {
				o.Status = store.StatusNotAuthorized
				return
			}
			if err != nil {
				errs[i] = err
				return
			}
			o.Status = ts.Status
			if o.Status == "" {
				o.Status = store.StatusAuthorized
			}
			if !ts.Expiry.IsZero() {
				exp := ts.Expiry.UTC().Truncate(time.Second) // as the token endpoint reports it
				o.ExpiresAt = &exp
			}
			o.LastError = ts.LastError
			if !ts.LastErrorAt.IsZero() {
				at := ts.LastErrorAt.UTC().Truncate(time.Second)
				o.LastErrorAt = &at
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	now := b.now()
	for i := range out {
		b.mu.RLock()
		e := b.entries[out[i].Name]
		b.mu.RUnlock()
		if e == nil {
			continue
		}
		if s := e.snap.Load(); s != nil && s.token != nil && now.Before(s.expiry) {
			out[i].Cached = true
		}
		e.mu.Lock()
		out[i].RefreshFailures = e.failures
		if e.failures > 0 && e.nextAttempt.After(now) {
			t := e.nextAttempt.UTC().Truncate(time.Second)
			out[i].NextAttemptAt = &t
		}
		if e.lastErr != nil {
			out[i].LocalError = e.lastErr.Error()
		}
		e.mu.Unlock()
	}
	return out, nil
}

// Expiry is a cached token's expiry, for metrics.
type Expiry struct {
	Name      string
	ExpiresAt time.Time
}

// Expiries returns the expiry of every cached token.
func (b *Broker) Expiries() []Expiry {
	b.mu.RLock()
	defer b.mu.RUnlock()
	out := make([]Expiry, 0, len(b.entries))
	for n, e := range b.entries {
		if s := e.snap.Load(); s != nil && s.token != nil {
			out = append(out, Expiry{Name: n, ExpiresAt: s.expiry})
		}
	}
	return out
}

// Ping checks that Vault is reachable.
func (b *Broker) Ping(ctx context.Context) error { return b.o.Store.Ping(ctx) }

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
