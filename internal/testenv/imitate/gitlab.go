package imitate

import (
	"net/http"
	"testing"
	"time"
)

// GitLab imitates GitLab's OAuth 2.0 identity provider on gitlab.com (a self-managed instance
// is the same on its own host: the per-connection parameter "host"). Written from:
//   - https://raw.githubusercontent.com/api-evangelist/gitlab/refs/heads/main/json-schema/gitlab-oauth2-token-request-schema.json
//     (POST /oauth/token with grant_type, client_id, client_secret, code, redirect_uri,
//     code_verifier or refresh_token)
//   - https://raw.githubusercontent.com/api-evangelist/gitlab/refs/heads/main/json-schema/gitlab-token-response-schema.json
//     (the answer: access_token, token_type Bearer, expires_in typically 7200, refresh_token,
//     a space-separated scope, created_at)
//   - https://gitlab.com/gitlab-org/gitlab-vscode-extension/-/issues/561 (tokens expire after
//     two hours by default; refresh with the refresh token; PKCE, from
//     https://docs.gitlab.com/ee/api/oauth2.html#authorization-code-with-proof-key-for-code-exchange-pkce)
//   - https://www.ocaml.org/p/gitlab-unix/0.1.7/doc/Gitlab/Token/index.html (the authorization
//     code flow's URL with client_id, redirect_uri, state and scopes)
//   - https://docs.gitlab.com/ee/api/oauth2.html (revocation: POST /oauth/revoke with client_id,
//     client_secret and token, as RFC 7009)
//
// The pages read do not say whether a refresh rotates the refresh token; this imitation
// answers with a new one and retires the old.
func GitLab(t testing.TB) *Imitation { return start(t, gitlab()) }

func gitlab() *provider {
	return &provider{
		name:  "gitlab",
		hosts: []string{"gitlab.com"},
		want: Want{ClientID: "gitlab-application-id", ClientSecret: "gloas-gitlab-secret", RedirectURI: "https://app.example.test/callback",
			Scopes: []string{"read_user", "read_api"}, Params: map[string]string{"host": "gitlab.com"}, Metadata: map[string]string{},
			APIBase: "https://gitlab.com/api/v4", APICheck: "https://gitlab.com/api/v4/user"},
		auth: authRules{host: "gitlab.com", path: "/oauth/authorize", scopeSeps: " ", required: []string{"scope"},
			scopes: []string{"api", "read_api", "read_user", "read_repository", "write_repository", "openid", "profile", "email"},
			pkce:   pkceOptional},
		token:  tokenRules{auth: authBody, rotates: true, oldAccessValid: true},
		tenant: func(int) Tenant { return Tenant{ID: "gitlab.com"} },
		routes: func(im *Imitation, mux *http.ServeMux) {
			mux.HandleFunc("POST gitlab.com/oauth/token", im.gitlabToken)
			mux.HandleFunc("GET gitlab.com/api/v4/user", im.gitlabUser)
			mux.HandleFunc("POST gitlab.com/oauth/revoke", im.gitlabRevoke)
		},
	}
}

func (im *Imitation) gitlabToken(w http.ResponseWriter, r *http.Request) {
	is, ferr := im.exchange(r)
	if ferr != nil {
		if ferr.rfc6749() == "invalid_grant" {
			ferr = &flowError{ferr.reason, "The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client."}
		}
		writeRFC6749(w, ferr)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"access_token": is.access, "token_type": "Bearer", "expires_in": 7200,
		"refresh_token": is.refresh, "scope": is.g.scopeString(" "), "created_at": time.Now().Unix()})
}

func (im *Imitation) gitlabUser(w http.ResponseWriter, r *http.Request) {
	if im.bearer(r) == nil {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "401 Unauthorized"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": 1, "username": "ada", "name": "Ada Lovelace"})
}

// gitlabRevoke revokes a token as RFC 7009 says: 200 whether or not the token was known.
func (im *Imitation) gitlabRevoke(w http.ResponseWriter, r *http.Request) {
	params, ferr := readParams(r, bodyForm)
	if ferr == nil {
		ferr = im.authenticate(r, params)
	}
	if ferr != nil {
		writeRFC6749(w, ferr)
		return
	}
	im.revoke(params.Get("token"), params.Get("token_type_hint") != "access_token")
	writeJSON(w, http.StatusOK, map[string]any{})
}
