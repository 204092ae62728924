package connection

import (
	"context"
	"errors"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/oauth"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
)

// Summary describes one connection for `tokend list` and the status page: configuration
// and token status, never a secret.
type Summary struct {
	Name               string     `json:"name"`
	Type               string     `json:"type"`
	Provider           string     `json:"provider"`
	ProviderURL        string     `json:"provider_url"`
	ClientID           string     `json:"client_id"`
	Grant              string     `json:"grant_type"`
	Status             string     `json:"status"`
	Authorized         bool       `json:"authorized"`
	ExpiresAt          *time.Time `json:"expires_at"`
	RefreshTokenExpiry *time.Time `json:"refresh_token_expires_at,omitempty"`
	UpdatedAt          *time.Time `json:"updated_at,omitempty"`
	LastError          string     `json:"last_error,omitempty"`
	LastErrorAt        *time.Time `json:"last_error_at,omitempty"`
}

// Lister is what Overview reads: *store.Store, or tailortest.MemStore in unit tests.
type Lister interface {
	ListConnections(ctx context.Context) ([]string, error)
	GetConnection(ctx context.Context, name string) (*store.ConnectionRecord, error)
	GetTokenStatus(ctx context.Context, name string) (authconn.TokenStatus, error)
}

// Overview reads every connection's configuration and token status from st.
func Overview(ctx context.Context, st Lister) ([]Summary, error) {
	names, err := st.ListConnections(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Summary, 0, len(names))
	for _, n := range names {
		c, err := st.GetConnection(ctx, n)
		if errors.Is(err, store.ErrNotFound) {
			continue // deleted meanwhile, or only leftovers
		}
		if err != nil {
			return nil, err
		}
		ts, err := st.GetTokenStatus(ctx, n)
		if err != nil {
			return nil, err
		}
		s := Summary{Name: n, Type: c.Type, Provider: ProviderName(&c.Connection), ProviderURL: c.ProviderURL, ClientID: c.ClientID,
			Grant: c.Grant(), Status: string(ts.Status), Authorized: ts.Status == authconn.StatusAuthorized, LastError: ts.LastError}
		s.ExpiresAt, s.RefreshTokenExpiry, s.LastErrorAt = timePtr(ts.Expiry), timePtr(ts.RefreshTokenExpiry), timePtr(ts.LastErrorAt)
		s.UpdatedAt = timePtr(ts.UpdatedAt)
		out = append(out, s)
	}
	return out, nil
}

// ProviderName names the provider without network access: the preset, "custom" when both
// endpoints are set explicitly, else "oidc" (found by discovery).
func ProviderName(c *authconn.Connection) string {
	if p, _ := oauth.PresetFor(c.ProviderURL, c.IssuerURL); p != oauth.Generic {
		return p.Name
	}
	if c.AuthURL != "" && c.TokenURL != "" {
		return "custom"
	}
	return oauth.Generic.Name
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}
