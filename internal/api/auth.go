package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/sync/singleflight"

	"github.com/authconnection/terraform-provider-tailor/internal/apikey"
	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
	"github.com/authconnection/terraform-provider-tailor/internal/wire"
)

// KeyStore reads API key records (*store.Store).
type KeyStore interface {
	GetAPIKey(ctx context.Context, id string) (*store.APIKey, error)
}

// Limiter charges the client of a request (*ratelimit.Limiter): false when its bucket is
// empty, with how long it should wait.
type Limiter interface {
	Allow(r *http.Request) (bool, time.Duration)
}

// keyCache keeps API key records (hash and patterns, never a secret) in memory for ttl, so
// the hot path does not read Vault. A revoked key keeps working for at most ttl, or while
// Vault cannot be read (a known key's record is then used after ttl).
//
// Records that exist and ids that do not are kept in two bounded LRUs: a flood of made-up
// key ids evicts the oldest unknown ids one by one and never touches the known keys (which
// the outage fallback relies on). The hot path looks known keys up with Peek (a read lock,
// as the map before it had): a key in use is re-read, and so moved to the front, once per
// ttl, so the least recently used keys are still the ones evicted, without every request
// taking the cache's write lock. Before an id that is not a known key costs a Vault read,
// the caller's client is charged (limit): when its bucket is empty the caller gets 429.
type keyCache struct {
	ks    KeyStore
	ttl   time.Duration
	limit Limiter // nil: no limit
	group singleflight.Group

	known   *lru.Cache[string, keyEntry]  // records that exist
	unknown *lru.Cache[string, time.Time] // ids Vault has no record of, and when it said so
	// vaultErrAt is when reading a key record last failed (UnixNano; 0: never).
	vaultErrAt atomic.Int64
}

type keyEntry struct {
	rec     *store.APIKey
	grants  []apikey.Grant // rec's, computed once per read (KeyGrants)
	fetched time.Time
}

// Bounds of the key cache: known keys, and ids known not to exist.
const (
	maxKnownKeys   = 10000
	maxUnknownKeys = 10000
)

var errUnknownKey = errors.New("unknown API key")

// RateLimitedError is returned for a caller whose client presented too many keys that
// failed; it may try again after Wait.
type RateLimitedError struct{ Wait time.Duration }

func (e *RateLimitedError) Error() string {
	return "too many failed API key checks from this address; try again in " + e.Wait.Round(time.Second).String()
}

// caller is an authenticated API key.
type caller struct {
	id     string
	grants []apikey.Grant // what the key may do, per connection pattern
	admin  bool
}

// KeyGrants returns what the key of rec may do: its Grants, or for a record without them
// (created before permissions existed) the token permission on each of its Connections.
// The key cache, `tokend keys list` and the status page read a record through it.
func KeyGrants(rec *store.APIKey) []apikey.Grant {
	if len(rec.Grants) == 0 {
		return apikey.GrantAll(rec.Connections, []apikey.Permission{apikey.PermToken})
	}
	out := make([]apikey.Grant, len(rec.Grants))
	for i, g := range rec.Grants {
		out[i].Pattern = g.Pattern
		for _, p := range g.Allow {
			out[i].Allow = append(out[i].Allow, apikey.Permission(p))
		}
	}
	return out
}

// authenticateFor authenticates the request's API key (as authenticate) and checks that it
// may do perm on connection name; otherwise it writes 400 for an invalid name or 403
// forbidden with what to do instead, and records the refusal (auditRefusal). Every route on
// one connection calls it: the token endpoint with apikey.PermToken, the proxy with
// apikey.PermProxy.
func (s *Server) authenticateFor(w http.ResponseWriter, r *http.Request, name string, perm apikey.Permission) (caller, bool) {
	rt := routeOf(perm)
	c, ok := s.authenticate(w, r, rt)
	if !ok {
		s.auditRefusal(r, caller{}, name, perm, wire.CodeUnauthenticated)
		return caller{}, false
	}
	if err := authconn.ValidateName(name); err != nil {
		s.refuse(w, rt, http.StatusBadRequest, wire.CodeInvalidName, err.Error())
		s.auditRefusal(r, c, "", perm, wire.CodeInvalidName)
		return caller{}, false
	}
	if apikey.Permits(c.grants, name, perm) {
		return c, true
	}
	s.log.Info("API key not allowed for connection", "key_id", c.id, "connection", name, "permission", string(perm))
	s.refuse(w, rt, http.StatusForbidden, wire.CodeForbidden, forbiddenMessage(c, name, perm))
	s.auditRefusal(r, c, name, perm, wire.CodeForbidden)
	return caller{}, false
}

// routeOf is the route that asks for perm: the token route for apikey.PermToken, the proxy
// for apikey.PermProxy.
func routeOf(perm apikey.Permission) route {
	if perm == apikey.PermToken {
		return routeToken
	}
	return routeProxy
}

// forbiddenMessage says why caller c may not do perm on connection name, and what to do.
func forbiddenMessage(c caller, name string, perm apikey.Permission) string {
	switch {
	case perm == apikey.PermToken && apikey.Permits(c.grants, name, apikey.PermProxy):
		return fmt.Sprintf("this API key may only use the proxy for %q, not read its token: send the API request through /v1/connections/%s/proxy/... (tokend adds the token), or create a key with `--allow token`", name, name)
	case perm == apikey.PermToken:
		return fmt.Sprintf("this API key may not fetch tokens for %q; create a key with --connections including it", name)
	case apikey.Matches(c.grants, name):
		return fmt.Sprintf("this API key may not use the proxy for %q; create a key with `--allow proxy` (or `--grant '%s=token,proxy'`)", name, name)
	default:
		return fmt.Sprintf("this API key may not use the proxy for %q; create a key with --connections including it and `--allow proxy`", name)
	}
}

func newKeyCache(ks KeyStore, ttl time.Duration, limit Limiter) *keyCache {
	known, _ := lru.New[string, keyEntry](maxKnownKeys)
	unknown, _ := lru.New[string, time.Time](maxUnknownKeys)
	return &keyCache{ks: ks, ttl: ttl, limit: limit, known: known, unknown: unknown}
}

// authenticate checks a presented key. r, when not nil, is the request that presented it:
// its client is charged for a key that is not a known one, before any Vault read.
func (c *keyCache) authenticate(ctx context.Context, presented string, r *http.Request) (caller, error) {
	id, secret, err := apikey.Parse(presented)
	if err != nil {
		if limited := c.charge(r); limited != nil {
			return caller{}, limited
		}
		return caller{}, err
	}
	if e, ok := c.known.Peek(id); ok && apikey.Verify(secret, e.rec.Hash) {
		if time.Since(e.fetched) < c.ttl {
			return caller{id: id, grants: e.grants, admin: e.rec.Admin}, nil
		}
		// A known key whose entry is old: read it again below, free of charge.
	} else if err := c.charge(r); err != nil {
		return caller{}, err
	}
	e, err := c.getEntry(ctx, id)
	if err != nil {
		return caller{}, err
	}
	if e.rec == nil || !apikey.Verify(secret, e.rec.Hash) {
		return caller{}, errUnknownKey
	}
	return caller{id: id, grants: e.grants, admin: e.rec.Admin}, nil
}

// charge charges r's client one failed (or not yet known) key; it returns a
// *RateLimitedError when the client's bucket is empty.
func (c *keyCache) charge(r *http.Request) error {
	if c.limit == nil || r == nil {
		return nil
	}
	if ok, wait := c.limit.Allow(r); !ok {
		return &RateLimitedError{Wait: wait}
	}
	return nil
}

// forget drops the cached record of key id, so that the next request reads it again.
func (c *keyCache) forget(id string) {
	c.known.Remove(id)
	c.unknown.Remove(id)
}

// get returns the record of key id (nil: no such key), as getEntry.
func (c *keyCache) get(ctx context.Context, id string) (*store.APIKey, error) {
	e, err := c.getEntry(ctx, id)
	return e.rec, err
}

// getEntry returns the record of key id with its grants (rec nil: no such key), from the
// cache while it is younger than ttl, otherwise from Vault.
func (c *keyCache) getEntry(ctx context.Context, id string) (keyEntry, error) {
	now := time.Now()
	e, ok := c.known.Peek(id)
	if ok && now.Sub(e.fetched) < c.ttl {
		return e, nil
	}
	if !ok {
		if at, found := c.unknown.Get(id); found && now.Sub(at) < c.ttl {
			return keyEntry{}, nil
		}
	}
	if ok && now.Sub(time.Unix(0, c.vaultErrAt.Load())) < c.ttl {
		// Vault failed recently: answer from the known record at once and re-read it in the
		// background, instead of making every caller wait for Vault's timeouts.
		c.group.DoChan(id, func() (any, error) {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			return c.load(rctx, id)
		})
		return e, nil
	}
	v, err, _ := c.group.Do(id, func() (any, error) { return c.load(ctx, id) })
	if err != nil {
		if ok {
			// Vault cannot be read (outage): keep accepting a key we know rather than refuse
			// every caller while tokens are still being served from memory. A key revoked
			// during the outage is refused once Vault answers again.
			return e, nil
		}
		return keyEntry{}, err
	}
	return v.(keyEntry), nil
}

// load reads the record of key id from Vault and caches the answer (known or unknown) as a
// keyEntry (rec nil: no such key).
func (c *keyCache) load(ctx context.Context, id string) (any, error) {
	rec, err := c.ks.GetAPIKey(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		rec, err = nil, nil
	}
	if err != nil {
		c.vaultErrAt.Store(time.Now().UnixNano())
		return nil, err
	}
	if rec == nil {
		c.known.Remove(id)
		c.unknown.Add(id, time.Now())
		return keyEntry{}, nil
	}
	e := keyEntry{rec: rec, grants: KeyGrants(rec), fetched: time.Now()}
	c.unknown.Remove(id)
	c.known.Add(id, e)
	return e, nil
}
