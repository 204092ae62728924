package oauth

import (
	"context"
	"net/url"
	"slices"
	"strings"

	"golang.org/x/oauth2"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/egress"
)

// Provider is a connection's resolved provider: endpoints plus the preset that names its
// quirks (Generic for a provider without an entry in Presets).
type Provider struct {
	Endpoints
	// Preset is the matching entry of Presets, or Generic. Never nil after Resolve.
	Preset *Preset
	// Source says where the endpoints came from: "preset:google", "discovery", "overrides".
	Source string
	// ClientAuth is the connection's client authentication method (authconn.ClientAuth*;
	// empty: from the metadata or preset).
	ClientAuth string
	// Audience and Resources are sent with the connection's requests (audience, and RFC 8707
	// resource indicators).
	Audience  string
	Resources []string
	// tenant is the tenant of a preset with a TenantRule ("common", a tenant id).
	tenant string
	// typed are the URLs an operator typed for the connection (provider_url, issuer_url, the
	// endpoint overrides) and the preset's built-in endpoints: requests to their origins may
	// reach internal addresses (egress.AllowOrigins); any other destination must be public.
	typed []string
}

// allow returns ctx with the provider's operator-typed origins allowed by the egress policy.
func (p *Provider) allow(ctx context.Context) context.Context {
	return egress.AllowOrigins(ctx, p.typed...)
}

// Name returns the preset name, "oidc" for a discovered provider, or "custom" for one whose
// endpoints the connection names.
func (p *Provider) Name() string {
	if p.Source == "overrides" {
		return "custom"
	}
	return p.preset().Name
}

func (p *Provider) preset() *Preset {
	if p.Preset == nil {
		return Generic
	}
	return p.Preset
}

// Resolve finds the endpoints of conn, in order: the connection's overrides (auth_url,
// token_url, revocation_url) field by field, over a built-in preset matched by the host of
// provider_url or issuer_url, else over the discovery result pinned in conn.Discovered, else
// (a connection stored before pinning) over OIDC discovery / RFC 8414 metadata fetched from
// issuer_url, then provider_url. Discovery is skipped when the overrides name both endpoints.
func (c *Client) Resolve(ctx context.Context, conn *authconn.Connection) (*Provider, error) {
	preset, u := PresetFor(conn.ProviderURL, conn.IssuerURL)
	p := &Provider{Preset: preset, typed: dedupe(conn.ProviderURL, conn.IssuerURL, conn.AuthURL, conn.TokenURL, conn.RevocationURL)}
	switch {
	case preset != Generic:
		p.Endpoints, p.tenant = preset.endpoints(u)
		p.Source = "preset:" + preset.Name
		p.typed = append(p.typed, p.AuthURL, p.TokenURL, p.RevocationURL, p.DeviceAuthURL)
	case !NeedsDiscovery(conn):
		p.Source = "overrides"
		p.PKCE = true
		p.Issuer = conn.IssuerURL
	case conn.Discovered != nil:
		if err := checkPin(conn); err != nil {
			return nil, &Error{Op: "discovery", Kind: KindRejected, Err: err}
		}
		p.Endpoints = endpointsFromMetadata(metadataOfPin(conn.Discovered))
		p.Source = "discovery" // pinned: conn.Discovered.At says when
	default:
		m, err := c.discoverAny(ctx, overridden(conn), conn.IssuerURL, conn.ProviderURL)
		if err != nil {
			return nil, err
		}
		p.Endpoints = endpointsFromMetadata(m)
		p.Source = "discovery"
	}
	if conn.AuthURL != "" {
		p.AuthURL = conn.AuthURL
	}
	if conn.TokenURL != "" {
		p.TokenURL = conn.TokenURL
	}
	if conn.RevocationURL != "" {
		p.RevocationURL = conn.RevocationURL
	}
	if preset.NoPKCE {
		p.PKCE = false
	}
	p.applyConnection(conn)
	return p, nil
}

// applyConnection takes the connection's client authentication, audience and resources.
func (p *Provider) applyConnection(conn *authconn.Connection) {
	p.ClientAuth, p.Audience, p.Resources = conn.ClientAuth, conn.Audience, slices.Clone(conn.Resources)
	switch conn.ClientAuth {
	case authconn.ClientAuthBasic:
		p.AuthStyle = oauth2.AuthStyleInHeader
	case authconn.ClientAuthPost, authconn.ClientAuthPrivateKeyJWT:
		p.AuthStyle = oauth2.AuthStyleInParams
	}
}

// discoverAny returns the metadata of the first of issuers that has usable metadata;
// configured names the metadata fields the connection overrides (not checked).
func (c *Client) discoverAny(ctx context.Context, configured map[string]bool, issuers ...string) (*Metadata, error) {
	var firstErr error
	for _, issuer := range dedupe(issuers...) {
		m, err := c.discover(ctx, issuer, configured)
		if err == nil {
			return m, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return nil, firstErr
}

func dedupe(vals ...string) []string {
	var out []string
	for _, v := range vals {
		if v != "" && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

func endpointsFromMetadata(m *Metadata) Endpoints {
	e := Endpoints{
		Issuer:          m.Issuer,
		AuthURL:         m.AuthorizationEndpoint,
		TokenURL:        m.TokenEndpoint,
		RevocationURL:   m.RevocationEndpoint,
		UserinfoURL:     m.UserinfoEndpoint,
		DeviceAuthURL:   m.DeviceAuthorizationEndpoint,
		IssParameter:    m.AuthorizationResponseIssParameterSupported,
		ScopesSupported: m.ScopesSupported,
		// RFC 8414: absent code_challenge_methods_supported means unknown; PKCE parameters
		// are ignored by servers that do not support them (RFC 7636 section 5), so send them.
		PKCE: len(m.CodeChallengeMethodsSupported) == 0 || slices.Contains(m.CodeChallengeMethodsSupported, "S256"),
	}
	basic := slices.Contains(m.TokenEndpointAuthMethodsSupported, "client_secret_basic")
	post := slices.Contains(m.TokenEndpointAuthMethodsSupported, "client_secret_post")
	switch {
	case basic && !post:
		e.AuthStyle = oauth2.AuthStyleInHeader
	case post && !basic:
		e.AuthStyle = oauth2.AuthStyleInParams
	case len(m.TokenEndpointAuthMethodsSupported) == 0:
		// RFC 8414: the default is client_secret_basic.
		e.AuthStyle = oauth2.AuthStyleInHeader
	default:
		// Both are offered; the method registered for the client decides. x/oauth2 tries
		// basic, then post, and remembers what worked. A refused attempt spends nothing:
		// client authentication fails before the grant is looked at.
		e.AuthStyle = oauth2.AuthStyleAutoDetect
	}
	return e
}

// Scopes returns the scopes to request: requested, plus the preset's required scopes, plus
// offline_access when the preset asks for it and the provider lists it.
func (p *Provider) Scopes(requested []string) []string {
	out := slices.Clone(requested)
	add := func(s string) {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	pre := p.preset()
	for _, s := range pre.RequiredScopes {
		add(s)
	}
	if pre.OfflineAccessIfListed && slices.Contains(p.ScopesSupported, "offline_access") {
		add("offline_access")
	}
	return out
}

// IssuerMatches reports whether iss, from an ID token or an authorization response, names
// the provider's issuer (with the preset's aliases and multi-tenant rule). An unknown issuer
// (endpoints given as overrides without issuer_url) cannot be compared and matches.
func (p *Provider) IssuerMatches(iss string) bool {
	if p.Issuer == "" {
		return true
	}
	return p.preset().issuerMatches(p.Issuer, p.tenant, iss)
}

// KeepsPreviousAccessToken reports whether the provider keeps the previous access token
// valid after a refresh (a preset property; false when unknown).
func (p *Provider) KeepsPreviousAccessToken() bool { return p.preset().KeepsPreviousAccessToken }

// Config returns the x/oauth2 configuration for creds.
func (p *Provider) Config(creds Credentials, redirectURL string, scopes []string) *oauth2.Config {
	secret := creds.ClientSecret
	if creds.Key != nil {
		secret = "" // the client assertion authenticates the client
	}
	return &oauth2.Config{
		ClientID:     creds.ClientID,
		ClientSecret: secret,
		Endpoint:     oauth2.Endpoint{AuthURL: p.AuthURL, TokenURL: p.TokenURL, DeviceAuthURL: p.DeviceAuthURL, AuthStyle: creds.authStyle(p)},
		RedirectURL:  redirectURL,
		Scopes:       scopes,
	}
}

// requestParams are the connection's audience and resource parameters, for authorization
// and token requests.
func (p *Provider) requestParams() url.Values {
	v := url.Values{}
	if p.Audience != "" {
		v.Set("audience", p.Audience)
	}
	for _, r := range p.Resources {
		v.Add("resource", r)
	}
	return v
}

// tokenCall returns the decoration of one token request with grant for creds: the preset's
// headers, the scopes of a refresh where the provider needs them (Microsoft), the audience
// and resources, and the client assertion of a private_key_jwt client.
func (c *Client) tokenCall(p *Provider, grant string, scopes []string, creds Credentials) (*tokenCall, error) {
	pre := p.preset()
	tc := &tokenCall{headers: pre.TokenHeaders, form: p.requestParams()}
	if grant == "refresh_token" && pre.RefreshWithScopes && len(scopes) > 0 {
		tc.form.Set("scope", strings.Join(scopes, " "))
	}
	if creds.Key != nil {
		a, err := creds.assertion(p.TokenURL, c.now())
		if err != nil {
			return nil, &Error{Op: grantOp(grant), Kind: KindRejected, Err: err}
		}
		tc.form.Set("client_assertion_type", assertionType)
		tc.form.Set("client_assertion", a)
	}
	return tc, nil
}

// grantOp names the operation of a grant in errors.
func grantOp(grant string) string {
	switch grant {
	case "authorization_code":
		return "exchange"
	case "refresh_token":
		return "refresh"
	case "client_credentials":
		return "client credentials"
	}
	return "device token"
}
