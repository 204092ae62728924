package oauth

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
)

func newTestRequest(t *testing.T, p *Provider, scopes []string) (*AuthRequest, url.Values) {
	t.Helper()
	a := p.NewAuthRequest(Credentials{ClientID: "cid", ClientSecret: "shh"}, "http://localhost:8080/callback", scopes)
	u, err := url.Parse(a.URL)
	if err != nil {
		t.Fatal(err)
	}
	return a, u.Query()
}

func TestNewAuthRequest(t *testing.T) {
	google, _ := (&Client{}).Resolve(t.Context(), &authconn.Connection{ProviderURL: "https://accounts.google.com"})
	a, q := newTestRequest(t, google, []string{"openid", "email"})
	raw, err := base64.RawURLEncoding.DecodeString(a.State)
	if err != nil || len(raw) != 32 {
		t.Errorf("state %q is not 32 base64url bytes", a.State)
	}
	for k, want := range map[string]string{
		"state": a.State, "nonce": a.Nonce, "code_challenge_method": "S256", "access_type": "offline", "prompt": "consent",
		"redirect_uri": "http://localhost:8080/callback", "client_id": "cid", "response_type": "code", "scope": "openid email",
	} {
		if q.Get(k) != want {
			t.Errorf("%s = %q, want %q", k, q.Get(k), want)
		}
	}
	if q.Get("code_challenge") == "" || strings.Contains(a.URL, "shh") {
		t.Errorf("URL %s: no challenge, or the secret leaked", a.URL)
	}
	if a.String() != "AuthRequest(http://localhost:8080/callback)" {
		t.Errorf("String() = %q", a.String())
	}

	ms, _ := (&Client{}).Resolve(t.Context(), &authconn.Connection{ProviderURL: "https://login.microsoftonline.com/common"})
	a, q = newTestRequest(t, ms, []string{"https://graph.microsoft.com/User.Read"})
	if q.Get("scope") != "https://graph.microsoft.com/User.Read offline_access" || a.Nonce != "" || q.Has("nonce") || q.Has("prompt") {
		t.Errorf("microsoft query %v", q)
	}
}

func TestParseCallback(t *testing.T) {
	gen := &Provider{Endpoints: Endpoints{Issuer: "https://idp.example.com", PKCE: true}}
	a, _ := newTestRequest(t, gen, []string{"openid"})
	ok := url.Values{"state": {a.State}, "code": {"the-code"}, "realmId": {"1234"}, "scope": {"openid"}}
	cb, err := a.ParseCallback(ok)
	if err != nil {
		t.Fatal(err)
	}
	if cb.Code != "the-code" || cb.Extras["realmId"] != "1234" || len(cb.Extras) != 1 || strings.Contains(cb.String(), "the-code") {
		t.Errorf("callback %+v", cb)
	}

	cases := []struct {
		name string
		q    url.Values
		code string
	}{
		{"tampered state", url.Values{"state": {a.State + "x"}, "code": {"c"}}, "state_mismatch"},
		{"missing state", url.Values{"code": {"c"}}, "state_mismatch"},
		{"error with wrong state", url.Values{"state": {"x"}, "error": {"access_denied"}}, "state_mismatch"},
		{"denied", url.Values{"state": {a.State}, "error": {"access_denied"}, "error_description": {"user said no"}}, "access_denied"},
		{"invalid scope", url.Values{"state": {a.State}, "error": {"invalid_scope"}}, "invalid_scope"},
		{"wrong iss", url.Values{"state": {a.State}, "code": {"c"}, "iss": {"https://evil.example.com"}}, "iss_mismatch"},
	}
	for _, tc := range cases {
		_, err := a.ParseCallback(tc.q)
		var ce *CallbackError
		if !errors.As(err, &ce) || ce.Code != tc.code {
			t.Errorf("%s: error %v, want code %s", tc.name, err, tc.code)
			continue
		}
		// tokend explains access_denied itself: the provider's description is not shown.
		if tc.code == "access_denied" && (strings.Contains(err.Error(), "user said no") || !strings.Contains(err.Error(), "run authorize again")) {
			t.Errorf("denied: message %q shows the description or lacks the next step", err)
		}
		if tc.code == "invalid_scope" && !strings.Contains(err.Error(), "--scopes") {
			t.Errorf("invalid_scope: message %q lacks the next step", err)
		}
	}
	if _, err := a.ParseCallback(url.Values{"state": {a.State}}); !errors.Is(err, ErrNoCode) {
		t.Errorf("no code: %v", err)
	}
	if _, err := a.ParseCallback(url.Values{"state": {a.State}, "code": {"c"}, "iss": {"https://idp.example.com/"}}); err != nil {
		t.Errorf("matching iss with a trailing slash: %v", err)
	}

	// A provider that advertises RFC 9207 must send iss.
	adv := &Provider{Endpoints: Endpoints{Issuer: "https://idp.example.com", IssParameter: true}}
	a2, _ := newTestRequest(t, adv, nil)
	var ce *CallbackError
	if _, err := a2.ParseCallback(url.Values{"state": {a2.State}, "code": {"c"}}); !errors.As(err, &ce) || ce.Code != "iss_mismatch" {
		t.Errorf("missing iss from an advertising provider: %v", err)
	}
	// Endpoints given as overrides without issuer: iss cannot be checked and is accepted.
	noIss := &Provider{}
	a3, _ := newTestRequest(t, noIss, nil)
	if _, err := a3.ParseCallback(url.Values{"state": {a3.State}, "code": {"c"}, "iss": {"https://idp.example.com"}}); err != nil {
		t.Errorf("unknown issuer: %v", err)
	}
	// Microsoft multi-tenant: the user's tenant appears in iss.
	ms, _ := (&Client{}).Resolve(t.Context(), &authconn.Connection{ProviderURL: "https://login.microsoftonline.com/common"})
	a4, _ := newTestRequest(t, ms, nil)
	if _, err := a4.ParseCallback(url.Values{"state": {a4.State}, "code": {"c"}, "iss": {"https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0"}}); err != nil {
		t.Errorf("microsoft tenant iss: %v", err)
	}
	if _, err := a4.ParseCallback(url.Values{"state": {a4.State}, "code": {"c"}, "iss": {"https://login.evil.com/x/v2.0"}}); !errors.As(err, &ce) {
		t.Errorf("microsoft foreign iss accepted: %v", err)
	}
}

func unsignedJWT(t *testing.T, claims map[string]any) string {
	b, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	return "eyJhbGciOiJub25lIn0." + base64.RawURLEncoding.EncodeToString(b) + ".sig"
}

func TestCheckIDToken(t *testing.T) {
	resolve := func(providerURL string) *Provider {
		p, err := (&Client{}).Resolve(t.Context(), &authconn.Connection{ProviderURL: providerURL, IssuerURL: providerURL,
			AuthURL: providerURL + "/auth", TokenURL: providerURL + "/token"})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	idp, google := resolve("https://idp.example.com"), resolve("https://accounts.google.com")
	msCommon, msTenant := resolve("https://login.microsoftonline.com/common"), resolve("https://login.microsoftonline.com/contoso")
	const userTenant = "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0"
	for _, tc := range []struct {
		name     string
		claims   map[string]any
		provider *Provider
		want     string
	}{
		{"ok", map[string]any{"iss": "https://idp.example.com", "aud": "cid", "nonce": "n"}, idp, ""},
		{"aud list", map[string]any{"iss": "https://idp.example.com", "aud": []string{"x", "cid"}, "nonce": "n"}, idp, ""},
		{"google legacy iss", map[string]any{"iss": "accounts.google.com", "aud": "cid", "nonce": "n"}, google, ""},
		{"microsoft common: the user's tenant", map[string]any{"iss": userTenant, "aud": "cid", "nonce": "n"}, msCommon, ""},
		{"microsoft single tenant: another tenant", map[string]any{"iss": userTenant, "aud": "cid", "nonce": "n"}, msTenant, "issuer"},
		{"nonce", map[string]any{"iss": "https://idp.example.com", "aud": "cid", "nonce": "other"}, idp, "nonce"},
		{"aud", map[string]any{"iss": "https://idp.example.com", "aud": "someone", "nonce": "n"}, idp, "audience"},
		{"iss", map[string]any{"iss": "https://evil.example.com", "aud": "cid", "nonce": "n"}, idp, "issuer"},
		{"google alias only for google", map[string]any{"iss": "accounts.google.com", "aud": "cid", "nonce": "n"}, idp, "issuer"},
	} {
		err := checkIDToken(unsignedJWT(t, tc.claims), "n", "cid", tc.provider)
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

// TestAttackF15_CraftedErrorDescriptionIsTruncatedAndMarked: anyone holding a state can
// craft /v1/callback?state=S&error=...&error_description=...; the page (tokend's origin) shows
// the description only as the provider's words, sanitized and cut to about 100 bytes, and not
// at all for codes tokend explains itself.
func TestAttackF15_CraftedErrorDescriptionIsTruncatedAndMarked(t *testing.T) {
	phish := "Your Microsoft 365 session expired.\x1b[2J call IT support at +1-555-0100 or visit https://evil.example/reset " + strings.Repeat("now ", 40)
	msg := (&CallbackError{Code: "invalid_request", Description: phish}).Error()
	if !strings.Contains(msg, `the provider said: "Your Microsoft 365 session expired.`) || strings.Contains(msg, "evil.example/reset now now") ||
		strings.Contains(msg, "\x1b") || !strings.Contains(msg, "…") {
		t.Errorf("invalid_request: description not marked, sanitized and truncated: %q", msg)
	}
	for _, code := range []string{"access_denied", "invalid_scope", "server_error", "temporarily_unavailable", "unauthorized_client"} {
		if msg := (&CallbackError{Code: code, Description: phish}).Error(); strings.Contains(msg, "evil.example") || strings.Contains(msg, "Microsoft") {
			t.Errorf("%s: the provider's description is shown for a code tokend explains: %q", code, msg)
		}
	}
	if msg := (&CallbackError{Code: strings.Repeat("x", 500) + "\n<script>"}).Error(); len(msg) > 200 || strings.Contains(msg, "\n") {
		t.Errorf("a crafted error code is not bounded: %q", msg)
	}
}
