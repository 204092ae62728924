// Package tailortest sets up the real parts that the tests of tokend's broker, API and
// serve command run against: a Vault dev server, Ory Hydra with short-lived tokens, a
// counting proxy in front of Hydra's token endpoint, and authorized connections.
package tailortest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	vaultapi "github.com/hashicorp/vault/api"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/authorize"
	"github.com/authconnection/terraform-provider-tailor/internal/oauth"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv"
	"github.com/authconnection/terraform-provider-tailor/internal/vaultclient"
)

// RedirectURI is registered for the Hydra client; nothing listens there: Authorize stops
// at the redirect and reads the code from it.
const RedirectURI = "http://127.0.0.1:9/callback"

// Env is one test's Vault (a single server, or a cluster), Hydra and proxy.
type Env struct {
	Vault *testenv.Vault
	// Cluster is set instead of Vault by StartOnCluster.
	Cluster *testenv.VaultCluster
	Hydra   *testenv.Hydra
	Proxy   *TokenProxy
	Store   *store.Store
	Prefix  string

	ClientID, ClientSecret string
}

// Start starts Vault and Hydra (with opts), the token proxy, and registers a Hydra client.
func Start(t testing.TB, opts testenv.HydraOptions) *Env {
	t.Helper()
	return StartWithVault(t, testenv.StartVault(t), opts)
}

// StartWithVault is Start on an existing Vault (for a second Hydra with other settings).
func StartWithVault(t testing.TB, v *testenv.Vault, opts testenv.HydraOptions) *Env {
	t.Helper()
	h := testenv.StartHydra(t, opts)
	e := &Env{Vault: v, Hydra: h, Prefix: "tailor"}
	e.Proxy = NewTokenProxy(t, h.TokenURL)
	e.ClientID, e.ClientSecret = h.CreateClient(t, testenv.ClientSpec{RedirectURIs: []string{RedirectURI}})
	e.Store = e.NewStore(t)
	return e
}

// StartProxiedTokenEndpoint is Start with Hydra told that the proxy is its token endpoint
// (webfinger.oidc_discovery.token_url, which Hydra also accepts as the audience of client
// assertions): private_key_jwt clients address their assertions to the connection's
// token_url, the proxy, and Hydra accepts them. Hydra's discovery then names the proxy too.
func StartProxiedTokenEndpoint(t testing.TB, opts testenv.HydraOptions) *Env {
	t.Helper()
	v := testenv.StartVault(t)
	proxy := NewTokenProxy(t, "")
	if opts.Env == nil {
		opts.Env = map[string]string{}
	}
	opts.Env["WEBFINGER_OIDC_DISCOVERY_TOKEN_URL"] = proxy.URL
	h := testenv.StartHydra(t, opts)
	if err := proxy.SetTarget(h.PublicURL + "/oauth2/token"); err != nil {
		t.Fatal(err)
	}
	e := &Env{Vault: v, Hydra: h, Prefix: "tailor", Proxy: proxy}
	e.ClientID, e.ClientSecret = h.CreateClient(t, testenv.ClientSpec{RedirectURIs: []string{RedirectURI}})
	e.Store = e.NewStore(t)
	return e
}

// AddClientCredentials creates connection name with the client credentials grant for a new
// Hydra client that authenticates with auth (client_secret_basic, client_secret_post or
// private_key_jwt; for the last, a new P-256 key whose public JWK is registered at Hydra
// and whose PEM is stored as the connection's client assertion key). It returns the client id.
func (e *Env) AddClientCredentials(t testing.TB, name, auth string) string {
	t.Helper()
	spec := testenv.ClientSpec{GrantTypes: []string{"client_credentials"}, ResponseTypes: []string{"token"},
		Scopes: []string{"read", "write"}, TokenEndpointAuthMethod: auth}
	var keyPEM string
	if auth == authconn.ClientAuthPrivateKeyJWT {
		var jwks []byte
		keyPEM, jwks = newAssertionKey(t)
		spec.JWKS, spec.TokenEndpointAuthSigningAlg = jwks, "ES256"
	}
	id, secret := e.Hydra.CreateClient(t, spec)
	ctx := context.Background()
	c := &authconn.Connection{Name: name, Type: authconn.TypeOAuth2, ProviderURL: e.Hydra.PublicURL, IssuerURL: e.Hydra.Issuer,
		ClientID: id, AuthURL: e.Hydra.AuthURL, TokenURL: e.Proxy.URL, Scopes: []string{"read"},
		GrantType: authconn.GrantClientCredentials, ClientAuth: auth}
	if _, err := e.Store.CreateConnection(ctx, c); err != nil {
		t.Fatal(err)
	}
	var err error
	if keyPEM != "" {
		_, err = e.Store.PutClientAssertionKey(ctx, name, store.ClientAssertionKey{PEM: keyPEM})
	} else {
		_, err = e.Store.PutClientSecret(ctx, name, secret)
	}
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// newAssertionKey returns a new P-256 private key in PEM and its public JWK Set, with the
// kid tokend derives (the RFC 7638 thumbprint).
func newAssertionKey(t testing.TB) (pemKey string, jwks []byte) {
	t.Helper()
	_, pemKey = testenv.NewP256Key(t)
	creds, err := oauth.KeyCredentials("x", pemKey, "")
	if err != nil {
		t.Fatal(err)
	}
	jwks, err = json.Marshal(map[string]any{"keys": []any{creds.PublicJWK()}})
	if err != nil {
		t.Fatal(err)
	}
	return pemKey, jwks
}

// StartOnCluster is Start on a Vault cluster: stores get every node's address, and fail
// over between them.
func StartOnCluster(t testing.TB, c *testenv.VaultCluster, opts testenv.HydraOptions) *Env {
	t.Helper()
	h := testenv.StartHydra(t, opts)
	e := &Env{Cluster: c, Hydra: h, Prefix: "tailor"}
	e.Proxy = NewTokenProxy(t, h.TokenURL)
	e.ClientID, e.ClientSecret = h.CreateClient(t, testenv.ClientSpec{RedirectURIs: []string{RedirectURI}})
	e.Store = e.NewStore(t)
	return e
}

// VaultConfig is the vaultclient configuration of a replica: the server's address and root
// token, or every node of the cluster.
func (e *Env) VaultConfig() vaultclient.Config {
	if e.Cluster != nil {
		return vaultclient.Config{Address: strings.Join(e.Cluster.Addrs(), ","), Token: e.Cluster.Token, Timeout: 10 * time.Second}
	}
	return vaultclient.Config{Address: e.Vault.Addr, Token: e.Vault.Token, Timeout: 5 * time.Second}
}

// NewStore returns a store on its own Vault client (as a separate replica would have).
func (e *Env) NewStore(t testing.TB) *store.Store {
	t.Helper()
	return e.NewStoreWith(t, e.VaultConfig())
}

// NewStoreWith returns a store on a Vault client with cfg.
func (e *Env) NewStoreWith(t testing.TB, cfg vaultclient.Config) *store.Store {
	t.Helper()
	vc, err := vaultclient.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(vc.Close)
	if e.Cluster == nil {
		vc.SetMaxRetries(0)
	}
	st, err := store.New(vc.Client, store.Options{Prefix: e.Prefix})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// RoleStore returns a store on the Env's Vault whose token holds exactly the policy that
// docs/vault-layout.md documents for role (<!-- policy:ROLE -->, for the Env's prefix), so
// that a test acts with that role's real rights.
func (e *Env) RoleStore(t testing.TB, role string) *store.Store {
	t.Helper()
	root := e.Vault.Client()
	name := "tailor-" + role
	if err := root.Sys().PutPolicy(name, testenv.DocPolicy(t, role, e.Prefix)); err != nil {
		t.Fatal(err)
	}
	tok, err := root.Auth().Token().Create(&vaultapi.TokenCreateRequest{Policies: []string{name}, NoDefaultPolicy: true, TTL: "1h"})
	if err != nil {
		t.Fatal(err)
	}
	return e.NewStoreWith(t, vaultclient.Config{Address: e.Vault.Addr, Token: tok.Auth.ClientToken, Timeout: 5 * time.Second})
}

// AddConnection creates connection name for the Hydra client, with its token endpoint
// routed through the counting proxy.
func (e *Env) AddConnection(t testing.TB, name string) *authconn.Connection {
	t.Helper()
	return e.AddConnectionFor(t, name, e.ClientID, e.ClientSecret)
}

// AddConnectionFor is AddConnection for another Hydra client.
func (e *Env) AddConnectionFor(t testing.TB, name, clientID, clientSecret string) *authconn.Connection {
	t.Helper()
	ctx := context.Background()
	c := &authconn.Connection{
		Name: name, Type: authconn.TypeOAuth2, ProviderURL: e.Hydra.PublicURL, IssuerURL: e.Hydra.Issuer,
		ClientID: clientID, AuthURL: e.Hydra.AuthURL, TokenURL: e.Proxy.URL,
		Scopes: []string{"openid", "offline_access", "email"},
	}
	if _, err := e.Store.CreateConnection(ctx, c); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Store.PutClientSecret(ctx, name, clientSecret); err != nil {
		t.Fatal(err)
	}
	return c
}

// Authorize runs the authorization-code flow of internal/authorize (PKCE, state, nonce) for
// connection name against Hydra's login and consent app with a cookie-keeping HTTP client in
// place of a browser, and returns the stored token record (which replaces any earlier one).
// The exchange goes through the proxy but is not counted as a refresh.
//
// Hydra on in-memory SQLite sometimes fails a login under concurrent load ("Unable to
// serialize access due to a concurrent update", which reaches the callback as error=error or
// server_error); like an operator, Authorize then authorizes again, up to five times.
func (e *Env) Authorize(t testing.TB, name string) *store.TokenRecord {
	t.Helper()
	var err error
	for attempt := 1; attempt <= 5; attempt++ {
		var ts *store.TokenRecord
		if ts, err = e.authorize(name); err == nil {
			return ts
		}
		var ce *authorize.CallbackError
		if !errors.As(err, &ce) || (ce.Code() != "error" && ce.Code() != "server_error") {
			break
		}
		t.Logf("authorizing %s: Hydra failed the login (%v); authorizing again", name, err)
		time.Sleep(time.Duration(attempt) * 200 * time.Millisecond)
	}
	t.Fatalf("authorizing %s: %v", name, err)
	return nil
}

func (e *Env) authorize(name string) (*store.TokenRecord, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, err := authorize.Begin(ctx, e.Store, authorize.Request{Name: name, RedirectURI: RedirectURI})
	if err != nil {
		return nil, err
	}
	q, err := FollowToRedirect(ctx, a.Request.URL, RedirectURI)
	if err != nil {
		return nil, err
	}
	res, err := a.Complete(ctx, q)
	if err != nil {
		return nil, err
	}
	if !res.HasRefreshToken {
		return nil, fmt.Errorf("no refresh token in the exchange answer (scopes %v)", res.Scopes)
	}
	return e.Store.GetTokens(ctx, name)
}

// FollowToRedirect follows the authorization redirects from u (Hydra, login app, consent
// app) with a cookie jar until the redirect to redirectURI, and returns that redirect's
// query.
func FollowToRedirect(ctx context.Context, u, redirectURI string) (url.Values, error) {
	jar, _ := cookiejar.New(nil)
	var got url.Values
	hc := &http.Client{Jar: jar, Timeout: 20 * time.Second, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), redirectURI) {
			got = req.URL.Query()
			return http.ErrUseLastResponse
		}
		if len(via) > 20 {
			return fmt.Errorf("too many redirects")
		}
		return nil
	}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if got == nil {
		return nil, fmt.Errorf("the flow ended at %s (%d) without reaching the redirect URI: %s", resp.Request.URL, resp.StatusCode, body)
	}
	return got, nil
}

// SpendRefreshToken refreshes the stored token set of name directly at Hydra (not through
// tokend) and throws the answer away: the stored refresh token is then an old one, which
// Hydra answers with invalid_grant (and revokes the chain) the next time it is used.
func (e *Env) SpendRefreshToken(t testing.TB, name string) {
	t.Helper()
	ctx := context.Background()
	ts, err := e.Store.GetTokens(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := e.Store.GetConnection(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	secret, err := e.Store.GetClientSecret(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {ts.RefreshToken}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.Hydra.TokenURL, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(conn.ClientID), url.QueryEscape(secret.Value))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("spending the refresh token: %d %s", resp.StatusCode, b)
	}
}

// Introspection is the part of Hydra's introspection answer tests look at.
type Introspection struct {
	Active   bool   `json:"active"`
	ClientID string `json:"client_id"`
	TokenUse string `json:"token_use"`
	Exp      int64  `json:"exp"`
}

// Introspect asks Hydra about token; safe to call from any goroutine.
func (e *Env) Introspect(token string) (Introspection, error) {
	var r Introspection
	resp, err := http.PostForm(e.Hydra.AdminURL+"/admin/oauth2/introspect", url.Values{"token": {token}})
	if err != nil {
		return r, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return r, fmt.Errorf("introspection: %d", resp.StatusCode)
	}
	return r, json.NewDecoder(resp.Body).Decode(&r)
}
