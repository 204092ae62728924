package store

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
)

// ConnectionRecord is a connection's configuration as stored, with the KV v2 version it was
// read at (for check-and-set), the way Vault's own API keeps the version beside the data.
type ConnectionRecord struct {
	authconn.Connection
	Version int
}

// Layout returns the Vault paths (inside the mount, without the data/ or metadata/ part)
// that hold the records of connection name.
func (s *Store) Layout(name string) ConnectionPaths {
	base := s.prefix + "/connections/" + name
	return ConnectionPaths{
		Config:             base + "/config",
		ClientSecret:       base + "/client-secret",
		ClientAssertionKey: base + "/client-assertion-key",
		Tokens:             base + "/tokens",
		RefreshLease:       base + "/refresh-lease",
		Account:            base + "/account",
	}
}

// ConnectionPaths are the KV v2 paths of one connection's records.
type ConnectionPaths struct {
	Config, ClientSecret, ClientAssertionKey, Tokens, RefreshLease string
	// Account is the tokend-owned record of who authorized the connection (AccountRecord).
	Account string
}

func (p ConnectionPaths) all() []string {
	return []string{p.RefreshLease, p.Tokens, p.Account, p.ClientAssertionKey, p.ClientSecret, p.Config}
}

// GetConnection returns the configuration of connection name.
func (s *Store) GetConnection(ctx context.Context, name string) (*ConnectionRecord, error) {
	if err := authconn.ValidateName(name); err != nil {
		return nil, err
	}
	var r ConnectionRecord
	v, err := s.record(ctx, "connection", name, s.Layout(name).Config, &r.Connection)
	if err != nil {
		return nil, err
	}
	r.Version = v
	r.Name = name
	return &r, nil
}

// CreateConnection stores a new connection and returns its version. It fails with
// ErrConflict when one with the same name exists. It sets c's timestamps. One write when the
// name is new; a name whose record was soft-deleted costs a read and a second write.
func (s *Store) CreateConnection(ctx context.Context, c *authconn.Connection) (int, error) {
	if err := c.Validate(); err != nil {
		return 0, err
	}
	if c.CreatedAt.IsZero() {
		c.CreatedAt = now()
	}
	c.UpdatedAt = now()
	p := s.Layout(c.Name).Config
	v, err := s.write(ctx, "connection", c.Name, p, c, 0)
	if errors.Is(err, ErrConflict) {
		// A record exists: a live one (the conflict, cas 0), or a soft-deleted one, which a
		// create replaces by naming its version.
		cas, rerr := createVersion(s.record(ctx, "connection", c.Name, p, &authconn.Connection{}))
		if rerr != nil {
			return 0, rerr
		}
		if cas > 0 {
			v, err = s.write(ctx, "connection", c.Name, p, c, cas)
		}
	}
	if errors.Is(err, ErrConflict) {
		return 0, &ConflictError{Kind: "connection", Name: c.Name}
	}
	if err == nil {
		_ = s.noteChange(ctx, ChangeConnection, c.Name, v)
	}
	return v, err
}

// UpdateConnection replaces the configuration of an existing connection if its stored
// version is still version, and returns the new version. It never touches the client secret
// or the tokens.
func (s *Store) UpdateConnection(ctx context.Context, c *authconn.Connection, version int) (int, error) {
	if err := c.Validate(); err != nil {
		return 0, err
	}
	if version <= 0 {
		return 0, fmt.Errorf("updating connection %q: no version was read; read the connection first", c.Name)
	}
	c.UpdatedAt = now()
	v, err := s.write(ctx, "connection", c.Name, s.Layout(c.Name).Config, c, version)
	if err == nil {
		_ = s.noteChange(ctx, ChangeConnection, c.Name, v)
	}
	return v, err
}

// ListConnections returns the names of all connections, sorted.
func (s *Store) ListConnections(ctx context.Context) ([]string, error) {
	names, err := s.list(ctx, s.prefix+"/connections")
	if err != nil {
		return nil, err
	}
	out := names[:0]
	for _, n := range names {
		if authconn.ValidateName(n) == nil {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out, nil
}

// DeleteConnection removes the connection's lease, tokens, client assertion key, client
// secret and configuration,
// in that order, with all their versions. A missing connection is not an error. It does not
// revoke tokens at the provider; callers do that first.
func (s *Store) DeleteConnection(ctx context.Context, name string) error {
	if err := authconn.ValidateName(name); err != nil {
		return err
	}
	for _, p := range s.Layout(name).all() {
		if err := s.destroy(ctx, "connection", name, p); err != nil {
			return err
		}
	}
	_ = s.noteChange(ctx, ChangeConnection, name, 0)
	return nil
}
