package imitate

import (
	"net/http"
	"testing"
)

// ClickUp imitates ClickUp's OAuth flow for apps on API v2. Written from:
//   - https://developer.clickup.com/docs (the OAuth flow: authorization code grant; the token
//     goes in the Authorization header of API requests; personal tokens start with pk_)
//   - https://developer.clickup.com/reference/getaccesstoken.md (Get Access Token, for the
//     OAuth flow only)
//   - https://raw.githubusercontent.com/api-evangelist/clickup/refs/heads/main/capabilities/oauth-oauth.yaml
//     (POST https://api.clickup.com/api/v2/oauth/token with client_id, client_secret and code
//     as required query parameters)
//   - https://skills.sh/jeremylongshore/claude-code-plugins-plus-skills/clickup-install-auth
//     (errors carry err and ECODE)
//
// The authorization URL is https://app.clickup.com/api with client_id, redirect_uri and state
// (no scope, no response_type); the code exchange has no grant_type and no redirect_uri; the
// answer is {"access_token": ...} with no expiry and no refresh token. The API takes the
// token bare in the Authorization header, or after Bearer. A token request without the
// query parameters is refused.
func ClickUp(t testing.TB) *Imitation { return start(t, clickup()) }

func clickup() *provider {
	return &provider{
		name:  "clickup",
		hosts: []string{"app.clickup.com", "api.clickup.com"},
		want: Want{ClientID: "CLICKUPCLIENTID01", ClientSecret: "CLICKUPSECRET01", RedirectURI: "https://app.example.test/callback",
			Metadata: map[string]string{}, NoExpiry: true,
			APIBase: "https://api.clickup.com/api/v2", APICheck: "https://api.clickup.com/api/v2/user"},
		auth: authRules{host: "app.clickup.com", path: "/api", scopeSeps: " ", anyResponseType: true, pkce: pkceIgnored},
		token: tokenRules{auth: authBody, queryParams: true, impliedGrant: "authorization_code", noRedirect: true,
			oldAccessValid: true},
		tenant: func(int) Tenant { return Tenant{ID: "9012345678", Name: "Acme Workspace"} },
		routes: func(im *Imitation, mux *http.ServeMux) {
			mux.HandleFunc("POST api.clickup.com/api/v2/oauth/token", im.clickupToken)
			mux.HandleFunc("GET api.clickup.com/api/v2/user", im.clickupUser)
		},
	}
}

func (im *Imitation) clickupToken(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("client_id") == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"err": "client_id is a required query parameter", "ECODE": "OAUTH_invalid_request"})
		return
	}
	is, ferr := im.exchange(r)
	switch {
	case ferr != nil:
		status := http.StatusBadRequest
		if ferr.rfc6749() == "invalid_client" {
			status = http.StatusUnauthorized
		}
		writeJSON(w, status, map[string]string{"err": ferr.desc, "ECODE": "OAUTH_" + ferr.rfc6749()})
	case is.refreshed:
		writeJSON(w, http.StatusBadRequest, map[string]string{"err": "unsupported grant", "ECODE": "OAUTH_unsupported_grant_type"})
	default:
		im.revoke(is.refresh, false)
		writeJSON(w, http.StatusOK, map[string]string{"access_token": is.access})
	}
}

func (im *Imitation) clickupUser(w http.ResponseWriter, r *http.Request) {
	token, ok := cutPrefixFold(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		token = r.Header.Get("Authorization")
	}
	if im.granted(token) == nil {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"err": "Token invalid", "ECODE": "OAUTH_invalid_token"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"user": map[string]any{"id": 123, "username": "Ada Lovelace"}})
}
