package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/api"
	"github.com/authconnection/terraform-provider-tailor/internal/apikey"
	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/broker"
	"github.com/authconnection/terraform-provider-tailor/internal/oauth"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv/tailortest"
)

// noOAuth refuses every refresh: the fuzzed API never needs one (tokens live for an hour).
type noOAuth struct{}

func (noOAuth) Resolve(context.Context, *authconn.Connection) (*oauth.Provider, error) {
	return &oauth.Provider{}, nil
}

func (noOAuth) Refresh(context.Context, *oauth.Provider, oauth.Credentials, string, []string) (*oauth.Token, error) {
	return nil, errors.New("no refresh in this test")
}

func (noOAuth) ClientCredentials(context.Context, *oauth.Provider, oauth.Credentials, []string) (*oauth.Token, error) {
	return nil, errors.New("no client credentials in this test")
}

// memKeys is an in-memory api.KeyStore.
type memKeys struct {
	mu   sync.Mutex
	keys map[string]*store.APIKey
}

func (m *memKeys) GetAPIKey(_ context.Context, id string) (*store.APIKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k, ok := m.keys[id]
	if !ok {
		return nil, &store.NotFoundError{Kind: "API key", Name: id}
	}
	c := *k
	return &c, nil
}

func (m *memKeys) delete(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.keys, id)
}

const (
	fuzzClientSecret = "cs-fuzz-client-secret-0123456789"
	fuzzAccess       = "at-fuzz-access-token-"
	fuzzRefresh      = "rt-fuzz-refresh-token-"
)

// fakeAPI is an API server over a real broker on an in-memory store, with three
// connections (two with tokens) and API keys of every kind a caller can present.
type fakeAPI struct {
	srv   *api.Server
	keys  *memKeys
	conns map[string]bool // name -> has tokens

	google  apikey.Key // may use google-*
	ms      apikey.Key // may use ms365-oauth only
	revoked apikey.Key // was valid for *, record deleted
	noMatch apikey.Key // pattern quickbooks-* matches nothing here
	secrets []string   // every access token, refresh token and secret that must not leak
}

func newFakeAPI(t testing.TB) *fakeAPI {
	t.Helper()
	st := tailortest.NewMemStore()
	st.ClientSecret = fuzzClientSecret
	f := &fakeAPI{keys: &memKeys{keys: map[string]*store.APIKey{}}, conns: map[string]bool{}}
	exp := time.Now().Add(time.Hour)
	for name, authorized := range map[string]bool{"google-oauth": true, "ms365-oauth": true, "google-pending": false} {
		st.Conns[name] = true
		f.conns[name] = authorized
		if authorized {
			ts := authconn.TokenSet{AccessToken: fuzzAccess + name, RefreshToken: fuzzRefresh + name, TokenType: "Bearer",
				Expiry: exp, Status: authconn.StatusAuthorized}
			st.Tokens[name] = store.TokenRecord{TokenSet: ts, Version: 1}
			f.secrets = append(f.secrets, ts.AccessToken, ts.RefreshToken)
		}
	}
	f.secrets = append(f.secrets, fuzzClientSecret)
	mk := func(patterns ...string) apikey.Key {
		k, err := apikey.Generate()
		if err != nil {
			t.Fatal(err)
		}
		f.keys.keys[k.ID] = &store.APIKey{ID: k.ID, Hash: k.Hash, Connections: patterns}
		_, sec, _ := apikey.Parse(k.Plain)
		f.secrets = append(f.secrets, sec)
		return k
	}
	f.google, f.ms, f.revoked, f.noMatch = mk("google-*"), mk("ms365-oauth"), mk("*"), mk("quickbooks-*")
	f.keys.delete(f.revoked.ID)
	b, err := broker.New(broker.Options{Store: st, OAuth: noOAuth{}, ReplicaID: "fuzz", Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	f.srv, err = api.New(api.Options{Broker: b, Keys: f.keys, KeyCacheTTL: time.Nanosecond, RequestTimeout: 5 * time.Second, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// authFor returns the Authorization header for a fuzz selector: the raw fuzzed header, or
// one of the known keys (possibly mangled by the fuzzed suffix).
func (f *fakeAPI) authFor(sel uint8, raw string) (header string, patterns []string) {
	switch sel % 6 {
	case 1:
		return "Bearer " + f.google.Plain, []string{"google-*"}
	case 2:
		return "Bearer " + f.ms.Plain, []string{"ms365-oauth"}
	case 3:
		return "Bearer " + f.revoked.Plain, nil
	case 4:
		return "Bearer " + f.noMatch.Plain + raw, nil // valid only when raw is blank
	case 5:
		return raw + f.google.Plain, nil // valid only for a "Bearer " (any case) prefix
	}
	return raw, nil
}

// valid is the test's own oracle: the patterns of the known, unrevoked key that header
// presents as "Bearer <key>" (scheme in any case), or nil.
func (f *fakeAPI) valid(header string) []string {
	scheme, k, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return nil
	}
	switch strings.TrimSpace(k) {
	case f.google.Plain:
		return []string{"google-*"}
	case f.ms.Plain:
		return []string{"ms365-oauth"}
	case f.noMatch.Plain:
		return []string{"quickbooks-*"}
	}
	return nil
}

// FuzzAPIRouting sends arbitrary methods, paths and Authorization headers (parsed from the
// wire, as net/http's server does) to the API over a real broker with an in-memory store:
// the handler never panics; a 200 from the token, connection or list route needs a valid,
// unrevoked key whose patterns allow the connection (the list: any valid key); only /healthz, /readyz and /metrics answer without a
// key; every error is JSON {error, message}; no answer other than a permitted token answer
// holds an access token, and none holds a refresh token, client secret or API key secret.
func FuzzAPIRouting(f *testing.F) {
	for _, s := range []struct {
		method, target, auth string
		sel                  uint8
	}{
		{"GET", "/v1/connections/google-oauth/token", "", 1},
		{"GET", "/v1/connections/ms365-oauth/token", "", 1},
		{"GET", "/v1/connections/ms365-oauth/token", "", 2},
		{"GET", "/v1/connections/google-oauth/token", "", 3},
		{"GET", "/v1/connections/google-oauth/token", "", 4},
		{"GET", "/v1/connections/google-oauth/token", "bearer ", 5},
		{"GET", "/v1/connections/google-oauth/token", "Bearer tk_aaaaaaaaaaaa_x", 0},
		{"GET", "/v1/connections/google-pending/token", "", 1},
		{"GET", "/v1/connections", "", 1},
		{"GET", "/v1/connections", "Basic Zm9vOmJhcg==", 0},
		{"GET", "/v1/connections/ms365-oauth", "", 2},
		{"GET", "/v1/connections/ms365-oauth", "", 1},
		{"GET", "/v1/connections/google-oauth", "", 4},
		{"HEAD", "/v1/connections/google-oauth/token", "", 1},
		{"POST", "/v1/connections/google-oauth/token", "", 1},
		{"GET", "/v1/connections/google-oauth/token/", "", 1},
		{"GET", "/v1//connections/google-oauth/token", "", 1},
		{"GET", "/v1/connections/google-oauth%2Ftoken/token", "", 1},
		{"GET", "/v1/connections/..%2Fms365-oauth/token", "", 1},
		{"GET", "/v1/connections/GOOGLE-OAUTH/token?x=1", "", 1},
		{"GET", "/healthz", "", 0},
		{"GET", "/readyz", "", 0},
		{"GET", "/metrics", "", 0},
		{"DELETE", "/metrics", "", 0},
		{"GET", "http://evil.example/v1/connections/google-oauth/token", "", 1},
		{"OPTIONS", "*", "", 0},
	} {
		f.Add(s.method, s.target, s.auth, s.sel)
	}
	fa := newFakeAPI(f)
	f.Fuzz(func(t *testing.T, method, target, auth string, sel uint8) {
		header, _ := fa.authFor(sel, auth)
		if strings.ContainsAny(method+target+header, "\r\n") {
			return // the wire format cannot carry these; ReadRequest would see other headers
		}
		raw := method + " " + target + " HTTP/1.1\r\nHost: tokend.test\r\n"
		if header != "" {
			raw += "Authorization: " + header + "\r\n"
		}
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw + "\r\n")))
		if err != nil {
			return // net/http's server answers 400 before any handler runs
		}
		if req.RequestURI == "*" {
			return // "OPTIONS *" is answered by net/http's server itself, never by the handler
		}
		req.RemoteAddr = "192.0.2.1:1234"
		rec := httptest.NewRecorder()
		fa.srv.ServeHTTP(rec, req)
		res := rec.Result()
		body, _ := io.ReadAll(res.Body)
		fa.check(t, req, fa.valid(req.Header.Get("Authorization")), res, body)
	})
}

func (fa *fakeAPI) check(t *testing.T, req *http.Request, key []string, res *http.Response, body []byte) {
	t.Helper()
	p := req.URL.Path
	isHead := req.Method == http.MethodHead
	getLike := req.Method == http.MethodGet || isHead
	name, isToken := tokenRouteName(p)
	tokenOK := res.StatusCode == 200 && getLike && isToken && key != nil && apikey.Allows(key, name) && fa.conns[name]
	viewName, isView := connectionRouteName(p)
	viewOK := res.StatusCode == 200 && getLike && isView && key != nil && apikey.Allows(key, viewName) && fa.conns[viewName]
	// Who may get a 200.
	switch {
	case res.StatusCode == 200 && getLike && (p == "/healthz" || p == "/readyz" || p == "/metrics"):
	case res.StatusCode == 200 && getLike && p == "/v1/connections" && key != nil:
	case tokenOK, viewOK:
	case res.StatusCode == 200:
		t.Fatalf("%s %q (key %v): 200 without a valid key allowed for it", req.Method, req.RequestURI, key != nil)
	}
	if res.StatusCode >= 300 && res.StatusCode < 400 {
		// net/http's ServeMux redirects unclean paths (//, /./, /../) to the clean path,
		// before any handler: the client must follow it and authenticate there. It must
		// stay on this server (no open redirect).
		loc := res.Header.Get("Location")
		lu, err := url.Parse(loc)
		if (res.StatusCode != 301 && res.StatusCode != 307 && res.StatusCode != 308) || err != nil || lu.Host != "" ||
			!strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, "//") {
			t.Fatalf("%s %q: %d to %q", req.Method, req.RequestURI, res.StatusCode, loc)
		}
	}
	if res.StatusCode >= 400 && !isHead {
		var eb struct {
			Error   string `json:"error"`
			Message string `json:"message"`
		}
		dec := json.NewDecoder(strings.NewReader(string(body)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&eb); err != nil || eb.Error == "" || eb.Message == "" || res.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("%s %q: %d error body is not JSON {error,message}: %q (%v)", req.Method, req.RequestURI, res.StatusCode, body, err)
		}
		if res.StatusCode == 401 && res.Header.Get("WWW-Authenticate") == "" {
			t.Fatalf("%s %q: 401 without WWW-Authenticate", req.Method, req.RequestURI)
		}
	}
	all := string(body)
	for k, v := range res.Header {
		all += "\n" + k + ": " + strings.Join(v, ",")
	}
	for _, s := range fa.secrets {
		if !strings.Contains(all, s) {
			continue
		}
		if tokenOK && s == fuzzAccess+name {
			continue // the token endpoint's own answer
		}
		t.Fatalf("%s %q: %d answer holds a secret (%.6s...)", req.Method, req.RequestURI, res.StatusCode, s)
	}
}

// connectionRouteName returns {name} when p matches /v1/connections/{name} as ServeMux
// matches it (one segment, unescaped).
func connectionRouteName(p string) (string, bool) {
	name, ok := strings.CutPrefix(p, "/v1/connections/")
	if !ok || name == "" || strings.Contains(name, "/") {
		return "", false
	}
	return name, true
}

// tokenRouteName returns {name} when p matches /v1/connections/{name}/token as ServeMux
// matches it (one segment, unescaped).
func tokenRouteName(p string) (string, bool) {
	rest, ok := strings.CutPrefix(p, "/v1/connections/")
	if !ok {
		return "", false
	}
	name, ok := strings.CutSuffix(rest, "/token")
	if !ok || name == "" || strings.Contains(name, "/") {
		return "", false
	}
	return name, true
}
