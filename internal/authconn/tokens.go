package authconn

import (
	"fmt"
	"time"
)

// Status is the authorization state of a connection.
type Status string

const (
	// StatusAuthorized: the token set can be used and refreshed.
	StatusAuthorized Status = "authorized"
	// StatusNeedsReauthorization: the provider refused the refresh token (invalid_grant);
	// someone must authorize the connection again.
	StatusNeedsReauthorization Status = "needs_reauthorization"
	// StatusNotAuthorized: no token set is stored (the status of a connection without tokens).
	StatusNotAuthorized Status = "not_authorized"
	// StatusFailed: the provider refused the client's own request for a client-credentials
	// token (invalid_client, unauthorized_client, invalid_scope, ...): authorizing cannot
	// help; fix the connection's credentials or configuration. tokend keeps retrying with
	// backoff and serves a still-valid access token meanwhile.
	StatusFailed Status = "failed"
)

// TokenSet is the token record of one connection.
type TokenSet struct {
	AccessToken  string    `json:"access_token,omitempty"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	TokenType    string    `json:"token_type,omitempty"`
	Expiry       time.Time `json:"expiry,omitempty"`
	// ExpiryGuessed is true when the provider sent no expires_in and Expiry is a fallback.
	ExpiryGuessed bool   `json:"expiry_guessed,omitempty"`
	Scope         string `json:"scope,omitempty"`
	// RefreshTokenExpiry is when the refresh token expires, when the provider says
	// (QuickBooks: x_refresh_token_expires_in, a rolling 100 days).
	RefreshTokenExpiry time.Time `json:"refresh_token_expiry,omitempty"`
	// RefreshTokenHardExpiry is an absolute limit on the refresh token chain, when the
	// provider says (QuickBooks: x_refresh_token_lifetime_expires_in, 5 years).
	RefreshTokenHardExpiry time.Time `json:"refresh_token_hard_expiry,omitempty"`
	// Extra holds the other fields of the last token response (id_token, x_* fields, ...).
	Extra map[string]any `json:"extra,omitempty"`
	// Metadata holds the non-secret values the provider's catalog entry names: from the
	// callback, the token response, and the call made after connecting (Salesforce
	// instance_url, Slack team_id, Xero tenant_id). They fill the entry's templates.
	Metadata map[string]string `json:"metadata,omitempty"`
	// APIBaseURL is the connection's API base URL: its entry's template filled in from the
	// connection's parameters and Metadata when the tokens were stored (empty when the entry
	// declares none).
	APIBaseURL string `json:"api_base_url,omitempty"`
	// CallbackExtras holds extra values from the authorization callback (QuickBooks realmId).
	CallbackExtras map[string]string `json:"callback_extras,omitempty"`

	Status      Status    `json:"status"`
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitempty"`
	// AuthorizedAt is when the authorization that started this token chain was stored.
	AuthorizedAt time.Time `json:"authorized_at,omitempty"`
	// RefreshedAt is when the access token was last refreshed.
	RefreshedAt time.Time `json:"refreshed_at,omitempty"`
	// Scopes are the scopes requested at authorization; refreshes ask for the same ones.
	Scopes []string `json:"scopes,omitempty"`
	// Grant is the grant the tokens came from: GrantClientCredentials, or empty for the
	// authorization-code grant (browser or device flow).
	Grant string `json:"grant,omitempty"`
	// ValidAfterRefresh: the provider keeps AccessToken valid until Expiry even after it is
	// refreshed (Google, Microsoft, QuickBooks), so replicas serve it until then while the
	// next one is fetched ahead. False, the safe default, for providers that revoke it on
	// refresh (Ory Hydra) or are not known to keep it.
	ValidAfterRefresh bool `json:"valid_after_refresh,omitempty"`
	// IssuedBy records where this token chain came from: the token endpoint's origin (and
	// revocation endpoint's, and the issuer) at authorization. A refresh or revocation is
	// sent only there; nil for records written before it was kept.
	IssuedBy *Issuance `json:"issued_by,omitempty"`
	// Account records who authorized the connection (issuer and subject, tenant, realm); a
	// later authorization with another account is refused unless an operator asked for a
	// new account. Nil when the provider says nothing about the account.
	Account *Account `json:"account,omitempty"`
}

// Issuance is where a token chain was issued: the only endpoints its refresh token may be
// sent to.
type Issuance struct {
	// TokenOrigin is the origin (Origin) of the token endpoint that issued the tokens.
	TokenOrigin string `json:"token_origin,omitempty"`
	// RefreshOrigin is the origin of the refresh endpoint, when the provider's catalog entry
	// names one on another origin than the token endpoint's (empty: TokenOrigin).
	RefreshOrigin string `json:"refresh_origin,omitempty"`
	// RevocationOrigin is the origin of the revocation endpoint known at authorization.
	RevocationOrigin string `json:"revocation_origin,omitempty"`
	// Issuer is the OpenID Connect / RFC 8414 issuer, when known.
	Issuer string `json:"issuer,omitempty"`
}

// Account identifies who authorized a connection at the provider. Which fields are set
// depends on the provider: Issuer and Subject from an ID token or userinfo, Tenant for
// Microsoft (tid), Realm for QuickBooks (realmId).
type Account struct {
	Issuer  string `json:"issuer,omitempty"`
	Subject string `json:"subject,omitempty"`
	Tenant  string `json:"tenant,omitempty"`
	Realm   string `json:"realm,omitempty"`
}

// Servable reports whether the record's status lets its access token be served: authorized,
// or failed (a client-credentials token stays valid while its renewal is refused).
func (t *TokenSet) Servable() bool {
	return t.Status == "" || t.Status == StatusAuthorized || t.Status == StatusFailed
}

// String hides the tokens from fmt and loggers.
func (t TokenSet) String() string {
	return fmt.Sprintf("TokenSet(status=%s, expiry=%s)", t.Status, t.Expiry.Format(time.RFC3339))
}

// GoString hides the tokens from %#v.
func (t TokenSet) GoString() string { return t.String() }

// TokenStatus is the non-secret summary of a token record, which roles without read access
// to the tokens (Terraform) can see.
type TokenStatus struct {
	Status             Status
	Expiry             time.Time
	RefreshTokenExpiry time.Time
	LastError          string
	LastErrorAt        time.Time
	UpdatedAt          time.Time
	// Metadata and APIBaseURL are TokenSet's: non-secret, so the summary carries them to
	// readers without access to the tokens (Terraform).
	Metadata   map[string]string
	APIBaseURL string
}

// Summary returns the non-secret summary of t.
func (t *TokenSet) Summary() TokenStatus {
	return TokenStatus{
		Status: t.Status, Expiry: t.Expiry, RefreshTokenExpiry: t.RefreshTokenExpiry,
		LastError: t.LastError, LastErrorAt: t.LastErrorAt,
		Metadata: t.Metadata, APIBaseURL: t.APIBaseURL,
	}
}
