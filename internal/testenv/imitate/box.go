package imitate

import (
	"net/http"
	"testing"
)

// Box imitates Box's OAuth 2.0 authorization code flow. Written from:
//   - https://developer.box.com/guides/authentication/tokens/access-tokens/ (POST
//     https://api.box.com/oauth2/token, a form; the answer: access_token, expires_in 3600,
//     token_type, refresh_token, issued_token_type)
//   - https://developer.box.com/guides/authentication/tokens/refresh (a refresh token is valid
//     for 60 days and for one use: each refresh answers with a new one)
//   - https://developer.box.com/guides/tooling/postman/access-token/ (client_id, client_secret,
//     code and grant_type=authorization_code in the body; a code is valid for 30 seconds)
//
// PKCE is not documented, so a code challenge is ignored.
func Box(t testing.TB) *Imitation { return start(t, box()) }

func box() *provider {
	return &provider{
		name:  "box",
		hosts: []string{"account.box.com", "api.box.com"},
		want: Want{ClientID: "ly1nj6n11vionaie65emwzk575hnnmrk", ClientSecret: "box-client-secret",
			RedirectURI: "https://app.example.test/callback", Scopes: []string{"root_readwrite"},
			Metadata: map[string]string{}, APIBase: "https://api.box.com/2.0", APICheck: "https://api.box.com/2.0/users/me"},
		auth: authRules{host: "account.box.com", path: "/api/oauth2/authorize", scopeSeps: " ",
			scopes: []string{"root_readonly", "root_readwrite", "manage_managed_users", "manage_groups"}, pkce: pkceIgnored},
		token:  tokenRules{auth: authBody, rotates: true, oldAccessValid: true},
		tenant: func(int) Tenant { return Tenant{ID: "11446498"} },
		routes: func(im *Imitation, mux *http.ServeMux) {
			mux.HandleFunc("POST api.box.com/oauth2/token", im.boxToken)
			mux.HandleFunc("POST api.box.com/oauth2/revoke", im.boxRevoke)
			mux.HandleFunc("GET api.box.com/2.0/users/me", im.boxMe)
		},
	}
}

func (im *Imitation) boxToken(w http.ResponseWriter, r *http.Request) {
	is, ferr := im.exchange(r)
	if ferr != nil {
		desc := map[reason]string{reasonCodeUnknown: "Auth code doesn't exist or is invalid for the client",
			reasonCodeUsed: "Auth code doesn't exist or is invalid for the client", reasonRefreshExpired: "Refresh token has expired",
			reasonRefreshRevoked: "Refresh token has expired", reasonRefreshUnknown: "Invalid refresh token",
			reasonClientID: "The client credentials are invalid", reasonSecret: "The client credentials are invalid"}[ferr.reason]
		if desc == "" {
			desc = ferr.desc
		}
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": ferr.rfc6749(), "error_description": desc})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"access_token": is.access, "expires_in": 3600, "token_type": "bearer",
		"refresh_token": is.refresh, "issued_token_type": "urn:ietf:params:oauth:token-type:access_token", "restricted_to": []any{}})
}

func (im *Imitation) boxRevoke(w http.ResponseWriter, r *http.Request) {
	params, ferr := readParams(r, bodyForm)
	if ferr == nil {
		ferr = im.authenticate(r, params)
	}
	if ferr != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": ferr.rfc6749(), "error_description": ferr.desc})
		return
	}
	im.revoke(params.Get("token"), true)
	w.WriteHeader(http.StatusOK)
}

func (im *Imitation) boxMe(w http.ResponseWriter, r *http.Request) {
	if im.bearer(r) == nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="Service", error="invalid_token", error_description="The access token provided is invalid."`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"type": "user", "id": im.p.tenant(0).ID, "name": "Aaron Levie", "login": "ceo@example.com"})
}
