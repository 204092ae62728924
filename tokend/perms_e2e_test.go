package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/testenv"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv/tailortest"
	"github.com/authconnection/terraform-provider-tailor/internal/wire"
)

// TestBinaryProxyOnlyKeyCannotReadTokens creates keys with `tokend keys create --allow` and
// `--grant` against a served client-credentials connection: a proxy-only key gets 403
// forbidden from the token endpoint with a message that points at the proxy (and no token),
// a key with the default --allow reads the token, grants add up per pattern, and
// `keys list` shows each key's permissions.
func TestBinaryProxyOnlyKeyCannotReadTokens(t *testing.T) {
	t.Parallel()
	env := tailortest.Start(t, testenv.HydraOptions{AccessTokenTTL: time.Minute})
	bed := newTokendBed(t, env)
	cc := testenv.ClientSpec{GrantTypes: []string{"client_credentials"}, ResponseTypes: []string{"token"}, Scopes: []string{"read"},
		TokenEndpointAuthMethod: "client_secret_basic"}
	clientID, secret := env.Hydra.CreateClient(t, cc)
	bed.runIn(t, secret+"\n", "create", "--name", "svc-perm", "--client-id", clientID, "--client-secret-stdin", "--type", "TYPE_OAUTH2",
		"--provider-url", env.Hydra.Issuer, "--issuer-url", env.Hydra.Issuer, "--grant-type", "client_credentials", "--scopes", "read")

	proxyKey := bed.createKey(t, "--connections", "svc-*", "--allow", "proxy", "--description", "proxy only")
	tokenKey := bed.createKey(t, "--connections", "svc-*")
	mixedKey := bed.createKey(t, "--grant", "svc-*=proxy", "--grant", "svc-perm=token,proxy")
	if _, stderr, err := bed.run("keys", "create", "--connections", "svc-*", "--allow", "admin"); err == nil || !strings.Contains(stderr, "unknown permission") {
		t.Errorf("--allow admin: %v %s", err, stderr)
	}
	p := bed.serve(t, "serve-perms")
	url := p.URL + "/v1/connections/svc-perm/token"

	resp, body := get(t, url, proxyKey)
	var e wire.Error
	if resp.StatusCode != 403 || json.Unmarshal(body, &e) != nil || e.Error != wire.CodeForbidden || !strings.Contains(e.Message, "/v1/connections/svc-perm/proxy/") {
		t.Fatalf("invariant «a proxy-only key cannot read a token»: %d %s", resp.StatusCode, body)
	}
	if strings.Contains(string(body), "access_token") {
		t.Errorf("the refusal carries a token: %s", body)
	}
	for name, key := range map[string]string{"default --allow": tokenKey, "--grant svc-perm=token,proxy": mixedKey} {
		if resp, body := get(t, url, key); resp.StatusCode != 200 || !strings.Contains(string(body), "access_token") {
			t.Errorf("%s key: %d %s", name, resp.StatusCode, body)
		}
	}

	list, _, err := bed.run("keys", "list")
	if err != nil {
		t.Fatalf("keys list: %v", err)
	}
	for key, want := range map[string]string{proxyKey: "svc-*=proxy", tokenKey: "svc-*=token", mixedKey: "svc-*=proxy svc-perm=token,proxy"} {
		id := strings.SplitN(key, "_", 3)[1]
		if !lineWith(list, id, want) {
			t.Errorf("keys list does not show %s for %s:\n%s", want, id, list)
		}
	}
	rec, err := env.Store.GetAPIKey(context.Background(), strings.SplitN(proxyKey, "_", 3)[1])
	if err != nil || len(rec.Connections) != 0 || len(rec.Grants) != 1 {
		t.Errorf("proxy-only record: want no token patterns in Connections (what older replicas read), got %+v %v", rec, err)
	}
}

// lineWith reports whether one line of out holds both a and b.
func lineWith(out, a, b string) bool {
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, a) && strings.Contains(l, b) {
			return true
		}
	}
	return false
}
