package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
)

// ClientSecret is a connection's OAuth2 client secret.
type ClientSecret struct {
	Value string `json:"client_secret"`
	// EndpointOrigins are the origins (authconn.EndpointOrigins) of the connection's endpoints
	// the secret was written for, stored beside it by its writer: it is sent only while the
	// connection still points at exactly these (connection.Credentials). Writing them takes a
	// write of the value too. Empty for secrets written before they were kept.
	EndpointOrigins []string `json:"endpoint_origins,omitempty"`
	// Version is the KV v2 version this value was read at.
	Version int `json:"-"`
	// WrittenAt is when Vault stored that version (for secrets without EndpointOrigins).
	WrittenAt time.Time `json:"-"`
}

// String hides the secret from fmt and loggers.
func (c ClientSecret) String() string { return "ClientSecret(redacted)" }

// GoString hides the secret from %#v.
func (c ClientSecret) GoString() string { return c.String() }

// PutClientSecret stores a new version of the client secret of connection name, bound to
// origins: the endpoint origins of the connection it is written for
// (authconn.EndpointOrigins). Without origins it binds the secret to the connection's
// configuration as stored now (one more read). It needs only metadata read access, never
// read access to the secret itself, so the role that writes secrets (Terraform in CI) cannot
// read them back. Earlier versions stay in Vault's version history (max_versions), which
// lets tokend fall back to the previous secret while a rotation propagates at the provider.
func (s *Store) PutClientSecret(ctx context.Context, name, secret string, origins ...string) (int, error) {
	if err := authconn.ValidateName(name); err != nil {
		return 0, err
	}
	if err := authconn.ValidateClientSecret(secret); err != nil {
		return 0, err
	}
	origins, err := s.originsFor(ctx, name, origins)
	if err != nil {
		return 0, err
	}
	return s.putVersioned(ctx, "client secret", name, s.Layout(name).ClientSecret, ClientSecret{Value: secret, EndpointOrigins: origins})
}

// putVersioned writes value as a new version of the record at p (kind names it in errors) of
// connection name: check-and-set on the current version, read from metadata only (so the
// writer needs no read access to the value), then a change-log entry for the connection.
func (s *Store) putVersioned(ctx context.Context, kind, name, p string, value any) (int, error) {
	cas := 0
	md, err := s.kv.GetMetadata(ctx, p)
	switch {
	case err == nil:
		cas = md.CurrentVersion
	case errors.Is(err, vault.ErrSecretNotFound):
	default:
		return 0, fmt.Errorf("reading the %s's metadata for %q from Vault: %w", kind, name, redactErr(err))
	}
	v, err := s.write(ctx, kind, name, p, value, cas)
	if err == nil {
		_ = s.noteChange(ctx, ChangeConnection, name, 0)
	}
	return v, err
}

// originsFor returns origins sorted, or, when there are none, the endpoint origins of
// connection name as stored now (none when it has no configuration).
func (s *Store) originsFor(ctx context.Context, name string, origins []string) ([]string, error) {
	if len(origins) > 0 {
		out := slices.Clone(origins)
		slices.Sort(out)
		return slices.Compact(out), nil
	}
	conn, err := s.GetConnection(ctx, name)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("reading the connection the secret of %q is written for: %w", name, err)
	}
	return authconn.EndpointOrigins(&conn.Connection), nil
}

// CreateClientSecret stores the first client secret of a connection that CreateConnection
// has just stored, bound to origins (as PutClientSecret): one check-and-set write that
// expects no secret, and no change-log entry (the connection's creation is one, and nothing
// caches a client secret: tokend reads it for every provider call). When a secret exists it
// stores a new version, as PutClientSecret.
func (s *Store) CreateClientSecret(ctx context.Context, name, secret string, origins ...string) (int, error) {
	if err := authconn.ValidateName(name); err != nil {
		return 0, err
	}
	if err := authconn.ValidateClientSecret(secret); err != nil {
		return 0, err
	}
	origins, err := s.originsFor(ctx, name, origins)
	if err != nil {
		return 0, err
	}
	v, err := s.write(ctx, "client secret", name, s.Layout(name).ClientSecret, ClientSecret{Value: secret, EndpointOrigins: origins}, 0)
	if errors.Is(err, ErrConflict) {
		return s.PutClientSecret(ctx, name, secret, origins...)
	}
	return v, err
}

// ClientSecretVersion returns the current version of the client secret of connection name
// without reading the secret. A missing secret returns a NotFoundError.
func (s *Store) ClientSecretVersion(ctx context.Context, name string) (int, error) {
	if err := authconn.ValidateName(name); err != nil {
		return 0, err
	}
	md, err := s.kv.GetMetadata(ctx, s.Layout(name).ClientSecret)
	if err != nil {
		if errors.Is(err, vault.ErrSecretNotFound) {
			return 0, &NotFoundError{Kind: "client secret", Name: name}
		}
		return 0, fmt.Errorf("reading the client secret's metadata for %q from Vault: %w", name, redactErr(err))
	}
	return md.CurrentVersion, nil
}

// GetClientSecret returns the current client secret of connection name.
func (s *Store) GetClientSecret(ctx context.Context, name string) (*ClientSecret, error) {
	if err := authconn.ValidateName(name); err != nil {
		return nil, err
	}
	var cs ClientSecret
	v, at, err := s.recordAt(ctx, "client secret", name, s.Layout(name).ClientSecret, &cs)
	if err != nil {
		return nil, err
	}
	cs.Version, cs.WrittenAt = v, at
	return &cs, nil
}

// GetPreviousClientSecret returns the live client secret version just before the current one,
// for a fallback while a rotated secret propagates at the provider. It returns a
// NotFoundError when there is none.
func (s *Store) GetPreviousClientSecret(ctx context.Context, name string, current int) (*ClientSecret, error) {
	p := s.Layout(name).ClientSecret
	for v := current - 1; v > 0; v-- {
		sec, err := s.kv.GetVersion(ctx, p, v)
		if err != nil {
			if errors.Is(err, vault.ErrSecretNotFound) {
				break
			}
			return nil, fmt.Errorf("reading a previous client secret of %q from Vault: %w", name, redactErr(err))
		}
		if sec.Data == nil {
			continue
		}
		val, _ := sec.Data["client_secret"].(string)
		if val != "" {
			return &ClientSecret{Value: val, Version: v, EndpointOrigins: stringList(sec.Data["endpoint_origins"])}, nil
		}
	}
	return nil, &NotFoundError{Kind: "previous client secret", Name: name}
}

// stringList returns the strings of v, a JSON array as Vault's API decodes it.
func stringList(v any) []string {
	arr, _ := v.([]any)
	var out []string
	for _, e := range arr {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// ClientAssertionKey is the private key a private_key_jwt client signs its client
// assertions with (RFC 7523), in PEM. Its kid is in the connection's configuration.
type ClientAssertionKey struct {
	PEM string `json:"private_key"`
	// EndpointOrigins are the endpoint origins the key was written for, as
	// ClientSecret.EndpointOrigins.
	EndpointOrigins []string `json:"endpoint_origins,omitempty"`
	// Version is the KV v2 version this value was read at.
	Version int `json:"-"`
	// WrittenAt is when Vault stored that version (for keys without EndpointOrigins).
	WrittenAt time.Time `json:"-"`
}

// String hides the key from fmt and loggers.
func (k ClientAssertionKey) String() string { return "ClientAssertionKey(redacted)" }

// GoString hides the key from %#v.
func (k ClientAssertionKey) GoString() string { return k.String() }

// PutClientAssertionKey stores a new version of the client assertion key of connection
// name, bound to key.EndpointOrigins (when empty: the connection's endpoint origins as
// stored now, as PutClientSecret). Like PutClientSecret it needs only metadata read access:
// the writer (Terraform) cannot read the key back.
func (s *Store) PutClientAssertionKey(ctx context.Context, name string, key ClientAssertionKey) (int, error) {
	if err := authconn.ValidateName(name); err != nil {
		return 0, err
	}
	if _, _, err := authconn.ParseAssertionKey(key.PEM); err != nil {
		return 0, err
	}
	origins, err := s.originsFor(ctx, name, key.EndpointOrigins)
	if err != nil {
		return 0, err
	}
	key.EndpointOrigins = origins
	return s.putVersioned(ctx, "client assertion key", name, s.Layout(name).ClientAssertionKey, key)
}

// GetClientAssertionKey returns the current client assertion key of connection name.
func (s *Store) GetClientAssertionKey(ctx context.Context, name string) (*ClientAssertionKey, error) {
	if err := authconn.ValidateName(name); err != nil {
		return nil, err
	}
	var k ClientAssertionKey
	v, at, err := s.recordAt(ctx, "client assertion key", name, s.Layout(name).ClientAssertionKey, &k)
	if err != nil {
		return nil, err
	}
	k.Version, k.WrittenAt = v, at
	return &k, nil
}
