package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv/tailortest"
	"github.com/authconnection/terraform-provider-tailor/internal/wire"
)

// TestBinaryProxyCallsHydraUserinfo: a real `tokend serve` forwards a proxy-only key's call
// of Hydra's userinfo to the connection's proxy_base_url (Hydra's public URL, an
// operator-typed loopback origin) with the connection's access token; the caller never sees
// the token and gets Hydra's answer, with Tailor-Proxy-Attempts and without
// Tailor-Proxy-Error. A key without the proxy permission gets tokend's 403, marked as
// tokend's own.
func TestBinaryProxyCallsHydraUserinfo(t *testing.T) {
	t.Parallel()
	env := tailortest.Start(t, testenv.HydraOptions{AccessTokenTTL: time.Minute})
	ctx := context.Background()
	c := &authconn.Connection{Name: "hydra-proxy", Type: authconn.TypeOAuth2, ProviderURL: env.Hydra.PublicURL, IssuerURL: env.Hydra.Issuer,
		ClientID: env.ClientID, AuthURL: env.Hydra.AuthURL, TokenURL: env.Proxy.URL, Scopes: []string{"openid", "offline_access", "email"},
		ProxyBaseURL: env.Hydra.PublicURL}
	if _, err := env.Store.CreateConnection(ctx, c); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Store.PutClientSecret(ctx, c.Name, env.ClientSecret); err != nil {
		t.Fatal(err)
	}
	ts := env.Authorize(t, c.Name)
	bed := newTokendBed(t, env)
	proxyKey := bed.createKey(t, "--connections", "hydra-*", "--allow", "proxy")
	tokenKey := bed.createKey(t, "--connections", "hydra-*")
	p := bed.serve(t, "serve-proxy")
	url := p.URL + "/v1/connections/hydra-proxy/proxy/userinfo"

	resp, body := get(t, url, proxyKey)
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

	resp, body = get(t, url, tokenKey)
	var e wire.Error
	if resp.StatusCode != 403 || resp.Header.Get("Tailor-Proxy-Error") != wire.CodeForbidden || json.Unmarshal(body, &e) != nil || e.Error != wire.CodeForbidden {
		t.Fatalf("invariant «a token-only key cannot use the proxy»: %d %v %s", resp.StatusCode, resp.Header, body)
	}
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if sub != "" && strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
