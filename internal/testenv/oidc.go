package testenv

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// OIDCUser and OIDCPassword sign in at the device-flow provider.
const (
	OIDCUser     = "test-user@127.0.0.1"
	OIDCPassword = "verysecure"
)

// OIDC is the device-flow provider of tools/oidc (an OpenID provider on
// github.com/zitadel/oidc): the pinned Hydra has no RFC 8628 device authorization grant.
// NewOIDC starts one on loopback; Close stops it.
type OIDC struct {
	// Issuer is http://127.0.0.1:<port>/; discovery is at Issuer + .well-known/openid-configuration.
	Issuer string
	// ClientID and ClientSecret are the device client's (client_secret_basic).
	ClientID, ClientSecret string
	LogPath                string

	proc   *process
	tmp    string
	ownTmp bool
}

// OIDCOptions configures NewOIDC.
type OIDCOptions struct {
	// DeviceLifetime and DeviceInterval are the device code's lifetime and the polling
	// interval; the provider's defaults (5 minutes and 5 seconds) when zero.
	DeviceLifetime, DeviceInterval time.Duration
	// Bin is the oidc binary; FindTool("oidc") when empty.
	Bin string
	// Dir holds the log; a new temporary directory that Close removes when empty.
	Dir string
}

// NewOIDC starts the device-flow provider with a random port and client secret (both in
// its environment) and waits for its discovery document.
func NewOIDC(o OIDCOptions) (*OIDC, error) {
	if o.Bin == "" {
		bin, err := FindTool("oidc")
		if err != nil {
			return nil, err
		}
		o.Bin = bin
	}
	p := &OIDC{ClientID: "tailor-device", ClientSecret: randomHex(16)}
	var home string
	var err error
	if p.tmp, home, p.ownTmp, err = workDir(o.Dir, "testenv-oidc-"); err != nil {
		return nil, err
	}
	p.LogPath = filepath.Join(p.tmp, "oidc.log")
	env := append(baseEnv(home), "OIDC_CLIENT_ID="+p.ClientID, "OIDC_CLIENT_SECRET="+p.ClientSecret)
	if o.DeviceLifetime > 0 {
		env = append(env, "OIDC_DEVICE_LIFETIME="+o.DeviceLifetime.String())
	}
	if o.DeviceInterval > 0 {
		env = append(env, "OIDC_DEVICE_INTERVAL="+o.DeviceInterval.String())
	}
	p.proc = &process{name: "oidc", path: o.Bin, dir: p.tmp, logPath: p.LogPath}
	for attempt := 1; attempt <= 5; attempt++ {
		port, err := FreePort()
		if err != nil {
			return nil, err
		}
		p.Issuer = "http://127.0.0.1:" + strconv.Itoa(port) + "/"
		p.proc.env = append(env[:len(env):len(env)], "OIDC_PORT="+strconv.Itoa(port))
		if err = p.launch(); !errors.Is(err, errAddrInUse) {
			if err != nil {
				p.Close()
			}
			return p, err
		}
	}
	p.Close()
	return nil, errors.New("testenv: no free port for oidc")
}

func (p *OIDC) launch() error {
	if err := p.proc.start(); err != nil {
		return err
	}
	return p.proc.waitReady(30*time.Second, func() error {
		code, err := httpStatus(p.Issuer + ".well-known/openid-configuration")
		if err == nil && code != http.StatusOK {
			err = fmt.Errorf("discovery: %d", code)
		}
		return err
	})
}

// Close stops the provider and removes the temporary directory NewOIDC made.
func (p *OIDC) Close() {
	p.proc.stop(5 * time.Second)
	if p.ownTmp {
		_ = os.RemoveAll(p.tmp)
	}
}

// StartOIDC starts the device-flow provider for the test (see NewOIDC); it stops in
// t.Cleanup.
func StartOIDC(t testing.TB, o OIDCOptions) *OIDC {
	t.Helper()
	o.Bin, o.Dir = Binary(t, "oidc"), t.TempDir()
	p, err := NewOIDC(o)
	if err != nil {
		t.Fatalf("testenv: starting oidc: %v", err)
	}
	manage(t, "oidc", p.LogPath, p.Close)
	t.Logf("testenv: oidc (device flow) ready at %s", p.Issuer)
	return p
}

// ApproveDevice opens verificationURI (with the user code, verification_uri_complete) in a
// new tab of b, signs in and allows the device, or denies it when allow is false. It returns
// the text of the last page.
func (p *OIDC) ApproveDevice(ctx context.Context, b *Browser, verificationURI string, allow bool) (string, error) {
	tab, cancel := b.NewTab()
	defer cancel()
	button := chromedp.ID("allow")
	if !allow {
		button = chromedp.ID("deny")
	}
	rctx, cancelRun := context.WithCancel(tab)
	defer cancelRun()
	defer context.AfterFunc(ctx, cancelRun)()
	err := chromedp.Do(rctx,
		chromedp.Navigate(verificationURI),
		chromedp.SendKeys(chromedp.ID("username"), OIDCUser),
		chromedp.SendKeys(chromedp.ID("password"), OIDCPassword),
		chromedp.Click(chromedp.ID("login")),
		chromedp.WaitVisible(button),
		chromedp.Click(button),
		chromedp.WaitVisible(chromedp.ID("done")),
	)
	if err != nil {
		return "", fmt.Errorf("testenv: approving the device at %s: %w", verificationURI, err)
	}
	text, err := chromedp.Run(rctx, chromedp.Text(chromedp.CSS("body")))
	return text, err
}
