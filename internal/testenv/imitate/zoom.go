package imitate

import (
	"net/http"
	"testing"
)

// Zoom imitates Zoom's user-level OAuth (authorization code) for a general app. Written from:
//   - https://developers.zoom.us/docs/rooms/oauth/ (POST https://zoom.us/oauth/token with a
//     Basic authorization header of client ID and secret, parameters as a form)
//   - https://raw.githubusercontent.com/anthropics/knowledge-work-plugins/main/partner-built/zoom-plugin/skills/oauth/concepts/token-lifecycle.md
//     (access tokens last one hour; each refresh returns a new refresh token and the old one
//     becomes invalid; an authorization code lives five minutes and is single use)
//   - https://raw.githubusercontent.com/anthropics/knowledge-work-plugins/main/partner-built/zoom-plugin/skills/rest-api/references/authentication.md
//     (the token answer: access_token, token_type, expires_in, scope; API calls with Bearer)
//   - https://developers.zoom.us/docs/integrations/oauth/#revoking-an-access-token (as quoted in
//     https://developers.qodex.ai/zoom-public/get-started-fast-with-zoom-apis/api-authorization-authentication-legacy-applications-oauth-app-oauth-2-0/revoke-an-access-token-1:
//     POST https://zoom.us/oauth/revoke with Basic client authentication and token=... as a
//     form; the answer {"status": "success"})
//
// Scopes are set on the app, so the authorization URL carries none; errors follow RFC 6749,
// as the pages read do not show Zoom's error body.
func Zoom(t testing.TB) *Imitation { return start(t, zoom()) }

func zoom() *provider {
	p := &provider{
		name:  "zoom",
		hosts: []string{"zoom.us", "api.zoom.us"},
		want: Want{ClientID: "zoomClientId01", ClientSecret: "zoom-client-secret", RedirectURI: "https://app.example.test/callback",
			APIBase: "https://api.zoom.us/v2", APICheck: "https://api.zoom.us/v2/users/me"},
		auth:   authRules{host: "zoom.us", path: "/oauth/authorize", scopeSeps: " ", pkce: pkceOptional},
		token:  tokenRules{auth: authBasic, rotates: true, oldAccessValid: true},
		tenant: func(int) Tenant { return Tenant{ID: "Wk9PTV9BQ0NPVU5UX0lE"} },
	}
	p.want.Metadata = map[string]string{"account_id": p.tenant(0).ID}
	p.routes = func(im *Imitation, mux *http.ServeMux) {
		mux.HandleFunc("POST zoom.us/oauth/token", im.zoomToken)
		mux.HandleFunc("GET api.zoom.us/v2/users/me", im.zoomMe)
		mux.HandleFunc("POST zoom.us/oauth/revoke", im.zoomRevoke)
	}
	return p
}

func (im *Imitation) zoomToken(w http.ResponseWriter, r *http.Request) {
	is, ferr := im.exchange(r)
	if ferr != nil {
		writeRFC6749(w, ferr)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"access_token": is.access, "token_type": "bearer", "refresh_token": is.refresh,
		"expires_in": 3599, "scope": "meeting:read meeting:write user:read"})
}

func (im *Imitation) zoomMe(w http.ResponseWriter, r *http.Request) {
	if im.bearer(r) == nil {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"code": 124, "message": "Invalid access token."})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": "KDcuGIm1QgePTO8WbOqwIQ", "first_name": "Jill", "last_name": "Chill",
		"email": "jchill@example.com", "account_id": im.p.tenant(0).ID})
}

// zoomRevoke revokes a token given as a form, with Basic client authentication, and its grant.
func (im *Imitation) zoomRevoke(w http.ResponseWriter, r *http.Request) {
	params, ferr := readParams(r, bodyForm)
	if ferr == nil {
		ferr = im.authenticate(r, params)
	}
	if ferr != nil {
		writeRFC6749(w, ferr)
		return
	}
	if !im.revoke(params.Get("token"), true) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "reason": "Invalid Token!"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "success"})
}
