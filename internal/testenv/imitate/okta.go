package imitate

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"
)

// Okta imitates an Okta org, acme.okta.com (the per-connection parameter "domain"), through
// its default custom authorization server. Written from:
//   - https://developer.okta.com/docs/reference/api/authorization-servers/ (the pre-configured
//     custom authorization server named default)
//   - https://support.okta.com/help/s/article/What-is-the-lifetime-of-the-JWT-tokens?language=en_US
//     (access and ID tokens live 60 minutes by default; refresh token lifetimes are set by
//     access policies on a custom authorization server)
//   - https://support.okta.com/help/s/article/refresh-token-expiration-behavior?language=en_US
//     (a refresh may answer with a new refresh token that keeps the old expiry; an invalid or
//     expired refresh token is an HTTP 400 from /token)
//   - https://raw.githubusercontent.com/api-evangelist/okta/refs/heads/main/json-schema/okta-openidconnectapplicationsettingsrefreshtoken-schema.json
//     (an app's refresh token rotation_type and leeway)
//   - https://developer.okta.com/docs/reference/api/oidc/#id-token (the ID token's claims: iss,
//     the authorization server; aud, the client id; sub; iat and exp; nonce when the
//     authorization request had one)
//
// This imitation's app rotates refresh tokens (no leeway), issues them only with
// offline_access, and requires state on the authorization request.
func Okta(t testing.TB) *Imitation { return start(t, okta()) }

func okta() *provider {
	host := "acme.okta.com"
	base := "https://" + host + "/oauth2/default/v1"
	p := &provider{
		name:  "okta",
		hosts: []string{host},
		want: Want{ClientID: "0oa1a2b3c4d5e6f7g8h9", ClientSecret: "okta-client-secret", RedirectURI: "https://app.example.test/callback",
			Scopes: []string{"openid", "profile", "offline_access"}, Params: map[string]string{"domain": host},
			Metadata: map[string]string{}, APIBase: base, APICheck: base + "/userinfo"},
		auth: authRules{host: host, path: "/oauth2/default/v1/authorize", scopeSeps: " ", required: []string{"scope", "state"},
			scopes: []string{"openid", "profile", "email", "offline_access", "address", "phone"}, pkce: pkceOptional},
		token:  tokenRules{auth: authBasic, rotates: true, oldAccessValid: true},
		tenant: func(int) Tenant { return Tenant{ID: "00o1a2b3c4d5e6f7g8h9", URL: "https://" + host} },
		routes: func(im *Imitation, mux *http.ServeMux) {
			mux.HandleFunc("POST "+host+"/oauth2/default/v1/token", im.oktaToken)
			mux.HandleFunc("POST "+host+"/oauth2/default/v1/revoke", im.oktaRevoke)
			mux.HandleFunc("GET "+host+"/oauth2/default/v1/userinfo", im.oktaUserinfo)
		},
	}
	p.consent = func(_ *Imitation, g *grant, q url.Values) (url.Values, *ConsentError) {
		if n := q.Get("nonce"); n != "" {
			g.extra["nonce"] = n
		}
		return nil, nil
	}
	return p
}

// oktaIDToken returns an ID token with the claims Okta documents. Its signature is a
// placeholder: a client that got it straight from the token endpoint over TLS may skip the
// signature check (OpenID Connect Core 3.1.3.7), and tailor does.
func (im *Imitation) oktaIDToken(g *grant) string {
	now := time.Now().Unix()
	claims := map[string]any{"iss": "https://acme.okta.com/oauth2/default", "aud": g.clientID, "sub": im.p.tenant(0).ID,
		"iat": now, "exp": now + 3600}
	if n := g.extra["nonce"]; n != "" {
		claims["nonce"] = n
	}
	payload, _ := json.Marshal(claims)
	return "eyJraWQiOiJpS3FXIiwiYWxnIjoiUlMyNTYifQ." + base64.RawURLEncoding.EncodeToString(payload) + ".c2ln"
}

func (im *Imitation) oktaToken(w http.ResponseWriter, r *http.Request) {
	is, ferr := im.exchange(r)
	if ferr != nil {
		desc := ferr.desc
		switch {
		case ferr.reason >= reasonRefreshUnknown:
			desc = "The refresh token is invalid or expired."
		case ferr.rfc6749() == "invalid_grant":
			desc = "The authorization code is invalid or has expired."
		case ferr.rfc6749() == "invalid_client":
			desc = "Client authentication failed. Either the client or the client credentials are invalid."
		}
		writeRFC6749(w, &flowError{ferr.reason, desc})
		return
	}
	body := map[string]any{"token_type": "Bearer", "expires_in": 3600, "access_token": is.access, "scope": is.g.scopeString(" ")}
	if slices.Contains(is.g.scopes, "offline_access") {
		body["refresh_token"] = is.refresh
	} else {
		im.revoke(is.refresh, false)
	}
	if slices.Contains(is.g.scopes, "openid") {
		body["id_token"] = im.oktaIDToken(is.g)
	}
	writeJSON(w, http.StatusOK, body)
}

func (im *Imitation) oktaRevoke(w http.ResponseWriter, r *http.Request) {
	params, ferr := readParams(r, bodyForm)
	if ferr == nil {
		ferr = im.authenticate(r, params)
	}
	if ferr != nil {
		writeRFC6749(w, ferr)
		return
	}
	im.revoke(params.Get("token"), params.Get("token_type_hint") != "access_token")
	w.WriteHeader(http.StatusOK)
}

func (im *Imitation) oktaUserinfo(w http.ResponseWriter, r *http.Request) {
	if im.bearer(r) == nil {
		w.Header().Set("WWW-Authenticate", `Bearer authorization_uri="https://acme.okta.com/oauth2/default/v1/authorize", realm="https://acme.okta.com/oauth2/default", scope="openid", error="invalid_token", error_description="The access token is invalid."`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"sub": im.p.tenant(0).ID, "name": "Ada Lovelace", "preferred_username": "ada@example.com"})
}
