package api

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/authconnection/terraform-provider-tailor/internal/apikey"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
)

// KeyStore reads API key records (*store.Store).
type KeyStore interface {
	GetAPIKey(ctx context.Context, id string) (*store.APIKey, error)
}

// keyCache keeps API key records (hash and patterns, never a secret) in memory for ttl, so
// the hot path does not read Vault. A revoked key keeps working for at most ttl, or while
// Vault cannot be read (a known key's record is then used after ttl).
type keyCache struct {
	ks    KeyStore
	ttl   time.Duration
	group singleflight.Group

	mu      sync.RWMutex
	entries map[string]keyEntry
	// vaultErrAt is when reading a key record last failed (UnixNano; 0: never).
	vaultErrAt atomic.Int64
}

type keyEntry struct {
	rec     *store.APIKey // nil: no such key
	fetched time.Time
}

const maxKeyCache = 10000

var errUnknownKey = errors.New("unknown API key")

// caller is an authenticated API key.
type caller struct {
	id       string
	patterns []string
	admin    bool
}

func (c *keyCache) authenticate(ctx context.Context, presented string) (caller, error) {
	id, secret, err := apikey.Parse(presented)
	if err != nil {
		return caller{}, err
	}
	rec, err := c.get(ctx, id)
	if err != nil {
		return caller{}, err
	}
	if rec == nil || !apikey.Verify(secret, rec.Hash) {
		return caller{}, errUnknownKey
	}
	return caller{id: id, patterns: rec.Connections, admin: rec.Admin}, nil
}

// forget drops the cached record of key id, so that the next request reads it again.
func (c *keyCache) forget(id string) {
	c.mu.Lock()
	delete(c.entries, id)
	c.mu.Unlock()
}

func (c *keyCache) get(ctx context.Context, id string) (*store.APIKey, error) {
	now := time.Now()
	c.mu.RLock()
	e, ok := c.entries[id]
	c.mu.RUnlock()
	if ok && now.Sub(e.fetched) < c.ttl {
		return e.rec, nil
	}
	load := func(ctx context.Context) (any, error) {
		rec, err := c.ks.GetAPIKey(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			rec, err = nil, nil
		}
		if err != nil {
			c.vaultErrAt.Store(time.Now().UnixNano())
			return nil, err
		}
		c.mu.Lock()
		if len(c.entries) >= maxKeyCache {
			clear(c.entries) // crude bound against floods of made-up key ids
		}
		c.entries[id] = keyEntry{rec: rec, fetched: time.Now()}
		c.mu.Unlock()
		return rec, nil
	}
	if ok && e.rec != nil && now.Sub(time.Unix(0, c.vaultErrAt.Load())) < c.ttl {
		// Vault failed recently: answer from the known record at once and re-read it in the
		// background, instead of making every caller wait for Vault's timeouts.
		c.group.DoChan(id, func() (any, error) {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			return load(rctx)
		})
		return e.rec, nil
	}
	v, err, _ := c.group.Do(id, func() (any, error) { return load(ctx) })
	if err != nil {
		if ok && e.rec != nil {
			// Vault cannot be read (outage): keep accepting a key we know rather than refuse
			// every caller while tokens are still being served from memory. A key revoked
			// during the outage is refused once Vault answers again.
			return e.rec, nil
		}
		return nil, err
	}
	rec, _ := v.(*store.APIKey)
	return rec, nil
}
