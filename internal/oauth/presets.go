package oauth

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"

	"golang.org/x/oauth2"

	"github.com/authconnection/terraform-provider-tailor/internal/catalog"
)

// Preset is what tailor knows about one provider: its catalog entry (endpoints and quirks, as
// data; internal/catalog). Adding a provider is one entry file (and its imitation); no code
// here names a provider. A connection whose provider field names an entry, or whose
// provider_url or issuer_url host is in an entry's Hosts, uses that entry; any other
// connection uses Generic, with its endpoints from discovery or from the connection's
// overrides.
type Preset struct {
	*catalog.Entry
}

// TenantRule describes a provider whose endpoints depend on a tenant (Microsoft Entra ID).
type TenantRule = catalog.TenantRule

// AccountKeys name where a provider says which account authorized a connection: claims of
// the ID token and values of the authorization callback.
type AccountKeys = catalog.AccountKeys

// Endpoints are a provider's OAuth2 endpoints.
type Endpoints struct {
	Issuer        string
	AuthURL       string
	TokenURL      string
	RevocationURL string
	UserinfoURL   string
	// RefreshURL is where refresh requests go when it is not TokenURL (empty: TokenURL).
	RefreshURL string
	// DeviceAuthURL is the RFC 8628 device authorization endpoint, when the provider has one.
	DeviceAuthURL string
	// AuthStyle is how the client authenticates at the token endpoint.
	AuthStyle oauth2.AuthStyle
	// IssParameter: the provider sends iss on the authorization response (RFC 9207), so
	// the callback must carry it and it must equal Issuer.
	IssParameter bool
	// PKCE: the provider supports S256 (or is assumed to).
	PKCE bool
	// ScopesSupported, when known.
	ScopesSupported []string
}

// Presets are the catalog's entries but the generic one; Generic is the entry of every
// provider that no entry of Presets matches: any OpenID Connect or RFC 8414 provider, or one
// whose endpoints the connection names. Both are read once from the embedded catalog.
var Presets, Generic = loadPresets()

func loadPresets() ([]*Preset, *Preset) {
	entries, err := catalog.Load()
	if err != nil {
		panic(fmt.Sprintf("the embedded provider catalog is invalid: %v", err)) // caught by every test
	}
	var out []*Preset
	var generic *Preset
	for _, e := range entries {
		if e.Name == catalog.GenericName {
			generic = &Preset{e}
			continue
		}
		out = append(out, &Preset{e})
	}
	return out, generic
}

// PresetFor returns the preset whose Hosts contain the host of one of the given URLs
// (provider, issuer, ..., in that order), with that URL; or Generic and nil.
func PresetFor(urls ...string) (*Preset, *url.URL) {
	for _, raw := range urls {
		if raw == "" {
			continue
		}
		u, err := url.Parse(raw)
		if err != nil {
			continue
		}
		h := strings.ToLower(u.Hostname())
		for _, p := range Presets {
			if slices.Contains(p.Hosts, h) {
				return p, u
			}
		}
	}
	return Generic, nil
}

// PresetNamed returns the preset named name, or nil.
func PresetNamed(name string) *Preset {
	for _, p := range append(slices.Clone(Presets), Generic) {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// tenantOf returns the tenant named by the first path segment of u, or the rule's default.
func tenantOf(r *TenantRule, u *url.URL) string {
	seg := strings.Split(strings.Trim(u.Path, "/"), "/")[0]
	if seg == "" || slices.Contains(r.NotTenants, seg) {
		return r.Default
	}
	return seg
}

// params returns the values of the preset's parameters for a connection: its own params,
// and the tenant from the connection URL u when the connection does not name one.
func (p *Preset) params(own map[string]string, u *url.URL) map[string]string {
	out := maps.Clone(own)
	if out == nil {
		out = map[string]string{}
	}
	if p.Tenant != nil && u != nil && out[p.TenantParam()] == "" {
		out[p.TenantParam()] = tenantOf(p.Tenant, u)
	}
	return out
}

// fill returns the preset's endpoints with vals in their templates.
func (p *Preset) fill(vals map[string]string) (Endpoints, error) {
	e := Endpoints{AuthStyle: authStyleOf(p.ClientAuth), IssParameter: p.IssParameter, PKCE: p.PKCEOn()}
	for _, f := range []struct {
		dst *string
		t   catalog.Template
	}{{&e.Issuer, p.URLs.Issuer}, {&e.AuthURL, p.URLs.Authorize}, {&e.TokenURL, p.URLs.Token}, {&e.RefreshURL, p.URLs.Refresh},
		{&e.RevocationURL, p.URLs.Revocation}, {&e.UserinfoURL, p.URLs.Userinfo}, {&e.DeviceAuthURL, p.URLs.DeviceAuthorization}} {
		v, err := p.Fill(f.t, vals)
		if err != nil {
			return e, err
		}
		*f.dst = v
	}
	if p.RevocationKind() == catalog.RevokeNone {
		e.RevocationURL = ""
	}
	return e, nil
}

// authStyleOf is the x/oauth2 style of a catalog client authentication method.
func authStyleOf(method string) oauth2.AuthStyle {
	switch method {
	case catalog.ClientAuthBasic:
		return oauth2.AuthStyleInHeader
	case catalog.ClientAuthPost, catalog.ClientAuthNone, catalog.ClientAuthPrivateKeyJWT:
		return oauth2.AuthStyleInParams
	}
	return oauth2.AuthStyleAutoDetect
}

// issuerMatches reports whether iss (from an ID token or a callback) names issuer, the
// connection's issuer under this preset: equal (but for a trailing slash), an alias, or, for a
// shared tenant, the issuer template with any single tenant.
func (p *Preset) issuerMatches(issuer, tenant, iss string) bool {
	want, got := strings.TrimSuffix(issuer, "/"), strings.TrimSuffix(iss, "/")
	if got == want || slices.Contains(p.IssuerAliases, got) {
		return true
	}
	if p.Tenant == nil || !slices.Contains(p.Tenant.Shared, tenant) {
		return false
	}
	pre, suf, ok := strings.Cut(strings.TrimSuffix(p.URLs.Issuer.First(), "/"), "{"+p.TenantParam()+"}")
	if !ok || !strings.HasPrefix(got, pre) || !strings.HasSuffix(got, suf) {
		return false
	}
	t := strings.TrimSuffix(strings.TrimPrefix(got, pre), suf)
	return t != "" && !strings.Contains(t, "/")
}

// fillSteps returns the preset's extra parameters per step with vals in their values. A
// parameter whose value is metadata not learnt yet (Stripe's stripe_user_id on revocation)
// is left out until Provider.WithMetadata fills the steps again.
func (p *Preset) fillSteps(vals map[string]string) (catalog.StepParams, error) {
	var out catalog.StepParams
	for _, f := range []struct{ dst, src *map[string]string }{{&out.Authorize, &p.ExtraParams.Authorize},
		{&out.Token, &p.ExtraParams.Token}, {&out.Refresh, &p.ExtraParams.Refresh}, {&out.Revoke, &p.ExtraParams.Revoke}} {
		for k, v := range *f.src {
			fv, err := p.FillValue(v, vals)
			if err != nil && p.unlearnt(v, vals) {
				continue
			}
			if err != nil {
				return out, err
			}
			if *f.dst == nil {
				*f.dst = map[string]string{}
			}
			(*f.dst)[k] = fv
		}
	}
	return out, nil
}

// unlearnt reports whether a placeholder of s names a metadata value that vals lack.
func (p *Preset) unlearnt(s string, vals map[string]string) bool {
	for _, name := range catalog.Placeholders(s) {
		if p.Value(name, vals) == "" && p.learns(name) {
			return true
		}
	}
	return false
}

// learns reports whether name is a metadata value of the preset (callback, token answer or
// the post-connect call).
func (p *Preset) learns(name string) bool {
	m := p.Metadata
	all := slices.Concat(m.Callback, m.Token)
	if m.Call != nil {
		all = append(all, m.Call.Values...)
	}
	return slices.ContainsFunc(all, func(v catalog.Value) bool { return v.Name == name })
}

// literalURLs returns the preset's endpoint alternatives whose scheme and host hold no
// placeholder: the origins the catalog itself names.
func (p *Preset) literalURLs() []string {
	var out []string
	for _, t := range []catalog.Template{p.URLs.Authorize, p.URLs.Token, p.URLs.Refresh, p.URLs.Revocation, p.URLs.DeviceAuthorization} {
		for _, alt := range t {
			host, _, _ := strings.Cut(strings.TrimPrefix(alt, "https://"), "/")
			if strings.HasPrefix(alt, "https://") && !strings.Contains(host, "{") {
				out = append(out, "https://"+host)
			}
		}
	}
	return out
}
