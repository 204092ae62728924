package imitate

import (
	"net/http"
	"net/url"
	"testing"
)

// Google imitates Google's OAuth 2.0 for web server applications. Written from:
//   - https://developers.google.com/identity/protocols (web server flow; refresh tokens can
//     stop working for several reasons, such as the user revoking access)
//   - https://docs.gitguardian.com/secrets-detection/secrets-detection-engine/detectors/specifics/google_oauth2_refresh_token
//     (from https://developers.google.com/identity/protocols/oauth2/web-server#offline: refresh
//     tokens do not expire by default; they stop working on revocation, after six months
//     unused, or by policy; revocation is POST /revoke)
//   - https://github.com/google/google-api-php-client/issues/263 (without a new consent the
//     token answer has access_token, token_type, expires_in and no refresh_token)
//   - https://gist.github.com/forficate/fd5ec72b21eafad6592c (access_type=offline, and forcing
//     the consent prompt, to get a refresh token)
//
// A refresh token comes only with access_type=offline, and only on the user's first consent
// to the app unless prompt=consent asks again. A refresh never rotates it.
func Google(t testing.TB) *Imitation { return start(t, google()) }

func google() *provider {
	p := &provider{
		name:  "google",
		hosts: []string{"accounts.google.com", "oauth2.googleapis.com", "www.googleapis.com"},
		want: Want{ClientID: "407408718192.apps.googleusercontent.com", ClientSecret: "GOCSPX-google-secret",
			RedirectURI: "https://app.example.test/callback",
			Scopes:      []string{"openid", "email", "https://www.googleapis.com/auth/drive.readonly"}, Metadata: map[string]string{},
			APIBase: "https://www.googleapis.com", APICheck: "https://www.googleapis.com/drive/v3/about?fields=user"},
		auth: authRules{host: "accounts.google.com", path: "/o/oauth2/v2/auth", scopeSeps: " ", required: []string{"scope"},
			scopes: []string{"openid", "email", "profile", "https://www.googleapis.com/auth/drive.readonly",
				"https://www.googleapis.com/auth/drive.file", "https://www.googleapis.com/auth/gmail.readonly"}, pkce: pkceOptional},
		token:  tokenRules{auth: authBody, oldAccessValid: true, accessPrefix: "ya29."},
		tenant: func(int) Tenant { return Tenant{ID: "115812345678901234567"} },
	}
	p.consent = func(im *Imitation, g *grant, q url.Values) (url.Values, *ConsentError) {
		im.mu.Lock()
		first := len(im.codes) == 0
		im.mu.Unlock()
		if q.Get("access_type") == "offline" && (first || q.Get("prompt") == "consent") {
			g.extra["offline"] = "true"
		}
		return nil, nil
	}
	p.routes = func(im *Imitation, mux *http.ServeMux) {
		mux.HandleFunc("POST oauth2.googleapis.com/token", im.googleToken)
		mux.HandleFunc("POST oauth2.googleapis.com/revoke", im.googleRevoke)
		mux.HandleFunc("GET www.googleapis.com/drive/v3/about", im.googleAbout)
	}
	return p
}

func (im *Imitation) googleToken(w http.ResponseWriter, r *http.Request) {
	is, ferr := im.exchange(r)
	if ferr != nil {
		desc := map[reason]string{reasonCodeUnknown: "Malformed auth code.", reasonCodeUsed: "Bad Request",
			reasonRefreshUnknown: "Bad Request", reasonRefreshExpired: "Token has been expired or revoked.",
			reasonRefreshRevoked: "Token has been expired or revoked.", reasonSecret: "Unauthorized", reasonClientID: "The OAuth client was not found."}[ferr.reason]
		code := ferr.rfc6749()
		if ferr.reason == reasonRedirect {
			code, desc = "redirect_uri_mismatch", "Bad Request"
		}
		if desc == "" {
			desc = ferr.desc
		}
		status := http.StatusBadRequest
		if code == "invalid_client" {
			status = http.StatusUnauthorized
		}
		writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
		return
	}
	body := map[string]any{"access_token": is.access, "expires_in": 3599, "token_type": "Bearer", "scope": is.g.scopeString(" ")}
	switch {
	case is.refreshed:
	case is.g.extra["offline"] != "":
		body["refresh_token"] = is.refresh
	default:
		im.revoke(is.refresh, false)
	}
	writeJSON(w, http.StatusOK, body)
}

func (im *Imitation) googleRevoke(w http.ResponseWriter, r *http.Request) {
	params, ferr := readParams(r, bodyForm)
	if ferr != nil || !im.revoke(params.Get("token"), true) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_token", "error_description": "Token expired or revoked"})
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (im *Imitation) googleAbout(w http.ResponseWriter, r *http.Request) {
	if im.bearer(r) == nil {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"error": map[string]any{"code": 401, "status": "UNAUTHENTICATED",
			"message": "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential."}})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"user": map[string]any{"kind": "drive#user", "displayName": "Ada Lovelace",
		"emailAddress": "ada@example.com", "permissionId": im.p.tenant(0).ID}})
}
