package imitate

import (
	"net/http"
	"testing"
	"time"
)

// Calendly imitates Calendly's OAuth for a web client of API v2. Written from:
//   - https://developer.calendly.com/how-to-access-calendly-data-on-behalf-of-authenticated-users
//     (https://auth.calendly.com/oauth/authorize?client_id=...&response_type=code&redirect_uri=...;
//     codes expire after 10 minutes; access tokens after 2 hours; refresh tokens do not expire
//     until used; GET current user to test the token)
//   - https://developer.calendly.com/api-docs/calendly-o-auth/o-auth/post-oauth-refresh-token.md
//     (POST https://auth.calendly.com/oauth/token, a form; web clients pass client_id and
//     client_secret by HTTP Basic, which is required)
//   - https://developer.calendly.com/api-docs/calendly-o-auth/o-auth/post-oauth-introspect.md
//   - https://www.github.com/GearPlug/calendly-python (the user's and the organization's URIs
//     are what a client keeps)
//
// The token answer carries owner and organization, the URIs of the user and organization; a
// refresh token works once (a refresh answers with a new one).
func Calendly(t testing.TB) *Imitation { return start(t, calendly()) }

func calendly() *provider {
	owner := "https://api.calendly.com/users/AAAAAAAAAAAAAAAA"
	org := "https://api.calendly.com/organizations/BBBBBBBBBBBBBBBB"
	return &provider{
		name:  "calendly",
		hosts: []string{"auth.calendly.com", "api.calendly.com"},
		want: Want{ClientID: "calendly-client-id", ClientSecret: "calendly-client-secret", RedirectURI: "https://app.example.test/callback",
			Metadata: map[string]string{"owner": owner, "organization": org},
			APIBase:  "https://api.calendly.com", APICheck: "https://api.calendly.com/users/me"},
		auth:   authRules{host: "auth.calendly.com", path: "/oauth/authorize", scopeSeps: " ", scopes: []string{"default"}, pkce: pkceOptional},
		token:  tokenRules{auth: authBasic, strictAuth: true, rotates: true, oldAccessValid: true},
		tenant: func(int) Tenant { return Tenant{ID: org, URL: owner} },
		routes: func(im *Imitation, mux *http.ServeMux) {
			mux.HandleFunc("POST auth.calendly.com/oauth/token", im.calendlyToken)
			mux.HandleFunc("GET api.calendly.com/users/me", im.calendlyMe)
		},
	}
}

func (im *Imitation) calendlyToken(w http.ResponseWriter, r *http.Request) {
	is, ferr := im.exchange(r)
	if ferr != nil {
		writeRFC6749(w, ferr)
		return
	}
	t := im.p.tenant(0)
	writeJSON(w, http.StatusOK, map[string]any{"token_type": "Bearer", "access_token": is.access, "refresh_token": is.refresh,
		"scope": "default", "created_at": time.Now().Unix(), "expires_in": 7200, "owner": t.URL, "organization": t.ID})
}

func (im *Imitation) calendlyMe(w http.ResponseWriter, r *http.Request) {
	if im.bearer(r) == nil {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"title": "Unauthenticated", "message": "The access token is invalid"})
		return
	}
	t := im.p.tenant(0)
	writeJSON(w, http.StatusOK, map[string]any{"resource": map[string]string{"uri": t.URL, "name": "Ada Lovelace",
		"current_organization": t.ID}})
}
