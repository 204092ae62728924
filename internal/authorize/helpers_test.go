package authorize

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/oauth"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv"
)

// newStore starts a Vault dev server for the test and returns a store on it.
func newStore(t testing.TB) *store.Store {
	t.Helper()
	v := testenv.StartVault(t)
	st, err := store.New(v.Client(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// freePort returns a port that was free on 127.0.0.1 a moment ago (testenv.Port).
func freePort(t testing.TB) int { return testenv.Port(t) }

func createConn(t testing.TB, st *store.Store, c *authconn.Connection, secret string) {
	t.Helper()
	if c.Type == "" {
		c.Type = authconn.TypeOAuth2
	}
	if _, err := st.CreateConnection(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	if _, err := st.PutClientSecret(context.Background(), c.Name, secret); err != nil {
		t.Fatal(err)
	}
}

// syncBuffer is testenv.SyncBuffer.
type syncBuffer = testenv.SyncBuffer

// httpBrowser is an opener that follows the authorization URL with a plain HTTP client, in
// the background, like a browser whose user approves at once. The final page is in page().
type httpBrowser struct {
	mu    sync.Mutex
	urls  []string
	body  string
	final string
	err   error
	done  chan struct{}
}

func newHTTPBrowser() *httpBrowser { return &httpBrowser{done: make(chan struct{})} }

func (b *httpBrowser) open(u string) error {
	b.mu.Lock()
	b.urls = append(b.urls, u)
	b.mu.Unlock()
	go func() {
		defer close(b.done)
		resp, err := http.Get(u)
		b.mu.Lock()
		defer b.mu.Unlock()
		if err != nil {
			b.err = err
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		b.body, b.final = string(body), resp.Request.URL.String()
	}()
	return nil
}

func (b *httpBrowser) page(t *testing.T) string {
	t.Helper()
	select {
	case <-b.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the browser did not finish")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		t.Fatalf("browser: %v", b.err)
	}
	return html.UnescapeString(b.body)
}

// fakeProvider is an httptest OAuth2 server that behaves like a provider's documented
// authorization, token and revocation endpoints: it checks the client, the redirect URI and
// the PKCE verifier, issues one-time codes, and records every request.
type fakeProvider struct {
	t      testing.TB
	srv    *httptest.Server
	id     string
	secret string
	// authStyle is "basic" or "post": how the token endpoint expects the client.
	authStyle string
	issuer    string

	mu sync.Mutex
	// callbackExtra is added to the redirect (QuickBooks realmId).
	callbackExtra url.Values
	// denyWith makes the authorization endpoint redirect with this error.
	denyWith string
	// failExchange makes the token endpoint refuse authorization codes with this error.
	failExchange string
	// tokenReply builds the token response for a grant; n counts token requests from 1.
	tokenReply func(grant string, n int, form url.Values) map[string]any
	codes      map[string]codeGrant
	authReqs   []url.Values
	tokenReqs  []recordedRequest
	revokeReqs []recordedRequest
	n          int
}

type codeGrant struct {
	challenge, nonce, redirect, scope string
}

type recordedRequest struct {
	Form   url.Values
	Header http.Header
	Body   string
	// ClientID, ClientSecret as the client sent them (basic or post).
	ClientID, ClientSecret string
}

func newFakeProvider(t testing.TB, authStyle, issuer string) *fakeProvider {
	f := &fakeProvider{t: t, id: "client-" + authStyle, secret: "s3cr3t-" + authStyle + "-value", authStyle: authStyle, issuer: issuer, codes: map[string]codeGrant{}}
	f.tokenReply = func(grant string, n int, form url.Values) map[string]any {
		return map[string]any{"access_token": fmt.Sprintf("at-%d", n), "refresh_token": fmt.Sprintf("rt-%d", n), "token_type": "Bearer", "expires_in": 3600}
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeProvider) serve(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/authorize":
		f.authorize(w, r)
	case "/token":
		f.token(w, r)
	case "/revoke":
		f.revoke(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeProvider) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.authReqs = append(f.authReqs, q)
	if q.Get("client_id") != f.id || q.Get("response_type") != "code" {
		http.Error(w, "unknown client or response type", http.StatusBadRequest)
		return
	}
	redirect, err := url.Parse(q.Get("redirect_uri"))
	if err != nil || redirect.Host == "" {
		http.Error(w, "bad redirect_uri", http.StatusBadRequest)
		return
	}
	back := url.Values{"state": {q.Get("state")}}
	if f.denyWith != "" {
		back.Set("error", f.denyWith)
		back.Set("error_description", "the user did not approve")
	} else {
		if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" {
			http.Error(w, "PKCE S256 required", http.StatusBadRequest)
			return
		}
		code := fmt.Sprintf("code-%d-%d", len(f.authReqs), time.Now().UnixNano())
		f.codes[code] = codeGrant{challenge: q.Get("code_challenge"), nonce: q.Get("nonce"), redirect: q.Get("redirect_uri"), scope: q.Get("scope")}
		back.Set("code", code)
		for k, v := range f.callbackExtra {
			back[k] = v
		}
	}
	redirect.RawQuery = back.Encode()
	http.Redirect(w, r, redirect.String(), http.StatusFound)
}

func (f *fakeProvider) client(r *http.Request, body string) recordedRequest {
	form, _ := url.ParseQuery(body)
	rec := recordedRequest{Form: form, Header: r.Header.Clone(), Body: body}
	if id, sec, ok := r.BasicAuth(); ok {
		rec.ClientID, _ = url.QueryUnescape(id)
		rec.ClientSecret, _ = url.QueryUnescape(sec)
	} else {
		rec.ClientID, rec.ClientSecret = form.Get("client_id"), form.Get("client_secret")
	}
	return rec
}

func (f *fakeProvider) clientOK(r *http.Request, rec recordedRequest) bool {
	_, _, basic := r.BasicAuth()
	if (f.authStyle == "basic") != basic {
		return false
	}
	return rec.ClientID == f.id && rec.ClientSecret == f.secret
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fakeProvider) token(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	rec := f.client(r, string(raw))
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokenReqs = append(f.tokenReqs, rec)
	if !f.clientOK(r, rec) {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client", "error_description": "client authentication failed"})
		return
	}
	grant := rec.Form.Get("grant_type")
	var scope, nonce string
	switch grant {
	case "authorization_code":
		if f.failExchange != "" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": f.failExchange, "error_description": "refused by the test"})
			return
		}
		cg, ok := f.codes[rec.Form.Get("code")]
		delete(f.codes, rec.Form.Get("code"))
		sum := sha256.Sum256([]byte(rec.Form.Get("code_verifier")))
		switch {
		case !ok:
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "unknown or used code"})
			return
		case cg.redirect != rec.Form.Get("redirect_uri"):
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "redirect_uri mismatch"})
			return
		case base64.RawURLEncoding.EncodeToString(sum[:]) != cg.challenge:
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "PKCE verification failed"})
			return
		}
		scope, nonce = cg.scope, cg.nonce
	case "refresh_token":
		scope = rec.Form.Get("scope")
	default:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unsupported_grant_type"})
		return
	}
	f.n++
	resp := f.tokenReply(grant, f.n, rec.Form)
	if grant == "authorization_code" && strings.Contains(" "+scope+" ", " openid ") && f.issuer != "" {
		claims, _ := json.Marshal(map[string]any{"iss": f.issuer, "aud": f.id, "sub": "user-1", "nonce": nonce, "exp": time.Now().Add(time.Hour).Unix()})
		resp["id_token"] = "eyJhbGciOiJSUzI1NiJ9." + base64.RawURLEncoding.EncodeToString(claims) + ".c2ln"
	}
	writeJSON(w, http.StatusOK, resp)
}

func (f *fakeProvider) revoke(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	rec := f.client(r, string(raw))
	f.mu.Lock()
	defer f.mu.Unlock()
	f.revokeReqs = append(f.revokeReqs, rec)
	if !f.clientOK(r, rec) {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client"})
		return
	}
	w.WriteHeader(http.StatusOK)
}

// conn returns a connection with the given provider URLs whose endpoints are overridden to
// point at the fake.
func (f *fakeProvider) conn(name, providerURL, issuerURL string) *authconn.Connection {
	return &authconn.Connection{Name: name, ProviderURL: providerURL, IssuerURL: issuerURL, ClientID: f.id,
		AuthURL: f.srv.URL + "/authorize", TokenURL: f.srv.URL + "/token", RevocationURL: f.srv.URL + "/revoke"}
}

func (f *fakeProvider) lastAuth() url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.authReqs[len(f.authReqs)-1]
}

func (f *fakeProvider) lastToken() recordedRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tokenReqs[len(f.tokenReqs)-1]
}

// runAuthorize runs Run with an httpBrowser and captured output.
func runAuthorize(t *testing.T, st *store.Store, opts Options) (*Result, *httpBrowser, *syncBuffer, *syncBuffer, error) {
	t.Helper()
	b := newHTTPBrowser()
	var stdout, stderr syncBuffer
	if opts.Port == 0 {
		opts.Port = freePort(t)
	}
	if opts.Timeout == 0 {
		opts.Timeout = 30 * time.Second
	}
	ui, _ := opts.UI.(*TextUI)
	if ui == nil {
		ui = &TextUI{Open: b.open}
	}
	ui.Out, ui.Err = &stdout, &stderr
	opts.UI = ui
	if opts.OAuth == nil {
		opts.OAuth = &oauth.Client{}
	}
	res, err := Run(context.Background(), st, opts)
	return res, b, &stdout, &stderr, err
}

// assertNoSecret fails when any of the non-empty secrets appears in s (what names it).
func assertNoSecret(t *testing.T, what, s string, secrets ...string) {
	t.Helper()
	testenv.CheckNoSecret(t, "no secret in "+what, what, []byte(s), testenv.Secrets(slices.DeleteFunc(slices.Clone(secrets), func(v string) bool { return v == "" })...))
}

var netListen = net.Listen

func portOf(l net.Listener) int { return l.Addr().(*net.TCPAddr).Port }
