package store

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"
)

// TypeOAuth2 is the only connection type supported today.
const TypeOAuth2 = "TYPE_OAUTH2"

// Types lists the allowed values of Connection.Type.
var Types = []string{TypeOAuth2}

// NameRule describes the allowed connection names, for error messages.
const NameRule = "1 to 63 characters: lowercase letters, digits and hyphens, starting and ending with a letter or digit (e.g. google-oauth-prod)"

var nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// ValidateName reports whether name is an allowed connection name.
func ValidateName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("invalid connection name %q: use %s", name, NameRule)
	}
	return nil
}

// ValidateType reports whether t is an allowed connection type.
func ValidateType(t string) error {
	for _, ok := range Types {
		if t == ok {
			return nil
		}
	}
	return fmt.Errorf("invalid connection type %q: allowed: %s", t, strings.Join(Types, ", "))
}

// ValidateURL reports whether raw is an acceptable endpoint URL: absolute https with a host,
// or plain http only for loopback hosts (localhost, 127.0.0.0/8, ::1) so that local providers
// and tests work. field names the attribute in the message.
func ValidateURL(field, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return fmt.Errorf("%s %q is not an absolute URL: use https://host/path", field, raw)
	}
	if u.User != nil {
		return fmt.Errorf("%s must not contain a user name or password", field)
	}
	if u.Fragment != "" {
		return fmt.Errorf("%s %q must not contain a fragment (#...)", field, raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if IsLoopbackHost(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("%s %q uses http: use https (plain http is allowed only for localhost and 127.0.0.1)", field, raw)
	default:
		return fmt.Errorf("%s %q has scheme %q: use https", field, raw, u.Scheme)
	}
}

// IsLoopbackHost reports whether host is localhost or a loopback IP address.
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Connection is the configuration of one OAuth2 connection. It holds no secret.
type Connection struct {
	Name          string   `json:"name"`
	Type          string   `json:"type"`
	ProviderURL   string   `json:"provider_url"`
	IssuerURL     string   `json:"issuer_url,omitempty"`
	ClientID      string   `json:"client_id"`
	AuthURL       string   `json:"auth_url,omitempty"`
	TokenURL      string   `json:"token_url,omitempty"`
	RevocationURL string   `json:"revocation_url,omitempty"`
	Scopes        []string `json:"scopes,omitempty"`

	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`

	// Version is the KV v2 version this value was read at; writes use it for check-and-set.
	Version int `json:"-"`
}

// Validate reports every problem with c in one error.
func (c *Connection) Validate() error {
	var errs []error
	if err := ValidateName(c.Name); err != nil {
		errs = append(errs, err)
	}
	if err := ValidateType(c.Type); err != nil {
		errs = append(errs, err)
	}
	if c.ProviderURL == "" {
		errs = append(errs, errors.New("provider_url is required"))
	} else if err := ValidateURL("provider_url", c.ProviderURL); err != nil {
		errs = append(errs, err)
	}
	if err := ValidateClientID(c.ClientID); err != nil {
		errs = append(errs, err)
	}
	for _, f := range []struct{ name, v string }{
		{"issuer_url", c.IssuerURL}, {"auth_url", c.AuthURL}, {"token_url", c.TokenURL}, {"revocation_url", c.RevocationURL},
	} {
		if f.v != "" {
			if err := ValidateURL(f.name, f.v); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for _, s := range c.Scopes {
		if err := ValidateScope(s); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Layout returns the Vault paths (inside the mount, without the data/ or metadata/ part)
// that hold the records of connection name.
func (s *Store) Layout(name string) ConnectionPaths {
	base := s.prefix + "/connections/" + name
	return ConnectionPaths{
		Config:       base + "/config",
		ClientSecret: base + "/client-secret",
		Tokens:       base + "/tokens",
		RefreshLease: base + "/refresh-lease",
	}
}

// ConnectionPaths are the KV v2 paths of one connection's records.
type ConnectionPaths struct {
	Config, ClientSecret, Tokens, RefreshLease string
}

func (p ConnectionPaths) all() []string {
	return []string{p.RefreshLease, p.Tokens, p.ClientSecret, p.Config}
}

// GetConnection returns the configuration of connection name.
func (s *Store) GetConnection(ctx context.Context, name string) (*Connection, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	var c Connection
	v, err := s.record(ctx, "connection", name, s.Layout(name).Config, &c)
	if err != nil {
		return nil, err
	}
	c.Version = v
	c.Name = name
	return &c, nil
}

// CreateConnection stores a new connection. It fails with ErrConflict when one with the same
// name exists. On success c.Version holds the new version.
func (s *Store) CreateConnection(ctx context.Context, c *Connection) error {
	if err := c.Validate(); err != nil {
		return err
	}
	cas, err := createVersion(s.record(ctx, "connection", c.Name, s.Layout(c.Name).Config, &Connection{}))
	if err != nil {
		return err
	}
	if c.CreatedAt.IsZero() {
		c.CreatedAt = now()
	}
	c.UpdatedAt = now()
	v, err := s.write(ctx, "connection", c.Name, s.Layout(c.Name).Config, c, cas)
	if err != nil {
		if errors.Is(err, ErrConflict) {
			return &ConflictError{Kind: "connection", Name: c.Name}
		}
		return err
	}
	c.Version = v
	return nil
}

// UpdateConnection replaces the configuration of an existing connection if its version is
// still c.Version. It never touches the client secret or the tokens.
func (s *Store) UpdateConnection(ctx context.Context, c *Connection) error {
	if err := c.Validate(); err != nil {
		return err
	}
	if c.Version <= 0 {
		return fmt.Errorf("updating connection %q: no version was read; read the connection first", c.Name)
	}
	c.UpdatedAt = now()
	v, err := s.write(ctx, "connection", c.Name, s.Layout(c.Name).Config, c, c.Version)
	if err != nil {
		return err
	}
	c.Version = v
	return nil
}

// ListConnections returns the names of all connections, sorted.
func (s *Store) ListConnections(ctx context.Context) ([]string, error) {
	names, err := s.list(ctx, s.prefix+"/connections")
	if err != nil {
		return nil, err
	}
	out := names[:0]
	for _, n := range names {
		if ValidateName(n) == nil {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out, nil
}

// DeleteConnection removes the connection's lease, tokens, client secret and configuration,
// in that order, with all their versions. A missing connection is not an error. It does not
// revoke tokens at the provider; callers do that first.
func (s *Store) DeleteConnection(ctx context.Context, name string) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	for _, p := range s.Layout(name).all() {
		if err := s.destroy(ctx, "connection", name, p); err != nil {
			return err
		}
	}
	return nil
}
