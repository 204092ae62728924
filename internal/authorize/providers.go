package authorize

import (
	"context"
	"sync"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/oauth"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
)

// ProviderCacheTTL is how long the hosted flow keeps a connection's resolved provider
// (discovery included) for one version of its configuration.
const ProviderCacheTTL = 5 * time.Minute

// providerCache keeps resolved providers per connection and configuration version, so
// that hosted flows (a link opened again, callbacks) do not fetch discovery each time. A new
// configuration version resolves again at once.
type providerCache struct {
	mu      sync.Mutex
	entries map[string]cachedProvider
}

type cachedProvider struct {
	version int
	at      time.Time
	p       *oauth.Provider
}

// maxCachedProviders bounds the cache; it is emptied of expired entries when full.
const maxCachedProviders = 1024

// resolve returns conn's provider from the cache, or resolves it with oc and caches it.
func (c *providerCache) resolve(ctx context.Context, oc *oauth.Client, conn *store.ConnectionRecord) (*oauth.Provider, error) {
	now := time.Now()
	c.mu.Lock()
	e, ok := c.entries[conn.Name]
	c.mu.Unlock()
	if ok && e.version == conn.Version && now.Sub(e.at) < ProviderCacheTTL {
		return e.p, nil
	}
	p, err := oc.Resolve(ctx, &conn.Connection)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[string]cachedProvider{}
	}
	if len(c.entries) >= maxCachedProviders {
		for n, old := range c.entries {
			if now.Sub(old.at) >= ProviderCacheTTL {
				delete(c.entries, n)
			}
		}
	}
	if len(c.entries) < maxCachedProviders {
		c.entries[conn.Name] = cachedProvider{version: conn.Version, at: now, p: p}
	}
	return p, nil
}
