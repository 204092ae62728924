package imitate

import (
	"net/http"
	"testing"
)

// Notion imitates the OAuth flow of a Notion public connection. Written from:
//   - https://www.mintlify.com/makenotion/notion-sdk-js/guides/oauth (the authorization URL
//     https://api.notion.com/v1/oauth/authorize with client_id, redirect_uri, response_type=code,
//     owner=user and state)
//   - https://developers.notion.com/reference/create-a-token (POST /v1/oauth/token with
//     grant_type, code and redirect_uri; the answer: access_token, token_type, refresh_token,
//     bot_id, workspace_icon, workspace_name, workspace_id, owner, duplicated_template_id, request_id)
//   - https://developers.notion.com/reference/refresh-a-token.md (a refresh makes a new access
//     token and a new refresh token; the OAuth endpoints take HTTP Basic client authentication)
//   - https://developers.notion.com/reference/authentication (API calls: Authorization: Bearer
//     and a Notion-Version header)
//
// The token answer has no expires_in; there are no scopes.
func Notion(t testing.TB) *Imitation { return start(t, notion()) }

func notion() *provider {
	p := &provider{
		name:  "notion",
		hosts: []string{"api.notion.com"},
		want: Want{ClientID: "1e2d872b-594c-80a3-notion-client", ClientSecret: "secret_notion", RedirectURI: "https://app.example.test/callback",
			APIBase: "https://api.notion.com/v1", APICheck: "https://api.notion.com/v1/users/me"},
		auth: authRules{host: "api.notion.com", path: "/v1/oauth/authorize", scopeSeps: " ", required: []string{"owner"},
			fixed: map[string]string{"owner": "user"}, pkce: pkceIgnored},
		token: tokenRules{auth: authBasic, strictAuth: true, body: bodyJSON, rotates: true, oldAccessValid: true,
			accessPrefix: "ntn_", refreshPrefix: "nrt_"},
		tenant: func(int) Tenant {
			return Tenant{ID: "3c90c3cc-0d44-4b50-8888-8dd25736052a", Name: "Ada's Notion Workspace"}
		},
	}
	p.want.Metadata = map[string]string{"workspace_id": p.tenant(0).ID, "bot_id": "b3414d65-1224-4ff7-8ffr-cc9d8773d601"}
	p.routes = func(im *Imitation, mux *http.ServeMux) {
		mux.HandleFunc("POST api.notion.com/v1/oauth/token", im.notionToken)
		mux.HandleFunc("GET api.notion.com/v1/users/me", im.notionMe)
	}
	return p
}

// notionError answers the Notion API's error object.
func notionError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, map[string]any{"object": "error", "status": status, "code": code, "message": message,
		"request_id": randomToken("")[:32]})
}

func (im *Imitation) notionToken(w http.ResponseWriter, r *http.Request) {
	is, ferr := im.exchange(r)
	if ferr != nil {
		status := http.StatusBadRequest
		if ferr.rfc6749() == "invalid_client" {
			status = http.StatusUnauthorized
		}
		notionError(w, status, ferr.rfc6749(), ferr.desc)
		return
	}
	t := im.p.tenant(0)
	writeJSON(w, http.StatusOK, map[string]any{"access_token": is.access, "token_type": "bearer", "refresh_token": is.refresh,
		"bot_id": im.Want.Metadata["bot_id"], "workspace_id": t.ID, "workspace_name": t.Name, "workspace_icon": nil,
		"owner": map[string]any{"type": "user", "user": map[string]any{"object": "user", "id": "6794760a-1f15-45cd-9c65-0dfe42f5135a",
			"type": "person", "person": map[string]string{"email": "ada@example.com"}}},
		"duplicated_template_id": nil, "request_id": randomToken("")[:32]})
}

func (im *Imitation) notionMe(w http.ResponseWriter, r *http.Request) {
	switch {
	case im.bearer(r) == nil:
		notionError(w, http.StatusUnauthorized, "unauthorized", "API token is invalid.")
	case r.Header.Get("Notion-Version") == "":
		notionError(w, http.StatusBadRequest, "missing_version", "Notion-Version header failed validation: Notion-Version header should be defined.")
	default:
		writeJSON(w, http.StatusOK, map[string]any{"object": "user", "id": im.Want.Metadata["bot_id"], "type": "bot",
			"bot": map[string]any{"owner": map[string]any{"type": "user"}, "workspace_name": im.p.tenant(0).Name}})
	}
}
