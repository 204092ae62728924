package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	vault "github.com/hashicorp/vault/api"

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
// secret and configuration, in that order, with all their versions. A missing connection is
// not an error. It does not revoke tokens at the provider; callers do that first. The change
// log notes the deletion (Change.Deleted, with the configuration's last version), from which
// tokend serve tells the webhooks (connection.deleted): the deleter needs no access to the
// outbox.
func (s *Store) DeleteConnection(ctx context.Context, name string) error {
	if err := authconn.ValidateName(name); err != nil {
		return err
	}
	last := 0
	if md, err := s.kv.GetMetadata(ctx, s.Layout(name).Config); err == nil {
		last = md.CurrentVersion
	}
	for _, p := range s.Layout(name).all() {
		if err := s.destroy(ctx, "connection", name, p); err != nil {
			return err
		}
	}
	_ = s.note(ctx, Change{Kind: ChangeConnection, Name: name, Version: last, Deleted: last > 0})
	return nil
}

// ConnectionAt returns the configuration of connection name that was current at time at:
// its latest version that Vault created at or before at (Vault sets those times, so a
// writer of the configuration cannot date a version back). It needs read access to the
// config's metadata and data. A NotFoundError when there was none then, or when that version
// is no longer in the history (deleted, destroyed, or beyond max_versions).
func (s *Store) ConnectionAt(ctx context.Context, name string, at time.Time) (*ConnectionRecord, error) {
	if err := authconn.ValidateName(name); err != nil {
		return nil, err
	}
	p := s.Layout(name).Config
	md, err := s.kv.GetMetadata(ctx, p)
	if err != nil {
		if errors.Is(err, vault.ErrSecretNotFound) {
			return nil, &NotFoundError{Kind: "connection", Name: name}
		}
		return nil, fmt.Errorf("reading the history of connection %q from Vault: %w", name, redactErr(err))
	}
	best := 0
	for _, vm := range md.Versions {
		if !vm.CreatedTime.After(at) && vm.Version > best {
			best = vm.Version
		}
	}
	if best == 0 {
		return nil, &NotFoundError{Kind: "connection version current at " + at.UTC().Format(time.RFC3339), Name: name}
	}
	if vm := md.Versions[strconv.Itoa(best)]; vm.Destroyed || !vm.DeletionTime.IsZero() {
		return nil, &NotFoundError{Kind: "connection version current at " + at.UTC().Format(time.RFC3339), Name: name}
	}
	sec, err := s.kv.GetVersion(ctx, p, best)
	if err != nil {
		if errors.Is(err, vault.ErrSecretNotFound) {
			return nil, &NotFoundError{Kind: "connection version current at " + at.UTC().Format(time.RFC3339), Name: name}
		}
		return nil, fmt.Errorf("reading version %d of connection %q from Vault: %w", best, name, redactErr(err))
	}
	r := ConnectionRecord{Version: best}
	raw, err := json.Marshal(sec.Data)
	if err == nil {
		err = json.Unmarshal(raw, &r.Connection)
	}
	if err != nil || sec.Data == nil {
		return nil, &NotFoundError{Kind: "connection version current at " + at.UTC().Format(time.RFC3339), Name: name}
	}
	r.Name = name
	return &r, nil
}
