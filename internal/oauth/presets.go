package oauth

import (
	"net/url"
	"strings"

	"golang.org/x/oauth2"
)

// Preset holds what tailor knows about a provider whose endpoints and quirks are fixed.
type Preset struct {
	// Name identifies the preset: "google", "microsoft", "quickbooks".
	Name string
	// match reports whether a connection URL's host belongs to the provider.
	match func(u *url.URL) bool
	// endpoints builds the endpoints from the connection's provider URL (Microsoft takes the
	// tenant from its path).
	endpoints func(u *url.URL) Endpoints
	// AuthParams are added to every authorization request.
	AuthParams map[string]string
	// RequiredScopes are always requested (Microsoft: offline_access, or it returns no
	// refresh token).
	RequiredScopes []string
	// RefreshWithScopes sends the authorized scopes with every refresh (Microsoft fails
	// otherwise: AADSTS9010010).
	RefreshWithScopes bool
	// TokenHeaders are sent with every token request.
	TokenHeaders map[string]string
	// CallbackParams are extra callback query values to keep (QuickBooks: realmId).
	CallbackParams []string
	// RevokeJSON sends the revocation request as a JSON object {"token": ...} instead of a
	// form (QuickBooks/Intuit documents only JSON).
	RevokeJSON bool
	// NoPKCE is set for providers known to reject PKCE. None of the built-in presets is.
	NoPKCE bool
	// Notes says what to register at the provider; shown by `tokend authorize`.
	Notes string
}

// Endpoints are a provider's OAuth2 endpoints.
type Endpoints struct {
	Issuer        string
	AuthURL       string
	TokenURL      string
	RevocationURL string
	UserinfoURL   string
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

func hostIs(hosts ...string) func(u *url.URL) bool {
	return func(u *url.URL) bool {
		h := strings.ToLower(u.Hostname())
		for _, want := range hosts {
			if h == want {
				return true
			}
		}
		return false
	}
}

// Presets are the built-in providers.
var Presets = []*Preset{
	{
		Name:  "google",
		match: hostIs("accounts.google.com", "oauth2.googleapis.com"),
		endpoints: func(*url.URL) Endpoints {
			return Endpoints{
				Issuer:        "https://accounts.google.com",
				AuthURL:       "https://accounts.google.com/o/oauth2/v2/auth",
				TokenURL:      "https://oauth2.googleapis.com/token",
				RevocationURL: "https://oauth2.googleapis.com/revoke",
				UserinfoURL:   "https://openidconnect.googleapis.com/v1/userinfo",
				AuthStyle:     oauth2.AuthStyleInParams,
				PKCE:          true,
			}
		},
		// Google returns a refresh token only with access_type=offline, and on re-consent
		// only with prompt=consent.
		AuthParams: map[string]string{"access_type": "offline", "prompt": "consent"},
		Notes:      "In Google Cloud Console > APIs & Services > Credentials, add the redirect URI to the OAuth client (type: Web application).",
	},
	{
		Name:  "microsoft",
		match: hostIs("login.microsoftonline.com"),
		endpoints: func(u *url.URL) Endpoints {
			t := microsoftTenant(u)
			base := "https://login.microsoftonline.com/" + t
			return Endpoints{
				Issuer:    base + "/v2.0",
				AuthURL:   base + "/oauth2/v2.0/authorize",
				TokenURL:  base + "/oauth2/v2.0/token",
				AuthStyle: oauth2.AuthStyleInParams,
				PKCE:      true,
			}
		},
		RequiredScopes:    []string{"offline_access"},
		RefreshWithScopes: true,
		Notes:             "In Azure Portal > App registrations > Authentication, add the redirect URI under the Web platform; offline_access is requested so a refresh token is issued.",
	},
	{
		Name:  "quickbooks",
		match: hostIs("appcenter.intuit.com", "oauth.platform.intuit.com", "developer.api.intuit.com", "developer.intuit.com"),
		endpoints: func(*url.URL) Endpoints {
			return Endpoints{
				Issuer:        "https://oauth.platform.intuit.com/op/v1",
				AuthURL:       "https://appcenter.intuit.com/connect/oauth2",
				TokenURL:      "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer",
				RevocationURL: "https://developer.api.intuit.com/v2/oauth2/tokens/revoke",
				UserinfoURL:   "https://accounts.platform.intuit.com/v1/openid_connect/userinfo",
				AuthStyle:     oauth2.AuthStyleInHeader,
				PKCE:          true,
			}
		},
		TokenHeaders:   map[string]string{"x-include-refresh-token-hard-expires-in": "true", "Accept": "application/json"},
		CallbackParams: []string{"realmId"},
		RevokeJSON:     true,
		Notes:          "In the Intuit Developer Portal > your app > Keys & OAuth, add the redirect URI; the company (realmId) chosen during consent is kept with the tokens.",
	},
}

// microsoftTenant returns the tenant segment of a login.microsoftonline.com URL, or "common".
func microsoftTenant(u *url.URL) string {
	seg := strings.Split(strings.Trim(u.Path, "/"), "/")[0]
	switch {
	case seg == "", strings.HasPrefix(seg, "oauth2"), seg == "v2.0":
		return "common"
	}
	return seg
}

// PresetFor returns the preset matching any of the given URLs (provider, issuer, endpoint
// overrides, in that order), or nil.
func PresetFor(urls ...string) (*Preset, *url.URL) {
	for _, raw := range urls {
		if raw == "" {
			continue
		}
		u, err := url.Parse(raw)
		if err != nil {
			continue
		}
		for _, p := range Presets {
			if p.match(u) {
				return p, u
			}
		}
	}
	return nil, nil
}
