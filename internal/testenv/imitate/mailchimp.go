package imitate

import (
	"net/http"
	"strings"
	"testing"
)

// Mailchimp imitates Mailchimp's OAuth 2 for the Marketing API, for an account in the us6
// data center. Written from:
//   - https://godocs.io/golang.org/x/oauth2/mailchimp (the endpoints
//     https://login.mailchimp.com/oauth2/authorize and https://login.mailchimp.com/oauth2/token)
//   - https://docs.unified.to/skills/mailchimp-oauth-app/SKILL.md (no scopes; no refresh
//     token and tokens that do not expire; the API root https://<dc>.api.mailchimp.com/3.0/,
//     the dc learnt from the metadata endpoint after the token exchange)
//   - https://github.com/requests/requests-oauthlib/pull/169 (the token answer sets expires_in
//     to 0 and scope to null; the metadata request must be authenticated)
//   - https://www.github.com/requests/requests-oauthlib/issues/509 (Mailchimp tokens never expire)
//
// The metadata call is GET https://login.mailchimp.com/oauth2/metadata with
// "Authorization: OAuth <token>"; it answers dc, api_endpoint and the account.
func Mailchimp(t testing.TB) *Imitation { return start(t, mailchimp()) }

func mailchimp() *provider {
	p := &provider{
		name:  "mailchimp",
		hosts: []string{"login.mailchimp.com", "us6.api.mailchimp.com"},
		want: Want{ClientID: "123456789012", ClientSecret: "mailchimp-client-secret", RedirectURI: "https://app.example.test/callback",
			Metadata: map[string]string{"dc": "us6", "api_endpoint": "https://us6.api.mailchimp.com"}, NoExpiry: true,
			APIBase: "https://us6.api.mailchimp.com/3.0", APICheck: "https://us6.api.mailchimp.com/3.0/"},
		auth:  authRules{host: "login.mailchimp.com", path: "/oauth2/authorize", scopeSeps: " ", pkce: pkceIgnored},
		token: tokenRules{auth: authBody, oldAccessValid: true},
		tenant: func(int) Tenant {
			return Tenant{ID: "us6", Name: "Freddie's Jokes", URL: "https://us6.api.mailchimp.com"}
		},
	}
	p.routes = func(im *Imitation, mux *http.ServeMux) {
		mux.HandleFunc("POST login.mailchimp.com/oauth2/token", im.mailchimpToken)
		mux.HandleFunc("GET login.mailchimp.com/oauth2/metadata", im.mailchimpMetadata)
		mux.HandleFunc("GET us6.api.mailchimp.com/3.0/", im.mailchimpRoot)
	}
	return p
}

func (im *Imitation) mailchimpToken(w http.ResponseWriter, r *http.Request) {
	is, ferr := im.exchange(r)
	if ferr != nil {
		writeRFC6749(w, ferr)
		return
	}
	if is.refreshed { // no refresh token is ever handed out
		writeRFC6749(w, &flowError{reasonRefreshUnknown, "invalid refresh token"})
		return
	}
	im.revoke(is.refresh, false)
	writeJSON(w, http.StatusOK, map[string]any{"access_token": is.access, "expires_in": 0, "scope": nil})
}

func (im *Imitation) mailchimpMetadata(w http.ResponseWriter, r *http.Request) {
	token, ok := cutPrefixFold(r.Header.Get("Authorization"), "OAuth ")
	if !ok || im.granted(token) == nil {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_token"})
		return
	}
	tenants, fail := im.metadataState()
	if fail != 0 || len(tenants) == 0 {
		writeJSON(w, max(fail, http.StatusNotFound), map[string]string{"error": "metadata unavailable"})
		return
	}
	t := tenants[0]
	writeJSON(w, http.StatusOK, map[string]any{"dc": t.ID, "role": "owner", "accountname": t.Name, "user_id": 42,
		"login": map[string]any{"login_id": 42, "login_name": "freddie"}, "login_url": "https://login.mailchimp.com",
		"api_endpoint": t.URL})
}

func (im *Imitation) mailchimpRoot(w http.ResponseWriter, r *http.Request) {
	token, ok := cutPrefixFold(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		if _, key, basic := r.BasicAuth(); basic {
			token = key
		}
	}
	if im.granted(strings.TrimSpace(token)) == nil {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"type": "https://mailchimp.com/developer/marketing/docs/errors/",
			"title": "API Key Invalid", "status": 401, "detail": "Your API key may be invalid, or you've attempted to access the wrong datacenter."})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"account_id": "8d3a3db4d97663a9074efcc16", "account_name": "Freddie's Jokes"})
}
