package console

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/connect"
	"github.com/authconnection/terraform-provider-tailor/internal/connection"
)

const adminKey = "tk_abcdefghijkl_" + "0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"

// pageBed is the status page over fakes of its dependencies (the end-to-end path runs in
// tokend's TestStatusPageReconnectsInChromium), for the checks of its sign-in and forms.
type pageBed struct {
	c       *Console
	srv     *httptest.Server
	active  bool
	revoked []string
}

func newPageBed(t *testing.T) *pageBed {
	t.Helper()
	cs, err := connect.New(connect.Options{PublicURL: "https://tokend.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	b := &pageBed{active: true}
	b.c, err = New(Options{Connect: cs, SessionKey: []byte(strings.Repeat("k", 32)),
		Overview: func(context.Context) ([]connection.Summary, error) {
			return []connection.Summary{{Name: "google-oauth", Status: "authorized", Grant: "authorization_code"}}, nil
		},
		Revoke: func(_ context.Context, name string) error { b.revoked = append(b.revoked, name); return nil },
		VerifyAdmin: func(_ context.Context, k string) (string, error) {
			if k != adminKey {
				return "", errors.New("unknown API key")
			}
			return "abcdefghijkl", nil
		},
		KeyActive: func(context.Context, string) bool { return b.active }})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	b.c.Register(mux)
	b.srv = httptest.NewServer(mux)
	t.Cleanup(b.srv.Close)
	return b
}

// do sends a request without following redirects.
func (b *pageBed) do(t *testing.T, method, path string, form url.Values, cookie *http.Cookie, origin string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(method, b.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if cookie != nil {
		req.AddCookie(cookie)
	}
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func (b *pageBed) signIn(t *testing.T) *http.Cookie {
	t.Helper()
	resp := b.do(t, http.MethodPost, "/ui/login", url.Values{"key": {adminKey}}, nil, "")
	for _, c := range resp.Cookies() {
		if c.Name == cookieName {
			return c
		}
	}
	t.Fatalf("sign-in set no session cookie: %d", resp.StatusCode)
	return nil
}

func TestSignInSetsAStrictSessionCookie(t *testing.T) {
	b := newPageBed(t)
	if resp := b.do(t, http.MethodPost, "/ui/login", url.Values{"key": {"tk_wrong"}}, nil, ""); resp.StatusCode != http.StatusUnauthorized || len(resp.Cookies()) != 0 {
		t.Errorf("a wrong key: %d, cookies %v", resp.StatusCode, resp.Cookies())
	}
	c := b.signIn(t)
	if !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteStrictMode || c.Path != "/ui" || c.MaxAge <= 0 {
		t.Errorf("invariant «the session cookie is HttpOnly, Secure, SameSite=Strict, for /ui»: %+v", c)
	}
	if strings.Contains(c.Value, adminKey) || strings.Contains(c.Value, "0123456789abcdef") {
		t.Error("invariant «the cookie holds no key»")
	}
	if resp := b.do(t, http.MethodGet, "/ui", nil, c, ""); resp.StatusCode != 200 {
		t.Errorf("the status page with the session: %d", resp.StatusCode)
	}
}

func TestSessionsThatDoNotHoldAreSentToSignIn(t *testing.T) {
	b := newPageBed(t)
	good := b.signIn(t)
	tampered := *good
	tampered.Value = strings.Replace(good.Value, ".", "x.", 1)
	expired, _ := b.c.sessions.issue("abcdefghijkl", time.Now().Add(-9*time.Hour))
	for name, c := range map[string]*http.Cookie{"none": nil, "tampered": &tampered, "expired": expired} {
		if resp := b.do(t, http.MethodGet, "/ui", nil, c, ""); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/login" {
			t.Errorf("%s session: %d %s", name, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	b.active = false // the admin key was revoked
	if resp := b.do(t, http.MethodGet, "/ui", nil, good, ""); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("invariant «a revoked key ends its sessions»: %d", resp.StatusCode)
	}
}

func TestFormsNeedTheirCSRFTokenAndOurOrigin(t *testing.T) {
	b := newPageBed(t)
	c := b.signIn(t)
	ss, err := b.c.sessions.check(&http.Request{Header: http.Header{"Cookie": {c.String()}}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	csrf := b.c.sessions.csrf(ss)
	other, _ := b.c.sessions.issue("abcdefghijkl", time.Now())
	otherSS, _ := b.c.sessions.check(&http.Request{Header: http.Header{"Cookie": {other.String()}}}, time.Now())
	for name, tc := range map[string]struct {
		form   url.Values
		origin string
	}{
		"no token":                {url.Values{}, ""},
		"another session's token": {url.Values{"csrf": {b.c.sessions.csrf(otherSS)}}, ""},
		"another origin":          {url.Values{"csrf": {csrf}}, "https://evil.example"},
	} {
		if resp := b.do(t, http.MethodPost, "/ui/connections/google-oauth/revoke", tc.form, c, tc.origin); resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", name, resp.StatusCode)
		}
	}
	if len(b.revoked) != 0 {
		t.Fatalf("invariant «a refused form changes nothing»: revoked %v", b.revoked)
	}
	if resp := b.do(t, http.MethodPost, "/ui/connections/google-oauth/revoke", url.Values{"csrf": {csrf}}, c, "https://tokend.example.com"); resp.StatusCode != 200 || len(b.revoked) != 1 {
		t.Errorf("the real form: %d, revoked %v", resp.StatusCode, b.revoked)
	}
}
