package imitate

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"
)

// QuickBooks imitates Intuit's OAuth 2.0 for QuickBooks Online with production keys; the API
// host is quickbooks.api.intuit.com. Written from:
//   - https://developer.intuit.com/app/developer/qbo/docs/develop/authentication-and-authorization/oauth-2.0
//     (as quoted in https://github.com/intuit/oauth-pythonclient/issues/28: the callback
//     carries code, state and realmId, the company id used in API URLs)
//   - https://developer.intuit.com/app/developer/qbo/docs/develop/sdks-and-samples-collections/java/authorization
//   - https://github.com/IntuitDeveloper/OAuth2-Dotnet_UsingSDK/blob/master/docs/help/Tokens.md
//     (access token valid one hour, refresh token 100 days)
//
// The user picks one company during consent; its realmId arrives in the callback only. The
// token endpoint takes HTTP Basic client authentication and answers with expires_in and
// x_refresh_token_expires_in; errors are {"error": "invalid_grant"} without a description.
func QuickBooks(t testing.TB) *Imitation { return start(t, quickbooks(false)) }

// QuickBooksSandbox imitates the same with development keys: the same authorization and
// token endpoints, but the tokens work only on sandbox-quickbooks.api.intuit.com. Written
// from the pages cited for QuickBooks, and
// https://developer.intuit.com/hub/blog/2017/08/03/quick-start-quickbooks-online-rest-api-oauth-2-0/
// (development keys connect to the sandbox company).
func QuickBooksSandbox(t testing.TB) *Imitation { return start(t, quickbooks(true)) }

func quickbooks(sandbox bool) *provider {
	apiHost, otherHost, name := "quickbooks.api.intuit.com", "sandbox-quickbooks.api.intuit.com", "quickbooks"
	if sandbox {
		apiHost, otherHost, name = otherHost, apiHost, "quickbooks-sandbox"
	}
	p := &provider{
		name:  name,
		hosts: []string{"appcenter.intuit.com", "oauth.platform.intuit.com", "developer.api.intuit.com", apiHost, otherHost},
		want: Want{ClientID: "ABqbClientId0001", ClientSecret: "qb-secret-0001", RedirectURI: "https://app.example.test/callback",
			Scopes: []string{"com.intuit.quickbooks.accounting"}, APIBase: "https://" + apiHost},
		auth: authRules{host: "appcenter.intuit.com", path: "/connect/oauth2", scopeSeps: " ",
			scopes:   []string{"com.intuit.quickbooks.accounting", "com.intuit.quickbooks.payment", "openid", "profile", "email", "phone", "address"},
			required: []string{"scope", "state"}, pkce: pkceIgnored},
		token: tokenRules{auth: authBasic, oldAccessValid: true},
		tenant: func(i int) Tenant {
			return Tenant{ID: fmt.Sprintf("9130%012d", 357+i), Name: fmt.Sprintf("Sandbox Company_US_%d", i+1)}
		},
	}
	realm := p.tenant(0).ID
	p.want.Metadata = map[string]string{"realmId": realm}
	p.want.APICheck = fmt.Sprintf("https://%s/v3/company/%s/companyinfo/%s", apiHost, realm, realm)
	p.consent = func(im *Imitation, g *grant, q url.Values) (url.Values, *ConsentError) {
		tenants, _ := im.metadataState()
		if len(tenants) == 0 {
			return nil, &ConsentError{Reason: "the user has no QuickBooks company to connect"}
		}
		g.extra["realmId"] = tenants[0].ID
		return url.Values{"realmId": {tenants[0].ID}}, nil
	}
	p.routes = func(im *Imitation, mux *http.ServeMux) {
		mux.HandleFunc("POST oauth.platform.intuit.com/oauth2/v1/tokens/bearer", im.quickbooksToken)
		mux.HandleFunc("POST developer.api.intuit.com/v2/oauth2/tokens/revoke", im.quickbooksRevoke)
		mux.HandleFunc("GET "+apiHost+"/v3/company/{realm}/companyinfo/{id}", im.quickbooksCompany)
		mux.HandleFunc(otherHost+"/", func(w http.ResponseWriter, r *http.Request) {
			quickbooksFault(w, http.StatusUnauthorized, "AuthenticationFailed", "3200", "Token invalid")
		})
	}
	return p
}

func (im *Imitation) quickbooksToken(w http.ResponseWriter, r *http.Request) {
	is, ferr := im.exchange(r)
	if ferr != nil {
		status := http.StatusBadRequest
		if ferr.rfc6749() == "invalid_client" {
			status = http.StatusUnauthorized
		}
		writeJSON(w, status, map[string]string{"error": ferr.rfc6749()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"token_type": "bearer", "access_token": is.access, "expires_in": 3600,
		"refresh_token": is.refresh, "x_refresh_token_expires_in": int((100 * 24 * time.Hour).Seconds())})
}

// quickbooksRevoke revokes a token given as JSON {"token": ...} with Basic client auth.
func (im *Imitation) quickbooksRevoke(w http.ResponseWriter, r *http.Request) {
	id, secret, ok := r.BasicAuth()
	if !ok || id != im.Want.ClientID || secret != im.Want.ClientSecret {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client"})
		return
	}
	params, ferr := readParams(r, bodyJSON)
	if ferr != nil || params.Get("token") == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
		return
	}
	im.revoke(params.Get("token"), true)
	w.WriteHeader(http.StatusOK)
}

func (im *Imitation) quickbooksCompany(w http.ResponseWriter, r *http.Request) {
	g := im.bearer(r)
	realm := r.PathValue("realm")
	switch {
	case g == nil:
		quickbooksFault(w, http.StatusUnauthorized, "AuthenticationFailed", "3200", "Token expired or invalid")
		return
	case g.extra["realmId"] != realm || r.PathValue("id") != realm:
		quickbooksFault(w, http.StatusForbidden, "ApplicationAuthorizationFailed", "003100", "the token is not for company "+realm)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"CompanyInfo": map[string]any{"Id": realm, "CompanyName": "Imitated Company"},
		"time": time.Now().Format(time.RFC3339)})
}

// quickbooksFault answers the QuickBooks Online API's Fault shape.
func quickbooksFault(w http.ResponseWriter, status int, message, code, detail string) {
	writeJSON(w, status, map[string]any{"Fault": map[string]any{"type": "AUTHENTICATION",
		"Error": []map[string]string{{"Message": message, "Detail": detail, "code": code}}}, "time": time.Now().Format(time.RFC3339)})
}
