package imitate

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
)

// Slack imitates Slack's OAuth v2 for a granular bot token with token rotation turned on.
// Written from:
//   - https://docs.slack.dev/reference/methods/oauth.v2.access (client_id and client_secret
//     preferably by HTTP Basic, else in the body; form or JSON bodies; code_verifier for PKCE;
//     grant_type and refresh_token for a refresh)
//   - https://docs.slack.dev/tools/node-slack-sdk/reference/web-api/type-aliases/OauthV2AccessResponse
//     and https://docs.slack.dev/tools/node-slack-sdk/reference/oauth/interfaces/OAuthV2Response
//     (the answer: ok, access_token, token_type, scope, bot_user_id, app_id, team, enterprise,
//     authed_user, expires_in, refresh_token)
//   - https://docs.slack.dev/authentication/using-token-rotation (access tokens expire after
//     12 hours; each refresh revokes the refresh token and answers with a new one)
//   - https://docs.slack.dev/reference/methods/tooling.tokens.rotate (a refused refresh token
//     is {"ok": false, "error": "invalid_refresh_token"})
//
// Scopes are comma-separated. Every answer is HTTP 200; failures are {"ok": false, "error": ...}.
func Slack(t testing.TB) *Imitation { return start(t, slack()) }

func slack() *provider {
	p := &provider{
		name:  "slack",
		hosts: []string{"slack.com"},
		want: Want{ClientID: "2141029472.691202649728", ClientSecret: "e1b9e11dfcd19c1982d5de12921e17e8c",
			RedirectURI: "https://app.example.test/callback", Scopes: []string{"chat:write", "channels:read"},
			APIBase: "https://slack.com/api", APICheck: "https://slack.com/api/auth.test"},
		auth: authRules{host: "slack.com", path: "/oauth/v2/authorize", scopeSeps: ",", required: []string{"scope"},
			scopes:          []string{"chat:write", "channels:read", "commands", "incoming-webhook", "users:read"},
			anyResponseType: true, pkce: pkceOptional},
		token: tokenRules{auth: authBasic, body: bodyFormOrJSON, rotates: true, oldAccessValid: true,
			accessPrefix: "xoxe.xoxb-1-", refreshPrefix: "xoxe-1-"},
		tenant: func(i int) Tenant {
			return Tenant{ID: fmt.Sprintf("T9TK3CUK%d", i), Name: "Slack Softball Team", URL: "https://softball.slack.com/"}
		},
	}
	p.want.Metadata = map[string]string{"team.id": p.tenant(0).ID, "bot_user_id": "U0KRQLJ9H", "app_id": "A0KRD7HC3"}
	p.consent = func(im *Imitation, g *grant, q url.Values) (url.Values, *ConsentError) {
		tenants, _ := im.metadataState()
		if len(tenants) == 0 {
			return nil, &ConsentError{Reason: "the user is in no workspace"}
		}
		g.extra["team"] = tenants[0].ID
		return nil, nil
	}
	p.routes = func(im *Imitation, mux *http.ServeMux) {
		mux.HandleFunc("POST slack.com/api/oauth.v2.access", im.slackAccess)
		mux.HandleFunc("slack.com/api/auth.test", im.slackAuthTest)
		mux.HandleFunc("slack.com/api/auth.revoke", im.slackRevoke)
	}
	return p
}

func (im *Imitation) slackAccess(w http.ResponseWriter, r *http.Request) {
	is, ferr := im.exchange(r)
	if ferr != nil {
		code := map[reason]string{reasonEncoding: "invalid_form_data", reasonMissing: "invalid_arguments",
			reasonGrantType: "invalid_grant_type", reasonAuthMethod: "invalid_client_id", reasonClientID: "invalid_client_id",
			reasonSecret: "bad_client_secret", reasonCodeUnknown: "invalid_code", reasonCodeUsed: "invalid_code",
			reasonRedirect: "bad_redirect_uri", reasonVerifier: "invalid_code", reasonRefreshUnknown: "invalid_refresh_token",
			reasonRefreshExpired: "invalid_refresh_token", reasonRefreshRevoked: "invalid_refresh_token"}[ferr.reason]
		writeJSON(w, http.StatusOK, map[string]any{"ok": false, "error": code})
		return
	}
	team := map[string]string{"id": is.g.extra["team"], "name": "Slack Softball Team"}
	body := map[string]any{"ok": true, "access_token": is.access, "token_type": "bot", "scope": is.g.scopeString(","),
		"bot_user_id": "U0KRQLJ9H", "app_id": "A0KRD7HC3", "team": team, "enterprise": nil, "is_enterprise_install": false,
		"expires_in": 43200, "refresh_token": is.refresh}
	if !is.refreshed {
		body["authed_user"] = map[string]string{"id": "U1234"}
	}
	writeJSON(w, http.StatusOK, body)
}

// slackToken returns the token of a Web API call: the Authorization header, else the token
// argument.
func slackToken(r *http.Request) string {
	if t, ok := cutPrefixFold(r.Header.Get("Authorization"), "Bearer "); ok {
		return t
	}
	_ = r.ParseForm()
	return r.Form.Get("token")
}

func (im *Imitation) slackAuthTest(w http.ResponseWriter, r *http.Request) {
	g := im.granted(slackToken(r))
	if g == nil {
		writeJSON(w, http.StatusOK, map[string]any{"ok": false, "error": "invalid_auth"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "url": "https://softball.slack.com/", "team": "Slack Softball Team",
		"user": "bot", "team_id": g.extra["team"], "user_id": "U0KRQLJ9H", "bot_id": "B0KRQLJ9H"})
}

func (im *Imitation) slackRevoke(w http.ResponseWriter, r *http.Request) {
	if !im.revoke(slackToken(r), true) {
		writeJSON(w, http.StatusOK, map[string]any{"ok": false, "error": "invalid_auth"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "revoked": true})
}
