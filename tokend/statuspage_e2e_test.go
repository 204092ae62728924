package main

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv/tailortest"
)

// statusBed is tokend serve over HTTPS (a test CA's certificate) with --public-url, a
// connection to Hydra that nobody has authorized, an admin API key, and Chromium trusting
// the test CA's server key.
type statusBed struct {
	env     *tailortest.Env
	proc    *tokendProc
	public  string
	admin   string
	browser *testenv.Browser
	ca      *testenv.TestCA
	shots   string // where screenshots go
}

func newStatusBed(t *testing.T) *statusBed {
	t.Helper()
	ca := testenv.NewTestCA(t)
	s := &statusBed{env: tailortest.Start(t, testenv.HydraOptions{AccessTokenTTL: 5 * time.Second}), ca: ca,
		browser: testenv.StartBrowserWith(t, testenv.BrowserOptions{ExtraFlags: ca.ChromiumTrust()}), shots: t.TempDir()}
	if os.Getenv("TAILOR_SCREENSHOTS") != "" {
		root, _ := testenv.RepoRoot()
		s.shots = filepath.Join(root, "docs", "images")
	}
	addr := freeAddr(t)
	s.public = "https://" + addr
	id, secret := s.env.Hydra.CreateClient(t, testenv.ClientSpec{RedirectURIs: []string{s.public + "/v1/callback/ms365-oauth"}})
	s.env.AddConnectionFor(t, "ms365-oauth", id, secret)
	bed := newTokendBed(t, s.env)
	s.admin = bed.createKey(t, "--admin", "--connections", "ms365-*", "--description", "status page test")
	s.proc = bed.serve(t, "statuspage", onAddr(addr), withFlags("--public-url", s.public, "--tls-cert", ca.CertFile, "--tls-key", ca.KeyFile))
	return s
}

// TestStatusPageReconnectsInChromium: an administrator signs in with an admin API key, sees
// the connection not authorized, creates a connect link with Reconnect, opens it (Hydra's
// consent), and sees the connection authorized. After Hydra refuses the refresh token
// (spent elsewhere), the page shows needs reauthorization; reconnecting makes it healthy
// again. No token, secret or API key is in a page or the log.
func TestStatusPageReconnectsInChromium(t *testing.T) {
	t.Parallel()
	s := newStatusBed(t)
	tab, cancel := s.browser.NewTab()
	defer cancel()
	ctx, stop := context.WithCancel(tab)
	defer stop()
	limit, done := context.WithTimeout(context.Background(), 3*time.Minute)
	defer done()
	defer context.AfterFunc(limit, stop)()
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1200, 500)); err != nil {
		t.Fatal(err)
	}
	s.signIn(t, ctx)
	s.expectStatus(t, ctx, "not authorized", "status-not-authorized.png")
	s.reconnect(t, ctx)
	s.expectStatus(t, ctx, "authorized", "status-authorized.png")

	s.env.SpendRefreshToken(t, "ms365-oauth") // the stored refresh token is now a used one
	s.waitStatus(t, authconn.StatusNeedsReauthorization)
	s.expectStatus(t, ctx, "needs reauthorization", "status-needs-reauthorization.png")
	s.reconnect(t, ctx)
	s.expectStatus(t, ctx, "authorized", "")
	s.checkNoSecretsIn(t, ctx)
}

func (s *statusBed) signIn(t *testing.T, ctx context.Context) {
	t.Helper()
	err := chromedp.Do(ctx, chromedp.Navigate(s.public+"/ui"), chromedp.WaitVisible(chromedp.ID("key")),
		chromedp.SendKeys(chromedp.ID("key"), s.admin), chromedp.Click(chromedp.ID("signin")),
		chromedp.WaitVisible(chromedp.ID("connections")))
	title, terr := chromedp.Run(ctx, chromedp.Title())
	if err != nil || terr != nil || !strings.Contains(title, "Connections") {
		t.Fatalf("invariant «an admin key signs in»: %q %v", title, err)
	}
}

// expectStatus reloads the page and checks the connection's status cell; with shot it
// saves a screenshot.
func (s *statusBed) expectStatus(t *testing.T, ctx context.Context, want, shot string) {
	t.Helper()
	err := chromedp.Do(ctx, chromedp.Navigate(s.public+"/ui"), chromedp.WaitVisible(chromedp.ID("connections")))
	status, serr := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#conn-ms365-oauth .status")))
	if err != nil || serr != nil || strings.TrimSpace(status) != want {
		t.Fatalf("invariant «the page shows the status»: %q, want %q (%v %v)", status, want, err, serr)
	}
	if shot != "" {
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(s.shots, shot), png, 0o644); err != nil || len(png) < 1000 {
			t.Errorf("screenshot %s: %d bytes, %v", shot, len(png), err)
		}
	}
}

// reconnect clicks Reconnect, reads the link the page shows once, and opens it in a new
// tab, through Hydra's consent to the "Connected" page.
func (s *statusBed) reconnect(t *testing.T, ctx context.Context) {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	err := chromedp.Do(wctx, chromedp.Click(chromedp.CSS("#conn-ms365-oauth .reconnect")), chromedp.WaitVisible(chromedp.ID("link")))
	link, lerr := chromedp.Run(wctx, chromedp.Text(chromedp.ID("link")))
	if err != nil || lerr != nil || !strings.HasPrefix(strings.TrimSpace(link), s.public+"/connect#tl_") {
		body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
		t.Fatalf("invariant «Reconnect shows a connect link»: %q %v %v; the page says %q", link, err, lerr, body)
	}
	vctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	final, text, err := s.browser.VisitUntil(vctx, strings.TrimSpace(link), func(u *url.URL) bool { return u.Path == "/v1/callback/ms365-oauth" })
	if err != nil || !strings.Contains(text, "Connected") {
		t.Fatalf("invariant «the link connects»: ended at %s: %q %v", final, text, err)
	}
}

// waitStatus waits until the record in Vault has status want (tokend refreshed and Hydra
// refused).
func (s *statusBed) waitStatus(t *testing.T, want authconn.Status) {
	t.Helper()
	for end := time.Now().Add(30 * time.Second); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
		// The page is read by the browser; ask tokend for the token so that it refreshes.
		s.poke()
		if ts, err := s.env.Store.GetTokens(context.Background(), "ms365-oauth"); err == nil && ts.Status == want {
			return
		}
	}
	t.Fatalf("the record did not become %s", want)
}

// checkNoSecretsIn: the page's HTML and the server's log hold no token, client secret or
// API key secret.
func (s *statusBed) checkNoSecretsIn(t *testing.T, ctx context.Context) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(s.public+"/ui"), chromedp.WaitVisible(chromedp.ID("connections"))); err != nil {
		t.Fatal(err)
	}
	html, err := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html")))
	if err != nil {
		t.Fatal(err)
	}
	ts, _ := s.env.Store.GetTokens(context.Background(), "ms365-oauth")
	logged, _ := os.ReadFile(s.proc.log)
	for i, sec := range []string{ts.AccessToken, ts.RefreshToken, strings.SplitN(s.admin, "_", 3)[2]} {
		if strings.Contains(html, sec) || strings.Contains(string(logged), sec) {
			t.Errorf("invariant «no secret in a page or the log»: secret #%d appears", i+1)
		}
	}
}

// poke asks tokend for the token (as a function would), so that it refreshes.
func (s *statusBed) poke() {
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.ca.Pool}}}
	req, _ := http.NewRequest(http.MethodGet, s.public+"/v1/connections/ms365-oauth/token", nil)
	req.Header.Set("Authorization", "Bearer "+s.admin)
	if resp, err := c.Do(req); err == nil {
		resp.Body.Close()
	}
}
