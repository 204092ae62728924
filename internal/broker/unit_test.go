package broker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/oauth"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
)

// memStore is an in-memory Store with the same check-and-set rules as the Vault store, for
// protocol edge cases that are hard to provoke with real servers.
type memStore struct {
	mu     sync.Mutex
	tokens map[string]store.TokenSet
	leases map[string]store.Lease
	conns  map[string]bool
}

func newMemStore() *memStore {
	return &memStore{tokens: map[string]store.TokenSet{}, leases: map[string]store.Lease{}, conns: map[string]bool{}}
}

func (m *memStore) GetTokens(_ context.Context, name string) (*store.TokenSet, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.tokens[name]
	if !ok {
		return nil, &store.NotFoundError{Kind: "tokens", Name: name}
	}
	return &t, nil
}

func (m *memStore) PutTokens(_ context.Context, name string, t *store.TokenSet) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.tokens[name].Version != t.Version {
		return &store.ConflictError{Kind: "tokens", Name: name, Version: t.Version}
	}
	t.Version++
	m.tokens[name] = *t
	return nil
}

func (m *memStore) GetConnection(_ context.Context, name string) (*store.Connection, error) {
	if !m.conns[name] {
		return nil, &store.NotFoundError{Kind: "connection", Name: name}
	}
	return &store.Connection{Name: name, ClientID: "id", TokenURL: "http://127.0.0.1:9/token", AuthURL: "http://127.0.0.1:9/auth", Version: 1}, nil
}

func (m *memStore) GetClientSecret(context.Context, string) (*store.ClientSecret, error) {
	return &store.ClientSecret{Value: "s", Version: 1}, nil
}

func (m *memStore) GetPreviousClientSecret(_ context.Context, name string, _ int) (*store.ClientSecret, error) {
	return nil, &store.NotFoundError{Kind: "previous client secret", Name: name}
}

func (m *memStore) AcquireLease(_ context.Context, name, holder string, ttl time.Duration) (*store.Lease, *store.Lease, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	prev := m.leases[name]
	if prev.Held(time.Now()) && prev.Holder != holder {
		return nil, &prev, &store.LeaseHeldError{Name: name, Holder: prev.Holder, ExpiresAt: prev.ExpiresAt}
	}
	l := store.Lease{Name: name, Holder: holder, AcquiredAt: time.Now(), ExpiresAt: time.Now().Add(ttl), Version: prev.Version + 1}
	m.leases[name] = l
	return &l, &prev, nil
}

func (m *memStore) UpdateLease(_ context.Context, l *store.Lease) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.leases[l.Name].Version != l.Version {
		return &store.ConflictError{Kind: "lease", Name: l.Name, Version: l.Version}
	}
	l.Version++
	m.leases[l.Name] = *l
	return nil
}

func (m *memStore) ReleaseLease(ctx context.Context, l *store.Lease) error {
	free := &store.Lease{Name: l.Name, ExpiresAt: time.Now(), Version: l.Version}
	if err := m.UpdateLease(ctx, free); err != nil && !errors.Is(err, store.ErrConflict) {
		return err
	}
	return nil
}

func (m *memStore) ListConnections(context.Context) ([]string, error) { return nil, nil }
func (m *memStore) GetTokenStatus(context.Context, string) (store.TokenStatus, error) {
	return store.TokenStatus{}, nil
}
func (m *memStore) Ping(context.Context) error { return nil }

// fakeOAuth answers refreshes with new tokens, or runs hook.
type fakeOAuth struct {
	calls atomic.Int64
	life  time.Duration
	hook  func()
	err   error
}

func (f *fakeOAuth) Resolve(context.Context, *store.Connection) (*oauth.Provider, error) {
	return &oauth.Provider{}, nil
}

func (f *fakeOAuth) Refresh(_ context.Context, _ *oauth.Provider, _ oauth.Credentials, old *store.TokenSet) (*store.TokenSet, error) {
	n := f.calls.Add(1)
	if f.hook != nil {
		f.hook()
	}
	if f.err != nil {
		return nil, f.err
	}
	now := time.Now()
	return &store.TokenSet{AccessToken: fmt.Sprintf("at-%d", n), RefreshToken: fmt.Sprintf("rt-%d", n), TokenType: "Bearer",
		Expiry: now.Add(f.life), RefreshedAt: now, Status: store.StatusAuthorized, Version: old.Version}, nil
}

func newTestBroker(t *testing.T, st Store, oa OAuth) *Broker {
	t.Helper()
	b, err := New(Options{Store: st, OAuth: oa, ReplicaID: "me", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		PollInterval: 20 * time.Millisecond, LeaseTTL: 10 * time.Second, LeaseSafety: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestNoRefreshTokenIsServedUntilExpiry(t *testing.T) {
	st := newMemStore()
	st.conns["c"] = true
	st.tokens["c"] = store.TokenSet{AccessToken: "only", Expiry: time.Now().Add(3 * time.Second), Status: store.StatusAuthorized, Version: 1}
	oa := &fakeOAuth{life: time.Hour}
	b := newTestBroker(t, st, oa)
	for range 5 {
		tok, err := b.Token(context.Background(), "c")
		if err != nil || tok.AccessToken != "only" {
			t.Fatalf("Token = %v, %v", tok, err)
		}
	}
	if oa.calls.Load() != 0 {
		t.Errorf("the provider was called without a refresh token")
	}
}

// TestWaitsForTheLeaseHolder: another replica holds the lease; this one does not call the
// provider but waits for the record to change and serves the new token.
func TestWaitsForTheLeaseHolder(t *testing.T) {
	st := newMemStore()
	st.conns["c"] = true
	st.tokens["c"] = store.TokenSet{AccessToken: "old", RefreshToken: "rt", Expiry: time.Now().Add(-time.Second), Status: store.StatusAuthorized, Version: 3}
	st.leases["c"] = store.Lease{Name: "c", Holder: "other", ExpiresAt: time.Now().Add(5 * time.Second), Phase: PhaseRefreshing, Version: 7}
	oa := &fakeOAuth{life: time.Hour}
	b := newTestBroker(t, st, oa)
	go func() {
		time.Sleep(200 * time.Millisecond)
		st.mu.Lock()
		st.tokens["c"] = store.TokenSet{AccessToken: "from-other", RefreshToken: "rt2", Expiry: time.Now().Add(time.Hour), RefreshedAt: time.Now(), Status: store.StatusAuthorized, Version: 4}
		st.mu.Unlock()
	}()
	tok, err := b.Token(context.Background(), "c")
	if err != nil || tok.AccessToken != "from-other" {
		t.Fatalf("Token = %v, %v", tok, err)
	}
	if oa.calls.Load() != 0 {
		t.Errorf("called the provider while another replica held the lease")
	}
}

// TestReauthorizationDuringRefreshWins: `tokend authorize` writes a new chain while this
// replica refreshes the old one; the check-and-set makes the new record win.
func TestReauthorizationDuringRefreshWins(t *testing.T) {
	st := newMemStore()
	st.conns["c"] = true
	st.tokens["c"] = store.TokenSet{AccessToken: "old", RefreshToken: "rt", Expiry: time.Now().Add(-time.Second), Status: store.StatusAuthorized, Version: 1}
	oa := &fakeOAuth{life: time.Hour}
	oa.hook = func() {
		st.mu.Lock()
		st.tokens["c"] = store.TokenSet{AccessToken: "reauthorized", RefreshToken: "new-chain", Expiry: time.Now().Add(time.Hour), AuthorizedAt: time.Now(), Status: store.StatusAuthorized, Version: 2}
		st.mu.Unlock()
	}
	b := newTestBroker(t, st, oa)
	tok, err := b.Token(context.Background(), "c")
	if err != nil || tok.AccessToken != "reauthorized" {
		t.Fatalf("Token = %v, %v", tok, err)
	}
	if st.tokens["c"].RefreshToken != "new-chain" {
		t.Errorf("the re-authorized record was overwritten")
	}
}

// TestGuardSendsARefreshTokenOnce: with AuthStyleAutoDetect, golang.org/x/oauth2 retries a
// failed token request with the other authentication style. The guard lets the retry
// through only after a client-authentication failure.
func TestLead(t *testing.T) {
	b := newTestBroker(t, newMemStore(), &fakeOAuth{})
	now := time.Now().Truncate(time.Second)
	for _, c := range []struct {
		life, want time.Duration
	}{
		{time.Hour, 6 * time.Minute},
		{2 * time.Minute, 30 * time.Second},
		{20 * time.Second, 20 * time.Second / 3},
		{4 * time.Second, 4 * time.Second / 3},
	} {
		ts := &store.TokenSet{AccessToken: "a", RefreshedAt: now, Expiry: now.Add(c.life)}
		if got := b.lead(ts); got != c.want {
			t.Errorf("lead for %s = %s, want %s", c.life, got, c.want)
		}
	}
}
