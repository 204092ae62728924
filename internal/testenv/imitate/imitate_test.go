package imitate

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

// script is how a plain client (net/http and url.Values, written here from the same
// documentation) drives one imitation; it is this test's own knowledge, not the imitation's.
type script struct {
	authURL                 string
	sep                     string     // scope separator
	authExtra               url.Values // extra authorization parameters
	pkce                    bool       // send a code challenge
	tokenURL                string
	refreshURL              string // when refreshes go elsewhere
	basic                   bool   // client_secret_basic, else client_secret_post
	query                   bool   // parameters in the URL's query, no body
	json                    bool   // JSON body
	codeExtra, refreshExtra url.Values
	// tokens reads the access and refresh tokens from a token answer (default: top level).
	tokens func(t *testing.T, body map[string]any) (access, refresh string)
	// meta returns what a client learns from the callback, the token answer and the
	// post-connect metadata call.
	meta func(t *testing.T, im *Imitation, cb url.Values, token map[string]any, access string) map[string]string
	// api presents the token on the API check URL (default: Bearer).
	api func(r *http.Request, access string)
	// denied is the API's status for a dead token when it is not 401.
	denied int
	// refused checks the answer to a refresh after ExpireRefreshTokens.
	refused func(t *testing.T, status int, body map[string]any)
}

func scripts() map[string]script {
	return map[string]script{
		"quickbooks":         quickbooksScript,
		"quickbooks-sandbox": quickbooksScript,
		"salesforce":         salesforceScript,
		"slack":              slackScript,
		"xero":               xeroScript,
		"jira":               jiraScript,
		"hubspot":            hubspotScript,
		"shopify":            shopifyScript,
		"zendesk":            zendeskScript,
		"notion":             notionScript,
		"dropbox":            dropboxScript,
		"box":                boxScript,
		"docusign":           docusignScript,
		"linear":             linearScript,
		"asana":              asanaScript,
		"zoom":               zoomScript,
		"pipedrive":          pipedriveScript,
		"microsoft":          microsoftScript,
		"github":             githubScript,
		"google":             googleScript,
		"okta":               oktaScript,
		"figma":              figmaScript,
		"zoho":               zohoScript,
		"linkedin":           linkedinScript,
		"mailchimp":          mailchimpScript,
		"gitlab":             gitlabScript,
		"bitbucket":          bitbucketScript,
		"calendly":           calendlyScript,
		"clickup":            clickupScript,
		"stripe":             stripeScript,
		"monday":             mondayScript,
	}
}

var mondayScript = script{
	authURL: "https://auth.monday.com/oauth2/authorize", sep: " ", pkce: true,
	tokenURL: "https://auth.monday.com/oauth_ms/oauth/token",
	refused:  rfcRefused(http.StatusBadRequest, "invalid_grant"),
}

var stripeScript = script{
	authURL: "https://connect.stripe.com/oauth/authorize", sep: " ",
	tokenURL: "https://connect.stripe.com/oauth/token",
	meta: func(t *testing.T, im *Imitation, cb url.Values, tok map[string]any, access string) map[string]string {
		return map[string]string{"stripe_user_id": fmt.Sprint(tok["stripe_user_id"])}
	},
	refused: rfcRefused(http.StatusBadRequest, "invalid_grant"),
}

var clickupScript = script{
	authURL:  "https://app.clickup.com/api",
	tokenURL: "https://api.clickup.com/api/v2/oauth/token", query: true,
	api: func(r *http.Request, access string) { r.Header.Set("Authorization", access) },
}

var calendlyScript = script{
	authURL: "https://auth.calendly.com/oauth/authorize", pkce: true,
	tokenURL: "https://auth.calendly.com/oauth/token", basic: true,
	meta: func(t *testing.T, im *Imitation, cb url.Values, tok map[string]any, access string) map[string]string {
		return map[string]string{"owner": fmt.Sprint(tok["owner"]), "organization": fmt.Sprint(tok["organization"])}
	},
	refused: rfcRefused(http.StatusBadRequest, "invalid_grant"),
}

var gitlabScript = script{
	authURL: "https://gitlab.com/oauth/authorize", sep: " ", pkce: true,
	tokenURL: "https://gitlab.com/oauth/token",
	refused:  rfcRefused(http.StatusBadRequest, "invalid_grant"),
}

var bitbucketScript = script{
	authURL:  "https://bitbucket.org/site/oauth2/authorize",
	tokenURL: "https://bitbucket.org/site/oauth2/access_token", basic: true,
	refused: rfcRefused(http.StatusBadRequest, "invalid_grant"),
}

var mailchimpScript = script{
	authURL:  "https://login.mailchimp.com/oauth2/authorize",
	tokenURL: "https://login.mailchimp.com/oauth2/token",
	meta: func(t *testing.T, im *Imitation, cb url.Values, tok map[string]any, access string) map[string]string {
		req, _ := http.NewRequest(http.MethodGet, "https://login.mailchimp.com/oauth2/metadata", nil)
		req.Header.Set("Authorization", "OAuth "+access)
		_, md := do(t, im, req)
		return map[string]string{"dc": fmt.Sprint(md["dc"]), "api_endpoint": fmt.Sprint(md["api_endpoint"])}
	},
}

var zohoScript = script{
	authURL: "https://accounts.zoho.com/oauth/v2/auth", sep: ",",
	authExtra: url.Values{"access_type": {"offline"}, "prompt": {"consent"}},
	tokenURL:  "https://accounts.zoho.eu/oauth/v2/token",
	meta: func(t *testing.T, im *Imitation, cb url.Values, tok map[string]any, access string) map[string]string {
		return map[string]string{"location": cb.Get("location"), "accounts-server": cb.Get("accounts-server"),
			"api_domain": fmt.Sprint(tok["api_domain"])}
	},
	refused: func(t *testing.T, status int, body map[string]any) {
		if status != http.StatusOK || body["error"] != "invalid_code" {
			t.Errorf("refused refresh: %d %v, want 200 with invalid_code", status, body)
		}
	},
}

var linkedinScript = script{
	authURL: "https://www.linkedin.com/oauth/v2/authorization", sep: " ",
	tokenURL: "https://www.linkedin.com/oauth/v2/accessToken",
	refused:  rfcRefused(http.StatusBadRequest, "invalid_grant"),
}

var oktaScript = script{
	authURL: "https://acme.okta.com/oauth2/default/v1/authorize", sep: " ", pkce: true,
	tokenURL: "https://acme.okta.com/oauth2/default/v1/token", basic: true,
	refused: rfcRefused(http.StatusBadRequest, "invalid_grant"),
}

var figmaScript = script{
	authURL: "https://www.figma.com/oauth", sep: ",",
	tokenURL: "https://api.figma.com/v1/oauth/token", refreshURL: "https://api.figma.com/v1/oauth/refresh", basic: true, denied: http.StatusForbidden,
	meta: func(t *testing.T, im *Imitation, cb url.Values, tok map[string]any, access string) map[string]string {
		return map[string]string{"user_id_string": fmt.Sprint(tok["user_id_string"])}
	},
	refused: rfcRefused(http.StatusBadRequest, "invalid_grant"),
}

var githubScript = script{
	authURL: "https://github.com/login/oauth/authorize", pkce: true,
	tokenURL: "https://github.com/login/oauth/access_token",
	refused: func(t *testing.T, status int, body map[string]any) {
		if status != http.StatusOK || body["error"] != "bad_refresh_token" {
			t.Errorf("refused refresh: %d %v, want 200 with bad_refresh_token", status, body)
		}
	},
}

var googleScript = script{
	authURL: "https://accounts.google.com/o/oauth2/v2/auth", sep: " ", pkce: true,
	authExtra: url.Values{"access_type": {"offline"}, "prompt": {"consent"}},
	tokenURL:  "https://oauth2.googleapis.com/token",
	refused:   rfcRefused(http.StatusBadRequest, "invalid_grant"),
}

const msTenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"

var microsoftScript = script{
	authURL: "https://login.microsoftonline.com/" + msTenant + "/oauth2/v2.0/authorize", sep: " ", pkce: true,
	authExtra: url.Values{"response_mode": {"query"}},
	tokenURL:  "https://login.microsoftonline.com/" + msTenant + "/oauth2/v2.0/token",
	refused:   rfcRefused(http.StatusBadRequest, "invalid_grant"),
}

var asanaScript = script{
	authURL: "https://app.asana.com/-/oauth_authorize", sep: " ", pkce: true,
	tokenURL: "https://app.asana.com/-/oauth_token",
	meta: func(t *testing.T, im *Imitation, cb url.Values, tok map[string]any, access string) map[string]string {
		data, _ := tok["data"].(map[string]any)
		return map[string]string{"data.gid": fmt.Sprint(data["gid"])}
	},
	refused: rfcRefused(http.StatusBadRequest, "invalid_grant"),
}

var zoomScript = script{
	authURL: "https://zoom.us/oauth/authorize", pkce: true,
	tokenURL: "https://zoom.us/oauth/token", basic: true,
	meta: func(t *testing.T, im *Imitation, cb url.Values, tok map[string]any, access string) map[string]string {
		_, me := getJSON(t, im, "https://api.zoom.us/v2/users/me", access)
		return map[string]string{"account_id": fmt.Sprint(me["account_id"])}
	},
	refused: rfcRefused(http.StatusBadRequest, "invalid_grant"),
}

var pipedriveScript = script{
	authURL:  "https://oauth.pipedrive.com/oauth/authorize",
	tokenURL: "https://oauth.pipedrive.com/oauth/token", basic: true,
	meta: func(t *testing.T, im *Imitation, cb url.Values, tok map[string]any, access string) map[string]string {
		return map[string]string{"api_domain": fmt.Sprint(tok["api_domain"])}
	},
	refused: rfcRefused(http.StatusBadRequest, "invalid_grant"),
}

var docusignScript = script{
	authURL: "https://account-d.docusign.com/oauth/auth", sep: " ", pkce: true,
	tokenURL: "https://account-d.docusign.com/oauth/token", basic: true,
	meta: func(t *testing.T, im *Imitation, cb url.Values, tok map[string]any, access string) map[string]string {
		_, info := getJSON(t, im, "https://account-d.docusign.com/oauth/userinfo", access)
		accounts, _ := info["accounts"].([]any)
		for _, a := range accounts {
			if a := a.(map[string]any); a["is_default"] == true {
				return map[string]string{"account_id": fmt.Sprint(a["account_id"]), "base_uri": fmt.Sprint(a["base_uri"])}
			}
		}
		t.Fatalf("no default account in %v", info)
		return nil
	},
	refused: rfcRefused(http.StatusBadRequest, "invalid_grant"),
}

var linearScript = script{
	authURL: "https://linear.app/oauth/authorize", sep: ",", pkce: true,
	tokenURL: "https://api.linear.app/oauth/token", denied: http.StatusBadRequest,
	meta: func(t *testing.T, im *Imitation, cb url.Values, tok map[string]any, access string) map[string]string {
		req, _ := http.NewRequest(http.MethodPost, "https://api.linear.app/graphql", strings.NewReader(`{"query":"{ organization { id } }"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+access)
		_, body := do(t, im, req)
		data, _ := body["data"].(map[string]any)
		org, _ := data["organization"].(map[string]any)
		return map[string]string{"organizationId": fmt.Sprint(org["id"])}
	},
	refused: rfcRefused(http.StatusBadRequest, "invalid_grant"),
}

var dropboxScript = script{
	authURL: "https://www.dropbox.com/oauth2/authorize", sep: " ", pkce: true,
	authExtra: url.Values{"token_access_type": {"offline"}},
	tokenURL:  "https://api.dropboxapi.com/oauth2/token", basic: true,
	meta: func(t *testing.T, im *Imitation, cb url.Values, tok map[string]any, access string) map[string]string {
		return map[string]string{"account_id": fmt.Sprint(tok["account_id"])}
	},
	refused: rfcRefused(http.StatusBadRequest, "invalid_grant"),
}

var boxScript = script{
	authURL: "https://account.box.com/api/oauth2/authorize", sep: " ",
	tokenURL: "https://api.box.com/oauth2/token",
	refused:  rfcRefused(http.StatusBadRequest, "invalid_grant"),
}

var shopifyScript = script{
	authURL: "https://acme-store.myshopify.com/admin/oauth/authorize", sep: ",",
	tokenURL: "https://acme-store.myshopify.com/admin/oauth/access_token", codeExtra: url.Values{"expiring": {"1"}},
	meta: func(t *testing.T, im *Imitation, cb url.Values, tok map[string]any, access string) map[string]string {
		if ShopifyHMAC(im.Want.ClientSecret, cb) != cb.Get("hmac") {
			t.Errorf("the callback's hmac does not verify: %v", cb)
		}
		return map[string]string{"shop": cb.Get("shop")}
	},
	api:     func(r *http.Request, access string) { r.Header.Set("X-Shopify-Access-Token", access) },
	refused: rfcRefused(http.StatusBadRequest, "invalid_grant"),
}

var zendeskScript = script{
	authURL: "https://acme.zendesk.com/oauth/authorizations/new", sep: " ", pkce: true,
	tokenURL: "https://acme.zendesk.com/oauth/tokens", json: true,
	codeExtra:    url.Values{"expires_in": {"1800"}, "refresh_token_expires_in": {"2592000"}},
	refreshExtra: url.Values{"expires_in": {"1800"}},
	refused:      rfcRefused(http.StatusBadRequest, "invalid_grant"),
}

var notionScript = script{
	authURL: "https://api.notion.com/v1/oauth/authorize", authExtra: url.Values{"owner": {"user"}},
	tokenURL: "https://api.notion.com/v1/oauth/token", basic: true, json: true,
	meta: func(t *testing.T, im *Imitation, cb url.Values, tok map[string]any, access string) map[string]string {
		return map[string]string{"workspace_id": fmt.Sprint(tok["workspace_id"]), "bot_id": fmt.Sprint(tok["bot_id"])}
	},
	api: func(r *http.Request, access string) {
		r.Header.Set("Authorization", "Bearer "+access)
		r.Header.Set("Notion-Version", "2025-09-03")
	},
	refused: func(t *testing.T, status int, body map[string]any) {
		if status != http.StatusBadRequest || body["object"] != "error" || body["code"] != "invalid_grant" {
			t.Errorf("refused refresh: %d %v, want 400 with a Notion error invalid_grant", status, body)
		}
	},
}

var xeroScript = script{
	authURL: "https://login.xero.com/identity/connect/authorize", sep: " ", pkce: true,
	tokenURL: "https://identity.xero.com/connect/token", basic: true,
	meta: func(t *testing.T, im *Imitation, cb url.Values, tok map[string]any, access string) map[string]string {
		return map[string]string{"tenantId": firstOf(t, im, "https://api.xero.com/connections", access, "tenantId")}
	},
	api: func(r *http.Request, access string) {
		r.Header.Set("Authorization", "Bearer "+access)
		r.Header.Set("Xero-Tenant-Id", "fe79f7dd-b6d4-4a92-ba7b-538af6289c58")
	},
	refused: rfcRefused(http.StatusBadRequest, "invalid_grant"),
}

var jiraScript = script{
	authURL: "https://auth.atlassian.com/authorize", sep: " ",
	authExtra: url.Values{"audience": {"api.atlassian.com"}, "prompt": {"consent"}},
	tokenURL:  "https://auth.atlassian.com/oauth/token", json: true,
	meta: func(t *testing.T, im *Imitation, cb url.Values, tok map[string]any, access string) map[string]string {
		u := "https://api.atlassian.com/oauth/token/accessible-resources"
		return map[string]string{"cloudId": firstOf(t, im, u, access, "id"), "url": firstOf(t, im, u, access, "url")}
	},
	refused: rfcRefused(http.StatusForbidden, "invalid_grant"),
}

var hubspotScript = script{
	authURL: "https://app.hubspot.com/oauth/authorize", sep: " ", pkce: true,
	tokenURL: "https://api.hubapi.com/oauth/v1/token",
	meta: func(t *testing.T, im *Imitation, cb url.Values, tok map[string]any, access string) map[string]string {
		_, info := getJSON(t, im, "https://api.hubapi.com/oauth/v1/access-tokens/"+access, "")
		return map[string]string{"hub_id": fmt.Sprint(info["hub_id"])}
	},
	refused: func(t *testing.T, status int, body map[string]any) {
		if status != http.StatusBadRequest || body["status"] != "BAD_REFRESH_TOKEN" {
			t.Errorf("refused refresh: %d %v, want 400 BAD_REFRESH_TOKEN", status, body)
		}
	},
}

// firstOf GETs a JSON array with a Bearer token and returns key of its first element.
func firstOf(t *testing.T, im *Imitation, u, access, key string) string {
	t.Helper()
	status, body := getJSON(t, im, u, access)
	list, _ := body["list"].([]any)
	if status != http.StatusOK || len(list) == 0 {
		t.Fatalf("GET %s: %d %v", u, status, body)
	}
	first, _ := list[0].(map[string]any)
	return fmt.Sprint(first[key])
}

var salesforceScript = script{
	authURL: "https://login.salesforce.com/services/oauth2/authorize", sep: " ", pkce: true,
	tokenURL: "https://login.salesforce.com/services/oauth2/token",
	meta: func(t *testing.T, im *Imitation, cb url.Values, tok map[string]any, access string) map[string]string {
		instance, _ := tok["instance_url"].(string)
		return map[string]string{"instance_url": instance}
	},
	refused: rfcRefused(http.StatusBadRequest, "invalid_grant"),
}

var slackScript = script{
	authURL: "https://slack.com/oauth/v2/authorize", sep: ",", pkce: true,
	tokenURL: "https://slack.com/api/oauth.v2.access", basic: true,
	meta: func(t *testing.T, im *Imitation, cb url.Values, tok map[string]any, access string) map[string]string {
		team, _ := tok["team"].(map[string]any)
		return map[string]string{"team.id": fmt.Sprint(team["id"]), "bot_user_id": fmt.Sprint(tok["bot_user_id"]),
			"app_id": fmt.Sprint(tok["app_id"])}
	},
	refused: func(t *testing.T, status int, body map[string]any) {
		if status != http.StatusOK || body["ok"] != false || body["error"] != "invalid_refresh_token" {
			t.Errorf("refused refresh: %d %v, want 200 with ok false and invalid_refresh_token", status, body)
		}
	},
}

var quickbooksScript = script{
	authURL: "https://appcenter.intuit.com/connect/oauth2", sep: " ",
	tokenURL: "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer", basic: true,
	refused: rfcRefused(http.StatusBadRequest, "invalid_grant"),
}

func TestImitationsFullFlow(t *testing.T) {
	for name, newImitation := range Providers() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			im := newImitation(t)
			if im.Want.AppOnly {
				t.Skip("no user: TestMicrosoftGraphAppClientCredentials")
			}
			s, ok := scripts()[name]
			if !ok {
				t.Fatalf("no script for %s", name)
			}
			cb, tok, access, refresh := s.connect(t, im)
			if s.meta != nil {
				got := s.meta(t, im, cb, tok, access)
				for k, v := range im.Want.Metadata {
					if got[k] != v {
						t.Errorf("metadata %s = %q, want %q", k, got[k], v)
					}
				}
			}
			s.callAPI(t, im, access, http.StatusOK)
			if im.Want.NoExpiry {
				if refresh != "" {
					t.Errorf("a refresh token from a provider whose tokens never expire: %q", refresh)
				}
				return
			}
			access2, refresh2 := s.refresh(t, im, refresh)
			if (refresh2 != refresh) != im.Want.RotatesRefresh {
				t.Errorf("refresh token rotated: %v, want %v", refresh2 != refresh, im.Want.RotatesRefresh)
			}
			s.callAPI(t, im, access2, http.StatusOK)
			if refresh2 != refresh {
				status, body := s.post(t, im, s.refreshEndpoint(), s.refreshParams(refresh))
				if ok := succeeded(status, body); ok != im.Want.OldRefreshValid {
					t.Errorf("the rotated refresh token worked: %v, want %v (%d %v)", ok, im.Want.OldRefreshValid, status, body)
				}
			}
			old := http.StatusOK
			if !im.Want.OldAccessValid {
				old = http.StatusUnauthorized
			}
			s.callAPI(t, im, access, old)
			im.ExpireRefreshTokens()
			status, body := s.post(t, im, s.refreshEndpoint(), s.refreshParams(refresh2))
			if succeeded(status, body) {
				t.Fatalf("refresh with an expired refresh token succeeded: %v", body)
			}
			s.refused(t, status, body)
		})
	}
}

// connect consents and exchanges the code; it checks the code is single use.
func (s script) connect(t *testing.T, im *Imitation) (cb url.Values, tok map[string]any, access, refresh string) {
	t.Helper()
	verifier := strings.Repeat("v", 50)
	q := url.Values{"client_id": {im.Want.ClientID}, "redirect_uri": {im.Want.RedirectURI}, "response_type": {"code"},
		"state": {"st4te"}, "scope": {strings.Join(im.Want.Scopes, s.sep)}}
	for k, v := range s.authExtra {
		q[k] = v
	}
	if s.pkce {
		sum := sha256.Sum256([]byte(verifier))
		q.Set("code_challenge", base64.RawURLEncoding.EncodeToString(sum[:]))
		q.Set("code_challenge_method", "S256")
	}
	cb, err := im.Consent(s.authURL + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if cb.Get("state") != "st4te" {
		t.Errorf("callback state = %q", cb.Get("state"))
	}
	for k, v := range im.Want.Metadata {
		if cb.Has(k) && cb.Get(k) != v {
			t.Errorf("callback %s = %q, want %q", k, cb.Get(k), v)
		}
	}
	params := url.Values{"grant_type": {"authorization_code"}, "code": {cb.Get("code")}, "redirect_uri": {im.Want.RedirectURI}}
	if s.pkce {
		params.Set("code_verifier", verifier)
	}
	for k, v := range s.codeExtra {
		params[k] = v
	}
	status, body := s.post(t, im, s.tokenURL, params)
	if !succeeded(status, body) {
		t.Fatalf("code exchange: %d %v", status, body)
	}
	access, refresh = s.read(t, body)
	if status, again := s.post(t, im, s.tokenURL, params); succeeded(status, again) {
		t.Errorf("the code was accepted twice: %v", again)
	}
	return cb, body, access, refresh
}

func (s script) refreshEndpoint() string {
	if s.refreshURL != "" {
		return s.refreshURL
	}
	return s.tokenURL
}

func (s script) refreshParams(refresh string) url.Values {
	params := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}
	for k, v := range s.refreshExtra {
		params[k] = v
	}
	return params
}

func (s script) refresh(t *testing.T, im *Imitation, refresh string) (string, string) {
	t.Helper()
	status, body := s.post(t, im, s.refreshEndpoint(), s.refreshParams(refresh))
	if !succeeded(status, body) {
		t.Fatalf("refresh: %d %v", status, body)
	}
	access, refresh2 := s.read(t, body)
	if refresh2 == "" {
		refresh2 = refresh
	}
	return access, refresh2
}

func (s script) read(t *testing.T, body map[string]any) (string, string) {
	t.Helper()
	if s.tokens != nil {
		return s.tokens(t, body)
	}
	access, _ := body["access_token"].(string)
	refresh, _ := body["refresh_token"].(string)
	if access == "" {
		t.Fatalf("no access_token in %v", body)
	}
	return access, refresh
}

// post sends params to u with the script's client authentication and encoding.
func (s script) post(t *testing.T, im *Imitation, u string, params url.Values) (int, map[string]any) {
	t.Helper()
	p := url.Values{}
	for k, v := range params {
		p[k] = v
	}
	if !s.basic {
		p.Set("client_id", im.Want.ClientID)
		p.Set("client_secret", im.Want.ClientSecret)
	}
	var body io.Reader = strings.NewReader(p.Encode())
	ct := "application/x-www-form-urlencoded"
	if s.query {
		u, body, ct = u+"?"+p.Encode(), nil, ""
	}
	if s.json {
		m := map[string]string{}
		for k := range p {
			m[k] = p.Get(k)
		}
		b, _ := json.Marshal(m)
		body, ct = bytes.NewReader(b), "application/json"
	}
	req, _ := http.NewRequest(http.MethodPost, u, body)
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	req.Header.Set("Accept", "application/json")
	if s.basic {
		req.SetBasicAuth(url.QueryEscape(im.Want.ClientID), url.QueryEscape(im.Want.ClientSecret))
	}
	return do(t, im, req)
}

func (s script) callAPI(t *testing.T, im *Imitation, access string, want int) {
	t.Helper()
	if want == http.StatusUnauthorized && s.denied != 0 {
		want = s.denied
	}
	method := im.Want.APIMethod
	if method == "" {
		method = http.MethodGet
	}
	req, _ := http.NewRequest(method, im.Want.APICheck, nil)
	if s.api != nil {
		s.api(req, access)
	} else {
		req.Header.Set("Authorization", "Bearer "+access)
	}
	status, body := do(t, im, req)
	if status == http.StatusOK && body["ok"] == false { // Slack's way of failing
		status = http.StatusUnauthorized
	}
	if status != want {
		t.Errorf("GET %s: %d %v, want %d", im.Want.APICheck, status, body, want)
	}
}

// do sends req through the imitation's client and decodes a JSON object answer.
func do(t *testing.T, im *Imitation, req *http.Request) (int, map[string]any) {
	t.Helper()
	resp, err := im.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(b) > 0 && json.Unmarshal(b, &out) != nil {
		var list []any
		if json.Unmarshal(b, &list) != nil {
			t.Fatalf("%s %s answered %d with non-JSON %q", req.Method, req.URL, resp.StatusCode, b)
		}
		out = map[string]any{"list": list}
	}
	return resp.StatusCode, out
}

// getJSON GETs u with a Bearer token.
func getJSON(t *testing.T, im *Imitation, u, access string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Authorization", "Bearer "+access)
	return do(t, im, req)
}

// succeeded says whether a token endpoint's answer is a success (Slack and GitHub answer
// errors with 200).
func succeeded(status int, body map[string]any) bool {
	return status == http.StatusOK && body["ok"] != false && body["error"] == nil
}

// rfcRefused expects an RFC 6749 error answer.
func rfcRefused(status int, code string) func(*testing.T, int, map[string]any) {
	return func(t *testing.T, got int, body map[string]any) {
		t.Helper()
		if got != status || body["error"] != code {
			t.Errorf("refused refresh: %d %v, want %d with error %s", got, body, status, code)
		}
	}
}

func TestConsentChecksTheRequest(t *testing.T) {
	for name, newImitation := range Providers() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := scripts()[name]
			im := newImitation(t)
			if im.Want.AppOnly {
				t.Skip("no user: TestMicrosoftGraphAppClientCredentials")
			}
			q := url.Values{"client_id": {im.Want.ClientID}, "redirect_uri": {"https://evil.example/cb"}, "response_type": {"code"},
				"state": {"x"}, "scope": {strings.Join(im.Want.Scopes, s.sep)}}
			for k, v := range s.authExtra {
				q[k] = v
			}
			if s.pkce {
				q.Set("code_challenge", strings.Repeat("c", 43))
				q.Set("code_challenge_method", "S256")
			}
			_, err := im.Consent(s.authURL + "?" + q.Encode())
			if ce, ok := err.(*ConsentError); !ok || ce.Redirected {
				t.Errorf("an unregistered redirect_uri: %v, want the provider's error page", err)
			}
			q.Set("redirect_uri", im.Want.RedirectURI)
			im.Deny(true)
			_, err = im.Consent(s.authURL + "?" + q.Encode())
			if ce, ok := err.(*ConsentError); !ok || !ce.Redirected || ce.Query.Get("error") != "access_denied" {
				t.Errorf("the user refused: %v, want access_denied", err)
			}
		})
	}
}

// TestImitationsCiteTheirDocumentation checks that the doc comment of every constructor of
// an imitation cites at least one https URL it was written from.
func TestImitationsCiteTheirDocumentation(t *testing.T) {
	fset := token.NewFileSet()
	docs := map[string]string{}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			if fn, ok := d.(*ast.FuncDecl); ok && fn.Recv == nil && fn.Doc != nil {
				docs[fn.Name.Name] = fn.Doc.Text()
			}
		}
	}
	for name, ctor := range Providers() {
		fname := funcName(ctor)
		if !strings.Contains(docs[fname], "https://") {
			t.Errorf("%s (%s): its doc comment cites no https URL", name, fname)
		}
	}
}

// funcName is the bare name of a package-level function.
func funcName(f any) string {
	full := runtime.FuncForPC(reflect.ValueOf(f).Pointer()).Name()
	return full[strings.LastIndex(full, ".")+1:]
}
