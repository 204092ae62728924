package broker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
)

// Status is the non-secret state of one connection as this replica sees it. The API shows
// it as a wire.Connection.
type Status struct {
	Name string
	// Status is authorized, needs_reauthorization or not_authorized (from Vault).
	Status      authconn.Status
	ExpiresAt   *time.Time
	LastError   string
	LastErrorAt *time.Time
	// Cached is true when this replica holds a valid access token in memory.
	Cached bool
	// RefreshFailures counts consecutive failed refresh attempts on this replica.
	RefreshFailures int
	NextAttemptAt   *time.Time
	LocalError      string
	// Metadata and APIBaseURL are the connection's non-secret values and API base URL, as
	// the token answer has them (empty when its entry declares none).
	Metadata   map[string]string
	APIBaseURL string
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
		if keep == nil || keep(n) {
			out = append(out, Status{Name: n})
		}
	}
	errs := make([]error, len(out))
	forEach(len(out), 8, func(i int) { errs[i] = b.readStatus(ctx, &out[i]) })
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	now := b.now()
	for i := range out {
		b.addLocalState(&out[i], now)
	}
	return out, nil
}

// Status returns the status of connection name (ErrNotFound when it does not exist). While
// this replica holds the connection's access token in memory and its view of the record is
// not yet due for a re-read (statusFromMemory), the answer is that view, without a Vault read,
// so that a function may ask on every call; otherwise it reads the token record.
func (b *Broker) Status(ctx context.Context, name string) (*Status, error) {
	if o := b.statusFromMemory(name); o != nil {
		return o, nil
	}
	ts, err := b.o.Store.GetTokens(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		ts, err = nil, b.exists(ctx, name)
	}
	if err != nil {
		return nil, err
	}
	o := &Status{Name: name}
	fillStatus(o, ts)
	b.addLocalState(o, b.now())
	return o, nil
}

// statusFromMemory returns the status of connection name from this replica's cached view of
// its token record, or nil when the view holds no access token or is due for its re-read.
func (b *Broker) statusFromMemory(name string) *Status {
	e := b.lookup(name)
	if e == nil {
		return nil
	}
	now := b.now()
	sn := e.current()
	if sn == nil || sn.token == nil || !now.Before(sn.recheckAt) {
		return nil
	}
	o := &Status{Name: name, Status: sn.status, ExpiresAt: timePtr(sn.expiry), LastError: sn.lastError,
		LastErrorAt: timePtr(sn.lastErrorAt), Metadata: sn.token.Metadata, APIBaseURL: sn.token.APIBaseURL}
	e.reportLocalState(o, now)
	return o
}

// exists returns nil when connection name exists in Vault, else ErrNotFound or Vault's error.
func (b *Broker) exists(ctx context.Context, name string) error {
	_, err := b.o.Store.GetConnection(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	return err
}

// forEach runs f(0) ... f(n-1) with at most conc running at once, and waits for them.
func forEach(n, conc int, f func(i int)) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, conc)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			f(i)
		}()
	}
	wg.Wait()
}

// readStatus fills o from the connection's token record in Vault.
func (b *Broker) readStatus(ctx context.Context, o *Status) error {
	ts, err := b.o.Store.GetTokens(ctx, o.Name)
	if errors.Is(err, store.ErrNotFound) {
		ts, err = nil, nil
	}
	if err != nil {
		return err
	}
	fillStatus(o, ts)
	return nil
}

// fillStatus fills o from the connection's token record ts (nil: it has none, so it is not
// authorized).
func fillStatus(o *Status, ts *store.TokenRecord) {
	if ts == nil {
		o.Status = authconn.StatusNotAuthorized
		return
	}
	o.Status = ts.Status
	if o.Status == "" {
		o.Status = authconn.StatusAuthorized
	}
	o.ExpiresAt = timePtr(ts.Expiry) // in whole seconds, as the token endpoint reports it
	o.LastError = ts.LastError
	o.LastErrorAt = timePtr(ts.LastErrorAt)
	o.Metadata, o.APIBaseURL = ts.Metadata, ts.APIBaseURL
}

// addLocalState adds this replica's cache and backoff state of the connection to o.
func (b *Broker) addLocalState(o *Status, now time.Time) {
	b.mu.RLock()
	e := b.entries[o.Name]
	b.mu.RUnlock()
	if e != nil {
		e.reportLocalState(o, now)
	}
}

// timePtr returns t in UTC and whole seconds, or nil for the zero time.
func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC().Truncate(time.Second)
	return &u
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
		if s := e.current(); s != nil && s.token != nil {
			out = append(out, Expiry{Name: n, ExpiresAt: s.expiry})
		}
	}
	return out
}

// Ping checks that Vault is reachable.
func (b *Broker) Ping(ctx context.Context) error { return b.o.Store.Ping(ctx) }
