package imitate

import (
	"net/http"
	"testing"
)

// Pipedrive imitates Pipedrive's OAuth for Marketplace apps, on the company acme. Written from:
//   - https://pipedrive.readme.io/docs/marketplace-oauth-authorization (GET
//     https://oauth.pipedrive.com/oauth/authorize with client_id, redirect_uri and state; the
//     scopes are the app's, shown on the consent page)
//   - https://developers.pipedrive.com/docs/api/v1/Oauth (POST https://oauth.pipedrive.com/oauth/token
//     with Authorization: Basic base64(client_id:client_secret), required, for getting and
//     refreshing tokens; the access token lives expires_in seconds)
//
// The token answer carries api_domain, the company's API host that a client must use.
func Pipedrive(t testing.TB) *Imitation { return start(t, pipedrive()) }

func pipedrive() *provider {
	domain := "https://acme.pipedrive.com"
	return &provider{
		name:  "pipedrive",
		hosts: []string{"oauth.pipedrive.com", "acme.pipedrive.com"},
		want: Want{ClientID: "b4d083d9216986345b32", ClientSecret: "pipedrive-client-secret", RedirectURI: "https://app.example.test/callback",
			Metadata: map[string]string{"api_domain": domain}, APIBase: domain + "/api/v1", APICheck: domain + "/api/v1/users/me"},
		auth:   authRules{host: "oauth.pipedrive.com", path: "/oauth/authorize", scopeSeps: ",", anyResponseType: true, pkce: pkceIgnored},
		token:  tokenRules{auth: authBasic, strictAuth: true, oldAccessValid: true},
		tenant: func(int) Tenant { return Tenant{ID: "acme", URL: domain} },
		routes: func(im *Imitation, mux *http.ServeMux) {
			mux.HandleFunc("POST oauth.pipedrive.com/oauth/token", im.pipedriveToken)
			mux.HandleFunc("GET acme.pipedrive.com/api/v1/users/me", im.pipedriveMe)
		},
	}
}

func (im *Imitation) pipedriveToken(w http.ResponseWriter, r *http.Request) {
	is, ferr := im.exchange(r)
	if ferr != nil {
		writeRFC6749(w, ferr)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"access_token": is.access, "token_type": "Bearer", "refresh_token": is.refresh,
		"scope": "base,deals:full", "expires_in": 3599, "api_domain": im.p.tenant(0).URL})
}

func (im *Imitation) pipedriveMe(w http.ResponseWriter, r *http.Request) {
	if im.bearer(r) == nil {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"success": false, "error": "unauthorized access", "errorCode": 401})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "data": map[string]any{"id": 123, "company_id": 456,
		"company_domain": im.p.tenant(0).ID}})
}
