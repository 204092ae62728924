package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/authconnection/terraform-provider-tailor/internal/apikey"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
	"github.com/authconnection/terraform-provider-tailor/internal/wire"
)

// permServer is hotServer (connection "c", access token "at") whose key has grants; nil
// grants leave the record as keys created before permissions were: Connections only.
func permServer(t *testing.T, grants []store.KeyGrant) (*Server, string, *flakyKeys) {
	t.Helper()
	s, key := hotServer(t)
	ks := s.keys.ks.(*flakyKeys)
	if grants != nil {
		ks.rec.SetGrants(grants)
	}
	return s, key, ks
}

// askFor runs authenticateFor(name, perm) on a request with key, as a route on one
// connection does, and returns whether it let the request through and what it wrote.
func askFor(s *Server, key, name string, perm apikey.Permission) (bool, *httptest.ResponseRecorder) {
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodGet, "/v1/connections/"+name+"/proxy/x", nil)
	r.Header.Set("Authorization", "Bearer "+key)
	_, ok := s.authenticateFor(w, r, name, perm)
	return ok, w
}

// getToken asks the token endpoint of connection name with key.
func getToken(s *Server, key, name string) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodGet, "/v1/connections/"+name+"/token", nil)
	r.Header.Set("Authorization", "Bearer "+key)
	s.ServeHTTP(w, r)
	return w
}

// wantForbidden checks a 403 forbidden answer whose message contains hint and no token.
func wantForbidden(t *testing.T, what string, w *httptest.ResponseRecorder, hint string) {
	t.Helper()
	var e wire.Error
	if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil {
		t.Fatalf("%s: body %q is not an error: %v", what, w.Body.String(), err)
	}
	if w.Code != http.StatusForbidden || e.Error != wire.CodeForbidden {
		t.Fatalf("%s: %d %q, want 403 %q", what, w.Code, e.Error, wire.CodeForbidden)
	}
	if !strings.Contains(e.Message, hint) {
		t.Errorf("%s: message %q does not say %q", what, e.Message, hint)
	}
	if strings.Contains(w.Body.String(), `"at"`) || strings.Contains(w.Body.String(), "access_token") {
		t.Errorf("%s: the refusal carries the token: %s", what, w.Body.String())
	}
}

// TestProxyOnlyKeyCannotReadAToken: a key granted only proxy on a connection gets 403
// forbidden from the token endpoint, with a message that points at the proxy, and the proxy's
// check lets it through.
func TestProxyOnlyKeyCannotReadAToken(t *testing.T) {
	s, key, _ := permServer(t, []store.KeyGrant{{Pattern: "c", Allow: []string{"proxy"}}})
	wantForbidden(t, "token endpoint", getToken(s, key, "c"), "/v1/connections/c/proxy/")
	if ok, w := askFor(s, key, "c", apikey.PermProxy); !ok {
		t.Fatalf("control: the proxy-only key is refused the proxy: %d %s", w.Code, w.Body)
	}
	// Cached now: the second request is answered from the key cache with the same grants.
	wantForbidden(t, "token endpoint, cached key", getToken(s, key, "c"), "only use the proxy")
}

// TestTokenOnlyKeyCannotUseTheProxy: a key granted only token (what --allow defaults to)
// reads tokens and is refused the proxy by the check every proxy request runs
// (authenticateFor with apikey.PermProxy).
func TestTokenOnlyKeyCannotUseTheProxy(t *testing.T) {
	s, key, _ := permServer(t, []store.KeyGrant{{Pattern: "c", Allow: []string{"token"}}})
	if w := getToken(s, key, "c"); w.Code != http.StatusOK {
		t.Fatalf("control: the token-only key cannot read the token: %d %s", w.Code, w.Body)
	}
	ok, w := askFor(s, key, "c", apikey.PermProxy)
	if ok {
		t.Fatal("invariant «a token-only key cannot use the proxy»: authenticateFor(PermProxy) let it through")
	}
	wantForbidden(t, "proxy", w, "--allow proxy")
	ok, w = askFor(s, key, "other", apikey.PermProxy)
	if ok {
		t.Fatal("a key was let through for a connection none of its patterns match")
	}
	wantForbidden(t, "proxy, other connection", w, "--connections")
}

// TestOldKeyReadsTokensOnly: a key record written before permissions existed (Connections,
// no Grants) keeps reading tokens for its patterns and cannot use the proxy.
func TestOldKeyReadsTokensOnly(t *testing.T) {
	s, key, ks := permServer(t, nil)
	if len(ks.rec.Grants) != 0 || len(ks.rec.Connections) == 0 {
		t.Fatalf("fixture: want an old record, got %+v", ks.rec)
	}
	if w := getToken(s, key, "c"); w.Code != http.StatusOK {
		t.Fatalf("invariant «keys created before keep token»: %d %s", w.Code, w.Body)
	}
	if ok, _ := askFor(s, key, "c", apikey.PermProxy); ok {
		t.Fatal("invariant «an old key cannot use the proxy»: it was let through")
	}
}

// TestPermissionsPerPattern: grants add up per pattern, and the key cache keeps them while
// Vault cannot be read.
func TestPermissionsPerPattern(t *testing.T) {
	s, key, ks := permServer(t, []store.KeyGrant{
		{Pattern: "c*", Allow: []string{"proxy"}},
		{Pattern: "c", Allow: []string{"token"}},
		{Pattern: "d-*", Allow: []string{"token", "proxy"}},
	})
	if got := ks.rec.Connections; len(got) != 2 || got[0] != "c" || got[1] != "d-*" {
		t.Errorf("Connections = %q, want the patterns that allow token [c d-*] (what readers without Grants see)", got)
	}
	check := func(name string, perm apikey.Permission, want bool) {
		t.Helper()
		if ok, w := askFor(s, key, name, perm); ok != want {
			t.Errorf("%s on %s: allowed=%v, want %v (%d %s)", perm, name, ok, want, w.Code, w.Body)
		}
	}
	check("c", apikey.PermToken, true)
	check("c", apikey.PermProxy, true)
	check("c2", apikey.PermToken, false)
	check("c2", apikey.PermProxy, true)
	check("d-x", apikey.PermToken, true)
	check("d-x", apikey.PermProxy, true)
	check("e", apikey.PermProxy, false)
	s.keys.ttl = 0 // every request re-reads the record, and Vault fails
	ks.down.Store(true)
	check("c2", apikey.PermToken, false)
	check("c2", apikey.PermProxy, true)
}
