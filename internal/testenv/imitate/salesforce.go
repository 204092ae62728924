package imitate

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"
)

// Salesforce imitates the OAuth 2.0 web server flow of a Salesforce org reached through
// login.salesforce.com, whose My Domain (the instance) is acme.my.salesforce.com. Written from:
//   - https://help.salesforce.com/apex/HTViewHelpDoc?id=remoteaccess_oauth_refresh_token_flow.htm&language=en_US
//     (refresh token rotation is a connected-app setting; this imitation has it off)
//   - https://developer.salesforce.com/docs/atlas.en-us.222.0.api_rest.meta/api/intro_understanding_refresh_token_oauth.htm
//     (refresh parameters; an expired session is "Session expired or invalid")
//   - https://developer.salesforce.com/docs/platform/mobile-sdk/guide/oauth-revoking-tokens.html and
//     https://developer.salesforce.com/blogs/developer-relations/2011/11/revoking-oauth-2-0-access-tokens-and-refresh-tokens.html
//     (revocation: form POST token=..., 200, or 400 with invalid_token)
//   - https://jsforce.github.io/jsforce/types/oauth2.TokenResponse.html (the token answer:
//     access_token, id, instance_url, issued_at, signature, token_type, optional refresh_token)
//
// The token answer has no expires_in (the lifetime is the org's session timeout, which the
// pages above do not state, so Want.DefaultLifetime is zero), carries instance_url (the API
// base) and id, and holds a refresh token only when the scopes include refresh_token or
// offline_access; a refresh answers without a refresh token.
func Salesforce(t testing.TB) *Imitation { return start(t, salesforce()) }

func salesforce() *provider {
	instance := "https://acme.my.salesforce.com"
	return &provider{
		name:  "salesforce",
		hosts: []string{"login.salesforce.com", "acme.my.salesforce.com"},
		want: Want{ClientID: "3MVG9sfConsumerKey", ClientSecret: "sf-consumer-secret", RedirectURI: "https://app.example.test/callback",
			Scopes: []string{"api", "refresh_token"}, Metadata: map[string]string{"instance_url": instance},
			APIBase: instance + "/services/data/v62.0", APICheck: instance + "/services/data/v62.0/limits"},
		auth: authRules{host: "login.salesforce.com", path: "/services/oauth2/authorize", scopeSeps: " ",
			scopes: []string{"api", "refresh_token", "offline_access", "id", "profile", "email", "openid", "full", "web"},
			pkce:   pkceOptional},
		token:  tokenRules{auth: authBody, oldAccessValid: true, accessPrefix: "00Dxx0000001gEH!"},
		tenant: func(i int) Tenant { return Tenant{ID: fmt.Sprintf("00Dxx000000%04d", i+1), URL: instance} },
		routes: func(im *Imitation, mux *http.ServeMux) {
			mux.HandleFunc("POST login.salesforce.com/services/oauth2/token", im.salesforceToken)
			mux.HandleFunc("POST login.salesforce.com/services/oauth2/revoke", im.salesforceRevoke)
			mux.HandleFunc("GET acme.my.salesforce.com/services/data/v62.0/limits", im.salesforceLimits)
		},
	}
}

func (im *Imitation) salesforceToken(w http.ResponseWriter, r *http.Request) {
	is, ferr := im.exchange(r)
	if ferr != nil {
		desc := map[reason]string{reasonCodeUnknown: "invalid authorization code", reasonCodeUsed: "invalid authorization code",
			reasonRefreshExpired: "expired access/refresh token", reasonRefreshRevoked: "expired access/refresh token",
			reasonRefreshUnknown: "expired access/refresh token", reasonSecret: "invalid client credentials",
			reasonClientID: "invalid client credentials", reasonRedirect: "redirect_uri must match configuration"}[ferr.reason]
		if desc == "" {
			desc = ferr.desc
		}
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": ferr.rfc6749(), "error_description": desc})
		return
	}
	tenant := im.p.tenant(0)
	body := map[string]any{"access_token": is.access, "instance_url": tenant.URL, "token_type": "Bearer",
		"id":        fmt.Sprintf("https://login.salesforce.com/id/%s/005xx000001Sv6AAAS", tenant.ID),
		"issued_at": strconv.FormatInt(time.Now().UnixMilli(), 10), "signature": "c2lnbmF0dXJl", "scope": is.g.scopeString(" ")}
	offline := slices.Contains(is.g.scopes, "refresh_token") || slices.Contains(is.g.scopes, "offline_access")
	if !is.refreshed && offline {
		body["refresh_token"] = is.refresh
	}
	if !offline {
		im.revoke(is.refresh, false)
	}
	writeJSON(w, http.StatusOK, body)
}

func (im *Imitation) salesforceRevoke(w http.ResponseWriter, r *http.Request) {
	params, ferr := readParams(r, bodyForm)
	if ferr != nil || !im.revoke(params.Get("token"), true) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_token"})
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (im *Imitation) salesforceLimits(w http.ResponseWriter, r *http.Request) {
	if im.bearer(r) == nil {
		writeJSON(w, http.StatusUnauthorized, []map[string]string{{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"DailyApiRequests": map[string]int{"Max": 15000, "Remaining": 14998}})
}
