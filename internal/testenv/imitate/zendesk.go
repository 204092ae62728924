package imitate

import (
	"net/http"
	"strconv"
	"testing"
)

// Zendesk imitates Zendesk's OAuth authorization code grant on one account,
// acme.zendesk.com (the per-connection parameter "subdomain"). Written from:
//   - https://developer.zendesk.com/rest_api/docs/support/grant_type_tokens (one endpoint,
//     /oauth/tokens, for the authorization code and the refresh token grants; PKCE with
//     code_challenge and code_challenge_method on the authorization request)
//   - https://developer.zendesk.com/documentation/api-basics/authentication/refresh-token
//   - https://support.zendesk.com/hc/en-us/articles/9182123625370-Announcing-support-for-OAuth-refresh-token-grant-type-and-OAuth-access-and-refresh-token-expirations
//     (a successful refresh returns a new refresh token and deletes the previous access and
//     refresh tokens; expires_in and refresh_token_expires_in may be passed on both grants)
//   - https://nango.dev/blog/zendesk-oauth-refresh-token-invalid-grant (a refused refresh is 400
//     {"error": "invalid_grant", "error_description": ...})
//
// The answer has expires_in and refresh_token_expires_in only when the request asked for
// them; the old access token stops working after a refresh.
func Zendesk(t testing.TB) *Imitation { return start(t, zendesk()) }

func zendesk() *provider {
	host := "acme.zendesk.com"
	return &provider{
		name:  "zendesk",
		hosts: []string{host},
		want: Want{ClientID: "zdg-acme-integration", ClientSecret: "zendesk-secret", RedirectURI: "https://app.example.test/callback",
			Scopes: []string{"read", "write"}, Params: map[string]string{"subdomain": "acme"},
			APIBase: "https://" + host + "/api/v2", APICheck: "https://" + host + "/api/v2/users/me.json"},
		auth: authRules{host: host, path: "/oauth/authorizations/new", scopeSeps: " ", required: []string{"scope"},
			scopes: []string{"read", "write", "tickets:read", "tickets:write", "users:read", "users:write"}, pkce: pkceOptional},
		token:  tokenRules{auth: authBody, body: bodyFormOrJSON, rotates: true},
		tenant: func(int) Tenant { return Tenant{ID: "acme", URL: "https://" + host} },
		routes: func(im *Imitation, mux *http.ServeMux) {
			mux.HandleFunc("POST "+host+"/oauth/tokens", im.zendeskToken)
			mux.HandleFunc("GET "+host+"/api/v2/users/me.json", im.zendeskMe)
			mux.HandleFunc("DELETE "+host+"/api/v2/oauth/tokens/current.json", im.zendeskRevoke)
		},
	}
}

func (im *Imitation) zendeskToken(w http.ResponseWriter, r *http.Request) {
	is, ferr := im.exchange(r)
	if ferr != nil {
		desc := ferr.desc
		if ferr.rfc6749() == "invalid_grant" {
			desc = "The provided authorization grant or refresh token is invalid, expired, or revoked."
		}
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": ferr.rfc6749(), "error_description": desc})
		return
	}
	body := map[string]any{"access_token": is.access, "refresh_token": is.refresh, "token_type": "bearer",
		"scope": is.g.scopeString(" ")}
	for _, k := range []string{"expires_in", "refresh_token_expires_in"} {
		if n, err := strconv.Atoi(is.params.Get(k)); err == nil {
			body[k] = n
		}
	}
	writeJSON(w, http.StatusOK, body)
}

func zendeskInvalid(w http.ResponseWriter) {
	writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_token",
		"error_description": "The access token provided is expired, revoked, malformed or invalid for other reasons."})
}

func (im *Imitation) zendeskMe(w http.ResponseWriter, r *http.Request) {
	if im.bearer(r) == nil {
		zendeskInvalid(w)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"user": map[string]any{"id": 35436, "name": "Johnny Agent", "role": "agent"}})
}

func (im *Imitation) zendeskRevoke(w http.ResponseWriter, r *http.Request) {
	token, ok := cutPrefixFold(r.Header.Get("Authorization"), "Bearer ")
	if !ok || !im.revoke(token, false) {
		zendeskInvalid(w)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
