package proxy

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/broker"
	"github.com/authconnection/terraform-provider-tailor/internal/oauth"
	"github.com/authconnection/terraform-provider-tailor/internal/wire"
)

// config is what the proxy needs of a connection's configuration.
type config struct {
	version  int
	fetched  time.Time
	provider *oauth.Provider // how the API takes the token
	// proxyBase is proxy_base_url parsed (nil: the token record's API base URL).
	proxyBase *url.URL
	// hosts are proxy_allowed_hosts, lowercase; typed the operator-typed origins the egress
	// policy lets reach internal addresses: proxy_base_url, the allowed hosts, host overrides.
	hosts []string
	typed []string

	// apiBase is the last API base URL of a token record parsed, with its parse.
	apiBase atomic.Pointer[parsedURL]
}

type parsedURL struct {
	raw string
	u   *url.URL
}

// base returns the URL the connection's calls go under: proxy_base_url, else the API base
// URL of its token record (its catalog entry's, filled from metadata).
func (c *config) base(tok *broker.Token) (*url.URL, *Error) {
	if c.proxyBase != nil {
		return c.proxyBase, nil
	}
	if p := c.apiBase.Load(); p != nil && tok.APIBaseURL != "" && p.raw == tok.APIBaseURL {
		return p.u, nil
	}
	u, err := url.Parse(tok.APIBaseURL)
	if tok.APIBaseURL == "" || err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, &Error{Status: http.StatusConflict, Code: wire.CodeNoAPIBaseURL,
			Message: "the connection has no API base URL: its catalog entry names none; set proxy_base_url on it"}
	}
	c.apiBase.Store(&parsedURL{raw: tok.APIBaseURL, u: u})
	return u, nil
}

// configCache keeps each connection's config for ttl.
type configCache struct {
	conns Connections
	oauth Resolver
	ttl   time.Duration
	now   func() time.Time

	m sync.Map // connection name → *config
}

func newConfigCache(conns Connections, r Resolver, ttl time.Duration, now func() time.Time) *configCache {
	return &configCache{conns: conns, oauth: r, ttl: ttl, now: now}
}

// get returns connection name's config, read again after ttl (the provider resolved again
// only when the record's version moved).
func (cc *configCache) get(ctx context.Context, name string) (*config, error) {
	var old *config
	if v, ok := cc.m.Load(name); ok {
		old = v.(*config)
	}
	if old != nil && cc.now().Sub(old.fetched) < cc.ttl {
		return old, nil
	}
	rec, err := cc.conns.GetConnection(ctx, name)
	if err != nil {
		if old != nil {
			return old, nil // Vault is down: the last configuration read still holds
		}
		return nil, err
	}
	c := &config{version: rec.Version, fetched: cc.now()}
	if old != nil && old.version == rec.Version {
		c.provider = old.provider
	} else if c.provider, err = cc.oauth.Resolve(ctx, &rec.Connection); err != nil {
		return nil, err
	}
	if rec.ProxyBaseURL != "" {
		if c.proxyBase, err = url.Parse(rec.ProxyBaseURL); err != nil {
			return nil, err
		}
		c.typed = append(c.typed, rec.ProxyBaseURL)
	}
	for _, h := range rec.ProxyAllowedHosts {
		c.hosts = append(c.hosts, strings.ToLower(h))
		c.typed = append(c.typed, "https://"+h, "http://"+h)
	}
	for _, o := range rec.HostOverrides {
		c.typed = append(c.typed, o)
	}
	cc.m.Store(name, c)
	return c, nil
}
