package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv/tailortest"
	"github.com/authconnection/terraform-provider-tailor/internal/wire"
)

// TestBinaryProxyCallsHydraUserinfo: a real `tokend serve` forwards a proxy-only key's call
// of Hydra's userinfo to the connection's proxy_base_url (Hydra's public URL, an
// operator-typed loopback origin) with the connection's access token; the caller never sees
// the token and gets Hydra's answer, with Tailor-Proxy-Attempts and without
// Tailor-Proxy-Error. A key without the proxy permission gets tokend's 403, marked as
// tokend's own. Against a local API: a 401 to the first token costs one refresh at Hydra
// (through the broker's lease) and one retry with the new token (attempts 2); a 429 with
// Retry-After makes the next call tokend's 429, without reaching the API. Each call, and
// each refusal, is one proxy.call record of --audit-log, without the query or the token.
func TestBinaryProxyCallsHydraUserinfo(t *testing.T) {
	t.Parallel()
	env := tailortest.Start(t, testenv.HydraOptions{AccessTokenTTL: time.Minute})
	up := newFlakyAPI(t)
	addProxied(t, env, "hydra-local", up.URL)
	_, ts := addProxied(t, env, "hydra-proxy", env.Hydra.PublicURL)
	bed := newTokendBed(t, env)
	proxyKey := bed.createKey(t, "--connections", "hydra-*", "--allow", "proxy")
	tokenKey := bed.createKey(t, "--connections", "hydra-*")
	auditLog := filepath.Join(t.TempDir(), "audit.jsonl")
	p := bed.serve(t, "serve-proxy", withFlags("--audit-log", auditLog))
	url := p.URL + "/v1/connections/hydra-proxy/proxy/userinfo"

	resp, body := get(t, url+"?probe=QUERYVALUE42", proxyKey)
	var info struct {
		Sub string `json:"sub"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(body, &info) != nil || info.Sub != testenv.DefaultSubject {
		t.Fatalf("userinfo through the proxy: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	if resp.Header.Get("Tailor-Proxy-Attempts") != "1" || resp.Header.Get("Tailor-Proxy-Error") != "" {
		t.Errorf("proxy headers: %v", resp.Header)
	}
	if containsAny(string(body), ts.AccessToken, ts.RefreshToken) {
		t.Errorf("the answer carries a token: %s", body)
	}
	checkClientsThroughProxy(t, p.URL, proxyKey, "hydra-proxy", testenv.DefaultSubject)

	resp, body = get(t, url, tokenKey)
	var e wire.Error
	if resp.StatusCode != 403 || resp.Header.Get("Tailor-Proxy-Error") != wire.CodeForbidden || json.Unmarshal(body, &e) != nil || e.Error != wire.CodeForbidden {
		t.Fatalf("invariant «a token-only key cannot use the proxy»: %d %v %s", resp.StatusCode, resp.Header, body)
	}

	// A local API that refuses the first token once: one refresh at Hydra, one retry.
	local := p.URL + "/v1/connections/hydra-local/proxy"
	resp, body = get(t, local+"/once401", proxyKey)
	if resp.StatusCode != 200 || resp.Header.Get("Tailor-Proxy-Attempts") != "2" || len(up.tokens()) != 2 || up.tokens()[0] == up.tokens()[1] {
		t.Fatalf("after a 401: %d %v %s, tokens seen %d", resp.StatusCode, resp.Header, body, len(up.tokens()))
	}
	// A 429 with Retry-After: the next call is tokend's 429, without reaching the API.
	if resp, _ = get(t, local+"/busy", proxyKey); resp.StatusCode != 429 || resp.Header.Get("Tailor-Proxy-Error") != "" {
		t.Fatalf("the API's 429: %d %v", resp.StatusCode, resp.Header)
	}
	calls := up.calls.Load()
	if resp, _ = get(t, local+"/busy", proxyKey); resp.StatusCode != 429 || resp.Header.Get("Tailor-Proxy-Error") != "rate_limited" || up.calls.Load() != calls {
		t.Fatalf("during Retry-After: %d %v, API calls %d then %d", resp.StatusCode, resp.Header, calls, up.calls.Load())
	}
	checkProxyAudit(t, auditLog, ts.AccessToken)
	checkProxyMetrics(t, p.URL)
}

// checkProxyAudit waits for the proxy.call records of TestBinaryProxyCallsHydraUserinfo's
// calls in the audit stream at path, and checks that it holds no query value nor token.
func checkProxyAudit(t *testing.T, path, token string) {
	t.Helper()
	want := []string{
		"success GET /userinfo 200 1", "denied GET  0 0 forbidden", "success GET /once401 200 2",
		"success GET /busy 429 1", "denied GET /busy 0 0 rate_limited",
	}
	var got []string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		b, _ := os.ReadFile(path)
		got = got[:0]
		for _, r := range proxyRecords(b) {
			got = append(got, r.String())
		}
		if containsAll(got, want) || time.Now().After(deadline) {
			if strings.Contains(string(b), "QUERYVALUE42") || strings.Contains(string(b), token) {
				t.Errorf("the audit stream holds a query value or the token:\n%s", b)
			}
			break
		}
	}
	if !containsAll(got, want) {
		t.Fatalf("invariant «every proxy call is one audit record»:\n got %q\nwant %q", got, want)
	}
}

// flakyAPI answers /once401 with 401 to the first token it sees and 200 to any other,
// /busy with 429 and Retry-After: 60.
type flakyAPI struct {
	*httptest.Server
	calls atomic.Int32
	mu    sync.Mutex
	seen  []string
}

func newFlakyAPI(t *testing.T) *flakyAPI {
	a := &flakyAPI{}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.calls.Add(1)
		switch r.URL.Path {
		case "/once401":
			a.mu.Lock()
			a.seen = append(a.seen, r.Header.Get("Authorization"))
			first := a.seen[0] == r.Header.Get("Authorization")
			a.mu.Unlock()
			if first {
				w.WriteHeader(http.StatusUnauthorized)
			}
		case "/busy":
			w.Header().Set("Retry-After", "60")
			w.WriteHeader(http.StatusTooManyRequests)
		}
	}))
	t.Cleanup(a.Close)
	return a
}

func (a *flakyAPI) tokens() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.seen)
}

// addProxied creates and authorizes connection name of env's Hydra client, whose proxy
// calls go to base and may name the hosts allowed.
func addProxied(t *testing.T, env *tailortest.Env, name, base string, allowed ...string) (*authconn.Connection, *store.TokenRecord) {
	t.Helper()
	ctx := context.Background()
	c := &authconn.Connection{Name: name, Type: authconn.TypeOAuth2, ProviderURL: env.Hydra.PublicURL, IssuerURL: env.Hydra.Issuer,
		ClientID: env.ClientID, AuthURL: env.Hydra.AuthURL, TokenURL: env.Proxy.URL, Scopes: []string{"openid", "offline_access", "email"},
		ProxyBaseURL: base, ProxyAllowedHosts: allowed}
	if _, err := env.Store.CreateConnection(ctx, c); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Store.PutClientSecret(ctx, c.Name, env.ClientSecret); err != nil {
		t.Fatal(err)
	}
	return c, env.Authorize(t, c.Name)
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if sub != "" && strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
