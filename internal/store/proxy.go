package store

import (
	"context"
	"errors"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
)

// proxyBackoffPath is the record of connection name's proxy backoff.
func (s *Store) proxyBackoffPath(name string) string {
	return s.prefix + "/connections/" + name + "/proxy-backoff"
}

// ProxyBackoff is how long the API of a connection asked tokend's proxy to wait (a 429 or
// 503 with Retry-After): until Until no replica sends it a call. Version is the record's
// KV v2 version (0: none).
type ProxyBackoff struct {
	Until   time.Time `json:"until"`
	Status  int       `json:"status"`
	Version int       `json:"-"`
}

// GetProxyBackoff returns connection name's proxy backoff; a zero ProxyBackoff when there
// is none.
func (s *Store) GetProxyBackoff(ctx context.Context, name string) (ProxyBackoff, error) {
	if err := authconn.ValidateName(name); err != nil {
		return ProxyBackoff{}, err
	}
	var b ProxyBackoff
	v, err := s.record(ctx, "proxy backoff", name, s.proxyBackoffPath(name), &b)
	if errors.Is(err, ErrNotFound) {
		return ProxyBackoff{Version: v}, nil
	}
	b.Version = v
	return b, err
}

// PutProxyBackoff writes connection name's proxy backoff with check-and-set on b.Version
// (as read by GetProxyBackoff). A conflict means another replica wrote one meanwhile: it is
// kept, and nil is returned. Nothing caches it beyond a second, so no change-log entry.
func (s *Store) PutProxyBackoff(ctx context.Context, name string, b ProxyBackoff) error {
	if err := authconn.ValidateName(name); err != nil {
		return err
	}
	_, err := s.write(ctx, "proxy backoff", name, s.proxyBackoffPath(name), b, b.Version)
	if errors.Is(err, ErrConflict) {
		return nil
	}
	return err
}
