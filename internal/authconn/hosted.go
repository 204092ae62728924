package authconn

import "time"

// PendingAuthorization is an authorization-code flow begun by tokend serve (hosted
// authorize) and not completed yet. It is kept in Vault so that the callback may land on
// any replica; it is single-use and expires. State, Nonce and Verifier (PKCE) are secrets.
type PendingAuthorization struct {
	Connection  string    `json:"connection"`
	LinkID      string    `json:"link_id,omitempty"`
	State       string    `json:"state"`
	Nonce       string    `json:"nonce,omitempty"`
	Verifier    string    `json:"verifier,omitempty"`
	RedirectURL string    `json:"redirect_url"`
	Scopes      []string  `json:"scopes"`
	CreatedAt   time.Time `json:"created_at"`
	ExpiresAt   time.Time `json:"expires_at"`
	ConsumedAt  time.Time `json:"consumed_at,omitzero"`
	// NewAccount: an operator allowed this flow to replace the connection's account (a
	// new-account link, the status page's checkbox).
	NewAccount bool `json:"new_account,omitempty"`
}

// String hides the secrets.
func (p PendingAuthorization) String() string { return "PendingAuthorization(" + p.Connection + ")" }

// ConnectLink lets whoever holds its token authorize one connection, with its scopes and
// the hosted redirect URI, without Vault access. Only a hash of the token is kept.
type ConnectLink struct {
	ID          string    `json:"id"`
	Hash        string    `json:"hash"`
	Connection  string    `json:"connection"`
	Scopes      []string  `json:"scopes,omitempty"`
	Description string    `json:"description,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	ExpiresAt   time.Time `json:"expires_at"`
	UsedAt      time.Time `json:"used_at,omitzero"`
	RevokedAt   time.Time `json:"revoked_at,omitzero"`
	// NewAccount: whoever uses the link may authorize with another account than the
	// connection's recorded one (tokend authorize NAME --link --new-account, the admin API's
	// new_account, the status page's checkbox). Without it, another account is refused.
	NewAccount bool `json:"new_account,omitempty"`
}

// LinkOptions describe a connect link to create.
type LinkOptions struct {
	// Name is the connection the link authorizes.
	Name string
	// Scopes are requested (the connection's when empty).
	Scopes []string
	// TTL is how long the link works (a default when zero).
	TTL         time.Duration
	Description string
	// NewAccount lets the link's holder authorize with another account than the
	// connection's recorded one (without it, another account is refused).
	NewAccount bool
}

// LinkState is a connect link's state at a time.
type LinkState string

// The states of a connect link.
const (
	LinkActive  LinkState = "active"
	LinkUsed    LinkState = "used"
	LinkExpired LinkState = "expired"
	LinkRevoked LinkState = "revoked"
)

// State returns l's state at t: revoked, used and expired in that order of precedence.
func (l *ConnectLink) State(t time.Time) LinkState {
	switch {
	case !l.RevokedAt.IsZero():
		return LinkRevoked
	case !l.UsedAt.IsZero():
		return LinkUsed
	case !t.Before(l.ExpiresAt):
		return LinkExpired
	}
	return LinkActive
}
