package store

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"time"
)

// APIKey is the stored form of a token-endpoint API key: its id and a hash of its secret
// part, never the secret itself.
type APIKey struct {
	ID string `json:"id"`
	// Hash is the hex SHA-256 of the key's secret part.
	Hash string `json:"hash"`
	// Connections are the connection names or glob patterns (path.Match syntax, e.g.
	// "google-*") the key may fetch tokens for. When Grants is set it holds only the patterns
	// whose grant includes the token permission (see SetGrants), so that a reader that knows
	// no Grants never gives a key more than it has.
	Connections []string `json:"connections"`
	// Grants say, per connection pattern, what the key may do ("token", "proxy"). A record
	// without Grants (every key created before them) may read tokens for each pattern of
	// Connections and nothing else.
	Grants []KeyGrant `json:"grants,omitempty"`
	// Admin keys may use the admin API and sign in to the status page.
	Admin       bool      `json:"admin,omitempty"`
	Description string    `json:"description,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	Version     int       `json:"-"`
}

// KeyGrant is one pattern of an API key and the permissions it gives (apikey.Permission
// values: "token", "proxy").
type KeyGrant struct {
	Pattern string   `json:"pattern"`
	Allow   []string `json:"allow"`
}

// keyPermToken is the permission that older readers of Connections assume (apikey.PermToken).
const keyPermToken = "token"

// SetGrants sets the key's Grants, and its Connections to the patterns whose grant allows
// reading tokens.
func (k *APIKey) SetGrants(grants []KeyGrant) {
	k.Grants = grants
	k.Connections = nil
	for _, g := range grants {
		if slices.Contains(g.Allow, keyPermToken) {
			k.Connections = append(k.Connections, g.Pattern)
		}
	}
}

var keyIDRE = regexp.MustCompile(`^[a-z0-9]{8,32}$`)

func (s *Store) apiKeyPath(id string) string { return s.prefix + "/api-keys/" + id }

// CreateAPIKey stores a new API key record; an existing id is a ConflictError.
func (s *Store) CreateAPIKey(ctx context.Context, k *APIKey) error {
	if !keyIDRE.MatchString(k.ID) {
		return fmt.Errorf("invalid API key id %q", k.ID)
	}
	if len(k.Connections) == 0 && len(k.Grants) == 0 && !k.Admin {
		return errors.New("an API key needs at least one connection name or pattern, or to be an admin key")
	}
	for _, g := range k.Grants {
		if g.Pattern == "" || len(g.Allow) == 0 {
			return fmt.Errorf("API key grant %q needs a pattern and at least one permission", g.Pattern)
		}
	}
	if k.CreatedAt.IsZero() {
		k.CreatedAt = now()
	}
	cas, err := createVersion(s.record(ctx, "api key", k.ID, s.apiKeyPath(k.ID), &APIKey{}))
	if err != nil {
		return err
	}
	v, err := s.write(ctx, "api key", k.ID, s.apiKeyPath(k.ID), k, cas)
	if err != nil {
		return err
	}
	k.Version = v
	return nil
}

// GetAPIKey returns the API key record with the given id.
func (s *Store) GetAPIKey(ctx context.Context, id string) (*APIKey, error) {
	if !keyIDRE.MatchString(id) {
		return nil, &NotFoundError{Kind: "api key", Name: id}
	}
	var k APIKey
	v, err := s.record(ctx, "api key", id, s.apiKeyPath(id), &k)
	if err != nil {
		return nil, err
	}
	k.Version = v
	return &k, nil
}

// ListAPIKeys returns all API key records, sorted by id.
func (s *Store) ListAPIKeys(ctx context.Context) ([]*APIKey, error) {
	ids, err := s.list(ctx, s.prefix+"/api-keys")
	if err != nil {
		return nil, err
	}
	sort.Strings(ids)
	out := make([]*APIKey, 0, len(ids))
	for _, id := range ids {
		k, err := s.GetAPIKey(ctx, id)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, nil
}

// DeleteAPIKey removes an API key record; a missing one is a NotFoundError.
func (s *Store) DeleteAPIKey(ctx context.Context, id string) error {
	if _, err := s.GetAPIKey(ctx, id); err != nil {
		return err
	}
	if err := s.destroy(ctx, "api key", id, s.apiKeyPath(id)); err != nil {
		return err
	}
	_ = s.noteChange(ctx, ChangeAPIKey, id, 0)
	return nil
}
