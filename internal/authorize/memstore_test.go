package authorize_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/authorize"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv/tailortest"
)

// TestBeginOnMemStore: authorize.Begin needs only an authorize.Store; on the in-memory store
// it builds the request from the stored connection (state, PKCE S256, the redirect URI) and
// refuses what cannot be authorized, without Vault.
func TestBeginOnMemStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := tailortest.NewMemStore()
	st.Conns["c"], st.Conns["cc"] = true, true
	st.Configs["c"] = authconn.Connection{Name: "c", Type: authconn.TypeOAuth2, ClientID: "cid",
		AuthURL: "https://idp.example.com/auth", TokenURL: "https://idp.example.com/token"}
	st.Grants["cc"] = authconn.GrantClientCredentials
	a, err := authorize.Begin(ctx, st, authorize.Request{Name: "c", RedirectURI: "http://127.0.0.1:8080/callback"})
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(a.Request.URL)
	if err != nil || u.Host != "idp.example.com" || u.Query().Get("client_id") != "cid" || u.Query().Get("state") == "" ||
		u.Query().Get("code_challenge_method") != "S256" || u.Query().Get("redirect_uri") != "http://127.0.0.1:8080/callback" {
		t.Errorf("invariant «the request is built from the stored connection»: %s %v", a.Request.URL, err)
	}
	if _, err := authorize.Begin(ctx, st, authorize.Request{Name: "cc", RedirectURI: "http://127.0.0.1:8080/callback"}); err == nil || !strings.Contains(err.Error(), "client credentials") {
		t.Errorf("invariant «a client-credentials connection is not authorized»: %v", err)
	}
	if _, err := authorize.Begin(ctx, st, authorize.Request{Name: "missing"}); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("invariant «a missing connection says how to create it»: %v", err)
	}
}
