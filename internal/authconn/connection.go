package authconn

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

// TypeOAuth2 is the only connection type supported today.
const TypeOAuth2 = "TYPE_OAUTH2"

// Types lists the allowed values of Connection.Type.
var Types = []string{TypeOAuth2}

// ValidateType reports whether t is an allowed connection type.
func ValidateType(t string) error {
	for _, ok := range Types {
		if t == ok {
			return nil
		}
	}
	return fmt.Errorf("invalid connection type %q: allowed: %s", t, strings.Join(Types, ", "))
}

// Grants a connection may use (Connection.GrantType).
const (
	// GrantAuthorizationCode: someone authorizes the connection once (browser or device
	// flow); tokend refreshes with the refresh token. The default.
	GrantAuthorizationCode = "authorization_code"
	// GrantClientCredentials: the application's own access (RFC 6749 4.4); tokend obtains a
	// token with the client's credentials on first use and before expiry, no authorization.
	GrantClientCredentials = "client_credentials"
)

// GrantTypes lists the allowed values of Connection.GrantType.
var GrantTypes = []string{GrantAuthorizationCode, GrantClientCredentials}

// How a client authenticates at the token endpoint (Connection.ClientAuth).
const (
	// ClientAuthAuto takes the method from the provider's metadata or preset.
	ClientAuthAuto = ""
	// ClientAuthBasic sends the client id and secret in HTTP basic authentication.
	ClientAuthBasic = "client_secret_basic"
	// ClientAuthPost sends them in the request body.
	ClientAuthPost = "client_secret_post"
	// ClientAuthPrivateKeyJWT sends a JWT signed with the client's private key (RFC 7523,
	// OpenID Connect Core 9); the connection needs a client assertion key, no secret.
	ClientAuthPrivateKeyJWT = "private_key_jwt"
)

// ClientAuthMethods lists the allowed values of Connection.ClientAuth besides the automatic one.
var ClientAuthMethods = []string{ClientAuthBasic, ClientAuthPost, ClientAuthPrivateKeyJWT}

// Connection is the configuration of one OAuth2 connection. It holds no secret.
type Connection struct {
	Name          string   `json:"name"`
	Type          string   `json:"type"`
	ProviderURL   string   `json:"provider_url"`
	IssuerURL     string   `json:"issuer_url,omitempty"`
	ClientID      string   `json:"client_id"`
	AuthURL       string   `json:"auth_url,omitempty"`
	TokenURL      string   `json:"token_url,omitempty"`
	RevocationURL string   `json:"revocation_url,omitempty"`
	Scopes        []string `json:"scopes,omitempty"`
	// GrantType is GrantAuthorizationCode (also when empty) or GrantClientCredentials.
	GrantType string `json:"grant_type,omitempty"`
	// ClientAuth is the client authentication method; ClientAuthAuto when empty.
	ClientAuth string `json:"client_auth,omitempty"`
	// Audience is sent as the audience parameter of token requests, when set (Auth0, Okta).
	Audience string `json:"audience,omitempty"`
	// Resources are sent as RFC 8707 resource parameters of token requests.
	Resources []string `json:"resources,omitempty"`
	// AssertionKeyID is the kid of the client assertion key (private_key_jwt); the key's
	// RFC 7638 thumbprint when empty.
	AssertionKeyID string `json:"client_assertion_key_id,omitempty"`
	// Provider names the catalog entry of the connection's provider ("salesforce"); empty:
	// the entry whose hosts hold provider_url's or issuer_url's host, else the generic one.
	Provider string `json:"provider,omitempty"`
	// Params are the connection's values of its entry's parameters (a subdomain, a tenant);
	// each is checked against the entry's pattern where it is used.
	Params map[string]string `json:"params,omitempty"`
	// ClientSecretExpiresAt is when the client secret expires, when known (zero: never or
	// unknown).
	ClientSecretExpiresAt time.Time `json:"client_secret_expires_at,omitzero"`
	// HostOverrides maps a host of the connection's catalog entry to the origin to use
	// instead (https://127.0.0.1:8443, a private gateway, a test double): every URL derived
	// from the entry on that host (authorize, token, refresh, revocation, device, the
	// post-connect metadata call, the API base URL) goes to that origin. See
	// ValidateHostOverride.
	HostOverrides map[string]string `json:"host_overrides,omitempty"`
	// ProxyBaseURL is where tokend's proxy sends this connection's API calls
	// (/v1/connections/{name}/proxy/...) instead of the catalog entry's API base URL;
	// ProxyAllowedHosts are further hosts ("uploads.example.com", "host:port") a proxy call
	// may name. Both are operator-typed (ValidateProxyBaseURL, ValidateProxyHost): the
	// access token is sent there, so they are endpoint origins (EndpointOrigins).
	ProxyBaseURL      string   `json:"proxy_base_url,omitempty"`
	ProxyAllowedHosts []string `json:"proxy_allowed_hosts,omitempty"`
	// Discovered is the discovery result pinned when the connection was created or last
	// updated; nil when the connection needs no discovery (or was stored before pinning).
	Discovered *Discovered `json:"discovered,omitempty"`

	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Validate reports every problem with c in one error.
func (c *Connection) Validate() error {
	var errs []error
	if err := ValidateName(c.Name); err != nil {
		errs = append(errs, err)
	}
	if err := ValidateType(c.Type); err != nil {
		errs = append(errs, err)
	}
	if c.ProviderURL == "" {
		errs = append(errs, errors.New("provider_url is required"))
	} else if err := ValidateURL("provider_url", c.ProviderURL); err != nil {
		errs = append(errs, err)
	}
	if err := ValidateClientID(c.ClientID); err != nil {
		errs = append(errs, err)
	}
	for _, f := range []struct{ name, v string }{
		{"issuer_url", c.IssuerURL}, {"auth_url", c.AuthURL}, {"token_url", c.TokenURL}, {"revocation_url", c.RevocationURL},
	} {
		if f.v != "" {
			if err := ValidateURL(f.name, f.v); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for _, s := range c.Scopes {
		if err := ValidateScope(s); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, ValidateGrantType(c.GrantType), ValidateClientAuth(c.ClientAuth))
	for _, r := range c.Resources {
		errs = append(errs, ValidateResource(r))
	}
	for k, v := range c.Params {
		errs = append(errs, ValidateParam(k, v))
	}
	for h, o := range c.HostOverrides {
		errs = append(errs, ValidateHostOverride(h, o))
	}
	if c.ProxyBaseURL != "" {
		errs = append(errs, ValidateProxyBaseURL(c.ProxyBaseURL))
	}
	for _, h := range c.ProxyAllowedHosts {
		errs = append(errs, ValidateProxyHost(h))
	}
	return errors.Join(errs...)
}

// Grant returns the connection's grant type: GrantAuthorizationCode when none is set.
func (c *Connection) Grant() string {
	if c.GrantType == "" {
		return GrantAuthorizationCode
	}
	return c.GrantType
}

// UsesClientCredentials reports whether the connection gets its tokens with the client
// credentials grant (no authorization, no refresh token).
func (c *Connection) UsesClientCredentials() bool { return c.GrantType == GrantClientCredentials }

// ValidateGrantType reports whether g is an allowed grant type ("" is the default).
func ValidateGrantType(g string) error {
	if g == "" || slices.Contains(GrantTypes, g) {
		return nil
	}
	return fmt.Errorf("invalid grant_type %q: use %s (the default: someone authorizes once) or %s (the application's own access, no authorization)",
		g, GrantAuthorizationCode, GrantClientCredentials)
}

// ValidateClientAuth reports whether m is an allowed client authentication method ("" takes
// it from the provider's metadata).
func ValidateClientAuth(m string) error {
	if m == ClientAuthAuto || slices.Contains(ClientAuthMethods, m) {
		return nil
	}
	return fmt.Errorf("invalid client_auth %q: use %s, or leave it empty to take it from the provider's metadata", m, strings.Join(ClientAuthMethods, ", "))
}

// ValidateResource reports whether r is an acceptable RFC 8707 resource indicator: an
// absolute URI without a fragment.
func ValidateResource(r string) error {
	u, err := url.Parse(r)
	if err != nil || !u.IsAbs() || u.Fragment != "" || strings.ContainsAny(r, " \t\n") {
		return fmt.Errorf("invalid resource %q: an RFC 8707 resource is an absolute URI without a fragment, e.g. https://api.example.com/", r)
	}
	return nil
}

// MaxParamValue bounds a connection parameter's value.
const MaxParamValue = 255

// ValidateParam reports whether k=v can be a connection parameter: a name of letters, digits
// and _ (starting with a letter, at most 64) and a printable value of at most MaxParamValue
// bytes. The entry's own pattern is checked where the value is used.
func ValidateParam(k, v string) error {
	ok := k != "" && len(k) <= 64 && (k[0] >= 'a' && k[0] <= 'z' || k[0] >= 'A' && k[0] <= 'Z')
	for _, r := range k {
		ok = ok && (r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
	}
	if !ok {
		return fmt.Errorf("invalid parameter name %q: letters, digits and _, starting with a letter, at most 64", Sanitize(k, 80))
	}
	if len(v) > MaxParamValue || Sanitize(v, MaxParamValue) != v {
		return fmt.Errorf("invalid value of parameter %s: at most %d printable bytes", k, MaxParamValue)
	}
	return nil
}
