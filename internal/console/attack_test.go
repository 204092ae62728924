package console

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	vaultapi "github.com/hashicorp/vault/api"

	"github.com/authconnection/terraform-provider-tailor/internal/connect"
	"github.com/authconnection/terraform-provider-tailor/internal/connection"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv"
)

// replica is one tokend's status page on a store shared with other replicas.
func replica(t *testing.T, st *store.Store, key []byte, revoked *[]string) *httptest.Server {
	t.Helper()
	cs, err := connect.New(connect.Options{PublicURL: "https://tokend.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(Options{Connect: cs, SessionKey: key,
		Overview: func(context.Context) ([]connection.Summary, error) {
			return []connection.Summary{{Name: "google-oauth", Status: "authorized", Grant: "authorization_code"}}, nil
		},
		Revoke: func(_ context.Context, name string) error { *revoked = append(*revoked, name); return nil },
		VerifyAdmin: func(_ context.Context, k string) (string, error) {
			if k != adminKey {
				return "", errors.New("unknown API key")
			}
			return "abcdefghijkl", nil
		},
		KeyActive:    func(context.Context, string) bool { return true },
		SessionEpoch: st.SessionEpoch,
		EndSessions: func(ctx context.Context, id string, epoch int) error {
			_, err := st.EndSessions(ctx, id, epoch)
			return err
		}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(serveRoutes(t, c))
	t.Cleanup(srv.Close)
	return srv
}

// TestAttackF8_SignOutEndsTheSessionOnEveryReplica (security review, finding 8): an
// administrator signs in on replica A and signs out there; a copy of the cookie taken before
// (kept by an attacker) is sent to sign-in on replica B, which shares the Vault, and cannot
// act. Both replicas run under the documented tokend policy. On the old code the copy got
// 200 on /ui and could Reconnect for eight hours.
func TestAttackF8_SignOutEndsTheSessionOnEveryReplica(t *testing.T) {
	v := testenv.StartVault(t)
	if err := v.Client().Sys().PutPolicy("tailor-tokend", testenv.DocPolicy(t, "tokend", "")); err != nil {
		t.Fatal(err)
	}
	tok, err := v.Client().Auth().Token().Create(&vaultapi.TokenCreateRequest{Policies: []string{"tailor-tokend"}, TTL: "1h"})
	if err != nil {
		t.Fatal(err)
	}
	vc, err := v.Client().Clone()
	if err != nil {
		t.Fatal(err)
	}
	vc.SetToken(tok.Auth.ClientToken)
	st, err := store.New(vc, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	key, err := st.SessionKey(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var revoked []string
	a, b := &pageBed{}, &pageBed{}
	a.srv, b.srv = replica(t, st, key, &revoked), replica(t, st, key, &revoked)
	a.c = &Console{sessions: &sessions{key: key, secure: true}} // for the cookie's name and CSRF token only
	b.c = a.c

	cookie := a.signIn(t)
	stolen := *cookie
	csrf := a.csrfOf(t, cookie)
	if resp := b.do(t, http.MethodGet, "/ui", nil, &stolen, ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("control: the session works on replica B before sign-out: %d", resp.StatusCode)
	}
	if resp := a.do(t, http.MethodPost, "/ui/logout", url.Values{"csrf": {csrf}}, cookie, "https://tokend.example.com"); resp.StatusCode != http.StatusSeeOther ||
		resp.Header.Get("Location") != "/ui/login" {
		t.Fatalf("sign-out on replica A: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp := b.do(t, http.MethodGet, "/ui", nil, &stolen, ""); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/login" {
		t.Errorf("invariant «sign-out ends the session on every replica»: the old cookie on replica B: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp := b.do(t, http.MethodPost, "/ui/connections/google-oauth/reconnect", url.Values{"csrf": {csrf}}, &stolen, ""); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("the old cookie could still act on replica B: %d", resp.StatusCode)
	}
	if resp := b.do(t, http.MethodPost, "/ui/connections/google-oauth/revoke", url.Values{"csrf": {csrf}}, &stolen, ""); resp.StatusCode != http.StatusSeeOther || len(revoked) != 0 {
		t.Errorf("the old cookie could revoke on replica B: %d, revoked %v", resp.StatusCode, revoked)
	}
	fresh := b.signIn(t)
	if resp := a.do(t, http.MethodGet, "/ui", nil, fresh, ""); resp.StatusCode != http.StatusOK {
		t.Errorf("a new sign-in on B works on A: %d", resp.StatusCode)
	}
}

// TestAttackF9_LoginFromAnotherSiteIsRefused (finding 9, login CSRF): a sign-in posted from a
// foreign origin (an attacker's page signing the victim's browser into the attacker's
// session) is refused with 403 and sets no cookie; from the public URL's origin, or from a
// client that sends no Origin, it works. On the old code it answered 303 with Set-Cookie.
func TestAttackF9_LoginFromAnotherSiteIsRefused(t *testing.T) {
	b := newPageBed(t)
	for _, origin := range []string{"https://evil.example", "null", "http://tokend.example.com", "https://tokend.example.com:8443"} {
		resp := b.do(t, http.MethodPost, "/ui/login", url.Values{"key": {adminKey}}, nil, origin)
		if resp.StatusCode != http.StatusForbidden || len(resp.Header.Values("Set-Cookie")) != 0 {
			t.Errorf("invariant «a sign-in from another site sets no session»: Origin %s: %d, Set-Cookie %q", origin, resp.StatusCode, resp.Header.Values("Set-Cookie"))
		}
	}
	resp := b.do(t, http.MethodPost, "/ui/login", url.Values{"key": {adminKey}}, nil, "https://tokend.example.com")
	if resp.StatusCode != http.StatusSeeOther || len(resp.Cookies()) != 1 {
		t.Errorf("control: a sign-in from the status page itself: %d, cookies %v", resp.StatusCode, resp.Cookies())
	}
}

// TestAttackF16_HeadersOfTheStatusPage (finding 16): every page's content security policy
// limits where forms post (form-action), the session cookie over https has the __Host-
// prefix (Secure, Path=/, no Domain), and every answer is nosniff.
func TestAttackF16_HeadersOfTheStatusPage(t *testing.T) {
	b := newPageBed(t)
	c := b.signIn(t)
	if !strings.HasPrefix(c.Name, "__Host-") || !c.Secure || c.Path != "/" || c.Domain != "" {
		t.Errorf("invariant «the session cookie over https is __Host-»: %+v", c)
	}
	for _, tc := range []struct {
		method, path string
		form         url.Values
		want         string
	}{
		{http.MethodGet, "/ui/login", nil, "form-action 'self'"},
		{http.MethodGet, "/ui", nil, "form-action 'self'"},
		{http.MethodPost, "/ui/connections/google-oauth/revoke", url.Values{"csrf": {"wrong"}}, "form-action 'self'"},
	} {
		resp := b.do(t, tc.method, tc.path, tc.form, c, "")
		csp := resp.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, tc.want) || strings.Contains(csp, "https:") {
			t.Errorf("%s %s: CSP %q, want %q and no provider URLs", tc.method, tc.path, csp, tc.want)
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s %s: no nosniff", tc.method, tc.path)
		}
	}
}
