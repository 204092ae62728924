package oauth

import (
	"context"
	"slices"
	"strings"

	"golang.org/x/oauth2"

	"github.com/authconnection/terraform-provider-tailor/internal/store"
)

// Provider is a connection's resolved provider: endpoints plus quirks.
type Provider struct {
	Endpoints
	// Preset is the matching built-in preset, or nil for a generic provider.
	Preset *Preset
	// Source says where the endpoints came from: "preset:google", "discovery", "overrides".
	Source string
}

// Name returns the preset name, or "oidc" for a discovered provider, or "custom".
func (p *Provider) Name() string {
	switch {
	case p.Preset != nil:
		return p.Preset.Name
	case p.Source == "discovery":
		return "oidc"
	}
	return "custom"
}

// Resolve finds the endpoints of conn, in order: the connection's overrides (auth_url,
// token_url, revocation_url) field by field, over a built-in preset matched by the host of
// provider_url or issuer_url, else over OIDC discovery / RFC 8414 metadata from issuer_url,
// then provider_url. Discovery is skipped when the overrides name both endpoints.
func (c *Client) Resolve(ctx context.Context, conn *store.Connection) (*Provider, error) {
	p := &Provider{}
	if preset, u := PresetFor(conn.ProviderURL, conn.IssuerURL); preset != nil {
		p.Preset = preset
		p.Endpoints = preset.endpoints(u)
		p.Source = "preset:" + preset.Name
	} else if conn.AuthURL == "" || conn.TokenURL == "" {
		var firstErr error
		for _, issuer := range dedupe(conn.IssuerURL, conn.ProviderURL) {
			m, err := c.Discover(ctx, issuer)
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				continue
			}
			p.Endpoints = endpointsFromMetadata(m)
			p.Source = "discovery"
			break
		}
		if p.Source == "" {
			return nil, firstErr
		}
	} else {
		p.Source = "overrides"
		p.PKCE = true
		p.Issuer = conn.IssuerURL
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
	if p.Preset != nil && p.Preset.NoPKCE {
		p.PKCE = false
	}
	return p, nil
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

// Scopes returns the scopes to request: requested (or the defaults), plus the preset's
// required scopes, plus offline_access when a generic provider lists it (it is how OIDC
// providers such as Hydra and Keycloak decide to issue a refresh token).
func (p *Provider) Scopes(requested []string) []string {
	out := slices.Clone(requested)
	add := func(s string) {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	if p.Preset != nil {
		for _, s := range p.Preset.RequiredScopes {
			add(s)
		}
	} else if slices.Contains(p.ScopesSupported, "offline_access") {
		add("offline_access")
	}
	return out
}

// Config returns the x/oauth2 configuration for creds.
func (p *Provider) Config(creds Credentials, redirectURL string, scopes []string) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     creds.ClientID,
		ClientSecret: creds.ClientSecret,
		Endpoint:     oauth2.Endpoint{AuthURL: p.AuthURL, TokenURL: p.TokenURL, AuthStyle: p.AuthStyle},
		RedirectURL:  redirectURL,
		Scopes:       scopes,
	}
}

func (p *Provider) tokenCall(grant string, scopes []string) *tokenCall {
	tc := &tokenCall{}
	if p.Preset != nil {
		tc.headers = p.Preset.TokenHeaders
		if grant == "refresh_token" && p.Preset.RefreshWithScopes && len(scopes) > 0 {
			tc.form = map[string][]string{"scope": {strings.Join(scopes, " ")}}
			tc.formFor = grant
		}
	}
	return tc
}
