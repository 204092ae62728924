package tailortest

import (
	"context"
	"errors"
	"sort"
	"sync"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
)

// MemStore is an in-memory broker.Store with the same check-and-set rules as the Vault
// store, for protocol edge cases that are hard to provoke with real servers and for fuzzing
// the API without Vault. Tests seed and inspect Conns, Tokens and Leases directly, outside
// concurrent use.
type MemStore struct {
	// Mu guards the maps; a test that changes them while the store is in use holds it.
	Mu    sync.Mutex
	Conns map[string]bool
	// Grants names the grant type of a connection in Conns (authconn.GrantClientCredentials);
	// the authorization-code grant when missing.
	Grants map[string]string
	Tokens map[string]store.TokenRecord
	Leases map[string]store.Lease
	// ClientSecret is what GetClientSecret returns for every connection ("s" when empty).
	ClientSecret string
}

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore {
	return &MemStore{Conns: map[string]bool{}, Grants: map[string]string{}, Tokens: map[string]store.TokenRecord{}, Leases: map[string]store.Lease{}}
}

// GetEvent reports that the outbox holds no event: MemStore keeps none.
func (m *MemStore) GetEvent(_ context.Context, id string) (*store.EventRecord, error) {
	return nil, &store.NotFoundError{Kind: "event", Name: id}
}

// GetTokens implements broker.Store.
func (m *MemStore) GetTokens(_ context.Context, name string) (*store.TokenRecord, error) {
	m.Mu.Lock()
	defer m.Mu.Unlock()
	t, ok := m.Tokens[name]
	if !ok {
		return nil, &store.NotFoundError{Kind: "tokens", Name: name}
	}
	return &t, nil
}

// PutTokens implements broker.Store with check-and-set on version.
func (m *MemStore) PutTokens(_ context.Context, name string, t *authconn.TokenSet, version int) (int, error) {
	m.Mu.Lock()
	defer m.Mu.Unlock()
	if m.Tokens[name].Version != version {
		return 0, &store.ConflictError{Kind: "tokens", Name: name, Version: version}
	}
	if t.Status == "" {
		t.Status = authconn.StatusAuthorized
	}
	m.Tokens[name] = store.TokenRecord{TokenSet: *t, Version: version + 1}
	return version + 1, nil
}

// GetConnection implements broker.Store: connections in Conns point at a closed port.
func (m *MemStore) GetConnection(_ context.Context, name string) (*store.ConnectionRecord, error) {
	m.Mu.Lock()
	defer m.Mu.Unlock()
	if !m.Conns[name] {
		return nil, &store.NotFoundError{Kind: "connection", Name: name}
	}
	c := authconn.Connection{Name: name, ClientID: "id", TokenURL: "http://127.0.0.1:9/token", AuthURL: "http://127.0.0.1:9/auth", GrantType: m.Grants[name]}
	return &store.ConnectionRecord{Connection: c, Version: 1}, nil
}

// ConnectionAt implements broker.Store: the memory store keeps no history, so the
// configuration is the same at every time.
func (m *MemStore) ConnectionAt(ctx context.Context, name string, _ time.Time) (*store.ConnectionRecord, error) {
	return m.GetConnection(ctx, name)
}

// GetClientSecret implements broker.Store.
func (m *MemStore) GetClientSecret(context.Context, string) (*store.ClientSecret, error) {
	v := m.ClientSecret
	if v == "" {
		v = "s"
	}
	return &store.ClientSecret{Value: v, Version: 1}, nil
}

// GetClientAssertionKey implements broker.Store: there is none.
func (m *MemStore) GetClientAssertionKey(_ context.Context, name string) (*store.ClientAssertionKey, error) {
	return nil, &store.NotFoundError{Kind: "client assertion key", Name: name}
}

// GetPreviousClientSecret implements broker.Store: there is none.
func (m *MemStore) GetPreviousClientSecret(_ context.Context, name string, _ int) (*store.ClientSecret, error) {
	return nil, &store.NotFoundError{Kind: "previous client secret", Name: name}
}

// AcquireLease implements broker.Store with the Vault store's rules.
func (m *MemStore) AcquireLease(_ context.Context, name, holder string, ttl time.Duration, opts ...store.LeaseOption) (*store.Lease, *store.Lease, error) {
	m.Mu.Lock()
	defer m.Mu.Unlock()
	prev := m.Leases[name]
	if prev.Held(time.Now()) && prev.Holder != holder {
		return nil, &prev, &store.LeaseHeldError{Name: name, Holder: prev.Holder, ExpiresAt: prev.ExpiresAt}
	}
	l := store.Lease{Name: name, Holder: holder, AcquiredAt: time.Now(), ExpiresAt: time.Now().Add(ttl), Version: prev.Version + 1}
	for _, o := range opts {
		o(&l)
	}
	m.Leases[name] = l
	return &l, &prev, nil
}

// UpdateLease implements broker.Store with check-and-set on l.Version.
func (m *MemStore) UpdateLease(_ context.Context, l *store.Lease) error {
	m.Mu.Lock()
	defer m.Mu.Unlock()
	if m.Leases[l.Name].Version != l.Version {
		return &store.ConflictError{Kind: "lease", Name: l.Name, Version: l.Version}
	}
	l.Version++
	m.Leases[l.Name] = *l
	return nil
}

// ReleaseLease implements broker.Store.
func (m *MemStore) ReleaseLease(ctx context.Context, l *store.Lease) error {
	free := &store.Lease{Name: l.Name, ExpiresAt: time.Now(), Version: l.Version}
	if err := m.UpdateLease(ctx, free); err != nil && !errors.Is(err, store.ErrConflict) {
		return err
	}
	return nil
}

// ListConnections implements broker.Store.
func (m *MemStore) ListConnections(context.Context) ([]string, error) {
	m.Mu.Lock()
	defer m.Mu.Unlock()
	out := make([]string, 0, len(m.Conns))
	for n := range m.Conns {
		out = append(out, n)
	}
	sort.Strings(out)
	return out, nil
}

// GetTokenStatus implements broker.Store.
func (m *MemStore) GetTokenStatus(context.Context, string) (authconn.TokenStatus, error) {
	return authconn.TokenStatus{}, nil
}

// Ping implements broker.Store.
func (m *MemStore) Ping(context.Context) error { return nil }
