package connection

import (
	"context"
	"errors"
	"fmt"
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
	// ClientSecretExpiresAt is when the client secret expires, when the connection records
	// it; ClientSecretExpiry says it in words at the time of the overview ("expires in 12
	// days", "expired").
	ClientSecretExpiresAt *time.Time `json:"client_secret_expires_at,omitempty"`
	ClientSecretExpiry    string     `json:"client_secret_expiry,omitempty"`
	// Metadata and APIBaseURL are the connection's non-secret values its provider's catalog
	// entry names (realmId, instance_url, a tenant id) and its API base URL, from the token
	// status summary.
	Metadata   map[string]string `json:"metadata,omitempty"`
	APIBaseURL string            `json:"api_base_url,omitempty"`
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
		s.ClientSecretExpiresAt = timePtr(c.ClientSecretExpiresAt)
		s.ClientSecretExpiry = SecretExpiryText(c.ClientSecretExpiresAt, time.Now())
		s.Metadata, s.APIBaseURL = ts.Metadata, ts.APIBaseURL
		out = append(out, s)
	}
	return out, nil
}

// SecretExpiryText says when a client secret expiring at expiresAt expires, seen at now:
// "expires in N days" (N rounded up), "expired", or "" when no date is recorded.
func SecretExpiryText(expiresAt, now time.Time) string {
	if expiresAt.IsZero() {
		return ""
	}
	left := expiresAt.Sub(now)
	if left <= 0 {
		return "expired"
	}
	days := int((left + 24*time.Hour - 1) / (24 * time.Hour))
	return fmt.Sprintf("expires in %d %s", days, plural(days, "day"))
}

// ProviderName names the provider without network access: the connection's catalog entry
// when it names one, else the entry its URLs belong to, "custom" when both endpoints are set
// explicitly, else "oidc" (found by discovery).
func ProviderName(c *authconn.Connection) string {
	if c.Provider != "" {
		return c.Provider
	}
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
