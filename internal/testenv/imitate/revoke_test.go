package imitate

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// revokers send each provider's documented revocation request for a refresh token and an
// access token.
var revokers = map[string]func(im *Imitation, refresh, access string) *http.Request{
	"quickbooks": func(im *Imitation, refresh, access string) *http.Request {
		r, _ := http.NewRequest(http.MethodPost, "https://developer.api.intuit.com/v2/oauth2/tokens/revoke",
			bytes.NewReader([]byte(`{"token":"`+refresh+`"}`)))
		r.Header.Set("Content-Type", "application/json")
		r.SetBasicAuth(im.Want.ClientID, im.Want.ClientSecret)
		return r
	},
	"salesforce": formRevoke("https://login.salesforce.com/services/oauth2/revoke", false),
	"google":     formRevoke("https://oauth2.googleapis.com/revoke", false),
	"xero":       formRevoke("https://identity.xero.com/connect/revocation", true),
	"okta":       formRevoke("https://acme.okta.com/oauth2/default/v1/revoke", true),
	"box":        formRevokeBody("https://api.box.com/oauth2/revoke"),
	"asana":      formRevokeBody("https://app.asana.com/-/oauth_revoke"),
	"slack":      bearerRevoke(http.MethodPost, "https://slack.com/api/auth.revoke"),
	"linear":     bearerRevoke(http.MethodPost, "https://api.linear.app/oauth/revoke"),
	"zendesk":    bearerRevoke(http.MethodDelete, "https://acme.zendesk.com/api/v2/oauth/tokens/current.json"),
}

func formRevoke(u string, basic bool) func(*Imitation, string, string) *http.Request {
	return func(im *Imitation, refresh, access string) *http.Request {
		r, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(url.Values{"token": {refresh}}.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if basic {
			r.SetBasicAuth(im.Want.ClientID, im.Want.ClientSecret)
		}
		return r
	}
}

func formRevokeBody(u string) func(*Imitation, string, string) *http.Request {
	return func(im *Imitation, refresh, access string) *http.Request {
		body := url.Values{"token": {refresh}, "client_id": {im.Want.ClientID}, "client_secret": {im.Want.ClientSecret}}
		r, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(body.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return r
	}
}

func bearerRevoke(method, u string) func(*Imitation, string, string) *http.Request {
	return func(im *Imitation, refresh, access string) *http.Request {
		r, _ := http.NewRequest(method, u, nil)
		r.Header.Set("Authorization", "Bearer "+access)
		return r
	}
}

func TestRevocation(t *testing.T) {
	for name, revoke := range revokers {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			im := Providers()[name](t)
			s := scripts()[name]
			_, _, access, refresh := s.connect(t, im)
			if status, body := do(t, im, revoke(im, refresh, access)); status >= 300 || body["ok"] == false {
				t.Fatalf("revocation: %d %v", status, body)
			}
			s.callAPI(t, im, access, http.StatusUnauthorized)
			if name == "zendesk" {
				return // revoking the access token leaves the refresh token
			}
			status, body := s.post(t, im, s.refreshEndpoint(), s.refreshParams(refresh))
			if succeeded(status, body) {
				t.Errorf("refresh after revocation succeeded: %v", body)
			}
		})
	}
}

func TestRequestLogAndExpiredAccessTokens(t *testing.T) {
	im := QuickBooks(t)
	s := quickbooksScript
	_, _, access, _ := s.connect(t, im)
	var sawBasic bool
	for _, r := range im.Requests() {
		if r.Host == "oauth.platform.intuit.com" && r.Path == "/oauth2/v1/tokens/bearer" {
			sawBasic = strings.HasPrefix(r.Header.Get("Authorization"), "Basic ")
		}
	}
	if !sawBasic {
		t.Error("the request log has no token request with Basic client authentication")
	}
	im.ExpireAccessTokens()
	s.callAPI(t, im, access, http.StatusUnauthorized)
}
