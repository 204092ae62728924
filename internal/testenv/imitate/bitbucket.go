package imitate

import (
	"net/http"
	"testing"
)

// Bitbucket imitates Bitbucket Cloud's OAuth 2.0 for an OAuth consumer. Written from:
//   - https://confluence.atlassian.com/bitbucket/oauth-on-bitbucket-238027431.html (an OAuth
//     consumer is a key and a secret with one callback URL)
//   - https://docs.unified.to/skills/bitbucket-oauth-app/SKILL.md (not Atlassian 3LO: no
//     audience, no offline_access; the consumer's permissions are the token's scopes; tokens
//     die after two hours)
//   - https://gist.github.com/droidMakk/583cfe96d7f6f8a7e239764bf6f353ab and
//     https://bitbucket.org/site/master/issues/16249/im-trying-to-implement-the-bitbucket-oauth
//     (POST https://bitbucket.org/site/oauth2/access_token with HTTP Basic key:secret; the answer:
//     access_token, scopes, expires_in, refresh_token, token_type; errors such as
//     {"error_description": "...", "error": "invalid_grant"})
//
// The authorization URL carries no scope. The pages read do not say whether a refresh
// rotates the refresh token; this imitation answers with the same one.
func Bitbucket(t testing.TB) *Imitation { return start(t, bitbucket()) }

func bitbucket() *provider {
	return &provider{
		name:  "bitbucket",
		hosts: []string{"bitbucket.org", "api.bitbucket.org"},
		want: Want{ClientID: "f6vHJv9Mwf2QECNAuY", ClientSecret: "bitbucket-consumer-secret", RedirectURI: "https://app.example.test/callback",
			Metadata: map[string]string{}, APIBase: "https://api.bitbucket.org/2.0", APICheck: "https://api.bitbucket.org/2.0/user"},
		auth:   authRules{host: "bitbucket.org", path: "/site/oauth2/authorize", scopeSeps: " ", pkce: pkceIgnored},
		token:  tokenRules{auth: authBasic, oldAccessValid: true},
		tenant: func(int) Tenant { return Tenant{ID: "acme-workspace"} },
		routes: func(im *Imitation, mux *http.ServeMux) {
			mux.HandleFunc("POST bitbucket.org/site/oauth2/access_token", im.bitbucketToken)
			mux.HandleFunc("GET api.bitbucket.org/2.0/user", im.bitbucketUser)
		},
	}
}

func (im *Imitation) bitbucketToken(w http.ResponseWriter, r *http.Request) {
	is, ferr := im.exchange(r)
	if ferr != nil {
		writeRFC6749(w, ferr)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"access_token": is.access, "scopes": "account repository", "expires_in": 7200,
		"refresh_token": is.refresh, "token_type": "bearer", "state": "authorization_code"})
}

func (im *Imitation) bitbucketUser(w http.ResponseWriter, r *http.Request) {
	if im.bearer(r) == nil {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"type": "error", "error": map[string]string{"message": "Access token expired."}})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"type": "user", "username": "ada", "uuid": "{d301aafa-d676-4ee0-88be-962be7417567}"})
}
