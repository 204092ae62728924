package imitate

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"
)

// Xero imitates Xero's OAuth 2.0 authorization code flow (a web app with a client secret).
// Written from:
//   - https://developer.xero.com/documentation/oauth2/pkce-flow (the authorization URL
//     https://login.xero.com/identity/connect/authorize and its parameters; a user may connect
//     several tenants, found with the access token afterwards)
//   - https://github.com/XeroAPI/Xero-OpenAPI/blob/master/xero-identity.yaml
//     (Xero's OpenAPI of GET https://api.xero.com/Connections: an array of connections with id,
//     tenantId, authEventId, tenantType, tenantName, createdDateUtc, updatedDateUtc)
//   - https://mcp.waymark.network/r/ab0ad5ce-3697-484f-90ef-9a95df54f552 and https://skillmd.ai/skills/xero
//     (the token endpoint https://identity.xero.com/connect/token with HTTP Basic client
//     authentication, expires_in 1800, a new refresh token on every refresh, and the
//     Xero-Tenant-Id header every API call needs)
//
// The metadata call lists every tenant the user connected (SetTenants); API calls need the
// Xero-Tenant-Id header of one of them. The access token is a JWT (as in skillmd.ai's token
// answer) whose authentication_event_id claim matches the authEventId of the connections made
// by that authorization, which is how a client picks them out of several (the claim is the
// one Nango's post-connection hook reads, per /work/shared/notes/catalog.md; the pages above
// do not show the claims). Its signature is not a real one. With the openid scope the answer
// carries an ID token (skillmd.ai's answer above) whose claims are OpenID Connect's (Xero's
// identity server is an OpenID Connect provider, https://identity.xero.com/.well-known/openid-configuration):
// iss https://identity.xero.com, aud the client, and the request's nonce.
func Xero(t testing.TB) *Imitation { return start(t, xero()) }

func xero() *provider {
	p := &provider{
		name:  "xero",
		hosts: []string{"login.xero.com", "identity.xero.com", "api.xero.com"},
		want: Want{ClientID: "91E5715B1199038080D6D0296EBC1648", ClientSecret: "xero-client-secret",
			RedirectURI: "https://app.example.test/callback",
			Scopes:      []string{"openid", "profile", "email", "offline_access", "accounting.transactions"},
			APIBase:     "https://api.xero.com/api.xro/2.0", APICheck: "https://api.xero.com/api.xro/2.0/Organisation"},
		auth: authRules{host: "login.xero.com", path: "/identity/connect/authorize", scopeSeps: " ", required: []string{"scope"},
			scopes: []string{"openid", "profile", "email", "offline_access", "accounting.transactions",
				"accounting.contacts", "accounting.settings", "accounting.reports.read"}, pkce: pkceOptional},
		token: tokenRules{auth: authBasic, rotates: true, oldAccessValid: true, accessFormat: xeroAccessToken},
		tenant: func(i int) Tenant {
			return Tenant{ID: fmt.Sprintf("fe79f7dd-b6d4-4a92-ba7b-538af6289c%02d", 58+i), Name: fmt.Sprintf("Demo Company (NZ %d)", i+1)}
		},
	}
	p.want.Metadata = map[string]string{"tenantId": p.tenant(0).ID}
	p.consent = func(im *Imitation, g *grant, q url.Values) (url.Values, *ConsentError) {
		g.extra["authEventId"] = randomToken("")
		return nil, nil
	}
	p.routes = func(im *Imitation, mux *http.ServeMux) {
		mux.HandleFunc("POST identity.xero.com/connect/token", im.xeroToken)
		mux.HandleFunc("POST identity.xero.com/connect/revocation", im.xeroRevoke)
		mux.HandleFunc("GET api.xero.com/connections", im.xeroConnections)
		mux.HandleFunc("GET api.xero.com/Connections", im.xeroConnections)
		mux.HandleFunc("GET api.xero.com/api.xro/2.0/Organisation", im.xeroOrganisation)
	}
	return p
}

// xeroAccessToken makes a JWT-shaped access token carrying the grant's authentication event.
func xeroAccessToken(g *grant) string {
	enc := base64.RawURLEncoding
	claims, _ := json.Marshal(map[string]any{"authentication_event_id": g.extra["authEventId"], "xero_userid": "8f7e3d5a-1b2c-4d6e-9f80-a1b2c3d4e5f6",
		"client_id": g.clientID, "jti": randomToken(""), "scope": g.scopes})
	return enc.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT"}`)) + "." + enc.EncodeToString(claims) + "." + enc.EncodeToString([]byte(randomToken("")))
}

func (im *Imitation) xeroToken(w http.ResponseWriter, r *http.Request) {
	is, ferr := im.exchange(r)
	if ferr != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": ferr.rfc6749()})
		return
	}
	body := map[string]any{"access_token": is.access, "expires_in": 1800, "token_type": "Bearer",
		"refresh_token": is.refresh, "scope": is.g.scopeString(" ")}
	if !is.refreshed {
		body["id_token"] = idToken("https://identity.xero.com", "8f7e3d5a-1b2c-4d6e-9f80-a1b2c3d4e5f6", is.g)
	}
	writeJSON(w, http.StatusOK, body)
}

func (im *Imitation) xeroRevoke(w http.ResponseWriter, r *http.Request) {
	if err := im.authenticate(r, url.Values{}); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_client"})
		return
	}
	params, ferr := readParams(r, bodyForm)
	if ferr != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
		return
	}
	im.revoke(params.Get("token"), true)
	w.WriteHeader(http.StatusOK)
}

// xeroUnauthorized is the API's answer to a missing or dead token.
func xeroUnauthorized(w http.ResponseWriter) {
	writeJSON(w, http.StatusUnauthorized, map[string]any{"Type": nil, "Title": "Unauthorized", "Status": 401,
		"Detail": "AuthenticationUnsuccessful", "Instance": randomToken("")[:8], "Extensions": map[string]any{}})
}

func (im *Imitation) xeroConnections(w http.ResponseWriter, r *http.Request) {
	g := im.bearer(r)
	if g == nil {
		xeroUnauthorized(w)
		return
	}
	tenants, fail := im.metadataState()
	if fail != 0 {
		writeJSON(w, fail, map[string]any{"Title": http.StatusText(fail), "Status": fail})
		return
	}
	now := time.Now().UTC().Format("2006-01-02T15:04:05.0000000")
	list := []map[string]string{}
	for i, t := range tenants {
		list = append(list, map[string]string{"id": fmt.Sprintf("7cb59f93-2964-421d-bb5e-a0f7a4572a%02d", 44+i),
			"authEventId": g.extra["authEventId"], "tenantId": t.ID, "tenantType": "ORGANISATION", "tenantName": t.Name,
			"createdDateUtc": now, "updatedDateUtc": now})
	}
	writeJSON(w, http.StatusOK, list)
}

func (im *Imitation) xeroOrganisation(w http.ResponseWriter, r *http.Request) {
	if im.bearer(r) == nil {
		xeroUnauthorized(w)
		return
	}
	tenant := r.Header.Get("Xero-Tenant-Id")
	tenants, _ := im.metadataState()
	for _, t := range tenants {
		if t.ID == tenant {
			writeJSON(w, http.StatusOK, map[string]any{"Status": "OK", "Organisations": []map[string]string{{"Name": t.Name, "OrganisationID": t.ID}}})
			return
		}
	}
	writeJSON(w, http.StatusForbidden, map[string]any{"Type": nil, "Title": "Forbidden", "Status": 403,
		"Detail": "AuthenticationUnsuccessful"})
}
