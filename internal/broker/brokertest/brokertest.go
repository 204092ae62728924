// Package brokertest sets up the real parts that the tests of tokend's broker, API and
// serve command run against: a Vault dev server, Ory Hydra with short-lived tokens, a
// counting proxy in front of Hydra's token endpoint, and authorized connections.
package brokertest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
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
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	pemKey = string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
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

// TokenProxy is a reverse proxy in front of Hydra's token endpoint that counts refresh
// requests and remembers a hash of every refresh token presented, so a test can prove that
// no refresh token was ever sent twice. It can also inject faults (SetFault) and records
// every refresh request (Answers).
//
// Requests are forwarded to Hydra with a context detached from the caller's: once a refresh
// request has reached the proxy, Hydra processes it even if the caller has gone (killed or
// timed out), as a real provider would. Its answer is then lost: that is the crash window.
type TokenProxy struct {
	URL string

	rp     *httputil.ReverseProxy
	target atomic.Pointer[url.URL]

	mu        sync.Mutex
	refreshes int
	statuses  map[int]int
	seen      map[string]int
	fault     Fault
	delay     time.Duration
	hold      chan struct{} // when set, refresh answers wait until it is closed
	windows   [][2]time.Time
	answers   []Answer
	onAnswer  func()
	onRefresh func(Answer)
	grants    map[string]map[int]int
}

// Fault is a failure mode of the token endpoint injected by the proxy for refresh requests.
type Fault int

const (
	// FaultNone forwards every request to Hydra.
	FaultNone Fault = iota
	// Fault5xx answers 503 temporarily_unavailable without reaching Hydra.
	Fault5xx
	// FaultDelay waits SetFault's delay before forwarding; a caller that gives up meanwhile
	// is not forwarded (a provider slow to accept requests, not one that answers late).
	FaultDelay
	// FaultReset closes the connection without an answer (as a crashed or refusing
	// endpoint would), without reaching Hydra.
	FaultReset
)

// Answer is one refresh request as the proxy saw it. Tokens appear only as hashes.
type Answer struct {
	Start, End time.Time
	// Status is the HTTP status sent back (0: connection closed, or the caller left
	// before the request was forwarded).
	Status int
	// Reached is true when Hydra answered the request (Status may still be an error).
	Reached bool
	// Presented is TokenHash of the refresh token presented, Returned that of the new
	// refresh token in a 200 answer.
	Presented, Returned string
	// Error is the OAuth error code of an answer Hydra gave with an error ("invalid_grant").
	Error string
}

// TokenHash is the short hash by which the proxy remembers tokens.
func TokenHash(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:8])
}

const proxyErrorHeader = "X-Brokertest-Proxy-Error"

// NewTokenProxy starts a proxy to target (Hydra's token endpoint; set later with SetTarget
// when empty) that stops in t.Cleanup.
func NewTokenProxy(t testing.TB, target string) *TokenProxy {
	p := &TokenProxy{statuses: map[int]int{}, seen: map[string]int{}, grants: map[string]map[int]int{}}
	if target != "" {
		if err := p.SetTarget(target); err != nil {
			t.Fatal(err)
		}
	}
	p.rp = &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		tu := p.target.Load()
		r.Out.URL.Scheme, r.Out.URL.Host, r.Out.URL.Path = tu.Scheme, tu.Host, tu.Path
		r.Out.Host = tu.Host
	}, ErrorHandler: func(w http.ResponseWriter, _ *http.Request, _ error) {
		w.Header().Set(proxyErrorHeader, "1")
		w.WriteHeader(http.StatusBadGateway)
	}}
	srv := httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(srv.Close)
	p.URL = srv.URL + "/oauth2/token"
	return p
}

// serve handles one token request: it injects the current fault into refreshes, forwards
// the request to Hydra, and records the answer.
func (p *TokenProxy) serve(w http.ResponseWriter, r *http.Request) {
	began := time.Now()
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	form, _ := url.ParseQuery(string(body))
	refresh := form.Get("grant_type") == "refresh_token"
	p.mu.Lock()
	fault, delay, hold := p.fault, p.delay, p.hold
	if refresh {
		p.refreshes++
	}
	p.mu.Unlock()
	if !refresh {
		fault = FaultNone
	}
	a := Answer{Start: began, Presented: TokenHash(form.Get("refresh_token"))}
	if p.injectFault(w, r, fault, delay, a) {
		return
	}
	rec := httptest.NewRecorder()
	p.rp.ServeHTTP(rec, r.WithContext(context.WithoutCancel(r.Context())))
	reached := rec.Header().Get(proxyErrorHeader) == ""
	rec.Header().Del(proxyErrorHeader)
	if reached {
		p.mu.Lock()
		g := form.Get("grant_type")
		if p.grants[g] == nil {
			p.grants[g] = map[int]int{}
		}
		p.grants[g][rec.Code]++
		p.mu.Unlock()
	}
	if refresh {
		p.recordRefresh(a, rec, reached, hold)
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

// injectFault answers a refresh with fault instead of Hydra (and reports true), or delays
// it before it is forwarded (false).
func (p *TokenProxy) injectFault(w http.ResponseWriter, r *http.Request, fault Fault, delay time.Duration, a Answer) bool {
	switch fault {
	case Fault5xx:
		a.Status = http.StatusServiceUnavailable
		p.finish(a)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"error":"temporarily_unavailable"}`))
		return true
	case FaultReset:
		p.finish(a)
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				_ = c.Close()
				return true
			}
		}
		panic(http.ErrAbortHandler)
	case FaultDelay:
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			p.finish(a) // the caller gave up: nothing reaches Hydra
			return true
		}
	}
	return false
}

// recordRefresh records Hydra's answer rec to a refresh, tells the OnRefresh hook, and
// holds the answer while hold is not closed.
func (p *TokenProxy) recordRefresh(a Answer, rec *httptest.ResponseRecorder, reached bool, hold chan struct{}) {
	a.Status, a.Reached = rec.Code, reached
	if reached && rec.Code != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(rec.Body.Bytes(), &e)
		a.Error = e.Error
	}
	if reached && rec.Code == http.StatusOK {
		var out struct {
			RefreshToken string `json:"refresh_token"`
		}
		if json.Unmarshal(rec.Body.Bytes(), &out) == nil && out.RefreshToken != "" {
			a.Returned = TokenHash(out.RefreshToken)
		}
	}
	if reached && rec.Code != http.StatusUnauthorized && rec.Code < 500 {
		// A use of the refresh token: it reached Hydra and the client authenticated (a 401
		// is refused before Hydra looks at the grant). A 5xx (Hydra's SQLite failing under
		// load) did not use it: sending it again is right, and Hydra's reuse detection would
		// revoke the chain otherwise, which the tests check separately.
		p.mu.Lock()
		p.seen[a.Presented]++
		p.mu.Unlock()
	}
	p.record(rec.Code)
	p.mu.Lock()
	f := p.onRefresh
	p.mu.Unlock()
	if f != nil {
		a.End = time.Now()
		f(a)
	}
	if hold != nil {
		<-hold
	}
	a.End = time.Now()
	p.mu.Lock()
	p.windows = append(p.windows, [2]time.Time{a.Start, a.End})
	p.answers = append(p.answers, a)
	p.mu.Unlock()
}

// SetTarget sets the token endpoint the proxy forwards to.
func (p *TokenProxy) SetTarget(target string) error {
	tu, err := url.Parse(target)
	if err != nil {
		return err
	}
	p.target.Store(tu)
	return nil
}

// Requests returns the answers to requests of grant (grant_type, e.g. client_credentials)
// that reached Hydra, by HTTP status.
func (p *TokenProxy) Requests(grant string) map[int]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.grants[grant])
}

// finish records a refresh request that did not reach Hydra.
func (p *TokenProxy) finish(a Answer) {
	a.End = time.Now()
	if a.Status != 0 {
		p.record(a.Status)
	}
	p.mu.Lock()
	p.answers = append(p.answers, a)
	p.mu.Unlock()
}

func (p *TokenProxy) record(code int) {
	p.mu.Lock()
	p.statuses[code]++
	f := p.onAnswer
	p.mu.Unlock()
	if f != nil {
		f()
	}
}

// Refreshes returns how many refresh requests reached the proxy.
func (p *TokenProxy) Refreshes() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.refreshes
}

// Statuses returns the HTTP status counts of refresh answers.
func (p *TokenProxy) Statuses() map[int]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[int]int{}
	for k, v := range p.statuses {
		out[k] = v
	}
	return out
}

// Windows returns the start and end time of every forwarded refresh request.
func (p *TokenProxy) Windows() [][2]time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([][2]time.Time(nil), p.windows...)
}

// Answers returns every refresh request the proxy has finished, in order of completion.
func (p *TokenProxy) Answers() []Answer {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Answer(nil), p.answers...)
}

// Presentations returns how often each refresh token (by TokenHash) reached Hydra.
func (p *TokenProxy) Presentations() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]int, len(p.seen))
	for k, v := range p.seen {
		out[k] = v
	}
	return out
}

// ReusedAfterRotation returns how many refresh tokens were presented again after (or while)
// Hydra rotated them (answered 200). A presentation that Hydra refused, which rotated
// nothing, and its retry are not counted: that retry is right.
func (p *TokenProxy) ReusedAfterRotation() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, ok := range p.answers {
		if ok.Status != http.StatusOK || !ok.Reached {
			continue
		}
		for _, a := range p.answers {
			if a.Presented == ok.Presented && a != ok && a.Reached && a.End.After(ok.Start) {
				n++
				break
			}
		}
	}
	return n
}

// Reused returns how many refresh tokens were presented more than once.
func (p *TokenProxy) Reused() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, c := range p.seen {
		if c > 1 {
			n++
		}
	}
	return n
}

// SetDown makes refresh requests fail with 503 (without reaching Hydra) while down.
func (p *TokenProxy) SetDown(down bool) {
	if down {
		p.SetFault(Fault5xx, 0)
	} else {
		p.SetFault(FaultNone, 0)
	}
}

// SetFault injects f into refresh requests from now on (delay is for FaultDelay).
func (p *TokenProxy) SetFault(f Fault, delay time.Duration) {
	p.mu.Lock()
	p.fault, p.delay = f, delay
	p.mu.Unlock()
}

// Hold makes refresh answers wait (after Hydra has answered) until release is called.
func (p *TokenProxy) Hold() (release func()) {
	ch := make(chan struct{})
	p.mu.Lock()
	p.hold = ch
	p.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			p.mu.Lock()
			p.hold = nil
			p.mu.Unlock()
			close(ch)
		})
	}
}

// OnAnswer sets a function called after each refresh answer from Hydra (or a 503).
func (p *TokenProxy) OnAnswer(f func()) {
	p.mu.Lock()
	p.onAnswer = f
	p.mu.Unlock()
}

// OnRefresh sets a function called synchronously after Hydra answered a refresh request
// and before the answer is sent on: the answer waits until it returns (a test can kill the
// caller or stop Vault there, inside the crash window).
func (p *TokenProxy) OnRefresh(f func(Answer)) {
	p.mu.Lock()
	p.onRefresh = f
	p.mu.Unlock()
}

// SetHydraClientSecret changes the Hydra client's secret (JSON Patch on the admin API), as
// an operator rotating it at the provider would.
func (e *Env) SetHydraClientSecret(t testing.TB, secret string) {
	t.Helper()
	patch := []map[string]any{{"op": "replace", "path": "/client_secret", "value": secret}}
	b, _ := json.Marshal(patch)
	req, _ := http.NewRequest(http.MethodPatch, e.Hydra.AdminURL+"/admin/clients/"+url.PathEscape(e.ClientID), bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("patching the Hydra client secret: %d %s", resp.StatusCode, body)
	}
	e.ClientSecret = secret
}
