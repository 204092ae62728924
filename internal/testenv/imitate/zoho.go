package imitate

import (
	"net/http"
	"net/url"
	"testing"
)

// Zoho imitates Zoho Accounts' OAuth for a server-based app with multi-DC support, and a
// user whose data lives in the EU data center. Written from:
//   - https://www.zoho.com/accounts/protocol/oauth/multi-dc/client-authorization.html (the
//     authorization request goes to accounts.zoho.com; the callback carries location and
//     accounts-server; the code is exchanged at that data center's /oauth/v2/token; the answer's
//     api_domain is where API calls go)
//   - https://zoho.com/thrive/resources/api/identify-user-location.html (access_type=offline
//     gives a refresh token only the first time, unless prompt=consent)
//   - https://zoho.com/inventory/api/v1/oauth/ (scopes separated by commas)
//   - https://www.zoho.com/assist/api/refresh-access-token.html (a refresh: POST
//     {Accounts_URL}/oauth/v2/token with the parameters in the query; the answer has
//     access_token, expires_in 3600, api_domain and token_type, and no refresh token)
//   - https://www.zoho.com/phonebridge/developer/v3/access-refresh.html (parameters in the body
//     of the code exchange; the access token in the Authorization header)
//   - https://mcp.waymark.network/r/edc21023-b2c4-42be-bb4c-a44b25a8bd52 (the token endpoint
//     of the wrong data center answers invalid_client)
//
// Token endpoint errors are HTTP 200 with {"error": ...}. The API takes the token as Bearer
// or as Zoho-oauthtoken.
func Zoho(t testing.TB) *Imitation { return start(t, zoho()) }

func zoho() *provider {
	p := &provider{
		name:  "zoho",
		hosts: []string{"accounts.zoho.com", "accounts.zoho.eu", "www.zohoapis.eu"},
		want: Want{ClientID: "1000.GMB0YULZHJK411248S8I5GZ4CHUEX0", ClientSecret: "122c324d3496d5d777ceeebc129470715fbb856b7",
			RedirectURI: "https://app.example.test/callback", Scopes: []string{"ZohoCRM.modules.ALL", "ZohoCRM.users.READ"},
			Metadata: map[string]string{"location": "eu", "accounts-server": "https://accounts.zoho.eu", "api_domain": "https://www.zohoapis.eu"},
			APIBase:  "https://www.zohoapis.eu/crm/v6", APICheck: "https://www.zohoapis.eu/crm/v6/users?type=CurrentUser"},
		auth: authRules{host: "accounts.zoho.com", path: "/oauth/v2/auth", scopeSeps: ",", required: []string{"scope"},
			scopes: []string{"ZohoCRM.modules.ALL", "ZohoCRM.users.READ", "ZohoCRM.settings.ALL", "AaaServer.profile.READ"},
			pkce:   pkceIgnored},
		token:  tokenRules{auth: authBody, queryParams: true, oldAccessValid: true, accessPrefix: "1000.", refreshPrefix: "1000."},
		tenant: func(int) Tenant { return Tenant{ID: "eu", URL: "https://www.zohoapis.eu"} },
	}
	p.consent = func(im *Imitation, g *grant, q url.Values) (url.Values, *ConsentError) {
		im.mu.Lock()
		first := len(im.codes) == 0
		im.mu.Unlock()
		if q.Get("access_type") == "offline" && (first || q.Get("prompt") == "consent") {
			g.extra["offline"] = "true"
		}
		return url.Values{"location": {"eu"}, "accounts-server": {"https://accounts.zoho.eu"}}, nil
	}
	p.routes = func(im *Imitation, mux *http.ServeMux) {
		mux.HandleFunc("POST accounts.zoho.eu/oauth/v2/token", im.zohoToken)
		mux.HandleFunc("POST accounts.zoho.com/oauth/v2/token", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusOK, map[string]string{"error": "invalid_client"})
		})
		mux.HandleFunc("GET www.zohoapis.eu/crm/v6/users", im.zohoUsers)
	}
	return p
}

func (im *Imitation) zohoToken(w http.ResponseWriter, r *http.Request) {
	is, ferr := im.exchange(r)
	if ferr != nil {
		code := "invalid_code"
		switch ferr.rfc6749() {
		case "invalid_client":
			code = "invalid_client"
		case "invalid_request", "unsupported_grant_type":
			code = ferr.rfc6749()
		}
		writeJSON(w, http.StatusOK, map[string]string{"error": code})
		return
	}
	body := map[string]any{"access_token": is.access, "api_domain": "https://www.zohoapis.eu", "token_type": "Bearer", "expires_in": 3600}
	switch {
	case is.refreshed:
	case is.g.extra["offline"] != "":
		body["refresh_token"] = is.refresh
	default:
		im.revoke(is.refresh, false)
	}
	writeJSON(w, http.StatusOK, body)
}

func (im *Imitation) zohoUsers(w http.ResponseWriter, r *http.Request) {
	token, ok := cutPrefixFold(r.Header.Get("Authorization"), "Zoho-oauthtoken ")
	if !ok {
		token, _ = cutPrefixFold(r.Header.Get("Authorization"), "Bearer ")
	}
	if im.granted(token) == nil {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"code": "INVALID_TOKEN", "details": "{}",
			"message": "invalid oauth token", "status": "error"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": []map[string]string{{"id": "4150868000000225013", "full_name": "Patricia Boyle"}}})
}
