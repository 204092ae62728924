package oauth

import (
	"net/url"
	"slices"
	"strings"

	"golang.org/x/oauth2"
)

// Preset is what tailor knows about one provider: its endpoints and its quirks, as data.
// Adding a provider is one entry in Presets (and its test). A connection whose provider_url
// or issuer_url host is in Hosts uses the preset; any other connection uses Generic, with
// its endpoints from discovery or from the connection's overrides.
type Preset struct {
	// Name identifies the preset: "google", "microsoft", "quickbooks", "github", "oidc".
	Name string
	// Hosts are the provider_url / issuer_url hosts that select the preset.
	Hosts []string
	// Endpoints are the preset's fixed endpoints; "{tenant}" in them stands for the tenant
	// (see Tenant). Empty for Generic: its endpoints come from discovery.
	Endpoints Endpoints
	// Tenant, when set, takes the tenant from the first path segment of provider_url.
	Tenant *TenantRule
	// IssuerAliases are other spellings of the issuer that ID tokens and callbacks may carry.
	IssuerAliases []string
	// AuthParams are added to every authorization request.
	AuthParams map[string]string
	// RequiredScopes are always requested (Microsoft: offline_access, or it returns no
	// refresh token).
	RequiredScopes []string
	// OfflineAccessIfListed requests offline_access when the provider's metadata lists it
	// (how OpenID Connect providers such as Hydra and Keycloak decide to issue a refresh token).
	OfflineAccessIfListed bool
	// RefreshWithScopes sends the authorized scopes with every refresh (Microsoft fails
	// otherwise: AADSTS9010010).
	RefreshWithScopes bool
	// TokenHeaders are sent with every token and revocation request.
	TokenHeaders map[string]string
	// RefreshExpiryFields are the token-response fields, tried in order, that give the refresh
	// token's (rolling) lifetime in seconds.
	RefreshExpiryFields []string
	// RefreshHardExpiryField is the token-response field that gives the absolute lifetime of
	// the refresh-token chain in seconds (QuickBooks: 5 years).
	RefreshHardExpiryField string
	// ErrorCodes maps the provider's own token-endpoint error codes to RFC 6749 codes.
	ErrorCodes map[string]string
	// RevokeJSON sends the revocation request as a JSON object {"token": ...} instead of a
	// form (QuickBooks/Intuit documents only JSON).
	RevokeJSON bool
	// NoPKCE is set for providers known to reject PKCE. None of the built-in presets is.
	NoPKCE bool
	// KeepsPreviousAccessToken: the previous access token stays valid until it expires after
	// a refresh, so a token can be refreshed early while the current one is still served.
	// False (the safe assumption) when unknown: some providers (Ory Hydra) revoke it.
	KeepsPreviousAccessToken bool
	// NoRefreshTokenAdvice says what to change at the provider when it issues no refresh token.
	NoRefreshTokenAdvice string
	// RedirectNotes says where the redirect URI is registered at the provider.
	RedirectNotes string
	// AccountKeys name the ID token claims and callback values that identify the account
	// that authorized a connection (Provider.Account); a later authorization with another
	// account is refused unless an operator asked for a new account.
	AccountKeys AccountKeys
}

// TenantRule describes a provider whose endpoints depend on a tenant (Microsoft Entra ID).
type TenantRule struct {
	// Default is the tenant when provider_url names none.
	Default string
	// NotTenants are first path segments that are not tenants ("oauth2", "v2.0").
	NotTenants []string
	// Shared are the tenants of multi-tenant apps ("common", "organizations", "consumers"):
	// ID tokens and callbacks then carry the user's own tenant in the issuer, so the issuer
	// of such a connection matches the Endpoints.Issuer template with any single tenant.
	Shared []string
}

// Endpoints are a provider's OAuth2 endpoints.
type Endpoints struct {
	Issuer        string
	AuthURL       string
	TokenURL      string
	RevocationURL string
	UserinfoURL   string
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

// Generic is the preset of every provider that no entry of Presets matches: any OpenID
// Connect or RFC 8414 provider, or one whose endpoints the connection names.
var Generic = &Preset{
	Name:                  "oidc",
	OfflineAccessIfListed: true,
	RefreshExpiryFields:   []string{"refresh_token_expires_in", "refresh_expires_in"},
	NoRefreshTokenAdvice: "Most OpenID Connect providers issue a refresh token only for the offline_access scope " +
		"(requested when the provider lists it): add offline_access to the scopes if it was not requested, " +
		"and check that the client is allowed the refresh_token grant.",
	RedirectNotes: "Register the redirect URI for the client at the provider.",
}

// Presets are the built-in providers.
var Presets = []*Preset{
	{
		Name:  "google",
		Hosts: []string{"accounts.google.com", "oauth2.googleapis.com"},
		Endpoints: Endpoints{
			Issuer:        "https://accounts.google.com",
			AuthURL:       "https://accounts.google.com/o/oauth2/v2/auth",
			TokenURL:      "https://oauth2.googleapis.com/token",
			RevocationURL: "https://oauth2.googleapis.com/revoke",
			UserinfoURL:   "https://openidconnect.googleapis.com/v1/userinfo",
			DeviceAuthURL: "https://oauth2.googleapis.com/device/code",
			AuthStyle:     oauth2.AuthStyleInParams,
			PKCE:          true,
		},
		// Google's ID tokens carry iss "https://accounts.google.com" or "accounts.google.com".
		IssuerAliases: []string{"accounts.google.com"},
		// Google returns a refresh token only with access_type=offline, and on re-consent
		// only with prompt=consent.
		AuthParams:               map[string]string{"access_type": "offline", "prompt": "consent"},
		KeepsPreviousAccessToken: true,
		NoRefreshTokenAdvice: "Google issues a refresh token only on consent with access_type=offline and prompt=consent (both were sent): " +
			"remove the app's access at https://myaccount.google.com/permissions, check that the OAuth client is a \"Web application\", and authorize again.",
		RedirectNotes: "In Google Cloud Console > APIs & Services > Credentials, add the redirect URI to the OAuth client (type: Web application).",
	},
	{
		Name:  "microsoft",
		Hosts: []string{"login.microsoftonline.com"},
		Endpoints: Endpoints{
			Issuer:        "https://login.microsoftonline.com/{tenant}/v2.0",
			AuthURL:       "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/authorize",
			TokenURL:      "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token",
			DeviceAuthURL: "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/devicecode",
			AuthStyle:     oauth2.AuthStyleInParams,
			PKCE:          true,
		},
		Tenant: &TenantRule{
			Default:    "common",
			NotTenants: []string{"oauth2", "oauth2.0", "v2.0"},
			Shared:     []string{"common", "organizations", "consumers"},
		},
		// The tenant (tid) beside iss and sub: a multi-tenant app's users come from any tenant.
		AccountKeys:              AccountKeys{TenantClaim: "tid"},
		RequiredScopes:           []string{"offline_access"},
		RefreshWithScopes:        true,
		KeepsPreviousAccessToken: true,
		NoRefreshTokenAdvice: "Microsoft issues a refresh token only for the offline_access scope (it was requested): " +
			"check that offline_access is allowed in the app registration's API permissions and granted by an admin if required, then authorize again.",
		RedirectNotes: "In Azure Portal > App registrations > Authentication, add the redirect URI under the Web platform; " +
			"offline_access is requested so a refresh token is issued.",
	},
	{
		Name:  "quickbooks",
		Hosts: []string{"appcenter.intuit.com", "oauth.platform.intuit.com", "developer.api.intuit.com", "developer.intuit.com"},
		Endpoints: Endpoints{
			Issuer:        "https://oauth.platform.intuit.com/op/v1",
			AuthURL:       "https://appcenter.intuit.com/connect/oauth2",
			TokenURL:      "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer",
			RevocationURL: "https://developer.api.intuit.com/v2/oauth2/tokens/revoke",
			UserinfoURL:   "https://accounts.platform.intuit.com/v1/openid_connect/userinfo",
			AuthStyle:     oauth2.AuthStyleInHeader,
			PKCE:          true,
		},
		TokenHeaders:             map[string]string{"x-include-refresh-token-hard-expires-in": "true", "Accept": "application/json"},
		RefreshExpiryFields:      []string{"x_refresh_token_expires_in"},
		RefreshHardExpiryField:   "x_refresh_token_lifetime_expires_in",
		RevokeJSON:               true,
		KeepsPreviousAccessToken: true,
		// The company picked at consent: the callback's realmId.
		AccountKeys:          AccountKeys{RealmParam: "realmId"},
		NoRefreshTokenAdvice: "QuickBooks always issues a refresh token for the authorization-code grant: check the app's keys (development vs production) and authorize again.",
		RedirectNotes: "In the Intuit Developer Portal > your app > Keys & OAuth, add the redirect URI; " +
			"the company (realmId) chosen during consent is kept with the tokens.",
	},
	{
		// GitHub: OAuth apps and GitHub Apps (user access tokens). Not OpenID Connect; no
		// RFC 7009 endpoint. Tokens expire (8 h, refresh token 6 months, rotated) only for
		// GitHub Apps with expiring user tokens; OAuth-app tokens live until revoked.
		Name:  "github",
		Hosts: []string{"github.com"},
		Endpoints: Endpoints{
			AuthURL:       "https://github.com/login/oauth/authorize",
			TokenURL:      "https://github.com/login/oauth/access_token",
			DeviceAuthURL: "https://github.com/login/device/code",
			AuthStyle:     oauth2.AuthStyleInParams,
			PKCE:          true,
		},
		// Without Accept: application/json GitHub answers form-encoded.
		TokenHeaders:        map[string]string{"Accept": "application/json"},
		RefreshExpiryFields: []string{"refresh_token_expires_in"},
		// GitHub answers errors with HTTP 200 and codes of its own.
		ErrorCodes: map[string]string{
			"bad_verification_code":        "invalid_grant",
			"bad_refresh_token":            "invalid_grant",
			"incorrect_client_credentials": "invalid_client",
			"unverified_user_email":        "access_denied",
		},
		NoRefreshTokenAdvice: "GitHub issues refresh tokens only for GitHub Apps with \"Expire user authorization tokens\" enabled; " +
			"tokens of OAuth apps do not expire, so none is needed until the token is revoked.",
		RedirectNotes: "In GitHub > Settings > Developer settings > OAuth Apps (or GitHub Apps) > your app, set the callback URL to the redirect URI.",
	},
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

// tenant returns the tenant named by the first path segment of u, or the rule's default.
func (r *TenantRule) tenant(u *url.URL) string {
	seg := strings.Split(strings.Trim(u.Path, "/"), "/")[0]
	if seg == "" || slices.Contains(r.NotTenants, seg) {
		return r.Default
	}
	return seg
}

// endpoints returns the preset's endpoints for the connection URL u, with the tenant filled in.
func (p *Preset) endpoints(u *url.URL) (Endpoints, string) {
	e := p.Endpoints
	if p.Tenant == nil || u == nil {
		return e, ""
	}
	t := p.Tenant.tenant(u)
	r := strings.NewReplacer("{tenant}", t)
	e.Issuer, e.AuthURL, e.TokenURL = r.Replace(e.Issuer), r.Replace(e.AuthURL), r.Replace(e.TokenURL)
	e.RevocationURL, e.UserinfoURL, e.DeviceAuthURL = r.Replace(e.RevocationURL), r.Replace(e.UserinfoURL), r.Replace(e.DeviceAuthURL)
	return e, t
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
	pre, suf, ok := strings.Cut(strings.TrimSuffix(p.Endpoints.Issuer, "/"), "{tenant}")
	if !ok || !strings.HasPrefix(got, pre) || !strings.HasSuffix(got, suf) {
		return false
	}
	t := strings.TrimSuffix(strings.TrimPrefix(got, pre), suf)
	return t != "" && !strings.Contains(t, "/")
}
