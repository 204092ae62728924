package imitate

import (
	"net/http"
	"net/url"
	"testing"
)

// Dropbox imitates Dropbox's OAuth 2.0 code flow with short-lived access tokens. Written from:
//
//   - https://dropbox.tech/developers/using-oauth-2-0-with-offline-access (short-lived access
//     tokens; token_access_type=offline on the authorization URL for a refresh token; the
//     refresh answer has a new access token and expires_in but no new refresh token; without
//     offline, no refresh token at all)
//
//   - https://github.com/Shopify/react-native-app-auth/blob/main/docs/config-examples/dropbox.md
//     (https://www.dropbox.com/oauth2/authorize and /oauth2/token; a client secret is needed;
//     account_id in the token answer)
//
//   - https://dropbox.github.io/dropbox-sdk-dotnet/gh-pages/obj/api/Dropbox.Api.TokenAccessType.html
//     (online: a short-lived token; offline: a short-lived token and a refresh token)
//
//   - https://www.dropbox.com/developers/documentation/http/documentation#auth-token-revoke
//     (POST https://api.dropboxapi.com/2/auth/token/revoke, no body: disables the access token
//     that authenticates the call, its refresh token and the refresh token's other access
//     tokens)
//
// The API's RPC endpoints take POST; POST https://api.dropboxapi.com/2/users/get_current_account
// is the check.
func Dropbox(t testing.TB) *Imitation { return start(t, dropbox()) }

func dropbox() *provider {
	p := &provider{
		name:  "dropbox",
		hosts: []string{"www.dropbox.com", "api.dropboxapi.com"},
		want: Want{ClientID: "dropboxappkey01", ClientSecret: "dropboxappsecret", RedirectURI: "https://app.example.test/callback",
			Scopes: []string{"account_info.read", "files.content.read"}, APIBase: "https://api.dropboxapi.com/2",
			APICheck: "https://api.dropboxapi.com/2/users/get_current_account", APIMethod: http.MethodPost},
		auth: authRules{host: "www.dropbox.com", path: "/oauth2/authorize", scopeSeps: " ",
			scopes: []string{"account_info.read", "files.content.read", "files.content.write", "files.metadata.read"}, pkce: pkceOptional},
		token:  tokenRules{auth: authBasic, oldAccessValid: true, accessPrefix: "sl."},
		tenant: func(int) Tenant { return Tenant{ID: "dbid:AAH4f99T0taONIb-OurWxbNQ6ywGRopQngc"} },
	}
	p.want.Metadata = map[string]string{"account_id": p.tenant(0).ID}
	p.consent = func(im *Imitation, g *grant, q url.Values) (url.Values, *ConsentError) {
		switch tat := q.Get("token_access_type"); tat {
		case "", "online", "offline", "legacy":
			g.extra["token_access_type"] = tat
			return nil, nil
		default:
			return nil, redirectError(q, "invalid_request", "unknown token_access_type "+tat)
		}
	}
	p.routes = func(im *Imitation, mux *http.ServeMux) {
		mux.HandleFunc("POST www.dropbox.com/oauth2/token", im.dropboxToken)
		mux.HandleFunc("POST api.dropboxapi.com/oauth2/token", im.dropboxToken)
		mux.HandleFunc("POST api.dropboxapi.com/2/users/get_current_account", im.dropboxAccount)
		mux.HandleFunc("POST api.dropboxapi.com/2/auth/token/revoke", im.dropboxRevoke)
	}
	return p
}

func (im *Imitation) dropboxToken(w http.ResponseWriter, r *http.Request) {
	is, ferr := im.exchange(r)
	if ferr != nil {
		status := http.StatusBadRequest
		if ferr.rfc6749() == "invalid_client" {
			status = http.StatusUnauthorized
		}
		writeJSON(w, status, map[string]string{"error": ferr.rfc6749(), "error_description": ferr.desc})
		return
	}
	body := map[string]any{"access_token": is.access, "expires_in": 14400, "token_type": "bearer"}
	if !is.refreshed && is.g.extra["token_access_type"] != "offline" {
		im.revoke(is.refresh, false)
	} else if !is.refreshed {
		body["refresh_token"] = is.refresh
	}
	if !is.refreshed {
		body["scope"] = is.g.scopeString(" ")
		body["account_id"], body["uid"] = im.p.tenant(0).ID, "12345"
	}
	writeJSON(w, http.StatusOK, body)
}

func (im *Imitation) dropboxAccount(w http.ResponseWriter, r *http.Request) {
	if im.bearer(r) == nil {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"error_summary": "invalid_access_token/...",
			"error": map[string]string{".tag": "invalid_access_token"}})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"account_id": im.p.tenant(0).ID, "email": "franz@example.com",
		"name": map[string]string{"display_name": "Franz Ferdinand (Personal)"}})
}

// dropboxRevoke disables the access token that authenticates the call and its grant.
func (im *Imitation) dropboxRevoke(w http.ResponseWriter, r *http.Request) {
	token, ok := cutPrefixFold(r.Header.Get("Authorization"), "Bearer ")
	if !ok || im.granted(token) == nil {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"error_summary": "invalid_access_token/", "error": map[string]string{".tag": "invalid_access_token"}})
		return
	}
	im.revoke(token, true)
	writeJSON(w, http.StatusOK, nil)
}
