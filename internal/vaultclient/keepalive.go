package vaultclient

import (
	"context"
	"time"

	vault "github.com/hashicorp/vault/api"
)

// startKeepalive runs keepalive in the background until Close.
func (c *Client) startKeepalive(m method, secret *vault.Secret) {
	ctx, cancel := context.WithCancel(context.Background())
	c.stop, c.done = cancel, make(chan struct{})
	go c.keepalive(ctx, m, secret)
}

// keepalive keeps the client's token usable until ctx ends. At two thirds of the token's
// TTL it renews a renewable token; when the renewal comes back shorter than two thirds of
// the first TTL (the token's max TTL is near), when the token is not renewable, or when the
// renewal fails, it logs in again with m while the current token still lives for a third of
// its TTL. (vault/api's LifetimeWatcher keeps only about a tenth of the TTL for that, too
// little for short-lived tokens on a busy machine.) A given token (m nil) cannot be
// replaced: keepalive renews it while it can and then logs when it will expire.
func (c *Client) keepalive(ctx context.Context, m method, secret *vault.Secret) {
	defer close(c.done)
	if m == nil {
		if secret = c.lookupSelf(ctx); secret == nil {
			return // never expires, or unknown: Verify reports a bad token
		}
	}
	for {
		if !c.outlive(ctx, secret) {
			return
		}
		if m == nil {
			c.log.Warn("the Vault token cannot be renewed any further; give tokend a new one before it expires, or log in with AppRole or JWT so that tokend logs in again by itself",
				"expires_at", c.expiresAt().UTC().Format(time.RFC3339))
			return
		}
		if secret = c.relogin(ctx, m); secret == nil {
			return
		}
	}
}

// outlive renews secret's token while renewals keep it alive long enough, and returns true
// when it needs replacing, or false when ctx ends.
func (c *Client) outlive(ctx context.Context, secret *vault.Secret) bool {
	if secret.Auth == nil || secret.Auth.LeaseDuration <= 0 {
		<-ctx.Done() // a token without a TTL (root, or periodic with none) never expires
		return false
	}
	first := time.Duration(secret.Auth.LeaseDuration) * time.Second
	lease := first
	for {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(lease * 2 / 3):
		}
		if !secret.Auth.Renewable {
			return true
		}
		r, err := c.Auth().Token().RenewSelfWithContext(ctx, int(first/time.Second))
		if err != nil || r == nil || r.Auth == nil {
			if ctx.Err() == nil {
				c.log.Warn("renewing the Vault token failed", "error", cleanErr(err))
			}
			return ctx.Err() == nil
		}
		lease = c.remaining(ctx, time.Duration(r.Auth.LeaseDuration)*time.Second)
		c.setState(nil, time.Now().Add(lease))
		c.log.Debug("renewed the Vault token", "ttl", lease.String())
		if lease < first*2/3 {
			return true // the max TTL is near
		}
	}
}

// remaining is how long the token lives now, from lookup-self's expire_time: renewals
// report whole seconds, rounded, which near the max TTL can be a second too long. It falls
// back to reported less a second.
func (c *Client) remaining(ctx context.Context, reported time.Duration) time.Duration {
	s, err := c.Auth().Token().LookupSelfWithContext(ctx)
	if err == nil && s != nil {
		if v, ok := s.Data["expire_time"].(string); ok {
			if exp, err := time.Parse(time.RFC3339Nano, v); err == nil {
				return time.Until(exp)
			}
		}
	}
	return max(reported-time.Second, 0)
}

// relogin logs in with m until it succeeds or ctx ends, backing off from one second to a
// minute. Every failure is logged with its actionable error and recorded for Health.
func (c *Client) relogin(ctx context.Context, m method) *vault.Secret {
	for backoff := time.Second; ; backoff = min(backoff*2, time.Minute) {
		lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		secret, err := c.loginOnce(lctx, m)
		cancel()
		if err == nil {
			c.log.Info("logged in to Vault again", "method", m.name(), "ttl_seconds", secret.Auth.LeaseDuration)
			return secret
		}
		if ctx.Err() != nil {
			return nil
		}
		c.mu.Lock()
		c.problem = err
		c.mu.Unlock()
		c.log.Error("Vault login failed; tokend keeps its current token until it expires and tries again", "method", m.name(), "retry_in", backoff.String(), "error", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
	}
}

// lookupSelf describes a given token as a login secret, for the LifetimeWatcher: nil when
// it does not expire or cannot be looked up.
func (c *Client) lookupSelf(ctx context.Context) *vault.Secret {
	s, err := c.Auth().Token().LookupSelfWithContext(ctx)
	if err != nil || s == nil {
		return nil
	}
	ttl, err := s.TokenTTL()
	if err != nil || ttl <= 0 {
		return nil
	}
	renewable, _ := s.TokenIsRenewable()
	c.setState(nil, time.Now().Add(ttl))
	return &vault.Secret{Auth: &vault.SecretAuth{ClientToken: c.Token(), Renewable: renewable, LeaseDuration: int(ttl / time.Second)}}
}

func (c *Client) expiresAt() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.expires
}
