package api_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/api"
	"github.com/authconnection/terraform-provider-tailor/internal/apikey"
	"github.com/authconnection/terraform-provider-tailor/internal/broker"
	"github.com/authconnection/terraform-provider-tailor/internal/oauth"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv/tailortest"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

type answer struct {
	status int
	header http.Header
	body   map[string]any
}

func call(t *testing.T, url, key string) answer {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return answer{resp.StatusCode, resp.Header, m}
}

// TestAPI runs the HTTP API on a broker over a real Vault and Hydra: every answer of the
// token endpoint, key scoping and caching, the list, readiness with Vault stopped, and
// cached tokens served while Vault is down.
func TestAPI(t *testing.T) {
	env := tailortest.Start(t, testenv.HydraOptions{AccessTokenTTL: time.Hour})
	env.AddConnection(t, "google-oauth")
	env.AddConnection(t, "google-pending")
	env.Authorize(t, "google-oauth")
	ctx := context.Background()

	k, err := apikey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Store.CreateAPIKey(ctx, &store.APIKey{ID: k.ID, Hash: k.Hash, Connections: []string{"google-*"}}); err != nil {
		t.Fatal(err)
	}
	var b *broker.Broker
	m := api.NewMetrics(func() []broker.Expiry { return b.Expiries() })
	b, err = broker.New(broker.Options{Store: env.NewStore(t), OAuth: &oauth.Client{}, ReplicaID: "api-test", Observer: m, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := api.New(api.Options{Broker: b, Keys: env.Store, Metrics: m, KeyCacheTTL: time.Hour, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	defer hs.Close()

	a := call(t, hs.URL+"/v1/connections/google-oauth/token", k.Plain)
	if a.status != 200 || a.header.Get("Cache-Control") != "no-store" || a.body["access_token"] == nil || a.body["refresh_token"] != nil {
		t.Fatalf("token: %+v", a)
	}
	if exp, err := time.Parse(time.RFC3339, a.body["expires_at"].(string)); err != nil || time.Until(exp) < 50*time.Minute {
		t.Errorf("expires_at %v %v", a.body["expires_at"], err)
	}
	for _, c := range []struct {
		path, key string
		status    int
		code      string
	}{
		{"/v1/connections/google-oauth/token", "", 401, "unauthenticated"},
		{"/v1/connections/google-oauth/token", "tk_" + k.ID + "_wrongwrongwrongwrongwrong", 401, "unauthenticated"},
		{"/v1/connections/ms365-oauth/token", k.Plain, 403, "forbidden"},
		{"/v1/connections/google-nothing/token", k.Plain, 404, "not_found"},
		{"/v1/connections/google-pending/token", k.Plain, 409, "not_authorized"},
		{"/v1/connections/Not_A_Name/token", k.Plain, 400, "invalid_name"},
		{"/v2/whatever", k.Plain, 404, "not_found"},
	} {
		a := call(t, hs.URL+c.path, c.key)
		if a.status != c.status || a.body["error"] != c.code || a.body["message"] == "" {
			t.Errorf("GET %s: %d %v, want %d %s", c.path, a.status, a.body, c.status, c.code)
		}
		if c.status == 401 && a.header.Get("WWW-Authenticate") == "" {
			t.Errorf("401 without WWW-Authenticate")
		}
	}
	a = call(t, hs.URL+"/v1/connections", k.Plain)
	raw, _ := json.Marshal(a.body)
	if a.status != 200 || !strings.Contains(string(raw), `"google-pending"`) || strings.Contains(string(raw), "access_token") {
		t.Errorf("list: %d %s", a.status, raw)
	}
	if a := call(t, hs.URL+"/readyz", ""); a.status != 200 {
		t.Errorf("readyz %d", a.status)
	}

	// Vault down: readiness fails, cached tokens and cached keys keep working.
	env.Vault.Stop()
	if a := call(t, hs.URL+"/readyz", ""); a.status != 503 {
		t.Errorf("readyz with Vault down: %d", a.status)
	}
	for range 100 {
		if a := call(t, hs.URL+"/v1/connections/google-oauth/token", k.Plain); a.status != 200 {
			t.Fatalf("cached token with Vault down: %d %v", a.status, a.body)
		}
	}
	if a := call(t, hs.URL+"/v1/connections/google-other/token", k.Plain); a.status != 503 || a.header.Get("Retry-After") == "" {
		t.Errorf("uncached connection with Vault down: %d %v %v", a.status, a.header, a.body)
	}
	if a := call(t, hs.URL+"/v1/connections", k.Plain); a.status != 503 {
		t.Errorf("list with Vault down: %d", a.status)
	}
	other, _ := apikey.Generate()
	if a := call(t, hs.URL+"/v1/connections/google-oauth/token", other.Plain); a.status != 503 {
		t.Errorf("uncached key with Vault down: %d %v (want 503: it cannot be checked)", a.status, a.body)
	}
}

func TestNoAuthNeedsNoKeys(t *testing.T) {
	if _, err := api.New(api.Options{Broker: &broker.Broker{}}); err == nil {
		t.Error("api.New without Keys and without NoAuth accepted")
	}
}
