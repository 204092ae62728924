package api

import (
	"context"
	"errors"
	"time"
)

// KeyCache checks presented API keys against their records in Vault through the key cache
// (see keyCache). tokend builds one before the server and the status page and gives it to
// both (Options.KeyCache, console.Options.VerifyAdmin and KeyActive), and tells it of key
// changes from the change log (Forget).
type KeyCache struct{ c *keyCache }

// NewKeyCache returns a KeyCache that reads records from ks and keeps them for ttl [30s];
// limit, when not nil, is charged for every key that is not a known one (Options.FailLimit).
func NewKeyCache(ks KeyStore, ttl time.Duration, limit Limiter) *KeyCache {
	if ttl <= 0 {
		ttl = 30 * time.Second
	}
	return &KeyCache{c: newKeyCache(ks, ttl, limit)}
}

// Forget drops the cached record of API key id (created, revoked or deleted elsewhere): the
// change log tells every replica within about a second, instead of the cache's TTL.
func (k *KeyCache) Forget(id string) { k.c.forget(id) }

// VerifyAdmin checks a presented admin API key and returns its id: the status page's
// sign-in uses it.
func (k *KeyCache) VerifyAdmin(ctx context.Context, presented string) (string, error) {
	c, err := k.c.authenticate(ctx, presented, nil)
	if err != nil {
		return "", err
	}
	if !c.admin {
		return "", errors.New("this API key is not an admin key: create one with `tokend keys create --admin`")
	}
	return c.id, nil
}

// AdminKeyActive reports whether admin key id still exists (a status-page session ends
// when its key is revoked, within the key cache's TTL).
func (k *KeyCache) AdminKeyActive(ctx context.Context, id string) bool {
	rec, err := k.c.get(ctx, id)
	return err == nil && rec != nil && rec.Admin
}

// Describe returns the description of API key id from the cache ("" when it is not cached):
// the audit trail's caller description (audit.Options.Describe), never a Vault read.
func (k *KeyCache) Describe(id string) string {
	if e, ok := k.c.known.Peek(id); ok {
		return e.rec.Description
	}
	return ""
}
