package oauth

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/catalog"
)

// seen is one request a routed server received.
type seen struct {
	Method, Host, Path, ContentType, Auth string
	Header                                http.Header
	Form                                  url.Values
	JSON                                  map[string]any
}

// routedServer is one local TLS server that answers for every host of an entry.
type routedServer struct {
	mu   sync.Mutex
	reqs []seen
	srv  *httptest.Server
}

// routed starts a TLS server answering with reply and a Client whose requests, to any
// host, go there (RouteTo).
func routed(t *testing.T, reply func(s seen) (int, any)) (*Client, *routedServer) {
	rs := &routedServer{}
	rs.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s := seen{Method: r.Method, Host: r.Host, Path: r.URL.Path, ContentType: r.Header.Get("Content-Type"),
			Auth: r.Header.Get("Authorization"), Header: r.Header.Clone()}
		if strings.HasPrefix(s.ContentType, "application/json") {
			_ = json.Unmarshal(body, &s.JSON)
		} else {
			s.Form, _ = url.ParseQuery(string(body))
		}
		rs.mu.Lock()
		rs.reqs = append(rs.reqs, s)
		rs.mu.Unlock()
		status, v := reply(s)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}))
	t.Cleanup(rs.srv.Close)
	roots := rs.srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	c := &Client{HTTP: RouteTo(rs.srv.Listener.Addr().String(), &tls.Config{RootCAs: roots, ServerName: "example.com"}),
		Now: func() time.Time { return fixedNow }}
	return c, rs
}

func (rs *routedServer) last(t *testing.T) seen {
	t.Helper()
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if len(rs.reqs) == 0 {
		t.Fatal("no request reached the server")
	}
	return rs.reqs[len(rs.reqs)-1]
}

// entryProvider resolves a connection with params under the entry in JSON (a test entry: the
// catalog's rules apply to it).
func entryProvider(t *testing.T, c *Client, entryJSON string, params map[string]string) *Provider {
	t.Helper()
	e, err := catalog.Parse([]byte(entryJSON))
	if err != nil {
		t.Fatalf("test entry: %v", err)
	}
	conn := &authconn.Connection{ProviderURL: "https://" + e.Hosts[0], Params: params}
	p, err := c.resolveWith(context.Background(), conn, &Preset{e}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// namedProvider resolves a connection of the catalog entry name.
func namedProvider(t *testing.T, c *Client, name string, params map[string]string) *Provider {
	t.Helper()
	p, err := c.Resolve(context.Background(), &authconn.Connection{Provider: name, Params: params})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var secretCreds = Credentials{ClientID: "cid", ClientSecret: "csecret"}

const acmeEntry = `{"name": "acme", "hosts": ["login.acme.test"],
 "params": [{"name": "sub", "description": "the account", "pattern": "^[a-z0-9][a-z0-9-]{0,62}$", "where": ["host", "path", "query"]}],
 "endpoints": {"authorize": "https://{sub}.acme.test/authorize", "token": "https://{sub}.acme.test/token",
   "refresh": "https://refresh.acme.test/{sub}/refresh", "revocation": "https://{sub}.acme.test/revoke"},
 "no_refresh_token_advice": "a", "redirect_notes": "r"`

func acme(extra string) string { return acmeEntry + extra + "}" }

func okToken(seen) (int, any) {
	return 200, map[string]any{"access_token": "at-1", "refresh_token": "rt-2", "expires_in": 60, "token_type": "bearer"}
}

func TestScopeSeparatorInAuthorizeAndRefresh(t *testing.T) {
	c, rs := routed(t, okToken)
	p := namedProvider(t, c, "slack", nil)
	_, q := newTestRequest(t, p, []string{"chat:write", "channels:read"})
	if q.Get("scope") != "chat:write,channels:read" {
		t.Errorf("slack scope %q, want comma-separated", q.Get("scope"))
	}
	p = entryProvider(t, c, acme(`, "scope_separator": "+", "refresh_with_scopes": true`), map[string]string{"sub": "a1"})
	if _, err := c.Refresh(context.Background(), p, secretCreds, "rt-1", []string{"read", "write"}); err != nil {
		t.Fatal(err)
	}
	if got := rs.last(t).Form.Get("scope"); got != "read+write" {
		t.Errorf("refresh scope %q", got)
	}
}

func TestClientAuthMethodsOfTheEntry(t *testing.T) {
	c, rs := routed(t, okToken)
	for method, check := range map[string]func(s seen) bool{
		"client_secret_basic": func(s seen) bool { return strings.HasPrefix(s.Auth, "Basic ") && s.Form.Get("client_secret") == "" },
		"client_secret_post":  func(s seen) bool { return s.Auth == "" && s.Form.Get("client_secret") == "csecret" },
		"none": func(s seen) bool {
			return s.Auth == "" && s.Form.Get("client_secret") == "" && s.Form.Get("client_id") == "cid"
		},
	} {
		p := entryProvider(t, c, acme(`, "client_auth": "`+method+`"`), map[string]string{"sub": "a1"})
		if _, err := c.Refresh(context.Background(), p, secretCreds, "rt-1", nil); err != nil {
			t.Fatal(err)
		}
		if s := rs.last(t); !check(s) {
			t.Errorf("%s: Authorization sent %v, form %v", method, s.Auth != "", redactForm(s.Form))
		}
	}
}

func TestPKCEOff(t *testing.T) {
	c, _ := routed(t, okToken)
	_, q := newTestRequest(t, namedProvider(t, c, "slack", nil), []string{"chat:write"})
	if q.Get("code_challenge") != "" || q.Get("code_challenge_method") != "" {
		t.Errorf("slack (pkce false) got a PKCE challenge: %v", q)
	}
	_, q = newTestRequest(t, entryProvider(t, c, acme(""), map[string]string{"sub": "a1"}), []string{"x"})
	if q.Get("code_challenge_method") != "S256" {
		t.Errorf("PKCE is on unless the entry says false: %v", q)
	}
}

func TestTokenBodyAsJSON(t *testing.T) {
	c, rs := routed(t, okToken)
	p := entryProvider(t, c, acme(`, "token_body": "json", "client_auth": "client_secret_post"`), map[string]string{"sub": "a1"})
	if _, err := c.Refresh(context.Background(), p, secretCreds, "rt-1", nil); err != nil {
		t.Fatal(err)
	}
	s := rs.last(t)
	if s.ContentType != "application/json" || s.JSON["grant_type"] != "refresh_token" || s.JSON["refresh_token"] != "rt-1" || s.JSON["client_id"] != "cid" {
		t.Errorf("JSON body: content type %q, fields %v", s.ContentType, len(s.JSON))
	}
}

func TestExtraParamsPerStepAndRefreshURL(t *testing.T) {
	c, rs := routed(t, func(s seen) (int, any) { return okToken(s) })
	p := entryProvider(t, c, acme(`, "extra_params": {"authorize": {"audience": "api", "account": "{sub}"},
	  "token": {"expiring": "1"}, "refresh": {"type": "refresh"}, "revoke": {"scope": "all"}}`), map[string]string{"sub": "a1"})
	a, q := newTestRequest(t, p, []string{"x"})
	if q.Get("audience") != "api" || q.Get("account") != "a1" || !strings.HasPrefix(a.URL, "https://a1.acme.test/authorize?") {
		t.Errorf("authorize URL %s", a.URL)
	}
	if _, err := c.Exchange(context.Background(), a, &Callback{Code: "code-1"}); err != nil {
		t.Fatal(err)
	}
	if s := rs.last(t); s.Host != "a1.acme.test" || s.Path != "/token" || s.Form.Get("expiring") != "1" || s.Form.Get("type") != "" {
		t.Errorf("token step: %s%s %v", s.Host, s.Path, redactForm(s.Form))
	}
	if _, err := c.Refresh(context.Background(), p, secretCreds, "rt-1", nil); err != nil {
		t.Fatal(err)
	}
	if s := rs.last(t); s.Host != "refresh.acme.test" || s.Path != "/a1/refresh" || s.Form.Get("type") != "refresh" || s.Form.Get("expiring") != "" {
		t.Errorf("refresh step (its own URL): %s%s %v", s.Host, s.Path, redactForm(s.Form))
	}
	in := p.Issuance()
	if in.RefreshOrigin != "https://refresh.acme.test:443" || in.CheckRefresh(p.RefreshEndpoint()) != nil || in.CheckRefresh("https://evil.test/a1/refresh") == nil {
		t.Errorf("the refresh endpoint's origin is bound: %+v", in)
	}
	if err := c.Revoke(context.Background(), p, secretCreds, "rt-1", "refresh_token"); err != nil {
		t.Fatal(err)
	}
	if s := rs.last(t); s.Host != "a1.acme.test" || s.Form.Get("scope") != "all" || s.Form.Get("token") != "rt-1" {
		t.Errorf("revoke step: %s %v", s.Host, redactForm(s.Form))
	}
}

func TestResolveRefusesHostileParams(t *testing.T) {
	c, _ := routed(t, okToken)
	e, _ := catalog.Parse([]byte(acme("")))
	for _, v := range []string{"evil.com/", "a@b", "..", "%2f", "evil\u3002com", "a#", "a?", strings.Repeat("a", 300)} {
		conn := &authconn.Connection{ProviderURL: "https://login.acme.test", Params: map[string]string{"sub": v}}
		if p, err := c.resolveWith(context.Background(), conn, &Preset{e}, nil); err == nil {
			t.Errorf("sub %q resolved to %s", v, p.TokenURL)
		} else if KindOf(err) != KindRejected {
			t.Errorf("sub %q: %v is not a rejection", v, err)
		}
	}
	if _, err := c.Resolve(context.Background(), &authconn.Connection{Provider: "salesforce", Params: map[string]string{"hostname": "evil.com"}}); err == nil {
		t.Error("salesforce hostname evil.com was accepted")
	}
	if _, err := c.Resolve(context.Background(), &authconn.Connection{Provider: "nope"}); err == nil {
		t.Error("an unknown provider name was accepted")
	}
}

func TestFallbackEndpoint(t *testing.T) {
	c, _ := routed(t, okToken)
	if p := namedProvider(t, c, "salesforce", nil); p.TokenURL != "https://login.salesforce.com/services/oauth2/token" {
		t.Errorf("fallback token URL %s", p.TokenURL)
	}
	if p := namedProvider(t, c, "salesforce", map[string]string{"hostname": "acme.my.salesforce.com"}); p.TokenURL != "https://acme.my.salesforce.com/services/oauth2/token" {
		t.Errorf("templated token URL %s", p.TokenURL)
	}
}

func TestErrorsInA200Answer(t *testing.T) {
	answers := []map[string]any{{"ok": false, "error": "invalid_refresh_token"}, {"ok": false}, {"ok": true, "error": "bad_client_secret"}}
	i := 0
	c, _ := routed(t, func(seen) (int, any) { i++; return 200, answers[i-1] })
	p := namedProvider(t, c, "slack", nil)
	_, err := c.Refresh(context.Background(), p, secretCreds, "xoxe-1", nil)
	if !IsInvalidGrant(err) {
		t.Errorf("ok false + invalid_refresh_token must be invalid_grant: %v", err)
	}
	_, err = c.Refresh(context.Background(), p, secretCreds, "xoxe-1", nil)
	if KindOf(err) != KindRejected || !strings.Contains(err.Error(), "provider_error") {
		t.Errorf("ok false without a code: %v", err)
	}
	_, err = c.Refresh(context.Background(), p, secretCreds, "xoxe-1", nil)
	if KindOf(err) != KindInvalidClient {
		t.Errorf("an error field in a 200 answer: %v", err)
	}
}

func TestTokensAtANestedPath(t *testing.T) {
	c, _ := routed(t, func(seen) (int, any) {
		return 200, map[string]any{"ok": true, "access_token": "xoxb-bot", "token_type": "bot", "team": map[string]any{"id": "T1"},
			"authed_user": map[string]any{"id": "U1", "access_token": "xoxp-user", "refresh_token": "xoxe-r", "expires_in": 43200}}
	})
	p := namedProvider(t, c, "slack", nil)
	tok, err := c.Refresh(context.Background(), p, secretCreds, "xoxe-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken != "xoxp-user" || tok.RefreshToken != "xoxe-r" || tok.ExpiresIn != 12*time.Hour {
		t.Errorf("authed_user tokens: %s, refresh %v", tok, tok.RefreshToken == "xoxe-r")
	}
	if b, _ := json.Marshal(tok.Extra); strings.Contains(string(b), "xoxp") || strings.Contains(string(b), "xoxe") {
		t.Errorf("a token stayed in Extra: %s", b)
	}
	if m := p.Metadata(nil, tok); m["team_id"] != "T1" || m["authed_user_id"] != "U1" {
		t.Errorf("metadata %v", m)
	}
}

func TestFallbackLifetimeAndTokenMetadata(t *testing.T) {
	c, _ := routed(t, func(seen) (int, any) {
		return 200, map[string]any{"access_token": "00D!x", "refresh_token": "5Aep", "instance_url": "https://acme.my.salesforce.com",
			"id": "https://login.salesforce.com/id/00D/005", "token_type": "Bearer", "issued_at": "1708058728442"}
	})
	p := namedProvider(t, c, "salesforce", nil)
	tok, err := c.Refresh(context.Background(), p, secretCreds, "5Aep", nil)
	if err != nil {
		t.Fatal(err)
	}
	if tok.ExpiresIn != 2*time.Hour || !tok.ExpiresInAssumed {
		t.Errorf("no expires_in: lifetime %v assumed %v", tok.ExpiresIn, tok.ExpiresInAssumed)
	}
	m := p.Metadata(nil, tok)
	if m["instance_url"] != "https://acme.my.salesforce.com" || m["identity_url"] == "" {
		t.Fatalf("metadata %v", m)
	}
	if base, err := p.APIBaseURL(m); err != nil || base != "https://acme.my.salesforce.com/services/data/v62.0" {
		t.Errorf("API base %q %v", base, err)
	}
	for _, evil := range []string{"https://evil.com", "https://acme.my.salesforce.com.evil.com", "https://acme.my.salesforce.com/x", "https://a@acme.my.salesforce.com"} {
		if base, err := p.APIBaseURL(map[string]string{"instance_url": evil}); err == nil {
			t.Errorf("instance_url %q gave API base %q", evil, base)
		}
	}
}

func TestMetadataFromTheCallback(t *testing.T) {
	c, _ := routed(t, okToken)
	p := namedProvider(t, c, "quickbooks", nil)
	m := p.Metadata(&Callback{Code: "c", Extras: map[string]string{"realmId": "9130", "other": "x"}}, nil)
	if len(m) != 1 || m["realmId"] != "9130" {
		t.Fatalf("callback metadata %v", m)
	}
	if base, err := p.APIBaseURL(m); err != nil || base != "https://quickbooks.api.intuit.com" {
		t.Errorf("API base %q %v", base, err)
	}
	company := entryProvider(t, c, acme(`, "api": {"base_url": "https://api.acme.test/v3/company/{sub}"}`), map[string]string{"sub": "a"})
	if _, err := company.APIBaseURL(map[string]string{"sub": "../../evil"}); err == nil {
		t.Error("a hostile company id filled the API base URL")
	}
}

func TestTokenPresentation(t *testing.T) {
	c, _ := routed(t, okToken)
	h, err := entryProvider(t, c, acme(`, "api": {"token_header": "X-Shopify-Access-Token"}`), map[string]string{"sub": "a"}).APIHeaders("shpat", nil)
	if err != nil || h.Get("X-Shopify-Access-Token") != "shpat" || h.Get("Authorization") != "" {
		t.Errorf("named header: %v %v", h, err)
	}
	h, _ = entryProvider(t, c, acme(`, "api": {"token_prefix": "OAuth "}`), map[string]string{"sub": "a"}).APIHeaders("tok", nil)
	if h.Get("Authorization") != "OAuth tok" {
		t.Errorf("prefix: %v", h)
	}
	h, err = namedProvider(t, c, "xero", nil).APIHeaders("tok", map[string]string{"tenant_id": "fe79f7dd-b6d4-4a92-ba7b-538af6289c58"})
	if err != nil || h.Get("Authorization") != "Bearer tok" || h.Get("Xero-Tenant-Id") != "fe79f7dd-b6d4-4a92-ba7b-538af6289c58" {
		t.Errorf("bearer and templated header: %v %v", h, err)
	}
	if _, err := namedProvider(t, c, "xero", nil).APIHeaders("tok", map[string]string{"tenant_id": "x\r\nEvil: 1"}); err == nil {
		t.Error("a hostile tenant_id went into a header")
	}
}

func TestRevocationKinds(t *testing.T) {
	revoked := map[string]any{"ok": true, "revoked": true}
	c, rs := routed(t, func(s seen) (int, any) {
		if s.Host == "slack.com" && s.Auth != "Bearer xoxp-1" {
			return 200, map[string]any{"ok": false, "error": "not_authed"}
		}
		return 200, revoked
	})
	ctx := context.Background()
	if err := c.Revoke(ctx, namedProvider(t, c, "google", nil), secretCreds, "rt", "refresh_token"); err != nil {
		t.Fatal(err)
	}
	if s := rs.last(t); s.Host != "oauth2.googleapis.com" || s.Form.Get("token") != "rt" || s.Form.Get("token_type_hint") != "refresh_token" {
		t.Errorf("rfc7009: %s %v", s.Host, redactForm(s.Form))
	}
	if err := c.Revoke(ctx, namedProvider(t, c, "quickbooks", nil), secretCreds, "rt", "refresh_token"); err != nil {
		t.Fatal(err)
	}
	if s := rs.last(t); s.ContentType != "application/json" || s.JSON["token"] != "rt" || !strings.HasPrefix(s.Auth, "Basic ") {
		t.Errorf("json: %q %v", s.ContentType, s.JSON != nil)
	}
	if err := c.Revoke(ctx, namedProvider(t, c, "slack", nil), secretCreds, "xoxp-1", "access_token"); err != nil {
		t.Fatal(err)
	}
	if s := rs.last(t); s.Method != http.MethodGet || s.Host != "slack.com" || s.Path != "/api/auth.revoke" || s.Form.Get("token") != "" {
		t.Errorf("call: %s %s%s", s.Method, s.Host, s.Path)
	}
	if err := c.Revoke(ctx, namedProvider(t, c, "slack", nil), secretCreds, "xoxp-wrong", "access_token"); KindOf(err) != KindRejected {
		t.Errorf("a call answered ok false must fail: %v", err)
	}
	revoked = map[string]any{"ok": false, "error": "token_revoked"}
	if err := c.Revoke(ctx, namedProvider(t, c, "slack", nil), secretCreds, "xoxp-1", "access_token"); err != nil {
		t.Errorf("a token already revoked (mapped to invalid_grant) is revoked: %v", err)
	}
	if err := c.Revoke(ctx, namedProvider(t, c, "github", nil), secretCreds, "gho", ""); !errors.Is(err, ErrNoRevocationEndpoint) {
		t.Errorf("none: %v", err)
	}
}

// TestTemplatedHostsAreNotOperatorTyped: a host filled from a parameter may not reach
// internal addresses (egress.AllowOrigins); the catalog's literal hosts may, as before.
func TestTemplatedHostsAreNotOperatorTyped(t *testing.T) {
	c, _ := routed(t, okToken)
	p := entryProvider(t, c, acme(""), map[string]string{"sub": "a1"})
	for _, u := range p.typed {
		if strings.Contains(u, "a1.acme.test") {
			t.Errorf("templated origin %s is allowed as operator-typed", u)
		}
	}
	if !slices.Contains(p.typed, "https://refresh.acme.test") {
		t.Errorf("literal catalog origin missing: %v", p.typed)
	}
}

// TestFallbackToMetadataEndpoints: an endpoint templated on a metadata value falls back to
// the literal alternative until the metadata is known, then uses it (checked by its pattern).
func TestFallbackToMetadataEndpoints(t *testing.T) {
	c, rs := routed(t, okToken)
	entry := `{"name": "inst", "hosts": ["login.inst.test"],
	 "params": [{"name": "instance_url", "description": "d", "pattern": "^https://[a-z0-9-]+\\.inst\\.test$", "where": ["origin"]}],
	 "endpoints": {"authorize": "https://login.inst.test/authorize",
	   "token": ["{instance_url}/oauth/token", "https://login.inst.test/oauth/token"]},
	 "no_refresh_token_advice": "a", "redirect_notes": "r"}`
	p := entryProvider(t, c, entry, nil)
	if p.TokenURL != "https://login.inst.test/oauth/token" {
		t.Fatalf("before metadata: %s", p.TokenURL)
	}
	q, err := p.WithMetadata(map[string]string{"instance_url": "https://eu7.inst.test"})
	if err != nil || q.TokenURL != "https://eu7.inst.test/oauth/token" || p.TokenURL != "https://login.inst.test/oauth/token" {
		t.Fatalf("with metadata: %v %v (the original stays)", q, err)
	}
	if _, err := c.Refresh(context.Background(), q, secretCreds, "rt", nil); err != nil {
		t.Fatal(err)
	}
	if s := rs.last(t); s.Host != "eu7.inst.test" {
		t.Errorf("refresh went to %s", s.Host)
	}
	if _, err := p.WithMetadata(map[string]string{"instance_url": "https://evil.test"}); err == nil {
		t.Error("a metadata value off its pattern was used")
	}
}

// TestErrorFieldOfAnErrorAnswer: a provider that keeps its error code in another field of a
// non-2xx answer (HubSpot's "status", Notion's "code") is classified by the entry's
// error_field and error_codes.
func TestErrorFieldOfAnErrorAnswer(t *testing.T) {
	c, _ := routed(t, func(seen) (int, any) {
		return 400, map[string]any{"status": "BAD_REFRESH_TOKEN", "message": "missing or invalid refresh token"}
	})
	p := entryProvider(t, c, acme(`, "token_response": {"error_field": "status"}, "error_codes": {"BAD_REFRESH_TOKEN": "invalid_grant"}`), map[string]string{"sub": "a"})
	if _, err := c.Refresh(context.Background(), p, secretCreds, "rt", nil); !IsInvalidGrant(err) {
		t.Errorf("got %v, want invalid_grant", err)
	}
	c, _ = routed(t, func(seen) (int, any) {
		return 400, map[string]any{"object": "error", "status": 400, "code": "invalid_grant", "message": "bad"}
	})
	p = entryProvider(t, c, acme(`, "token_response": {"error_field": "code"}`), map[string]string{"sub": "a"})
	if _, err := c.Refresh(context.Background(), p, secretCreds, "rt", nil); !IsInvalidGrant(err) {
		t.Errorf("got %v, want invalid_grant", err)
	}
}
