package oauth

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"golang.org/x/oauth2"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/catalog"
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
	// Params are the values of the preset's parameters: the connection's, and the tenant
	// taken from provider_url. Metadata values join them where templates are filled
	// (Provider.APIBaseURL, Client.FetchMetadata).
	Params map[string]string
	// extra are the preset's extra parameters per step, with Params filled in.
	extra catalog.StepParams
	// tenant is the tenant of a preset with a TenantRule ("common", a tenant id).
	tenant string
	// overrides are the endpoints the connection names (auth_url, token_url,
	// revocation_url): they win over the entry's templates, also when WithMetadata fills
	// them again, so a value from a callback or a token answer never moves an endpoint an
	// operator typed.
	overrides authconn.Connection
	// hostOverrides are the connection's: an entry host → the origin its URLs go to instead
	// (Provider.entryURL).
	hostOverrides map[string]string
	// typed are the URLs an operator typed for the connection (provider_url, issuer_url, the
	// endpoint and host overrides) and the preset's built-in endpoints whose host is not templated:
	// requests to their origins may reach internal addresses (egress.AllowOrigins); any other
	// destination (a host filled from a parameter or metadata, an API) must be public.
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
	preset, u, err := presetOf(conn)
	if err != nil {
		return nil, &Error{Op: "resolve", Kind: KindRejected, Err: err}
	}
	return c.resolveWith(ctx, conn, preset, u)
}

// resolveWith is Resolve with the preset (and the connection URL that selected it) known.
func (c *Client) resolveWith(ctx context.Context, conn *authconn.Connection, preset *Preset, u *url.URL) (*Provider, error) {
	var err error
	p := &Provider{Preset: preset, hostOverrides: conn.HostOverrides,
		typed: dedupe(append([]string{conn.ProviderURL, conn.IssuerURL, conn.AuthURL, conn.TokenURL, conn.RevocationURL}, overrideOrigins(conn.HostOverrides)...)...)}
	p.Params = preset.params(conn.Params, u)
	if err := preset.checkHostOverrides(conn.HostOverrides); err != nil {
		return nil, &Error{Op: "resolve", Kind: KindRejected, Err: err}
	}
	switch {
	case preset != Generic:
		if p.Endpoints, err = p.entryEndpoints(p.Params); err != nil {
			return nil, &Error{Op: "resolve", Kind: KindRejected, Err: err}
		}
		p.tenant = p.Params[preset.TenantParam()]
		p.Source = "preset:" + preset.Name
		p.typed = append(p.typed, preset.literalURLs()...)
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
	p.applyOverrides(conn)
	p.applyConnection(conn)
	if p.extra, err = preset.fillSteps(p.Params); err != nil {
		return nil, &Error{Op: "resolve", Kind: KindRejected, Err: err}
	}
	return p, nil
}

// presetOf returns the preset of conn: the one its provider field names, else the one its
// URLs' hosts select (with the URL that selected it).
func presetOf(conn *authconn.Connection) (*Preset, *url.URL, error) {
	if conn.Provider == "" {
		p, u := PresetFor(conn.ProviderURL, conn.IssuerURL)
		return p, u, nil
	}
	p := PresetNamed(conn.Provider)
	if p == nil {
		return nil, nil, fmt.Errorf("provider %q is not in the catalog", authconn.Sanitize(conn.Provider, 64))
	}
	u, _ := url.Parse(conn.ProviderURL)
	return p, u, nil
}

// applyOverrides takes the connection's endpoint overrides and the preset's PKCE rule.
func (p *Provider) applyOverrides(conn *authconn.Connection) {
	p.overrides = authconn.Connection{AuthURL: conn.AuthURL, TokenURL: conn.TokenURL, RevocationURL: conn.RevocationURL}
	p.keepOverrides()
	if !p.preset().PKCEOn() {
		p.PKCE = false
	}
}

// keepOverrides sets the endpoints the connection names over the entry's.
func (p *Provider) keepOverrides() {
	if p.overrides.AuthURL != "" {
		p.AuthURL = p.overrides.AuthURL
	}
	if p.overrides.TokenURL != "" {
		p.TokenURL = p.overrides.TokenURL
	}
	if p.overrides.RevocationURL != "" {
		p.RevocationURL = p.overrides.RevocationURL
	}
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

// Scopes returns the scopes to request: requested (the preset's default scopes when none), plus the preset's required scopes, plus
// offline_access when the preset asks for it and the provider lists it.
func (p *Provider) Scopes(requested []string) []string {
	out := slices.Clone(requested)
	if len(out) == 0 {
		out = slices.Clone(p.preset().DefaultScopes)
	}
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

// Config returns the x/oauth2 configuration for creds. Scopes are joined with the entry's
// separator (x/oauth2 joins with spaces), and a client that authenticates with "none" sends
// no secret.
func (p *Provider) Config(creds Credentials, redirectURL string, scopes []string) *oauth2.Config {
	secret := creds.ClientSecret
	if creds.Key != nil || p.preset().ClientAuth == catalog.ClientAuthNone {
		secret = "" // the client assertion authenticates the client, or nothing does
	}
	return &oauth2.Config{
		ClientID:     creds.ClientID,
		ClientSecret: secret,
		Endpoint:     oauth2.Endpoint{AuthURL: p.AuthURL, TokenURL: p.TokenURL, DeviceAuthURL: p.DeviceAuthURL, AuthStyle: creds.authStyle(p)},
		RedirectURL:  redirectURL,
		Scopes:       p.scopeList(scopes),
	}
}

// scopeList returns scopes as x/oauth2 should send them: joined with the entry's separator
// into one element when it is not a space.
func (p *Provider) scopeList(scopes []string) []string {
	if sep := p.preset().Separator(); sep != " " && len(scopes) > 1 {
		return []string{strings.Join(scopes, sep)}
	}
	return scopes
}

// refreshURL is where refresh requests go: the entry's refresh endpoint, else the token endpoint.
func (p *Provider) refreshURL() string {
	if p.RefreshURL != "" {
		return p.RefreshURL
	}
	return p.TokenURL
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
// headers, body encoding and answer rules, the scopes of a refresh where the provider needs
// them (Microsoft), the extra parameters of the step (token or refresh), the audience and
// resources, and the client assertion of a private_key_jwt client.
func (c *Client) tokenCall(p *Provider, grant string, scopes []string, creds Credentials) (*tokenCall, error) {
	pre := p.preset()
	tc := &tokenCall{headers: pre.TokenHeaders, form: p.requestParams(), json: pre.TokenBody == catalog.BodyJSON,
		query: pre.TokenQuery, answer: pre.TokenResponse}
	if grant == "refresh_token" && pre.RefreshWithScopes && len(scopes) > 0 {
		tc.form.Set("scope", strings.Join(scopes, pre.Separator()))
	}
	extra := p.extra.Token
	if grant == "refresh_token" {
		extra = p.extra.Refresh
	}
	for k, v := range extra {
		tc.form.Set(k, v)
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
