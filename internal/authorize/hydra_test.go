package authorize

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/oauth"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv"
)

// hydraBed is Vault, Hydra with a client registered for http://localhost:<port>/callback, a
// connection "hydra" that finds Hydra by discovery, and headless Chromium.
type hydraBed struct {
	st     *store.Store
	h      *testenv.Hydra
	b      *testenv.Browser
	port   int
	id     string
	secret string
}

func newHydraBed(t *testing.T) *hydraBed {
	t.Helper()
	st := newStore(t)
	h := testenv.StartHydra(t, testenv.HydraOptions{})
	b := testenv.StartBrowser(t)
	port := freePort(t)
	id, secret := h.CreateClient(t, testenv.ClientSpec{RedirectURIs: []string{RedirectURI(port)}})
	createConn(t, st, &authconn.Connection{Name: "hydra", ProviderURL: h.Issuer, ClientID: id}, secret)
	return &hydraBed{st: st, h: h, b: b, port: port, id: id, secret: secret}
}

// run authorizes connection hydra with a TextUI that opens URLs with open.
func (hb *hydraBed) run(t *testing.T, open func(string) error) (*Result, *syncBuffer, *syncBuffer, error) {
	t.Helper()
	var stdout, stderr syncBuffer
	opts := Options{Name: "hydra", Port: hb.port, Timeout: time.Minute, UI: &TextUI{Out: &stdout, Err: &stderr, Open: open}}
	res, err := Run(context.Background(), hb.st, opts)
	return res, &stdout, &stderr, err
}

func TestHydraWithChromium(t *testing.T) {
	t.Parallel()
	hb := newHydraBed(t)
	ctx := context.Background()

	t.Run("authorize stores tokens that Hydra reports active", func(t *testing.T) {
		op := hb.b.NewOpener(time.Minute)
		start := time.Now()
		res, stdout, stderr, err := hb.run(t, op.Open)
		if err != nil {
			t.Fatalf("authorize: %v\n%s", err, stderr)
		}
		t.Logf("authorize round trip with Chromium: %s", time.Since(start).Round(time.Millisecond))
		v := op.Wait(t, time.Minute)
		if v.Err != nil || !strings.Contains(v.Text, "Authorization complete") || !strings.HasPrefix(v.FinalURL, RedirectURI(hb.port)) {
			t.Errorf("browser ended at %s: %q (%v)", v.FinalURL, v.Text, v.Err)
		}
		if stdout.String() != "" {
			t.Errorf("stdout: %q", stdout)
		}
		if res.Provider != "oidc" || !res.HasRefreshToken || len(res.Warnings) != 0 {
			t.Errorf("result %+v", res)
		}
		// Discovery lists offline_access, so it is requested with the defaults.
		if want := []string{"openid", "profile", "email", "offline_access"}; !slices.Equal(res.Scopes, want) {
			t.Errorf("scopes %v, want %v", res.Scopes, want)
		}
		ts, err := hb.st.GetTokens(ctx, "hydra")
		if err != nil {
			t.Fatal(err)
		}
		at := hb.h.Introspect(t, ts.AccessToken)
		if !at.Active || at.ClientID != hb.id || at.TokenUse != "access_token" || !slices.Contains(at.Scopes(), "offline_access") || at.Subject != testenv.DefaultSubject {
			t.Errorf("access token introspection %+v", at)
		}
		rt := hb.h.Introspect(t, ts.RefreshToken)
		if !rt.Active || rt.TokenUse != "refresh_token" {
			t.Errorf("refresh token introspection %+v", rt)
		}
		if ts.Extra["id_token"] == nil || ts.Status != authconn.StatusAuthorized {
			t.Errorf("stored %v", ts)
		}
		st, err := hb.st.GetTokenStatus(ctx, "hydra")
		if err != nil || st.Status != authconn.StatusAuthorized || st.Expiry.IsZero() {
			t.Errorf("token status %+v %v", st, err)
		}
		assertNoSecret(t, "stderr", stderr.String(), hb.secret, ts.AccessToken, ts.RefreshToken)
		assertNoSecret(t, "browser page", v.Text, hb.secret, ts.AccessToken, ts.RefreshToken)
	})

	t.Run("no-browser prints one URL line that a browser can complete", func(t *testing.T) {
		before, err := hb.st.GetTokens(ctx, "hydra")
		if err != nil {
			t.Fatal(err)
		}
		var stdout, stderr syncBuffer
		type out struct {
			res *Result
			err error
		}
		done := make(chan out, 1)
		go func() {
			res, err := Run(ctx, hb.st, Options{Name: "hydra", Port: hb.port, Timeout: time.Minute, UI: &TextUI{Out: &stdout, Err: &stderr, NoBrowser: true,
				Open: func(string) error { return errors.New("the opener must not be called with NoBrowser") }}})
			done <- out{res, err}
		}()
		u := waitForURL(t, &stdout, 20*time.Second)
		if !strings.HasPrefix(u, hb.h.AuthURL+"?") {
			t.Fatalf("printed URL %q is not Hydra's authorization endpoint", u)
		}
		op := hb.b.NewOpener(time.Minute)
		_ = op.Open(u)
		var o out
		select {
		case o = <-done:
		case <-time.After(time.Minute):
			t.Fatal("authorize did not finish after the browser visit")
		}
		if o.err != nil {
			t.Fatalf("authorize: %v\n%s", o.err, stderr.String())
		}
		if v := op.Wait(t, time.Minute); !strings.Contains(v.Text, "Authorization complete") {
			t.Errorf("page %q", v.Text)
		}
		if lines := strings.Split(strings.TrimSpace(stdout.String()), "\n"); len(lines) != 1 {
			t.Errorf("stdout has %d lines, want only the URL: %q", len(lines), stdout.String())
		}
		if !strings.Contains(stderr.String(), "Waiting up to 1m0s") || !strings.Contains(stderr.String(), RedirectURI(hb.port)) {
			t.Errorf("stderr does not say what it waits for:\n%s", stderr.String())
		}
		after, err := hb.st.GetTokens(ctx, "hydra")
		if err != nil {
			t.Fatal(err)
		}
		if !o.res.Replaced || after.Version <= before.Version || after.AccessToken == before.AccessToken {
			t.Errorf("re-authorization did not replace the record: versions %d -> %d", before.Version, after.Version)
		}
		if !hb.h.Introspect(t, after.AccessToken).Active {
			t.Error("new access token inactive")
		}
	})

	t.Run("denied consent", func(t *testing.T) {
		before, _ := hb.st.GetTokens(ctx, "hydra")
		hb.h.SetDeny(true)
		defer hb.h.SetDeny(false)
		op := hb.b.NewOpener(time.Minute)
		_, _, _, err := hb.run(t, op.Open)
		var ce *CallbackError
		if !errors.As(err, &ce) || ce.Code() != "access_denied" || !strings.Contains(err.Error(), "run authorize again and approve the request") {
			t.Fatalf("denied: %v", err)
		}
		if v := op.Wait(t, time.Minute); !strings.Contains(v.Text, "Authorization failed") || !strings.Contains(v.Text, "access_denied") {
			t.Errorf("page %q", v.Text)
		}
		after, _ := hb.st.GetTokens(ctx, "hydra")
		if after.Version != before.Version {
			t.Errorf("a denied authorization changed the stored tokens (version %d -> %d)", before.Version, after.Version)
		}
	})

	t.Run("tampered state", func(t *testing.T) {
		before, _ := hb.st.GetTokens(ctx, "hydra")
		op := hb.b.NewOpener(time.Minute)
		tamper := func(raw string) error {
			u, err := url.Parse(raw)
			if err != nil {
				return err
			}
			q := u.Query()
			q.Set("state", "attacker-chosen-state-value-0123456789abcdef")
			u.RawQuery = q.Encode()
			return op.Open(u.String())
		}
		_, _, _, err := hb.run(t, tamper)
		var ce *CallbackError
		if !errors.As(err, &ce) || ce.Code() != "state_mismatch" || !strings.Contains(err.Error(), "CSRF") {
			t.Fatalf("tampered state: %v", err)
		}
		if v := op.Wait(t, time.Minute); !strings.Contains(v.Text, "Authorization failed") || !strings.Contains(v.Text, "state_mismatch") {
			t.Errorf("page %q", v.Text)
		}
		after, _ := hb.st.GetTokens(ctx, "hydra")
		if after.Version != before.Version {
			t.Error("a tampered callback changed the stored tokens")
		}
	})

	t.Run("port in use", func(t *testing.T) {
		l, err := netListen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		var stdout, stderr syncBuffer
		_, err = Run(ctx, hb.st, Options{Name: "hydra", Port: portOf(l), UI: &TextUI{Out: &stdout, Err: &stderr,
			Open: func(string) error { t.Error("browser opened although the port is taken"); return nil }}})
		var pe *PortInUseError
		if !errors.As(err, &pe) || !strings.Contains(err.Error(), "pass --port") {
			t.Errorf("port in use: %v", err)
		}
	})

	t.Run("wrong client secret is invalid_client", func(t *testing.T) {
		if _, err := hb.st.PutClientSecret(ctx, "hydra", "not-the-secret"); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if _, err := hb.st.PutClientSecret(ctx, "hydra", hb.secret); err != nil {
				t.Fatal(err)
			}
		}()
		op := hb.b.NewOpener(time.Minute)
		_, _, _, err := hb.run(t, op.Open)
		var oe *oauth.Error
		if !errors.As(err, &oe) || oe.Kind != oauth.KindInvalidClient || !strings.Contains(err.Error(), "client secret") {
			t.Errorf("wrong secret: %v", err)
		}
		op.Wait(t, time.Minute)
	})
}

// waitForURL polls w until it holds a line that starts with http.
func waitForURL(t *testing.T, w *syncBuffer, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		for _, line := range strings.Split(w.String(), "\n") {
			if strings.HasPrefix(line, "http") {
				return strings.TrimSpace(line)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no URL printed within %s; output: %q", timeout, w.String())
	return ""
}
