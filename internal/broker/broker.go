// Package broker is the token cache and refresher behind `tokend serve`.
//
// A Broker keeps valid access tokens in memory and hands them out without touching Vault.
// Ahead of expiry (the lead) one replica refreshes the token; a request that finds it due
// waits for that refresh. Because some providers (Ory Hydra, for one) revoke the previous
// access token when its refresh token is used, every replica computes the same cutoff from
// the token record, no replica refreshes before it, and no replica serves the cached token
// from Skew before it: no access token is served after a refresh may have revoked it.
//
// Refreshes of one connection are serialized inside the process (single-flight) and across
// replicas by a refresh lease in Vault plus check-and-set on the token record; see
// docs/tokend.md for why that is safe and what it cannot protect against.
package broker

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/sync/singleflight"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/oauth"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
	"github.com/authconnection/terraform-provider-tailor/internal/tokens"
)

// Store is the part of *store.Store the broker uses, composed of one small interface per
// role (Hydra's Registry style).
type Store interface {
	TokenStore
	LeaseStore
	ConnectionStore
	CredentialStore
	EventReader
	// Ping checks that Vault is reachable.
	Ping(ctx context.Context) error
}

// TokenStore reads and writes token records, with check-and-set on their version.
type TokenStore interface {
	GetTokens(ctx context.Context, name string) (*store.TokenRecord, error)
	PutTokens(ctx context.Context, name string, t *authconn.TokenSet, version int) (int, error)
	GetTokenStatus(ctx context.Context, name string) (authconn.TokenStatus, error)
}

// LeaseStore takes, updates and frees a connection's refresh lease (see store.Lease).
type LeaseStore interface {
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration, opts ...store.LeaseOption) (*store.Lease, *store.Lease, error)
	UpdateLease(ctx context.Context, l *store.Lease) error
	ReleaseLease(ctx context.Context, l *store.Lease) error
}

// ConnectionStore reads connections' configuration.
type ConnectionStore interface {
	GetConnection(ctx context.Context, name string) (*store.ConnectionRecord, error)
	// ConnectionAt reads the configuration that was current at a time (for token records
	// written before IssuedBy was kept).
	ConnectionAt(ctx context.Context, name string, at time.Time) (*store.ConnectionRecord, error)
	ListConnections(ctx context.Context) ([]string, error)
}

// CredentialStore reads a connection's client credentials: its secret (and the version
// before it, tried once when the provider refuses the current one) or its assertion key.
type CredentialStore interface {
	GetClientSecret(ctx context.Context, name string) (*store.ClientSecret, error)
	GetClientAssertionKey(ctx context.Context, name string) (*store.ClientAssertionKey, error)
	GetPreviousClientSecret(ctx context.Context, name string, current int) (*store.ClientSecret, error)
}

// EventReader reads an event of the outbox (internal/events).
type EventReader interface {
	GetEvent(ctx context.Context, id string) (*store.EventRecord, error)
}

// OAuth is the part of *oauth.Client the broker uses.
type OAuth interface {
	Resolve(ctx context.Context, conn *authconn.Connection) (*oauth.Provider, error)
	Refresh(ctx context.Context, p *oauth.Provider, creds oauth.Credentials, refreshToken string, scopes []string) (*oauth.Token, error)
	ClientCredentials(ctx context.Context, p *oauth.Provider, creds oauth.Credentials, scopes []string) (*oauth.Token, error)
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
	// the token record after the first second of the wait, during which it re-reads every
	// 10 ms [100ms].
	PollInterval time.Duration
	// TickInterval is how often the background loop looks for due refreshes [500ms].
	TickInterval time.Duration
	// RecheckInterval is how often a cached record is re-read from Vault to pick up changes
	// made elsewhere (re-authorization, revocation) [30s].
	RecheckInterval time.Duration
	// Changes, when set, is the change log (the *store.Store): polled every ChangeInterval
	// [1s], it brings a change made by any process (revoke, re-authorization, configuration,
	// client secret) to this replica within about a second, at one Vault read per poll
	// however many connections there are; RecheckInterval is then only a safety net.
	Changes        ChangeLog
	ChangeInterval time.Duration
	// OnChange, when set, is called with every change-log entry (for the API key cache).
	OnChange func(store.Change)
	// NegativeTTL is how long "unknown connection" and "not authorized" answers are cached
	// before Vault is asked again on demand [5s].
	NegativeTTL time.Duration
	// BackoffBase and BackoffMax bound the exponential backoff after failed refreshes
	// [1s, 3m]. Jitter is applied.
	BackoffBase, BackoffMax time.Duration
	// FallbackLifetime is the access-token lifetime assumed when the provider sends no
	// expires_in [tokens.DefaultFallbackLifetime, 1h].
	FallbackLifetime time.Duration
	// Concurrency bounds the background refreshes running at once [8].
	Concurrency int
	// MaxUnknown bounds how many names that Vault does not know stay cached as "not found"
	// [10000]: an LRU, so that a caller asking for made-up names evicts the oldest of them
	// one at a time and never grows the cache without bound, nor empties it whole.
	MaxUnknown int
	// Observer receives metrics events (none when nil).
	Observer Observer
	// Events, when set, is told of the state transitions this replica makes (webhooks).
	Events Events
	Logger *slog.Logger
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
	def(&o.ChangeInterval, time.Second)
	def(&o.NegativeTTL, 5*time.Second)
	def(&o.BackoffBase, time.Second)
	def(&o.BackoffMax, 3*time.Minute)
	def(&o.FallbackLifetime, tokens.DefaultFallbackLifetime)
	if o.Concurrency <= 0 {
		o.Concurrency = 8
	}
	if o.MaxUnknown <= 0 {
		o.MaxUnknown = 10000
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

// Broker caches and refreshes tokens. Create it with New, start the background refresher
// with Run, and call Token from request handlers.
type Broker struct {
	o     Options
	log   *slog.Logger
	group singleflight.Group
	sem   chan struct{}

	mu      sync.RWMutex
	entries map[string]*entry
	// unknown holds the names last found missing in Vault, oldest evicted first (forget).
	unknown *lru.Cache[string, struct{}]

	provMu    sync.Mutex
	providers map[string]provEntry

	feed changeFeed

	closed   chan struct{}
	closeMu  sync.Mutex
	isClosed bool
	wg       sync.WaitGroup
}

// addBackgroundWork makes Close wait for one more goroutine, which calls b.wg.Done when it
// ends; false (nothing added) once Close has begun.
func (b *Broker) addBackgroundWork() bool {
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

// New returns a Broker. It does not contact Vault.
func New(o Options) (*Broker, error) {
	if o.Store == nil || o.OAuth == nil {
		return nil, errors.New("broker: Store and OAuth are required")
	}
	if o.ReplicaID == "" {
		return nil, errors.New("broker: ReplicaID is required")
	}
	o.defaults()
	b := &Broker{
		o: o, log: o.Logger, sem: make(chan struct{}, o.Concurrency),
		entries: map[string]*entry{}, providers: map[string]provEntry{}, closed: make(chan struct{}),
	}
	var err error
	if b.unknown, err = lru.NewWithEvict(o.MaxUnknown, b.forget); err != nil {
		return nil, err
	}
	return b, nil
}

// rememberUnknown notes that e's connection was not found in Vault, so that the oldest such
// entries are dropped once there are more than MaxUnknown.
func (b *Broker) rememberUnknown(e *entry) {
	if e.isNotFound() {
		b.unknown.Add(e.name(), struct{}{})
	}
}

// forget drops the cache entry of name if it is still a "not found" one (a connection created
// since keeps its entry).
func (b *Broker) forget(name string, _ struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if e := b.entries[name]; e != nil && e.isNotFound() {
		delete(b.entries, name)
	}
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
		e = newEntry(name)
		b.entries[name] = e
	}
	return e
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
