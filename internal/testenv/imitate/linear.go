package imitate

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// Linear imitates Linear's OAuth 2.0 authorization code grant (actor=user) with refresh
// tokens. Written from:
//   - https://linear.app/developers/oauth-2-0-authentication.md (GET https://linear.app/oauth/authorize
//     with client_id, redirect_uri, response_type=code and a comma-separated scope: read,
//     write, issues:create, comments:create, timeSchedule:write, admin; every application uses
//     refresh tokens since April 1, 2026)
//   - https://www.linear.app/developers/oauth-2-0-authentication (an authorization-code access
//     token lives 24 hours by default; renew it by exchanging the refresh token for a new pair;
//     expires_in in the token answer)
//   - https://docs.unified.to/skills/linear-oauth-app/SKILL.md (rotating refresh tokens)
//
// The API is GraphQL at https://api.linear.app/graphql; the metadata call is the query
// { organization { id name urlKey } }. The pages read do not give the status of an
// unauthenticated call; this imitation answers 400 with an AUTHENTICATION_ERROR.
func Linear(t testing.TB) *Imitation { return start(t, linear()) }

func linear() *provider {
	p := &provider{
		name:  "linear",
		hosts: []string{"linear.app", "api.linear.app"},
		want: Want{ClientID: "linear-client-id-0001", ClientSecret: "linear-client-secret", RedirectURI: "https://app.example.test/callback",
			Scopes: []string{"read", "write"}, APIBase: "https://api.linear.app/graphql",
			APICheck: "https://api.linear.app/graphql", APIMethod: http.MethodPost},
		auth: authRules{host: "linear.app", path: "/oauth/authorize", scopeSeps: ",", required: []string{"scope"},
			scopes: []string{"read", "write", "issues:create", "comments:create", "timeSchedule:write", "admin"}, pkce: pkceOptional},
		token:  tokenRules{auth: authBody, rotates: true, oldAccessValid: true, accessPrefix: "lin_oauth_"},
		tenant: func(int) Tenant { return Tenant{ID: "e5c6f8b0-2f4a-4f63-9c59-0a1b2c3d4e5f", Name: "Acme", URL: "acme"} },
	}
	p.want.Metadata = map[string]string{"organizationId": p.tenant(0).ID}
	p.routes = func(im *Imitation, mux *http.ServeMux) {
		mux.HandleFunc("POST api.linear.app/oauth/token", im.linearToken)
		mux.HandleFunc("POST api.linear.app/oauth/revoke", im.linearRevoke)
		mux.HandleFunc("POST api.linear.app/graphql", im.linearGraphQL)
	}
	return p
}

func (im *Imitation) linearToken(w http.ResponseWriter, r *http.Request) {
	is, ferr := im.exchange(r)
	if ferr != nil {
		writeRFC6749(w, ferr)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"access_token": is.access, "token_type": "Bearer", "expires_in": 86399,
		"scope": is.g.scopeString(" "), "refresh_token": is.refresh})
}

func (im *Imitation) linearRevoke(w http.ResponseWriter, r *http.Request) {
	token, ok := cutPrefixFold(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		_ = r.ParseForm()
		token = r.PostForm.Get("token")
	}
	if !im.revoke(token, true) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_token"})
		return
	}
	w.WriteHeader(http.StatusOK)
}

// linearGraphQL answers the organization and viewer queries.
func (im *Imitation) linearGraphQL(w http.ResponseWriter, r *http.Request) {
	if im.bearer(r) == nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"errors": []map[string]any{{"message": "Authentication required, not authenticated",
			"extensions": map[string]any{"type": "authentication error", "code": "AUTHENTICATION_ERROR", "userPresentableMessage": "You need to authenticate to access this operation."}}}})
		return
	}
	var q struct{ Query string }
	_ = json.NewDecoder(r.Body).Decode(&q)
	tenants, fail := im.metadataState()
	switch {
	case fail != 0:
		writeJSON(w, fail, map[string]any{"errors": []map[string]string{{"message": http.StatusText(fail)}}})
	case strings.Contains(q.Query, "organization") && len(tenants) > 0:
		t := tenants[0]
		writeJSON(w, http.StatusOK, map[string]any{"data": map[string]any{"organization": map[string]string{"id": t.ID, "name": t.Name, "urlKey": t.URL}}})
	default:
		writeJSON(w, http.StatusOK, map[string]any{"data": map[string]any{"viewer": map[string]string{"id": "2e3f4a5b-6c7d-4e8f-9a0b-1c2d3e4f5a6b", "name": "Ada"}}})
	}
}
