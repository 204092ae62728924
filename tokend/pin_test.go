package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/authconnection/terraform-provider-tailor/internal/store"
)

// TestCreatePinsDiscovery: `tokend create` reads the provider's discovery document once and
// stores its endpoints in the connection; a provider that cannot be reached, or whose document
// names an endpoint off the issuer's origin, is an error that says what to set, and nothing is
// stored.
func TestCreatePinsDiscovery(t *testing.T) {
	st := cliVault(t)
	ctx := context.Background()
	bad := "" // token endpoint of the second document, off the issuer's origin
	var idp *httptest.Server
	idp = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/.well-known/openid-configuration") {
			http.NotFound(w, r)
			return
		}
		tok := idp.URL + "/token"
		if strings.HasPrefix(r.URL.Path, "/bad") {
			tok = bad
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": idp.URL + strings.TrimSuffix(r.URL.Path, "/.well-known/openid-configuration"),
			"authorization_endpoint": idp.URL + "/authorize", "token_endpoint": tok})
	}))
	defer idp.Close()
	other := httptest.NewServer(http.NotFoundHandler())
	bad = other.URL + "/v1/sys/tools/random"
	defer other.Close()

	r := cliRun(t, "s\n", "create", "--name", "pinned", "--provider-url", idp.URL, "--issuer-url", idp.URL, "--client-id", "cid", "--client-secret-stdin")
	if r.err != nil {
		t.Fatal(r.err)
	}
	c, err := st.GetConnection(ctx, "pinned")
	if err != nil || c.Discovered == nil || c.Discovered.TokenEndpoint != idp.URL+"/token" || c.Discovered.At.IsZero() {
		t.Fatalf("stored %+v (%v): want the discovered endpoints pinned", c, err)
	}
	if !strings.Contains(r.stderr.String(), "token endpoint "+idp.URL+"/token") {
		t.Errorf("create output should show the pinned endpoints:\n%s", r.stderr.String())
	}

	r = cliRun(t, "s\n", "create", "--name", "off-origin", "--provider-url", idp.URL+"/bad", "--issuer-url", idp.URL+"/bad", "--client-id", "cid", "--client-secret-stdin")
	if r.err == nil || !strings.Contains(r.err.Error(), "token_endpoint") || !strings.Contains(r.err.Error(), "token_url") {
		t.Errorf("a document naming another loopback origin: %v", r.err)
	}
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	r = cliRun(t, "s\n", "create", "--name", "unreachable", "--provider-url", gone.URL, "--client-id", "cid", "--client-secret-stdin")
	if r.err == nil || !strings.Contains(r.err.Error(), "auth_url and token_url") {
		t.Errorf("an unreachable provider: %v", r.err)
	}
	for _, n := range []string{"off-origin", "unreachable"} {
		if _, err := st.GetConnection(ctx, n); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s was stored (%v)", n, err)
		}
	}
}
