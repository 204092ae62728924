package imitate

import (
	"net/http"
	"testing"
)

// Monday imitates monday.com's OAuth 2.1 flow for apps (the default for new apps). Written
// from:
//   - https://developer.monday.com/apps/docs/oauth-2-1 (PKCE, expiring access tokens and
//     refresh tokens; the authorization endpoint https://auth.monday.com/oauth2/authorize with
//     the code challenge; the code and the code verifier exchanged at
//     https://auth.monday.com/oauth_ms/oauth/token)
//   - https://developer.monday.com/apps/docs/migrating-to-the-new-oauth-flow (the authorization
//     request is the legacy one; a new token endpoint; token revocation)
//   - https://developer.monday.com/apps/docs/oauth-2-0 (the legacy flow: non-expiring tokens
//     from https://auth.monday.com/oauth2/token; API version 2027-04 accepts only OAuth 2.1
//     tokens and answers 401 OAUTH21_TOKEN_REQUIRED)
//   - https://docs.unified.to/skills/monday-oauth-app/SKILL.md (scopes per app version, an
//     API-Version header on API calls)
//
// PKCE is required. The pages read give neither the token answer's fields nor whether a
// refresh rotates the refresh token: this imitation answers RFC 6749's fields and keeps the
// refresh token.
func Monday(t testing.TB) *Imitation { return start(t, monday()) }

func monday() *provider {
	return &provider{
		name:  "monday",
		hosts: []string{"auth.monday.com", "api.monday.com"},
		want: Want{ClientID: "monday-client-id", ClientSecret: "monday-client-secret", RedirectURI: "https://app.example.test/callback",
			Scopes: []string{"boards:read", "boards:write"}, Metadata: map[string]string{},
			APIBase: "https://api.monday.com/v2", APICheck: "https://api.monday.com/v2", APIMethod: http.MethodPost},
		auth: authRules{host: "auth.monday.com", path: "/oauth2/authorize", scopeSeps: " ", anyResponseType: true,
			scopes: []string{"boards:read", "boards:write", "me:read", "users:read", "workspaces:read"}, pkce: pkceRequired},
		token:  tokenRules{auth: authBody, body: bodyFormOrJSON, oldAccessValid: true},
		tenant: func(int) Tenant { return Tenant{ID: "1825528"} },
		routes: func(im *Imitation, mux *http.ServeMux) {
			mux.HandleFunc("POST auth.monday.com/oauth_ms/oauth/token", im.mondayToken)
			mux.HandleFunc("POST api.monday.com/v2", im.mondayAPI)
		},
	}
}

func (im *Imitation) mondayToken(w http.ResponseWriter, r *http.Request) {
	is, ferr := im.exchange(r)
	if ferr != nil {
		writeRFC6749(w, ferr)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"access_token": is.access, "token_type": "Bearer", "expires_in": 3600,
		"refresh_token": is.refresh, "scope": is.g.scopeString(" ")})
}

func (im *Imitation) mondayAPI(w http.ResponseWriter, r *http.Request) {
	token, ok := cutPrefixFold(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		token = r.Header.Get("Authorization")
	}
	if im.granted(token) == nil {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"errors": []map[string]any{{"message": "Not Authenticated",
			"extensions": map[string]string{"code": "UNAUTHENTICATED"}}}})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": map[string]any{"me": map[string]string{"id": "4012689"}},
		"account_id": im.p.tenant(0).ID})
}
