// Package wire is the contract of tokend's HTTP API as both sides see it: the body of a
// token answer, of a connection's view and the list of them, of an error answer, and the
// error codes. The server
// (internal/api, internal/broker) writes these and the Go client (tokend/client) reads
// them; the JavaScript client (functions/js/client.mjs) reads the same JSON. Standard
// library only, and no import of the module's own packages, so every side may import it.
package wire

import "time"

// Token is the body of a 200 answer of GET /v1/connections/{name}/token:
// {"access_token","token_type","expires_at"}, the hosted original's fields, plus, for a
// connection whose catalog entry declares them, "metadata" and "api_base_url" (absent when
// empty, so a connection without them answers the original's body byte for byte).
type Token struct {
	// AccessToken is the connection's access token.
	AccessToken string `json:"access_token"`
	// TokenType is the token's type, "Bearer" when the provider gave none.
	TokenType string `json:"token_type"`
	// ExpiresAt is when the token expires, in UTC and whole seconds (RFC 3339).
	ExpiresAt time.Time `json:"expires_at"`
	// Metadata are the connection's non-secret values a function needs to call the API
	// (QuickBooks realmId, Salesforce instance_url, a Xero tenant id, ...), as its catalog
	// entry declares them. Never a token or a secret.
	Metadata map[string]string `json:"metadata,omitempty"`
	// APIBaseURL is the connection's API base URL: the entry's template filled in from the
	// connection's parameters and metadata.
	APIBaseURL string `json:"api_base_url,omitempty"`
}

// String hides the token.
func (t *Token) String() string { return "Token(expires_at=" + t.ExpiresAt.Format(time.RFC3339) + ")" }

// Connection is a connection's non-secret view: the body of a 200 answer of GET
// /v1/connections/{name}, and each element of GET /v1/connections's "connections". It never
// holds a token or a secret; any permission of the caller's key on the connection may read it.
type Connection struct {
	// Name is the connection's name.
	Name string `json:"name"`
	// Status is authorized, needs_reauthorization or not_authorized (from Vault).
	Status string `json:"status"`
	// ExpiresAt is when the stored access token expires, when there is one.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	// LastError and LastErrorAt are the last refresh or authorization failure any replica
	// stored, one line.
	LastError   string     `json:"last_error,omitempty"`
	LastErrorAt *time.Time `json:"last_error_at,omitempty"`
	// Cached is true when the answering replica holds a valid access token in memory.
	Cached bool `json:"cached"`
	// RefreshFailures counts the answering replica's consecutive failed refresh attempts;
	// NextAttemptAt is when it tries again, and LocalError its last failure, one line.
	RefreshFailures int        `json:"refresh_failures,omitempty"`
	NextAttemptAt   *time.Time `json:"next_attempt_at,omitempty"`
	LocalError      string     `json:"local_error,omitempty"`
	// Metadata and APIBaseURL are as in Token: the connection's non-secret values and API
	// base URL, absent when its catalog entry declares none.
	Metadata   map[string]string `json:"metadata,omitempty"`
	APIBaseURL string            `json:"api_base_url,omitempty"`
}

// ConnectionList is the body of a 200 answer of GET /v1/connections: the connections the
// caller's key may use, never null.
type ConnectionList struct {
	Connections []Connection `json:"connections"`
}

// Error is the body of every error answer of tokend: {"error","message"}.
type Error struct {
	// Error is the error code, one of the Code constants.
	Error string `json:"error"`
	// Message says what went wrong and what to do, for a person.
	Message string `json:"message"`
}

// The error codes tokend answers with (Error.Error). They are the protocol: clients
// branch on them.
const (
	// CodeNotFound (404): no such connection (or, from the admin API, no such link or route).
	CodeNotFound = "not_found"
	// CodeInvalidName (400): not a valid connection name.
	CodeInvalidName = "invalid_name"
	// CodeInvalidRequest (400): a malformed admin API request.
	CodeInvalidRequest = "invalid_request"
	// CodeNotAuthorized (409): the connection was never authorized, or was revoked.
	CodeNotAuthorized = "not_authorized"
	// CodeNeedsReauthorization (409): the provider refused the refresh token.
	CodeNeedsReauthorization = "needs_reauthorization"
	// CodeUnavailable (503): no valid token right now; see Retry-After.
	CodeUnavailable = "unavailable"
	// CodeUnauthenticated (401): no, unknown or revoked API key.
	CodeUnauthenticated = "unauthenticated"
	// CodeForbidden (403): the key may not use the connection (or the request is refused).
	CodeForbidden = "forbidden"
	// CodeInternal (500): an internal error; tokend's log has it.
	CodeInternal = "internal"
	// CodeVaultUnreachable: Vault cannot be reached. No route of this tokend answers it
	// today (/readyz answers {"status":"not ready"}); it is kept because tokend/client
	// exports it.
	CodeVaultUnreachable = "vault_unreachable"
	// CodeRateLimited (429): too many failed API keys from one address, or (the proxy) the
	// connection's API asked to wait; see Retry-After.
	CodeRateLimited = "rate_limited"
	// CodeHostNotAllowed (403, the proxy): the host asked for is not the connection's API
	// base URL's nor one of its proxy_allowed_hosts, or the path leaves the base path.
	CodeHostNotAllowed = "host_not_allowed"
	// CodeUpstreamUnreachable (502, the proxy): the connection's API could not be reached
	// (refused by the egress policy, connection failed, timed out).
	CodeUpstreamUnreachable = "upstream_unreachable"
	// CodeNoAPIBaseURL (409, the proxy): the connection has no API base URL (its catalog
	// entry names none and no proxy_base_url is set).
	CodeNoAPIBaseURL = "no_api_base_url"
)
