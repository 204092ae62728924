package tailortest

import (
	"context"
	"errors"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
)

// MemStore is an in-memory store with the same check-and-set rules as the Vault store: a
// broker.Store, a connection.Store, an authorize.Store and an events.Outbox. It serves
// protocol edge cases that are hard to provoke with real servers, fuzzing the API without
// Vault, and unit tests of connection, authorize and events. Tests seed and inspect its maps
// directly, outside concurrent use, and inject Vault failures with Fault.
type MemStore struct {
	// Mu guards the maps; a test that changes them while the store is in use holds it.
	Mu    sync.Mutex
	Conns map[string]bool
	// Configs holds the configuration of a connection in Conns that CreateConnection stored
	// or a test seeded; one pointing at a closed port when missing.
	Configs map[string]authconn.Connection
	// Secrets holds the client secrets CreateClientSecret stored, by connection.
	Secrets map[string]string
	// Accounts holds the accounts PutAccount stored, by connection.
	Accounts map[string]store.AccountRecord
	// Webhooks lists the webhook ids WebhookIDs reports; events are stored only when it is
	// not empty, as in Vault.
	Webhooks []string
	// Events holds the events PutEvent stored, by id.
	Events map[string]authconn.Event
	// Fault, when set, is asked before each operation (its method name, e.g. "GetTokens",
	// and the connection's name); an error it returns is the operation's, as a Vault error
	// would be (&store.VaultError{StatusCode: 403} for a refused request).
	Fault func(op, name string) error
	// Grants names the grant type of a connection in Conns (authconn.GrantClientCredentials);
	// the authorization-code grant when missing.
	Grants map[string]string
	Tokens map[string]store.TokenRecord
	Leases map[string]store.Lease
	// ClientSecret is what GetClientSecret returns for every connection ("s" when empty).
	ClientSecret string
	// Statuses holds what GetTokenStatus reports, by connection (the token status summary
	// Vault keeps in custom metadata); the zero status when missing.
	Statuses map[string]authconn.TokenStatus
	// Now is the clock of the leases (when they are held, until when); time.Now when nil. A
	// test that gives the broker a clock (broker.Options.Now) gives the store the same one.
	Now func() time.Time
}

// now returns the store's time.
func (m *MemStore) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore {
	return &MemStore{Conns: map[string]bool{}, Grants: map[string]string{}, Tokens: map[string]store.TokenRecord{}, Leases: map[string]store.Lease{},
		Configs: map[string]authconn.Connection{}, Secrets: map[string]string{}, Accounts: map[string]store.AccountRecord{}, Events: map[string]authconn.Event{}}
}

// fault is the error Fault injects into op on name; nil without Fault.
func (m *MemStore) fault(op, name string) error {
	if m.Fault == nil {
		return nil
	}
	return m.Fault(op, name)
}

// GetEvent reports that the outbox holds no event: MemStore keeps none.
func (m *MemStore) GetEvent(_ context.Context, id string) (*store.EventRecord, error) {
	return nil, &store.NotFoundError{Kind: "event", Name: id}
}

// GetTokens implements broker.Store.
func (m *MemStore) GetTokens(_ context.Context, name string) (*store.TokenRecord, error) {
	if err := m.fault("GetTokens", name); err != nil {
		return nil, err
	}
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
	if err := m.fault("PutTokens", name); err != nil {
		return 0, err
	}
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

// GetConnection implements broker.Store: a connection in Conns has its configuration in
// Configs, or points at a closed port.
func (m *MemStore) GetConnection(_ context.Context, name string) (*store.ConnectionRecord, error) {
	if err := m.fault("GetConnection", name); err != nil {
		return nil, err
	}
	m.Mu.Lock()
	defer m.Mu.Unlock()
	if !m.Conns[name] {
		return nil, &store.NotFoundError{Kind: "connection", Name: name}
	}
	if c, ok := m.Configs[name]; ok {
		return &store.ConnectionRecord{Connection: c, Version: 1}, nil
	}
	c := authconn.Connection{Name: name, ClientID: "id", TokenURL: "http://127.0.0.1:9/token", AuthURL: "http://127.0.0.1:9/auth", GrantType: m.Grants[name]}
	return &store.ConnectionRecord{Connection: c, Version: 1}, nil
}

// ConnectionAt implements broker.Store: the memory store keeps no history, so the
// configuration is the same at every time.
func (m *MemStore) ConnectionAt(ctx context.Context, name string, _ time.Time) (*store.ConnectionRecord, error) {
	return m.GetConnection(ctx, name)
}

// GetClientSecret implements broker.Store: the secret CreateClientSecret stored, else
// ClientSecret.
func (m *MemStore) GetClientSecret(_ context.Context, name string) (*store.ClientSecret, error) {
	if err := m.fault("GetClientSecret", name); err != nil {
		return nil, err
	}
	m.Mu.Lock()
	defer m.Mu.Unlock()
	v := m.Secrets[name]
	if v == "" {
		v = m.ClientSecret
	}
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
	if err := m.fault("AcquireLease", name); err != nil {
		return nil, nil, err
	}
	m.Mu.Lock()
	defer m.Mu.Unlock()
	prev := m.Leases[name]
	now := m.now()
	if prev.Held(now) && prev.Holder != holder {
		return nil, &prev, &store.LeaseHeldError{Name: name, Holder: prev.Holder, ExpiresAt: prev.ExpiresAt}
	}
	l := store.Lease{Name: name, Holder: holder, AcquiredAt: now, ExpiresAt: now.Add(ttl), Version: prev.Version + 1}
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
	free := &store.Lease{Name: l.Name, ExpiresAt: m.now(), Version: l.Version}
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

// GetTokenStatus implements broker.Store: the status a test seeded in Statuses, else the
// zero status.
func (m *MemStore) GetTokenStatus(_ context.Context, name string) (authconn.TokenStatus, error) {
	m.Mu.Lock()
	defer m.Mu.Unlock()
	return m.Statuses[name], nil
}

// Ping implements broker.Store.
func (m *MemStore) Ping(context.Context) error { return nil }

// CreateConnection implements connection.Store: store.ErrConflict when the name is taken.
func (m *MemStore) CreateConnection(_ context.Context, c *authconn.Connection) (int, error) {
	if err := m.fault("CreateConnection", c.Name); err != nil {
		return 0, err
	}
	m.Mu.Lock()
	defer m.Mu.Unlock()
	if m.Conns[c.Name] {
		return 0, &store.ConflictError{Kind: "connection", Name: c.Name}
	}
	m.Conns[c.Name], m.Configs[c.Name] = true, *c
	return 1, nil
}

// CreateClientSecret implements connection.Store; the origins are not kept.
func (m *MemStore) CreateClientSecret(_ context.Context, name, secret string, _ ...string) (int, error) {
	if err := m.fault("CreateClientSecret", name); err != nil {
		return 0, err
	}
	m.Mu.Lock()
	defer m.Mu.Unlock()
	m.Secrets[name] = secret
	return 1, nil
}

// PutClientAssertionKey implements connection.Store: MemStore keeps no assertion key, so
// it refuses.
func (m *MemStore) PutClientAssertionKey(_ context.Context, name string, _ store.ClientAssertionKey) (int, error) {
	return 0, &store.VaultError{StatusCode: 501, Message: "MemStore keeps no client assertion key of " + name}
}

// DeleteConnection implements connection.Store: every record of name goes; a missing one is
// not an error.
func (m *MemStore) DeleteConnection(_ context.Context, name string) error {
	if err := m.fault("DeleteConnection", name); err != nil {
		return err
	}
	m.Mu.Lock()
	defer m.Mu.Unlock()
	delete(m.Conns, name)
	delete(m.Configs, name)
	delete(m.Secrets, name)
	delete(m.Accounts, name)
	delete(m.Tokens, name)
	delete(m.Leases, name)
	return nil
}

// DeleteTokens implements connection.Store: the token record and the lease go.
func (m *MemStore) DeleteTokens(_ context.Context, name string) error {
	if err := m.fault("DeleteTokens", name); err != nil {
		return err
	}
	m.Mu.Lock()
	defer m.Mu.Unlock()
	delete(m.Tokens, name)
	delete(m.Leases, name)
	return nil
}

// WebhookIDs implements events.Outbox.
func (m *MemStore) WebhookIDs(context.Context) ([]string, error) {
	if err := m.fault("WebhookIDs", ""); err != nil {
		return nil, err
	}
	m.Mu.Lock()
	defer m.Mu.Unlock()
	return slices.Clone(m.Webhooks), nil
}

// PutEvent implements events.Outbox: false when an event with ev's id is there already.
func (m *MemStore) PutEvent(_ context.Context, ev *authconn.Event) (bool, error) {
	if err := m.fault("PutEvent", ev.Connection); err != nil {
		return false, err
	}
	m.Mu.Lock()
	defer m.Mu.Unlock()
	if _, ok := m.Events[ev.ID]; ok {
		return false, nil
	}
	m.Events[ev.ID] = *ev
	return true, nil
}

// GetAccount implements authorize.Store.
func (m *MemStore) GetAccount(_ context.Context, name string) (*store.AccountRecord, error) {
	if err := m.fault("GetAccount", name); err != nil {
		return nil, err
	}
	m.Mu.Lock()
	defer m.Mu.Unlock()
	a, ok := m.Accounts[name]
	if !ok {
		return nil, &store.NotFoundError{Kind: "account", Name: name}
	}
	return &a, nil
}

// PutAccount implements authorize.Store with check-and-set on version.
func (m *MemStore) PutAccount(_ context.Context, name string, r *store.AccountRecord, version int) (int, error) {
	if err := m.fault("PutAccount", name); err != nil {
		return 0, err
	}
	m.Mu.Lock()
	defer m.Mu.Unlock()
	if m.Accounts[name].Version != version {
		return 0, &store.ConflictError{Kind: "account", Name: name, Version: version}
	}
	rec := *r
	rec.Version = version + 1
	m.Accounts[name] = rec
	return rec.Version, nil
}
