package imitate

import (
	"net/http"
	"testing"
	"time"
)

// LinkedIn imitates LinkedIn's 3-legged OAuth (authorization code flow) for an app approved
// for programmatic refresh tokens. Written from:
//   - https://learn.microsoft.com/en-us/linkedin/shared/authentication/authorization-code-flow
//     (the member consents to all requested scopes at once)
//   - https://learn.microsoft.com/en-us/linkedin/shared/authentication/programmatic-refresh-tokens
//     (access tokens live 60 days, refresh tokens a year; a refresh gives a new access token
//     with a new 60-day lifetime while the refresh token keeps its original expiry)
//   - https://learn.microsoft.com/en-us/answers/questions/5970557/how-to-generate-refresh-token-in-linkedin
//     (the code exchange answers access_token, refresh_token, refresh_token_expires_in, scope)
//   - https://gist.github.com/officialrajdeepsingh/070b60e1564877136b1813fd2d940d03 and
//     https://blog.csdn.net/xu1988923/article/details/94622727 (GET
//     https://www.linkedin.com/oauth/v2/authorization with response_type, client_id,
//     redirect_uri, state and a URL-encoded, space-separated scope)
//   - https://kestra.io/plugins/io.kestra.plugin.linkedin.OAuth2 (the token endpoint
//     https://www.linkedin.com/oauth/v2/accessToken, also for refresh_token)
//
// PKCE is not documented for web apps, so a challenge is ignored.
func LinkedIn(t testing.TB) *Imitation { return start(t, linkedin()) }

func linkedin() *provider {
	return &provider{
		name:  "linkedin",
		hosts: []string{"www.linkedin.com", "api.linkedin.com"},
		want: Want{ClientID: "77abcdefgh12oo", ClientSecret: "linkedin-client-secret", RedirectURI: "https://app.example.test/callback",
			Scopes: []string{"openid", "profile", "w_member_social"}, Metadata: map[string]string{},
			APIBase: "https://api.linkedin.com/v2", APICheck: "https://api.linkedin.com/v2/userinfo"},
		auth: authRules{host: "www.linkedin.com", path: "/oauth/v2/authorization", scopeSeps: " ", required: []string{"scope"},
			scopes: []string{"openid", "profile", "email", "w_member_social", "r_liteprofile", "r_emailaddress", "rw_organization_admin"},
			pkce:   pkceIgnored},
		token:  tokenRules{auth: authBody, oldAccessValid: true},
		tenant: func(int) Tenant { return Tenant{ID: "782bbtaQ"} },
		routes: func(im *Imitation, mux *http.ServeMux) {
			mux.HandleFunc("POST www.linkedin.com/oauth/v2/accessToken", im.linkedinToken)
			mux.HandleFunc("GET api.linkedin.com/v2/userinfo", im.linkedinUserinfo)
		},
	}
}

func (im *Imitation) linkedinToken(w http.ResponseWriter, r *http.Request) {
	is, ferr := im.exchange(r)
	if ferr != nil {
		writeRFC6749(w, ferr)
		return
	}
	year := 365 * 24 * time.Hour
	writeJSON(w, http.StatusOK, map[string]any{"access_token": is.access, "expires_in": 5184000, "refresh_token": is.refresh,
		"refresh_token_expires_in": int(year.Seconds()), "scope": is.g.scopeString(",")})
}

func (im *Imitation) linkedinUserinfo(w http.ResponseWriter, r *http.Request) {
	if im.bearer(r) == nil {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"serviceErrorCode": 65600, "message": "Invalid access token", "status": 401})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"sub": im.p.tenant(0).ID, "name": "Ada Lovelace", "email_verified": true})
}
