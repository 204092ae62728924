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
	// epochs are the admin keys' session epochs (Vault's, in store.SessionEpoch); epochErr
	// fails their reads and writes.
	epochs   map[string]int
	epochErr error
	// sums, when set, is what the page lists.
	sums []connection.Summary
}

func newPageBed(t *testing.T) *pageBed { return newPageBedAt(t, "https://tokend.example.com") }

func newPageBedAt(t *testing.T, public string) *pageBed {
	t.Helper()
	cs, err := connect.New(connect.Options{PublicURL: public})
	if err != nil {
		t.Fatal(err)
	}
	b := &pageBed{active: true, epochs: map[string]int{}}
	b.c, err = New(Options{Connect: cs, SessionKey: []byte(strings.Repeat("k", 32)),
		SessionEpoch: func(_ context.Context, id string) (int, error) { return b.epochs[id], b.epochErr },
		EndSessions: func(_ context.Context, id string, epoch int) error {
			if b.epochErr != nil {
				return b.epochErr
			}
			if b.epochs[id] == epoch {
				b.epochs[id]++
			}
			return nil
		},
		Overview: func(context.Context) ([]connection.Summary, error) {
			if b.sums != nil {
				return b.sums, nil
			}
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
	b.srv = httptest.NewServer(serveRoutes(t, b.c))
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
		if c.Name == b.c.sessions.name() {
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
	if c.Name != "__Host-tokend_session" || !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Domain != "" || c.MaxAge <= 0 {
		t.Errorf("invariant «over https the session cookie is __Host-, HttpOnly, Secure, SameSite=Strict, Path=/, no Domain»: %+v", c)
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
	expired, _ := b.c.sessions.issue("abcdefghijkl", 0, time.Now().Add(-9*time.Hour))
	for name, c := range map[string]*http.Cookie{"none": nil, "tampered": &tampered, "expired": expired} {
		if resp := b.do(t, http.MethodGet, "/ui", nil, c, ""); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/login" {
			t.Errorf("%s session: %d %s", name, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	// Signed out: the cookie's copy (kept by an attacker, or another browser of the key) is
	// sent to sign-in, and cannot act.
	other := b.signIn(t)
	if resp := b.do(t, http.MethodPost, "/ui/logout", url.Values{"csrf": {b.csrfOf(t, other)}}, other, ""); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-out: %d", resp.StatusCode)
	}
	for name, c := range map[string]*http.Cookie{"signed out": other, "another session of the key": good} {
		if resp := b.do(t, http.MethodGet, "/ui", nil, c, ""); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/login" {
			t.Errorf("invariant «sign-out ends every session of the key»: %s session: %d %s", name, resp.StatusCode, resp.Header.Get("Location"))
		}
		if resp := b.do(t, http.MethodPost, "/ui/connections/google-oauth/revoke", url.Values{"csrf": {b.csrfOf(t, c)}}, c, ""); resp.StatusCode != http.StatusSeeOther || len(b.revoked) != 0 {
			t.Errorf("a %s session could act: %d, revoked %v", name, resp.StatusCode, b.revoked)
		}
	}
	fresh := b.signIn(t)
	if resp := b.do(t, http.MethodGet, "/ui", nil, fresh, ""); resp.StatusCode != http.StatusOK {
		t.Errorf("a new sign-in after sign-out: %d", resp.StatusCode)
	}
	b.epochErr = errors.New("vault down")
	if resp := b.do(t, http.MethodGet, "/ui", nil, fresh, ""); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("a session whose epoch cannot be read: %d, want 503", resp.StatusCode)
	}
	b.epochErr = nil
	b.active = false // the admin key was revoked
	if resp := b.do(t, http.MethodGet, "/ui", nil, fresh, ""); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("invariant «a revoked key ends its sessions»: %d", resp.StatusCode)
	}
}

// csrfOf returns the CSRF token of the session of cookie c (whether or not it still holds).
func (b *pageBed) csrfOf(t *testing.T, c *http.Cookie) string {
	t.Helper()
	ss, err := b.c.sessions.check(&http.Request{Header: http.Header{"Cookie": {c.String()}}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return b.c.sessions.csrf(ss)
}

func TestOnPlainHTTPLoopbackTheCookieHasNoPrefix(t *testing.T) {
	b := newPageBedAt(t, "http://127.0.0.1:8787")
	c := b.signIn(t)
	if c.Name != "tokend_session" || c.Secure || c.Path != "/ui" || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode {
		t.Errorf("on http loopback the cookie is tokend_session for /ui, HttpOnly, SameSite=Strict: %+v", c)
	}
	if resp := b.do(t, http.MethodGet, "/ui", nil, c, ""); resp.StatusCode != http.StatusOK {
		t.Errorf("the status page with the session: %d", resp.StatusCode)
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
	other, _ := b.c.sessions.issue("abcdefghijkl", 0, time.Now())
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
