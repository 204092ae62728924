// Package oauth is the OAuth2 protocol for tailor connections, on top of golang.org/x/oauth2:
// endpoint discovery (OpenID Connect Discovery and RFC 8414), provider presets (the entries
// of internal/catalog, and a generic OpenID Connect entry), the authorization-code flow with
// PKCE, state, nonce and the RFC 9207 iss check, refresh, revocation, connection metadata
// and how a provider's API takes the token.
//
// It is the only package that talks to OAuth2 providers, and it stores nothing: like
// x/oauth2, it returns a Token that describes what the provider answered, and leaves
// keeping it (and merging it with what was kept before) to the caller. Provider quirks are
// data, in the catalog's entries: no code here names a provider.
package oauth

import (
	"net/http"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/egress"
)

// Client performs OAuth2 requests. The zero value is usable.
type Client struct {
	// HTTP is the client used for provider requests; when nil, the egress policy's client
	// (egress.Client, 30 s timeout): no redirects, internal addresses only at the origins an
	// operator typed for the connection. Tests may set another.
	HTTP *http.Client
	// Now returns the current time; time.Now when nil.
	Now func() time.Time
}

var defaultHTTP = egress.Client(30 * time.Second)

func (c *Client) http() *http.Client {
	if c != nil && c.HTTP != nil {
		return c.HTTP
	}
	return defaultHTTP
}

func (c *Client) now() time.Time {
	if c != nil && c.Now != nil {
		return c.Now()
	}
	return time.Now()
}
