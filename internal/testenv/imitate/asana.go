package imitate

import (
	"net/http"
	"testing"
)

// Asana imitates Asana's OAuth authorization code grant. Written from:
//   - https://developers.asana.com/docs/oauth (GET https://app.asana.com/-/oauth_authorize,
//     POST https://app.asana.com/-/oauth_token, POST https://app.asana.com/-/oauth_revoke;
//     API calls with Authorization: Bearer)
//   - https://tangled.org/recaptime.dev/phorge/blob/recaptime-dev%2Fmain/src/applications/auth/adapter/PhutilAsanaAuthAdapter.php
//     (the user's id is the string gid, earlier the number id)
//
// The token answer carries the user under data (id, gid, name, email); a refresh answers
// without a refresh token (the one held stays valid). Scopes are space-separated; default is
// the classic full-permission scope.
func Asana(t testing.TB) *Imitation { return start(t, asana()) }

func asana() *provider {
	p := &provider{
		name:  "asana",
		hosts: []string{"app.asana.com"},
		want: Want{ClientID: "1200000000000001", ClientSecret: "asana-client-secret", RedirectURI: "https://app.example.test/callback",
			Scopes: []string{"default"}, APIBase: "https://app.asana.com/api/1.0", APICheck: "https://app.asana.com/api/1.0/users/me"},
		auth: authRules{host: "app.asana.com", path: "/-/oauth_authorize", scopeSeps: " ",
			scopes: []string{"default", "openid", "email", "profile", "tasks:read", "projects:read", "users:read"}, pkce: pkceOptional},
		token:  tokenRules{auth: authBody, oldAccessValid: true},
		tenant: func(int) Tenant { return Tenant{ID: "1337", Name: "My Company Workspace"} },
	}
	p.want.Metadata = map[string]string{"data.gid": "4673218951"}
	p.routes = func(im *Imitation, mux *http.ServeMux) {
		mux.HandleFunc("POST app.asana.com/-/oauth_token", im.asanaToken)
		mux.HandleFunc("POST app.asana.com/-/oauth_revoke", im.asanaRevoke)
		mux.HandleFunc("GET app.asana.com/api/1.0/users/me", im.asanaMe)
	}
	return p
}

func (im *Imitation) asanaToken(w http.ResponseWriter, r *http.Request) {
	is, ferr := im.exchange(r)
	if ferr != nil {
		writeRFC6749(w, ferr)
		return
	}
	body := map[string]any{"access_token": is.access, "expires_in": 3600, "token_type": "bearer",
		"data": map[string]any{"id": 4673218951, "gid": "4673218951", "name": "Greg Sanchez", "email": "gsanchez@example.com"}}
	if !is.refreshed {
		body["refresh_token"] = is.refresh
	}
	writeJSON(w, http.StatusOK, body)
}

func (im *Imitation) asanaRevoke(w http.ResponseWriter, r *http.Request) {
	params, ferr := readParams(r, bodyForm)
	if ferr == nil {
		ferr = im.authenticate(r, params)
	}
	if ferr != nil {
		writeRFC6749(w, ferr)
		return
	}
	im.revoke(params.Get("token"), true)
	w.WriteHeader(http.StatusOK)
}

func (im *Imitation) asanaMe(w http.ResponseWriter, r *http.Request) {
	if im.bearer(r) == nil {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"errors": []map[string]string{{"message": "Not Authorized"}}})
		return
	}
	tenants, _ := im.metadataState()
	workspaces := []map[string]string{}
	for _, t := range tenants {
		workspaces = append(workspaces, map[string]string{"gid": t.ID, "name": t.Name, "resource_type": "workspace"})
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": map[string]any{"gid": "4673218951", "name": "Greg Sanchez",
		"email": "gsanchez@example.com", "resource_type": "user", "workspaces": workspaces}})
}
