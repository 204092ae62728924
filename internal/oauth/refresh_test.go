package oauth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/store"
)

// tokenServer is an httptest token endpoint that records requests and answers with reply.
type tokenServer struct {
	*httptest.Server
	mu       sync.Mutex
	requests []recorded
	reply    func(form url.Values) (int, any)
}

type recorded struct {
	form   url.Values
	header http.Header
	user   string
	pass   string
}

func newTokenServer(t *testing.T, reply func(form url.Values) (int, any)) *tokenServer {
	ts := &tokenServer{reply: reply}
	ts.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		u, p, _ := r.BasicAuth()
		ts.mu.Lock()
		ts.requests = append(ts.requests, recorded{form: r.PostForm, header: r.Header.Clone(), user: u, pass: p})
		ts.mu.Unlock()
		status, body := ts.reply(r.PostForm)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(body)
	}))
	t.Cleanup(ts.Close)
	return ts
}

func (ts *tokenServer) last(t *testing.T) recorded {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if len(ts.requests) == 0 {
		t.Fatal("no request reached the token endpoint")
	}
	return ts.requests[len(ts.requests)-1]
}

var fixedNow = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func testClient() *Client {
	return &Client{Now: func() time.Time { return fixedNow }, FallbackLifetime: 30 * time.Minute}
}

func oldTokens() *store.TokenSet {
	return &store.TokenSet{
		AccessToken: "old-at", RefreshToken: "old-rt", TokenType: "Bearer", Scope: "openid offline_access",
		Expiry: fixedNow.Add(-time.Minute), Scopes: []string{"openid", "offline_access"},
		CallbackExtras: map[string]string{"realmId": "123"}, AuthorizedAt: fixedNow.Add(-24 * time.Hour),
		RefreshTokenHardExpiry: fixedNow.Add(1000 * time.Hour), Extra: map[string]any{"id_token": "h.p.s"},
		Version: 7,
	}
}

func customProvider(tokenURL string) *Provider {
	return &Provider{Source: "overrides", Endpoints: Endpoints{TokenURL: tokenURL, AuthURL: tokenURL, AuthStyle: 1 /* params */}}
}

func TestRefreshRotatesAndKeepsAuthorizationData(t *testing.T) {
	srv := newTokenServer(t, func(url.Values) (int, any) {
		return 200, map[string]any{"access_token": "new-at", "refresh_token": "new-rt", "token_type": "Bearer", "expires_in": 3600, "x_custom": "kept"}
	})
	old := oldTokens()
	got, err := testClient().Refresh(context.Background(), customProvider(srv.URL), Credentials{ClientID: "cid", ClientSecret: "csecret"}, old)
	if err != nil {
		t.Fatal(err)
	}
	req := srv.last(t)
	if req.form.Get("grant_type") != "refresh_token" || req.form.Get("refresh_token") != "old-rt" || req.form.Get("client_secret") != "csecret" {
		t.Fatalf("refresh request form = %v", redactForm(req.form))
	}
	if got.AccessToken != "new-at" || got.RefreshToken != "new-rt" || !got.Expiry.Equal(fixedNow.Add(time.Hour)) || got.ExpiryGuessed {
		t.Fatalf("refreshed: %s rt-rotated=%v", got, got.RefreshToken == "new-rt")
	}
	if got.Version != 7 || got.CallbackExtras["realmId"] != "123" || !got.AuthorizedAt.Equal(old.AuthorizedAt) ||
		len(got.Scopes) != 2 || !got.RefreshedAt.Equal(fixedNow) || got.Status != store.StatusAuthorized {
		t.Fatalf("authorization data not carried over: %+v", got)
	}
	if got.Extra["x_custom"] != "kept" || got.Extra["id_token"] != "h.p.s" || !got.RefreshTokenHardExpiry.Equal(old.RefreshTokenHardExpiry) {
		t.Fatalf("extras: %v hard expiry %v", got.Extra, got.RefreshTokenHardExpiry)
	}
	if old.RefreshToken != "old-rt" || old.AccessToken != "old-at" {
		t.Fatal("Refresh modified its input")
	}
}

func TestRefreshWithoutRefreshTokenKeepsTheOldOne(t *testing.T) {
	srv := newTokenServer(t, func(url.Values) (int, any) {
		return 200, map[string]any{"access_token": "new-at", "token_type": "Bearer"} // no refresh_token, no expires_in
	})
	old := oldTokens()
	old.RefreshTokenExpiry = fixedNow.Add(90 * 24 * time.Hour)
	got, err := testClient().Refresh(context.Background(), customProvider(srv.URL), Credentials{ClientID: "cid"}, old)
	if err != nil {
		t.Fatal(err)
	}
	if got.RefreshToken != "old-rt" {
		t.Fatalf("the refresh token was lost: got %q", got.RefreshToken)
	}
	if !got.RefreshTokenExpiry.Equal(old.RefreshTokenExpiry) {
		t.Fatalf("refresh-token expiry lost: %v", got.RefreshTokenExpiry)
	}
	if !got.ExpiryGuessed || !got.Expiry.Equal(fixedNow.Add(30*time.Minute)) {
		t.Fatalf("missing expires_in: expiry %v guessed %v, want the 30m fallback", got.Expiry, got.ExpiryGuessed)
	}
}

func TestRefreshErrorsAreClassified(t *testing.T) {
	cases := []struct {
		status int
		body   any
		kind   ErrorKind
	}{
		{400, map[string]string{"error": "invalid_grant", "error_description": "token reused"}, KindInvalidGrant},
		{401, map[string]string{"error": "invalid_client"}, KindInvalidClient},
		{400, map[string]string{"error": "unauthorized_client"}, KindInvalidClient},
		{400, map[string]string{"error": "invalid_scope"}, KindRejected},
		{500, map[string]string{"error": "server_error"}, KindTransient},
		{503, "down", KindTransient},
		{429, map[string]string{"error": "slow_down"}, KindTransient},
	}
	for _, c := range cases {
		srv := newTokenServer(t, func(url.Values) (int, any) { return c.status, c.body })
		_, err := testClient().Refresh(context.Background(), customProvider(srv.URL), Credentials{ClientID: "cid", ClientSecret: "SECRET-XYZ"}, oldTokens())
		var oe *Error
		if !errors.As(err, &oe) || oe.Kind != c.kind || oe.Op != "refresh" {
			t.Errorf("%d %v: got %v (kind %v), want kind %v", c.status, c.body, err, oe, c.kind)
			continue
		}
		if strings.Contains(err.Error(), "old-rt") || strings.Contains(err.Error(), "SECRET-XYZ") {
			t.Errorf("error message leaks a secret: %v", err)
		}
		if oe.Permanent() == (c.kind == KindTransient) {
			t.Errorf("%v: Permanent() = %v", c.kind, oe.Permanent())
		}
	}
	// A provider that cannot be reached is transient.
	srv := newTokenServer(t, nil)
	srv.Close()
	_, err := testClient().Refresh(context.Background(), customProvider(srv.URL), Credentials{ClientID: "cid"}, oldTokens())
	if !IsTransient(err) {
		t.Fatalf("unreachable provider: %v is not transient", err)
	}
	// No refresh token stored: needs re-authorization, no request made.
	old := oldTokens()
	old.RefreshToken = ""
	if _, err := testClient().Refresh(context.Background(), customProvider("http://127.0.0.1:1"), Credentials{}, old); !IsInvalidGrant(err) {
		t.Fatalf("no refresh token: %v", err)
	}
}

func TestMicrosoftRefreshSendsTheAuthorizedScopes(t *testing.T) {
	srv := newTokenServer(t, func(url.Values) (int, any) {
		return 200, map[string]any{"access_token": "a", "refresh_token": "r2", "expires_in": 3599}
	})
	p, err := testClient().Resolve(context.Background(), &store.Connection{
		Name: "ms", Type: store.TypeOAuth2, ProviderURL: "https://login.microsoftonline.com/contoso.onmicrosoft.com",
		ClientID: "cid", TokenURL: srv.URL, AuthURL: srv.URL + "/authorize",
	})
	if err != nil {
		t.Fatal(err)
	}
	if p.Name() != "microsoft" || p.Issuer != "https://login.microsoftonline.com/contoso.onmicrosoft.com/v2.0" {
		t.Fatalf("preset %s issuer %s", p.Name(), p.Issuer)
	}
	old := oldTokens()
	old.Scopes = []string{"https://graph.microsoft.com/.default", "offline_access"}
	if _, err := testClient().Refresh(context.Background(), p, Credentials{ClientID: "cid", ClientSecret: "s"}, old); err != nil {
		t.Fatal(err)
	}
	if got := srv.last(t).form.Get("scope"); got != "https://graph.microsoft.com/.default offline_access" {
		t.Fatalf("refresh scope = %q", got)
	}
	// The authorization request asks for offline_access even when not given.
	a := p.NewAuthRequest(Credentials{ClientID: "cid"}, "http://localhost:8080/callback", []string{"https://graph.microsoft.com/.default"})
	u, _ := url.Parse(a.URL)
	if !strings.Contains(u.Query().Get("scope"), "offline_access") || u.Query().Get("code_challenge_method") != "S256" {
		t.Fatalf("auth URL query = %v", u.Query())
	}
}

func TestQuickBooksRefreshHeaderAndExpiryFields(t *testing.T) {
	srv := newTokenServer(t, func(url.Values) (int, any) {
		return 200, map[string]any{
			"access_token": "a", "refresh_token": "r2", "token_type": "bearer", "expires_in": 3600,
			"x_refresh_token_expires_in": 8726400, "x_refresh_token_lifetime_expires_in": 157680000,
		}
	})
	p, err := testClient().Resolve(context.Background(), &store.Connection{
		Name: "qb", Type: store.TypeOAuth2, ProviderURL: "https://appcenter.intuit.com/connect/oauth2",
		IssuerURL: "https://oauth.platform.intuit.com/op/v1", ClientID: "cid", TokenURL: srv.URL, AuthURL: srv.URL,
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := testClient().Refresh(context.Background(), p, Credentials{ClientID: "cid", ClientSecret: "s"}, oldTokens())
	if err != nil {
		t.Fatal(err)
	}
	req := srv.last(t)
	if req.header.Get("x-include-refresh-token-hard-expires-in") != "true" {
		t.Fatalf("QuickBooks header missing: %v", req.header)
	}
	if req.user != "cid" || req.pass != "s" || req.form.Get("client_secret") != "" {
		t.Fatal("QuickBooks must authenticate with HTTP basic, not in the body")
	}
	if !got.RefreshTokenExpiry.Equal(fixedNow.Add(8726400*time.Second)) || !got.RefreshTokenHardExpiry.Equal(fixedNow.Add(157680000*time.Second)) {
		t.Fatalf("refresh-token expiries: %v / %v", got.RefreshTokenExpiry, got.RefreshTokenHardExpiry)
	}
}

func TestGoogleAuthRequestAsksForOfflineAccessAndConsent(t *testing.T) {
	p, err := testClient().Resolve(context.Background(), &store.Connection{Name: "g", Type: store.TypeOAuth2, ProviderURL: "https://accounts.google.com", ClientID: "cid"})
	if err != nil {
		t.Fatal(err)
	}
	if p.TokenURL != "https://oauth2.googleapis.com/token" || p.AuthURL != "https://accounts.google.com/o/oauth2/v2/auth" || p.RevocationURL == "" {
		t.Fatalf("google endpoints: %+v", p.Endpoints)
	}
	a := p.NewAuthRequest(Credentials{ClientID: "cid"}, "http://localhost:8080/callback", []string{"openid", "email"})
	q, _ := url.ParseQuery(strings.SplitN(a.URL, "?", 2)[1])
	if q.Get("access_type") != "offline" || q.Get("prompt") != "consent" || q.Get("nonce") == "" || q.Get("state") != a.State ||
		q.Get("redirect_uri") != "http://localhost:8080/callback" || q.Get("code_challenge") == "" {
		t.Fatalf("auth URL query = %v", q)
	}
	if raw, err := base64.RawURLEncoding.DecodeString(a.State); err != nil || len(raw) != 32 {
		t.Fatalf("state %q is not 32 random bytes in base64url (%d, %v)", a.State, len(raw), err)
	}
}

func redactForm(f url.Values) url.Values {
	out := url.Values{}
	for k, v := range f {
		if k == "refresh_token" || k == "client_secret" {
			out[k] = []string{"(redacted)"}
			continue
		}
		out[k] = v
	}
	return out
}
