package authorize

import (
	"bufio"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/oauth"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv"
)

// deviceBed is a store with a connection to the device-flow provider of tools/oidc (an
// OpenID provider on zitadel/oidc; the pinned Hydra has no device grant), and Chromium.
type deviceBed struct {
	st      *store.Store
	oidc    *testenv.OIDC
	browser *testenv.Browser
}

func newDeviceBed(t *testing.T, o testenv.OIDCOptions) *deviceBed {
	t.Helper()
	d := &deviceBed{st: newStore(t), oidc: testenv.StartOIDC(t, o), browser: testenv.StartBrowser(t)}
	createConn(t, d.st, &authconn.Connection{Name: "device", ProviderURL: d.oidc.Issuer, ClientID: d.oidc.ClientID,
		Scopes: []string{"openid", "email", "offline_access"}}, d.oidc.ClientSecret)
	return d
}

// run runs RunDevice; approve (when set) reads the printed URL and acts on the device page.
func (d *deviceBed) run(t *testing.T, approve func(url string)) (*Result, string, error) {
	t.Helper()
	pr, pw := io.Pipe()
	var stderr syncBuffer
	type out struct {
		res *Result
		err error
	}
	done := make(chan out, 1)
	go func() {
		res, err := RunDevice(context.Background(), d.st, Options{Name: "device", Timeout: time.Minute, OAuth: &oauth.Client{},
			UI: &TextUI{Out: pw, Err: &stderr}})
		pw.Close()
		done <- out{res, err}
	}()
	rd := bufio.NewReader(pr)
	url, _ := rd.ReadString('\n')
	code, _ := rd.ReadString('\n')
	if !strings.Contains(url, "user_code=") || strings.TrimSpace(code) == "" || !strings.Contains(stderr.String(), strings.TrimSpace(code)) {
		t.Errorf("the prompt: stdout %q %q, stderr %q", url, code, stderr.String())
	}
	if approve != nil {
		approve(strings.TrimSpace(url))
	}
	_, _ = io.Copy(io.Discard, rd)
	o := <-done
	return o.res, stderr.String(), o.err
}

func (d *deviceBed) act(t *testing.T, allow bool) func(string) {
	return func(url string) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if text, err := d.oidc.ApproveDevice(ctx, d.browser, url, allow); err != nil {
			t.Errorf("the device page: %v (%q)", err, text)
		}
	}
}

func TestDeviceFlowApprovedStoresTokens(t *testing.T) {
	t.Parallel()
	d := newDeviceBed(t, testenv.OIDCOptions{DeviceInterval: time.Second})
	res, stderr, err := d.run(t, d.act(t, true))
	if err != nil {
		t.Fatalf("device flow: %v\n%s", err, stderr)
	}
	ts, err := d.st.GetTokens(context.Background(), "device")
	if err != nil || ts.AccessToken == "" || ts.Status != authconn.StatusAuthorized || !res.Device || res.Provider != "oidc" {
		t.Fatalf("after approval: %+v, record %v, %v", res, ts, err)
	}
	if strings.Contains(stderr, ts.AccessToken) {
		t.Error("the output holds the access token")
	}
	d.refreshes(t, ts)
}

// refreshes: the refresh token the device flow stored works at the provider (offline_access
// was requested), as it would for the broker.
func (d *deviceBed) refreshes(t *testing.T, ts *store.TokenRecord) {
	t.Helper()
	if ts.RefreshToken == "" {
		t.Fatal("invariant «the device flow stores a refresh token»: none stored")
	}
	ctx := context.Background()
	conn, err := d.st.GetConnection(ctx, "device")
	if err != nil {
		t.Fatal(err)
	}
	c := &oauth.Client{}
	p, err := c.Resolve(ctx, &conn.Connection)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := c.Refresh(ctx, p, oauth.Credentials{ClientID: d.oidc.ClientID, ClientSecret: d.oidc.ClientSecret}, ts.RefreshToken, ts.Scopes)
	if err != nil || tok.AccessToken == "" || tok.AccessToken == ts.AccessToken {
		t.Fatalf("invariant «the stored refresh token refreshes»: %v", err)
	}
}

func TestDeviceFlowDeniedStoresNothing(t *testing.T) {
	t.Parallel()
	d := newDeviceBed(t, testenv.OIDCOptions{DeviceInterval: time.Second})
	_, _, err := d.run(t, d.act(t, false))
	var oe *oauth.Error
	if !errors.As(err, &oe) || oe.Code != "access_denied" || !strings.Contains(err.Error(), "approve it") {
		t.Fatalf("denied device: %v", err)
	}
	if _, err := d.st.GetTokens(context.Background(), "device"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a denied device stored tokens: %v", err)
	}
}

func TestDeviceFlowExpiredCode(t *testing.T) {
	t.Parallel()
	d := newDeviceBed(t, testenv.OIDCOptions{DeviceLifetime: 3 * time.Second, DeviceInterval: time.Second})
	start := time.Now()
	_, _, err := d.run(t, nil)
	var oe *oauth.Error
	if !errors.As(err, &oe) || oe.Code != "expired_token" || !strings.Contains(err.Error(), "enter the new code sooner") {
		t.Fatalf("expired code after %s: %v", time.Since(start), err)
	}
}
