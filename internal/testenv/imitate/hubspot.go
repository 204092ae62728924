package imitate

import (
	"net/http"
	"strconv"
	"testing"
)

// HubSpot imitates HubSpot's OAuth (the v1 token API) for a public app. Written from:
//   - https://developers.hubspot.com/docs/api-reference/legacy/authentication/oauth-tokens/v1/guide
//     (the install URL carries client_id, redirect_uri, scope, optional_scope and state; tokens
//     come from a form POST to /oauth/v1/token with client_id and client_secret in the body)
//   - https://developers.hubspot.com/docs/methods/OAuth2/refresh-access-token (refresh; access
//     tokens are short lived, expires_in says how long)
//   - https://developers.hubspot.com/docs/api-reference/legacy/authentication/oauth-tokens/v1/get-oauth-token-metadata
//     (GET /oauth/v1/access-tokens/{token}: hub_id, hub_domain, app_id, user, scopes, expires_in)
//   - https://developers.hubspot.com/docs/api-reference/legacy/account/account-information/v1/get-integrations-v1-me
//     (the account's portalId, the Hub ID)
//   - https://www.nango.dev/blog/hubspot-oauth-bad-refresh-token (a refused refresh token is
//     400 {"status": "BAD_REFRESH_TOKEN", "message": "missing or invalid refresh token"})
//   - https://useparagon.com/integration-error-solutions/hubspot-the-oauth-token-used-to-make-this-call-expired
//     (an expired access token is 401 with category EXPIRED_AUTHENTICATION; expires_in 1800)
//
// The refresh token does not change on refresh. The install URL has no response_type.
func HubSpot(t testing.TB) *Imitation { return start(t, hubspot()) }

func hubspot() *provider {
	return &provider{
		name:  "hubspot",
		hosts: []string{"app.hubspot.com", "api.hubapi.com"},
		want: Want{ClientID: "5fd1b9d5-hubspot-client", ClientSecret: "hubspot-secret", RedirectURI: "https://app.example.test/callback",
			Scopes: []string{"oauth", "crm.objects.contacts.read"}, Metadata: map[string]string{"hub_id": "62515"},
			APIBase: "https://api.hubapi.com", APICheck: "https://api.hubapi.com/integrations/v1/me"},
		auth: authRules{host: "app.hubspot.com", path: "/oauth/authorize", scopeSeps: " ", required: []string{"scope"},
			scopes: []string{"oauth", "crm.objects.contacts.read", "crm.objects.contacts.write", "content"}, anyResponseType: true,
			pkce: pkceOptional},
		token:  tokenRules{auth: authBody, oldAccessValid: true},
		tenant: func(i int) Tenant { return Tenant{ID: strconv.Itoa(62515 + i), URL: "demo.hubspot.com"} },
		routes: func(im *Imitation, mux *http.ServeMux) {
			mux.HandleFunc("POST api.hubapi.com/oauth/v1/token", im.hubspotToken)
			mux.HandleFunc("GET api.hubapi.com/oauth/v1/access-tokens/{token}", im.hubspotTokenInfo)
			mux.HandleFunc("GET api.hubapi.com/integrations/v1/me", im.hubspotMe)
		},
	}
}

func (im *Imitation) hubspotToken(w http.ResponseWriter, r *http.Request) {
	is, ferr := im.exchange(r)
	switch {
	case ferr != nil && ferr.reason >= reasonRefreshUnknown:
		writeJSON(w, http.StatusBadRequest, map[string]string{"status": "BAD_REFRESH_TOKEN",
			"message": "missing or invalid refresh token", "correlationId": randomToken("")[:32]})
	case ferr != nil:
		writeJSON(w, http.StatusBadRequest, map[string]string{"status": "error", "message": ferr.desc,
			"category": "VALIDATION_ERROR", "correlationId": randomToken("")[:32]})
	default:
		writeJSON(w, http.StatusOK, map[string]any{"token_type": "bearer", "access_token": is.access,
			"refresh_token": is.refresh, "expires_in": 1800})
	}
}

// hubspotTenant is the one portal (hub) the imitated user installs the app into.
func (im *Imitation) hubspotTenant(w http.ResponseWriter) (Tenant, bool) {
	tenants, fail := im.metadataState()
	if fail != 0 || len(tenants) == 0 {
		if fail == 0 {
			fail = http.StatusNotFound
		}
		writeJSON(w, fail, map[string]string{"status": "error", "message": http.StatusText(fail)})
		return Tenant{}, false
	}
	return tenants[0], true
}

func hubspotExpired(w http.ResponseWriter) {
	writeJSON(w, http.StatusUnauthorized, map[string]string{"status": "error",
		"message": "The OAuth token used to make this call expired 5 minute(s) ago.", "category": "EXPIRED_AUTHENTICATION"})
}

func (im *Imitation) hubspotTokenInfo(w http.ResponseWriter, r *http.Request) {
	g := im.granted(r.PathValue("token"))
	if g == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"status": "error", "message": "Token not found"})
		return
	}
	t, ok := im.hubspotTenant(w)
	if !ok {
		return
	}
	hub, _ := strconv.Atoi(t.ID)
	writeJSON(w, http.StatusOK, map[string]any{"token": r.PathValue("token"), "user": "user@example.com", "hub_domain": t.URL,
		"scopes": g.scopes, "hub_id": hub, "app_id": 456789, "expires_in": 1754, "user_id": 123456, "token_type": "access"})
}

func (im *Imitation) hubspotMe(w http.ResponseWriter, r *http.Request) {
	if im.bearer(r) == nil {
		hubspotExpired(w)
		return
	}
	t, ok := im.hubspotTenant(w)
	if !ok {
		return
	}
	hub, _ := strconv.Atoi(t.ID)
	writeJSON(w, http.StatusOK, map[string]any{"portalId": hub, "timeZone": "America/New_York", "currency": "USD",
		"utcOffsetMilliseconds": -18000000, "utcOffset": "-05:00"})
}
