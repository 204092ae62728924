package imitate

import (
	"fmt"
	"net/http"
	"testing"
)

// DocuSign imitates DocuSign's Authorization Code Grant in the developer environment
// (account-d.docusign.com; production is account.docusign.com), with the eSignature API on
// demo.docusign.net. Written from:
//   - https://developers.docusign.com/platform/auth/reference (GET /oauth/auth for consent,
//     POST /oauth/token, GET /oauth/userinfo; the error parameter's codes)
//   - https://developers.docusign.com/platform/auth/reference/user-info (userinfo: sub, name,
//     email and accounts, each with account_id, is_default, account_name and base_uri, the API
//     host to use for that account)
//   - https://cloud.tencent.com/developer/article/2378134 (a copy of DocuSign's "get an access
//     token with Authorization Code Grant": the authorization URL's parameters, and the token
//     request with Authorization: Basic base64(integration key:secret key) and a form body)
//
// The pages read do not say whether a refresh rotates the refresh token; this imitation
// answers with the same one.
func DocuSign(t testing.TB) *Imitation { return start(t, docusign()) }

func docusign() *provider {
	p := &provider{
		name:  "docusign",
		hosts: []string{"account-d.docusign.com", "demo.docusign.net"},
		want: Want{ClientID: "7c2b8d7e-aaaa-4bbb-8ccc-cda8a50dd73f", ClientSecret: "d7014634-dddd-4eee-8fff-6842b7aa8861",
			RedirectURI: "https://app.example.test/callback", Scopes: []string{"signature", "extended"}},
		auth: authRules{host: "account-d.docusign.com", path: "/oauth/auth", scopeSeps: " ", required: []string{"scope"},
			scopes: []string{"signature", "extended", "impersonation", "openid", "cors"}, pkce: pkceOptional},
		token: tokenRules{auth: authBasic, oldAccessValid: true},
		tenant: func(i int) Tenant {
			return Tenant{ID: fmt.Sprintf("a4ec37d6-1111-4222-8333-143885c0a%03d", i), Name: fmt.Sprintf("Account %d", i+1),
				URL: "https://demo.docusign.net"}
		},
	}
	first := p.tenant(0)
	p.want.Metadata = map[string]string{"account_id": first.ID, "base_uri": first.URL}
	p.want.APIBase = first.URL + "/restapi/v2.1/accounts/" + first.ID
	p.want.APICheck = p.want.APIBase
	p.routes = func(im *Imitation, mux *http.ServeMux) {
		mux.HandleFunc("POST account-d.docusign.com/oauth/token", im.docusignToken)
		mux.HandleFunc("GET account-d.docusign.com/oauth/userinfo", im.docusignUserinfo)
		mux.HandleFunc("GET demo.docusign.net/restapi/v2.1/accounts/{account}", im.docusignAccount)
	}
	return p
}

func (im *Imitation) docusignToken(w http.ResponseWriter, r *http.Request) {
	is, ferr := im.exchange(r)
	if ferr != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": ferr.rfc6749(), "error_description": ferr.desc})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"access_token": is.access, "token_type": "Bearer",
		"refresh_token": is.refresh, "expires_in": 28800})
}

func (im *Imitation) docusignUserinfo(w http.ResponseWriter, r *http.Request) {
	if im.bearer(r) == nil {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "internal_server_error", "reference_id": randomToken("")[:16]})
		return
	}
	tenants, fail := im.metadataState()
	if fail != 0 {
		writeJSON(w, fail, map[string]string{"error": http.StatusText(fail)})
		return
	}
	accounts := []map[string]any{}
	for i, t := range tenants {
		accounts = append(accounts, map[string]any{"account_id": t.ID, "is_default": i == 0, "account_name": t.Name, "base_uri": t.URL})
	}
	writeJSON(w, http.StatusOK, map[string]any{"sub": "4799e5e9-1559-4915-9862-cf4713bbcacc", "name": "First Last",
		"given_name": "First", "family_name": "Last", "created": "2015-08-13T22:03:03.45", "email": "first.last@example.com",
		"accounts": accounts})
}

func (im *Imitation) docusignAccount(w http.ResponseWriter, r *http.Request) {
	if im.bearer(r) == nil {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"errorCode": "USER_AUTHENTICATION_FAILED",
			"message": "One or both of Username and Password are invalid. Invalid access token"})
		return
	}
	tenants, _ := im.metadataState()
	for _, t := range tenants {
		if t.ID == r.PathValue("account") {
			writeJSON(w, http.StatusOK, map[string]any{"accountIdGuid": t.ID, "accountName": t.Name})
			return
		}
	}
	writeJSON(w, http.StatusBadRequest, map[string]string{"errorCode": "INVALID_ACCOUNT_ID", "message": "Invalid account ID."})
}
