package oauth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
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
	return &Client{Now: func() time.Time { return fixedNow }}
}

// oldRT is the refresh token the tests refresh with.
const oldRT = "old-rt"

func customProvider(tokenURL string) *Provider {
	return &Provider{Source: "overrides", Endpoints: Endpoints{TokenURL: tokenURL, AuthURL: tokenURL, AuthStyle: 1 /* params */}, typed: []string{tokenURL}}
}

func TestRefreshSendsTheRefreshTokenAndReturnsTheAnswer(t *testing.T) {
	srv := newTokenServer(t, func(url.Values) (int, any) {
		return 200, map[string]any{"access_token": "new-at", "refresh_token": "new-rt", "token_type": "Bearer", "expires_in": 3600, "x_custom": "kept"}
	})
	got, err := testClient().Refresh(context.Background(), customProvider(srv.URL), Credentials{ClientID: "cid", ClientSecret: "csecret"}, oldRT, nil)
	if err != nil {
		t.Fatal(err)
	}
	req := srv.last(t)
	if req.form.Get("grant_type") != "refresh_token" || req.form.Get("refresh_token") != oldRT || req.form.Get("client_secret") != "csecret" {
		t.Fatalf("refresh request form = %v", redactForm(req.form))
	}
	if got.AccessToken != "new-at" || got.RefreshToken != "new-rt" || got.ExpiresIn != time.Hour || !got.ReceivedAt.Equal(fixedNow) {
		t.Fatalf("answer: %s rt-rotated=%v received %v", got, got.RefreshToken == "new-rt", got.ReceivedAt)
	}
	if got.Extra["x_custom"] != "kept" || got.Extra["access_token"] != nil || got.Extra["refresh_token"] != nil {
		t.Fatalf("extra fields: keys %v", slices.Collect(maps.Keys(got.Extra)))
	}
}

func TestRefreshAnswerWithoutRefreshTokenOrExpiryIsReportedAsIs(t *testing.T) {
	srv := newTokenServer(t, func(url.Values) (int, any) {
		return 200, map[string]any{"access_token": "new-at", "token_type": "Bearer"} // no refresh_token, no expires_in
	})
	got, err := testClient().Refresh(context.Background(), customProvider(srv.URL), Credentials{ClientID: "cid"}, oldRT, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Keeping the old refresh token and guessing a lifetime are the record writer's rules
	// (internal/tokens), not the protocol's.
	if got.RefreshToken != "" || got.ExpiresIn != 0 {
		t.Fatalf("the answer was changed: rt %v, expires_in %v", got.RefreshToken != "", got.ExpiresIn)
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
		_, err := testClient().Refresh(context.Background(), customProvider(srv.URL), Credentials{ClientID: "cid", ClientSecret: "SECRET-XYZ"}, oldRT, nil)
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
	_, err := testClient().Refresh(context.Background(), customProvider(srv.URL), Credentials{ClientID: "cid"}, oldRT, nil)
	if !IsTransient(err) {
		t.Fatalf("unreachable provider: %v is not transient", err)
	}
	// No refresh token stored: needs re-authorization, no request made.
	if _, err := testClient().Refresh(context.Background(), customProvider("http://127.0.0.1:1"), Credentials{}, "", nil); !IsInvalidGrant(err) {
		t.Fatalf("no refresh token: %v", err)
	}
}

func TestMicrosoftRefreshSendsTheAuthorizedScopes(t *testing.T) {
	srv := newTokenServer(t, func(url.Values) (int, any) {
		return 200, map[string]any{"access_token": "a", "refresh_token": "r2", "expires_in": 3599}
	})
	p, err := testClient().Resolve(context.Background(), &authconn.Connection{
		Name: "ms", Type: authconn.TypeOAuth2, ProviderURL: "https://login.microsoftonline.com/contoso.onmicrosoft.com",
		ClientID: "cid", TokenURL: srv.URL, AuthURL: srv.URL + "/authorize",
	})
	if err != nil {
		t.Fatal(err)
	}
	if p.Name() != "microsoft" || p.Issuer != "https://login.microsoftonline.com/contoso.onmicrosoft.com/v2.0" {
		t.Fatalf("preset %s issuer %s", p.Name(), p.Issuer)
	}
	scopes := []string{"https://graph.microsoft.com/.default", "offline_access"}
	if _, err := testClient().Refresh(context.Background(), p, Credentials{ClientID: "cid", ClientSecret: "s"}, oldRT, scopes); err != nil {
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
	p, err := testClient().Resolve(context.Background(), &authconn.Connection{
		Name: "qb", Type: authconn.TypeOAuth2, ProviderURL: "https://appcenter.intuit.com/connect/oauth2",
		IssuerURL: "https://oauth.platform.intuit.com/op/v1", ClientID: "cid", TokenURL: srv.URL, AuthURL: srv.URL,
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := testClient().Refresh(context.Background(), p, Credentials{ClientID: "cid", ClientSecret: "s"}, oldRT, nil)
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
	if got.RefreshExpiresIn != 8726400*time.Second || got.RefreshHardExpiresIn != 157680000*time.Second {
		t.Fatalf("refresh-token lifetimes: %v / %v", got.RefreshExpiresIn, got.RefreshHardExpiresIn)
	}
}

func TestGoogleAuthRequestAsksForOfflineAccessAndConsent(t *testing.T) {
	p, err := testClient().Resolve(context.Background(), &authconn.Connection{Name: "g", Type: authconn.TypeOAuth2, ProviderURL: "https://accounts.google.com", ClientID: "cid"})
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
