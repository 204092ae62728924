package imitate

import (
	"net/http"
	"testing"
)

// Figma imitates Figma's OAuth 2.0 for REST API apps. Written from:
//   - https://logto.io/oauth-providers-explorer/figma (the authorization endpoint
//     https://www.figma.com/oauth and the token endpoint https://www.figma.com/api/v1/oauth/token,
//     which exchanges a code or a refresh token)
//   - https://arcticjs.dev/providers/figma (scopes such as files:read and file_variables:read;
//     the code exchange answers an access token, its expiry and a refresh token; a refresh
//     answers only an access token and its expiry)
//   - https://pipedream.com/apps/figma (API calls to https://api.figma.com/v1/me with Bearer)
//   - https://developers.figma.com/docs/rest-api/personal-access-tokens/ (scoped tokens; the
//     API at api.figma.com)
//   - https://developers.figma.com/docs/rest-api/oauth-apps/ and
//     https://community.auth0.com/t/figma-tokenurl-migration/182728 (since February 2025 the
//     code exchange is POST https://api.figma.com/v1/oauth/token and a refresh POST
//     https://api.figma.com/v1/oauth/refresh; the old www.figma.com/api/oauth/token is gone)
//
// Scopes are comma-separated; PKCE is not documented in the pages read, so a challenge is
// ignored. The refresh token never changes. The pages read do not give the API's answer to
// a dead token; this imitation answers 403 {"status": 403, "err": "Invalid token"}.
func Figma(t testing.TB) *Imitation { return start(t, figma()) }

func figma() *provider {
	return &provider{
		name:  "figma",
		hosts: []string{"www.figma.com", "api.figma.com"},
		want: Want{ClientID: "figmaClientId0001", ClientSecret: "figma-client-secret", RedirectURI: "https://app.example.test/callback",
			Scopes: []string{"files:read", "file_variables:read"}, Metadata: map[string]string{"user_id_string": "1234567890"},
			APIBase: "https://api.figma.com/v1", APICheck: "https://api.figma.com/v1/me"},
		auth: authRules{host: "www.figma.com", path: "/oauth", scopeSeps: ",", required: []string{"scope", "state"},
			scopes: []string{"files:read", "file_variables:read", "file_variables:write", "file_comments:write", "webhooks:write"},
			pkce:   pkceIgnored},
		token:  tokenRules{auth: authBasic, oldAccessValid: true, accessPrefix: "figu_", refreshPrefix: "figur_"},
		tenant: func(int) Tenant { return Tenant{ID: "1234567890"} },
		routes: func(im *Imitation, mux *http.ServeMux) {
			mux.HandleFunc("POST api.figma.com/v1/oauth/token", im.figmaToken)
			mux.HandleFunc("POST api.figma.com/v1/oauth/refresh", im.figmaToken)
			mux.HandleFunc("GET api.figma.com/v1/me", im.figmaMe)
		},
	}
}

func (im *Imitation) figmaToken(w http.ResponseWriter, r *http.Request) {
	is, ferr := im.exchange(r)
	if ferr != nil {
		writeRFC6749(w, ferr)
		return
	}
	if is.refreshed {
		writeJSON(w, http.StatusOK, map[string]any{"access_token": is.access, "expires_in": 7776000})
		return
	}
	id := im.p.tenant(0).ID
	writeJSON(w, http.StatusOK, map[string]any{"user_id": 1234567890, "user_id_string": id, "access_token": is.access,
		"refresh_token": is.refresh, "expires_in": 7776000})
}

func (im *Imitation) figmaMe(w http.ResponseWriter, r *http.Request) {
	if im.bearer(r) == nil {
		writeJSON(w, http.StatusForbidden, map[string]any{"status": 403, "err": "Invalid token"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": im.p.tenant(0).ID, "handle": "Ada", "email": "ada@example.com"})
}
