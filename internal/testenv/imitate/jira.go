package imitate

import (
	"fmt"
	"net/http"
	"slices"
	"testing"
)

// Jira imitates Atlassian's OAuth 2.0 (3LO) for Jira Cloud. Written from:
//   - https://developer.atlassian.com/cloud/jira/platform/oauth-2-3lo-apps/ (the authorization
//     URL https://auth.atlassian.com/authorize with audience=api.atlassian.com, client_id, scope,
//     redirect_uri, state, response_type=code and prompt=consent; the token exchange at
//     https://auth.atlassian.com/oauth/token; API calls through api.atlassian.com/ex/jira/{cloudid})
//   - https://developer.atlassian.com/cloud/oauth/getting-started/refresh-tokens/ (a refresh token
//     only with offline_access; a JSON body with client_id and client_secret; rotating refresh
//     tokens: the one used is disabled; 403 {"error": "invalid_grant", "error_description":
//     "Unknown or invalid refresh token."})
//   - https://developer.atlassian.com/cloud/oauth/getting-started/making-calls-to-api/ (GET
//     https://api.atlassian.com/oauth/token/accessible-resources: the sites the token may reach,
//     each with its cloud id as id, name, url, scopes and avatarUrl)
//
// PKCE is not documented, so a code challenge is ignored.
func Jira(t testing.TB) *Imitation { return start(t, jira()) }

func jira() *provider {
	p := &provider{
		name:  "jira",
		hosts: []string{"auth.atlassian.com", "api.atlassian.com"},
		want: Want{ClientID: "atlassianClientId0001", ClientSecret: "atlassian-secret", RedirectURI: "https://app.example.test/callback",
			Scopes: []string{"read:jira-work", "read:jira-user", "offline_access"}},
		auth: authRules{host: "auth.atlassian.com", path: "/authorize", scopeSeps: " ", required: []string{"audience", "scope"},
			fixed:  map[string]string{"audience": "api.atlassian.com", "prompt": "consent"},
			scopes: []string{"read:jira-work", "write:jira-work", "read:jira-user", "manage:jira-configuration", "offline_access", "read:me"},
			pkce:   pkceIgnored},
		token: tokenRules{auth: authBody, body: bodyFormOrJSON, rotates: true, oldAccessValid: true},
		tenant: func(i int) Tenant {
			return Tenant{ID: fmt.Sprintf("1324a887-45db-1bf4-1e99-ef0ff456d4%02d", 21+i), Name: fmt.Sprintf("acme%d", i+1),
				URL: fmt.Sprintf("https://acme%d.atlassian.net", i+1)}
		},
	}
	first := p.tenant(0)
	p.want.Metadata = map[string]string{"cloudId": first.ID, "url": first.URL}
	p.want.APIBase = "https://api.atlassian.com/ex/jira/" + first.ID
	p.want.APICheck = p.want.APIBase + "/rest/api/3/myself"
	p.routes = func(im *Imitation, mux *http.ServeMux) {
		mux.HandleFunc("POST auth.atlassian.com/oauth/token", im.jiraToken)
		mux.HandleFunc("GET api.atlassian.com/oauth/token/accessible-resources", im.jiraResources)
		mux.HandleFunc("GET api.atlassian.com/ex/jira/{cloudid}/rest/api/3/myself", im.jiraMyself)
	}
	return p
}

func (im *Imitation) jiraToken(w http.ResponseWriter, r *http.Request) {
	is, ferr := im.exchange(r)
	if ferr != nil {
		status, desc := http.StatusBadRequest, ferr.desc
		switch ferr.rfc6749() {
		case "invalid_grant":
			status = http.StatusForbidden
			if ferr.reason >= reasonRefreshUnknown {
				desc = "Unknown or invalid refresh token."
			}
		case "invalid_client":
			status = http.StatusUnauthorized
		}
		writeJSON(w, status, map[string]string{"error": ferr.rfc6749(), "error_description": desc})
		return
	}
	body := map[string]any{"access_token": is.access, "expires_in": 3600, "token_type": "Bearer", "scope": is.g.scopeString(" ")}
	if slices.Contains(is.g.scopes, "offline_access") {
		body["refresh_token"] = is.refresh
	} else {
		im.revoke(is.refresh, false)
	}
	writeJSON(w, http.StatusOK, body)
}

func (im *Imitation) jiraResources(w http.ResponseWriter, r *http.Request) {
	g := im.bearer(r)
	if g == nil {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"code": 401, "message": "Unauthorized"})
		return
	}
	tenants, fail := im.metadataState()
	if fail != 0 {
		writeJSON(w, fail, map[string]any{"code": fail, "message": http.StatusText(fail)})
		return
	}
	list := []map[string]any{}
	for _, t := range tenants {
		list = append(list, map[string]any{"id": t.ID, "name": t.Name, "url": t.URL, "scopes": g.scopes,
			"avatarUrl": "https://site-admin-avatar-cdn.prod.public.atl-paas.net/avatars/240/flag.png"})
	}
	writeJSON(w, http.StatusOK, list)
}

func (im *Imitation) jiraMyself(w http.ResponseWriter, r *http.Request) {
	if im.bearer(r) == nil {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"code": 401, "message": "Unauthorized"})
		return
	}
	tenants, _ := im.metadataState()
	for _, t := range tenants {
		if t.ID == r.PathValue("cloudid") {
			writeJSON(w, http.StatusOK, map[string]any{"accountId": "5b10ac8d82e05b22cc7d4ef5", "displayName": "Mia Krystof", "active": true})
			return
		}
	}
	writeJSON(w, http.StatusNotFound, map[string]any{"errorMessages": []string{"Site not found"}})
}
