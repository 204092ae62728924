package imitate

import (
	"encoding/xml"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// GitHub imitates a GitHub App's web application flow with expiring user access tokens.
// Written from:
//   - https://docs.github.com/en/developers/apps/refreshing-user-to-server-access-tokens (user
//     access tokens expire after eight hours, refresh tokens after six months; a refresh gives
//     a new access token and a new refresh token, after which the old refresh token and the
//     old access token no longer work)
//   - https://docs.github.com/cn/developers/apps/refreshing-user-to-server-access-tokens (POST
//     https://github.com/login/oauth/access_token with client_id, client_secret,
//     grant_type=refresh_token and refresh_token; the answer: access_token (ghu_), expires_in
//     28800, refresh_token (ghr_), refresh_token_expires_in)
//   - https://docs.github.com/en/enterprise-server@3.3/apps/building-github-apps/refreshing-user-to-server-access-tokens
//     (the same callback request as the code exchange)
//   - https://github.com/orgs/community/discussions/24745 (a refused refresh is bad_refresh_token)
//
// The token endpoint answers application/x-www-form-urlencoded unless the request's Accept
// asks for JSON or XML, and reports every error with HTTP 200 and an error field. A GitHub
// App's permissions are set on the app, so the authorization URL carries no scope.
func GitHub(t testing.TB) *Imitation { return start(t, github()) }

func github() *provider {
	return &provider{
		name:  "github",
		hosts: []string{"github.com", "api.github.com"},
		want: Want{ClientID: "Iv1.8a61f9b3a7aba766", ClientSecret: "github-client-secret", RedirectURI: "https://app.example.test/callback",
			Metadata: map[string]string{}, APIBase: "https://api.github.com", APICheck: "https://api.github.com/user"},
		auth:   authRules{host: "github.com", path: "/login/oauth/authorize", scopeSeps: " ", anyResponseType: true, pkce: pkceOptional},
		token:  tokenRules{auth: authBody, impliedGrant: "authorization_code", rotates: true, accessPrefix: "ghu_", refreshPrefix: "ghr_"},
		tenant: func(int) Tenant { return Tenant{ID: "octocat"} },
		routes: func(im *Imitation, mux *http.ServeMux) {
			mux.HandleFunc("POST github.com/login/oauth/access_token", im.githubToken)
			mux.HandleFunc("GET api.github.com/user", im.githubUser)
		},
	}
}

// githubErrors names GitHub's error for each reason.
func githubError(r reason) (code, desc string) {
	switch r {
	case reasonClientID, reasonSecret, reasonAuthMethod:
		return "incorrect_client_credentials", "The client_id and/or client_secret passed are incorrect."
	case reasonRedirect:
		return "redirect_uri_mismatch", "The redirect_uri MUST match the registered callback URL for this application."
	case reasonRefreshUnknown, reasonRefreshExpired, reasonRefreshRevoked:
		return "bad_refresh_token", "The refresh token passed is incorrect or expired."
	case reasonGrantType:
		return "unsupported_grant_type", "The grant type is not supported."
	}
	return "bad_verification_code", "The code passed is incorrect or expired."
}

func (im *Imitation) githubToken(w http.ResponseWriter, r *http.Request) {
	is, ferr := im.exchange(r)
	var body url.Values
	if ferr != nil {
		code, desc := githubError(ferr.reason)
		body = url.Values{"error": {code}, "error_description": {desc},
			"error_uri": {"https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors"}}
	} else {
		body = url.Values{"access_token": {is.access}, "expires_in": {"28800"}, "refresh_token": {is.refresh},
			"refresh_token_expires_in": {"15897600"}, "scope": {""}, "token_type": {"bearer"}}
	}
	githubAnswer(w, r, body)
}

// githubAnswer writes body in the format the request's Accept asks for (a form by default).
func githubAnswer(w http.ResponseWriter, r *http.Request, body url.Values) {
	accept := r.Header.Get("Accept")
	switch {
	case strings.Contains(accept, "application/json"):
		m := map[string]any{}
		for k := range body {
			if n, err := strconv.Atoi(body.Get(k)); err == nil {
				m[k] = n
			} else {
				m[k] = body.Get(k)
			}
		}
		writeJSON(w, http.StatusOK, m)
	case strings.Contains(accept, "application/xml"):
		w.Header().Set("Content-Type", "application/xml")
		_, _ = w.Write([]byte("<OAuth>"))
		for k := range body {
			_, _ = w.Write([]byte("<" + k + ">"))
			_ = xml.EscapeText(w, []byte(body.Get(k)))
			_, _ = w.Write([]byte("</" + k + ">"))
		}
		_, _ = w.Write([]byte("</OAuth>"))
	default:
		w.Header().Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
		_, _ = w.Write([]byte(body.Encode()))
	}
}

func (im *Imitation) githubUser(w http.ResponseWriter, r *http.Request) {
	if im.bearer(r) == nil {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "Bad credentials",
			"documentation_url": "https://docs.github.com/rest", "status": "401"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"login": "octocat", "id": 1, "type": "User"})
}
