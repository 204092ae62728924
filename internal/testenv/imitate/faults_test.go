package imitate

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestMetadataCallModes(t *testing.T) {
	for name, u := range map[string]string{"xero": "https://api.xero.com/connections",
		"jira": "https://api.atlassian.com/oauth/token/accessible-resources"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			im := Providers()[name](t)
			_, _, access, _ := scripts()[name].connect(t, im)
			for _, n := range []int{3, 0} {
				im.SetTenants(n)
				status, body := getJSON(t, im, u, access)
				if list, _ := body["list"].([]any); status != http.StatusOK || len(list) != n {
					t.Errorf("with %d tenants: %d %v", n, status, body)
				}
			}
			im.FailMetadata(http.StatusServiceUnavailable)
			if status, _ := getJSON(t, im, u, access); status != http.StatusServiceUnavailable {
				t.Errorf("a failing metadata call answered %d", status)
			}
		})
	}
}

func TestRevokeAuthorizationEndsEveryToken(t *testing.T) {
	im := Xero(t)
	s := xeroScript
	_, _, access, refresh := s.connect(t, im)
	im.RevokeAuthorization()
	s.callAPI(t, im, access, http.StatusUnauthorized)
	status, body := s.post(t, im, s.tokenURL, s.refreshParams(refresh))
	s.refused(t, status, body)
}

func TestTokenEndpointChecks(t *testing.T) {
	t.Run("notion refuses client credentials in the body", func(t *testing.T) {
		im := Notion(t)
		s := notionScript
		s.basic = false
		status, body := s.post(t, im, s.tokenURL, url.Values{"grant_type": {"authorization_code"}, "code": {"x"}})
		if status != http.StatusUnauthorized || body["code"] != "invalid_client" {
			t.Errorf("%d %v, want 401 invalid_client", status, body)
		}
	})
	t.Run("salesforce checks the PKCE verifier", func(t *testing.T) {
		im := Salesforce(t)
		q := url.Values{"client_id": {im.Want.ClientID}, "redirect_uri": {im.Want.RedirectURI}, "response_type": {"code"},
			"scope": {"api refresh_token"}, "code_challenge": {strings.Repeat("c", 43)}, "code_challenge_method": {"S256"}}
		cb, err := im.Consent(salesforceScript.authURL + "?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		status, body := salesforceScript.post(t, im, salesforceScript.tokenURL, url.Values{"grant_type": {"authorization_code"},
			"code": {cb.Get("code")}, "redirect_uri": {im.Want.RedirectURI}, "code_verifier": {strings.Repeat("v", 43)}})
		if status != http.StatusBadRequest || body["error"] != "invalid_grant" {
			t.Errorf("%d %v, want 400 invalid_grant", status, body)
		}
	})
	t.Run("slack refuses a space-separated scope", func(t *testing.T) {
		im := Slack(t)
		q := url.Values{"client_id": {im.Want.ClientID}, "redirect_uri": {im.Want.RedirectURI}, "scope": {"chat:write channels:read"}}
		_, err := im.Consent(slackScript.authURL + "?" + q.Encode())
		if ce, ok := err.(*ConsentError); !ok || ce.Query.Get("error") != "invalid_scope" {
			t.Errorf("%v, want invalid_scope", err)
		}
	})
	t.Run("shopify refuses a Bearer token", func(t *testing.T) {
		im := Shopify(t)
		_, _, access, _ := shopifyScript.connect(t, im)
		shopifyScript.callAPI(t, im, access, http.StatusOK)
		script{}.callAPI(t, im, access, http.StatusUnauthorized)
	})
	t.Run("notion wants Notion-Version", func(t *testing.T) {
		im := Notion(t)
		_, _, access, _ := notionScript.connect(t, im)
		script{}.callAPI(t, im, access, http.StatusBadRequest)
	})
	t.Run("the client refuses other hosts", func(t *testing.T) {
		im := Slack(t)
		if _, err := im.Client.Get("https://example.com/"); err == nil {
			t.Error("the imitation's client reached example.com")
		}
	})
}

func TestMicrosoftClientCredentials(t *testing.T) {
	im := Microsoft(t)
	s := microsoftScript
	status, body := s.post(t, im, s.tokenURL, url.Values{"grant_type": {"client_credentials"}, "scope": {"User.Read"}})
	if status != http.StatusBadRequest || body["error"] != "invalid_scope" {
		t.Errorf("client credentials without /.default: %d %v, want invalid_scope", status, body)
	}
	status, body = s.post(t, im, s.tokenURL, url.Values{"grant_type": {"client_credentials"}, "scope": {"https://graph.microsoft.com/.default"}})
	access, _ := body["access_token"].(string)
	if status != http.StatusOK || access == "" || body["refresh_token"] != nil {
		t.Fatalf("client credentials: %d %v", status, body)
	}
	if status, body := getJSON(t, im, "https://graph.microsoft.com/v1.0/users", access); status != http.StatusOK {
		t.Errorf("GET /users with an app-only token: %d %v", status, body)
	}
	if status, _ := getJSON(t, im, "https://graph.microsoft.com/v1.0/me", access); status != http.StatusBadRequest {
		t.Errorf("GET /me with an app-only token: %d, want 400", status)
	}
}

func TestGitHubAnswersAFormByDefault(t *testing.T) {
	im := GitHub(t)
	req, _ := http.NewRequest(http.MethodPost, githubScript.tokenURL, strings.NewReader(url.Values{"code": {"nope"},
		"client_id": {im.Want.ClientID}, "client_secret": {im.Want.ClientSecret}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := im.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b := make([]byte, 512)
	n, _ := resp.Body.Read(b)
	q, err := url.ParseQuery(string(b[:n]))
	if resp.StatusCode != http.StatusOK || err != nil || q.Get("error") != "bad_verification_code" {
		t.Errorf("%d %q, want 200 and a form with error=bad_verification_code", resp.StatusCode, b[:n])
	}
}

func TestGoogleGivesARefreshTokenOnlyOnConsent(t *testing.T) {
	im := Google(t)
	s := googleScript
	s.connect(t, im)
	s.authExtra = url.Values{"access_type": {"offline"}}
	_, tok, _, refresh := s.connect(t, im)
	if refresh != "" || tok["refresh_token"] != nil {
		t.Errorf("a second consent without prompt=consent gave a refresh token: %v", tok)
	}
}

func TestZohoDataCenters(t *testing.T) {
	im := Zoho(t)
	s := zohoScript
	_, _, _, refresh := s.connect(t, im)
	params := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}, "client_id": {im.Want.ClientID},
		"client_secret": {im.Want.ClientSecret}}
	if status, body := s.post(t, im, "https://accounts.zoho.com/oauth/v2/token", params); body["error"] != "invalid_client" {
		t.Errorf("a refresh at the wrong data center: %d %v, want invalid_client", status, body)
	}
	req, _ := http.NewRequest(http.MethodPost, "https://accounts.zoho.eu/oauth/v2/token?"+params.Encode(), nil)
	if status, body := do(t, im, req); !succeeded(status, body) || body["api_domain"] != "https://www.zohoapis.eu" {
		t.Errorf("a refresh with the parameters in the query: %d %v", status, body)
	}
}

func TestStripeConnectedAccount(t *testing.T) {
	im := Stripe(t)
	s := stripeScript
	_, tok, access, _ := s.connect(t, im)
	req, _ := http.NewRequest(http.MethodGet, im.Want.APICheck, nil)
	req.Header.Set("Authorization", "Bearer "+im.Want.ClientSecret)
	req.Header.Set("Stripe-Account", fmt.Sprint(tok["stripe_user_id"]))
	if status, body := do(t, im, req); status != http.StatusOK {
		t.Errorf("the platform key with Stripe-Account: %d %v", status, body)
	}
	status, body := s.post(t, im, "https://connect.stripe.com/oauth/deauthorize",
		url.Values{"stripe_user_id": {fmt.Sprint(tok["stripe_user_id"])}})
	if status != http.StatusOK {
		t.Fatalf("deauthorize: %d %v", status, body)
	}
	s.callAPI(t, im, access, http.StatusUnauthorized)
}

func TestMondayRequiresPKCE(t *testing.T) {
	im := Monday(t)
	q := url.Values{"client_id": {im.Want.ClientID}, "redirect_uri": {im.Want.RedirectURI}, "scope": {"boards:read"}}
	_, err := im.Consent(mondayScript.authURL + "?" + q.Encode())
	if ce, ok := err.(*ConsentError); !ok || ce.Query.Get("error") != "invalid_request" {
		t.Errorf("an authorization request without code_challenge: %v, want invalid_request", err)
	}
}

func TestXeroAccessTokenNamesItsAuthenticationEvent(t *testing.T) {
	im := Xero(t)
	_, _, access, _ := xeroScript.connect(t, im)
	parts := strings.Split(access, ".")
	if len(parts) != 3 {
		t.Fatalf("the access token is not a JWT: %q", access)
	}
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	im.SetTenants(2)
	want := firstOf(t, im, "https://api.xero.com/connections", access, "authEventId")
	if claims["authentication_event_id"] != want {
		t.Errorf("authentication_event_id = %v, want the connections' authEventId %s", claims["authentication_event_id"], want)
	}
}
