package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/testenv"
)

// demo is the state the steps share.
type demo struct {
	o   options
	tmp string

	tokend, provider, tofu, node string
	repo                         string

	vault     *testenv.Vault
	hydra     *testenv.Hydra
	serveProc *testenv.Process
	// env is what tokend and tofu get: Vault's address and token, and no other VAULT_*.
	env []string

	clientID, clientSecret string
	// serviceID and serviceSecret are the Hydra client of the client-credentials connection.
	serviceID, serviceSecret string
	// hostedID and hostedSecret are the Hydra client of partner-oauth, whose redirect URI
	// is tokend's public URL (hosted authorize).
	hostedID, hostedSecret string
	tokendPort             int
	receiver               *webhookReceiver
	callbackPort           int
	apiKey, tokendURL      string
	firstExpiry            string
	closers                []func()

	// quickbooks and xero are the connections of catalog entries whose providers are
	// imitations on loopback (imitations.go); caBundle holds the imitations' certificates.
	quickbooks, xero *catalogConn
	caBundle         string
	// catalogKey is the API key of their function; catalogTokens the access tokens served,
	// and outputs what the commands printed, searched for secrets at the end.
	catalogKey    string
	catalogTokens []string
	outputs       []byte
	// companyName is what the QuickBooks function returned, which its proxy variant must
	// return too.
	companyName string

	// google plays www.googleapis.com for the proxy variant of the seed's example (proxy.go);
	// proxyAPIKey is the proxy-only key of the proxy functions; googleTokens the access tokens
	// of google-oauth seen meanwhile, and auditLog tokend's --audit-log file, searched for them.
	google       *googleStandIn
	proxyAPIKey  string
	googleTokens []string
	auditLog     string
}

// newDemo finds the binaries and makes the working directory.
func newDemo(o options) (*demo, error) {
	d := &demo{o: o, tokend: abs(filepath.Join(o.bin, "tokend")), provider: abs(filepath.Join(o.bin, "terraform-provider-tailor"))}
	for _, p := range []string{d.tokend, d.provider} {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("%s is missing: run `make demo` (it builds tokend and the provider into bin/)", p)
		}
	}
	var err error
	if d.tofu, err = testenv.FindTool("tofu"); err != nil {
		return nil, err
	}
	if d.node, err = testenv.FindTool("node"); err != nil {
		return nil, err
	}
	if d.repo, err = testenv.RepoRoot(); err != nil {
		return nil, err
	}
	if d.tmp, err = os.MkdirTemp("", "tailor-demo-"); err != nil {
		return nil, err
	}
	return d, nil
}

// close stops everything the steps started, last first, and removes the working directory.
func (d *demo) close() {
	for i := len(d.closers) - 1; i >= 0; i-- {
		d.closers[i]()
	}
	if !d.o.keep {
		_ = os.RemoveAll(d.tmp)
	}
}

func (d *demo) startVault(context.Context) error {
	v, err := testenv.NewVault(testenv.VaultOptions{Dir: filepath.Join(d.tmp, "vault")})
	if err != nil {
		return err
	}
	d.vault = v
	d.closers = append(d.closers, v.Close)
	d.env = []string{"HOME=" + d.tmp, "PATH=" + os.Getenv("PATH"), "VAULT_ADDR=" + v.Addr, "VAULT_TOKEN=" + v.Token}
	info("Vault at %s (ready in %s)", v.Addr, v.StartedIn.Round(time.Millisecond))
	return nil
}

func (d *demo) startHydra(context.Context) error {
	h, err := testenv.NewHydra(testenv.HydraOptions{Dir: filepath.Join(d.tmp, "hydra"), Subject: "demo@example.com",
		AccessTokenTTL: d.o.ttl, LogLevel: "warn"})
	if err != nil {
		return err
	}
	d.hydra = h
	d.closers = append(d.closers, h.Close)
	if d.callbackPort, err = testenv.FreePort(); err != nil {
		return err
	}
	redirect := fmt.Sprintf("http://localhost:%d/callback", d.callbackPort)
	if d.clientID, d.clientSecret, err = h.NewClient(testenv.ClientSpec{Name: "tailor demo", RedirectURIs: []string{redirect}}); err != nil {
		return err
	}
	info("Hydra at %s, access tokens live %s; OAuth client %s with redirect URI %s", h.PublicURL, d.o.ttl, d.clientID, redirect)
	if d.serviceID, d.serviceSecret, err = h.NewClient(testenv.ClientSpec{Name: "tailor demo service", GrantTypes: []string{"client_credentials"},
		ResponseTypes: []string{"token"}, Scopes: []string{"read"}, TokenEndpointAuthMethod: "client_secret_basic"}); err != nil {
		return err
	}
	info("OAuth client %s for machine-to-machine calls: client_credentials grant only, scope read", d.serviceID)
	if d.tokendPort, err = testenv.FreePort(); err != nil {
		return err
	}
	d.tokendURL = fmt.Sprintf("http://127.0.0.1:%d", d.tokendPort)
	hosted := d.tokendURL + "/v1/callback/partner-oauth" // the connection's own redirect URI
	if d.hostedID, d.hostedSecret, err = h.NewClient(testenv.ClientSpec{Name: "tailor demo hosted", RedirectURIs: []string{hosted}}); err != nil {
		return err
	}
	info("OAuth client %s with tokend's own redirect URI %s (hosted authorize)", d.hostedID, hosted)
	return nil
}

func (d *demo) apply(ctx context.Context) error {
	info("examples/demo/main.tf:\n%s", indent(mainTF, "      "))
	if err := d.startGoogleStandIn(); err != nil {
		return err
	}
	out, err := d.tofuApply(ctx, "tf", mainTF, "TF_VAR_provider_url="+d.hydra.PublicURL, "TF_VAR_google_api_url="+d.google.url,
		"TF_VAR_client_id="+d.clientID, "TF_VAR_client_secret="+d.clientSecret,
		"TF_VAR_service_client_id="+d.serviceID, "TF_VAR_service_client_secret="+d.serviceSecret,
		"TF_VAR_hosted_client_id="+d.hostedID, "TF_VAR_hosted_client_secret="+d.hostedSecret)
	if err != nil {
		return err
	}
	info("%s", lastLines(string(out), 4))
	return nil
}

// tofuApply runs `tofu apply` on config in the working directory dir (under the demo's
// temporary directory), with the provider from bin/ and the extra environment env.
func (d *demo) tofuApply(ctx context.Context, dir, config string, env ...string) ([]byte, error) {
	plugins, work := filepath.Join(d.tmp, "plugins"), filepath.Join(d.tmp, dir)
	for _, dir := range []string{plugins, work} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
	}
	link := filepath.Join(plugins, "terraform-provider-tailor")
	if _, err := os.Lstat(link); err != nil {
		if err := os.Symlink(d.provider, link); err != nil {
			return nil, err
		}
	}
	rc, err := testenv.TofuDevConfig(d.tmp, plugins)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(work, "main.tf"), []byte(config), 0o600); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, d.tofu, "apply", "-auto-approve", "-no-color")
	cmd.Dir = work
	cmd.Env = append(append(d.env, testenv.TofuEnv(rc)...), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("tofu apply: %v\n%s", err, out)
	}
	return out, nil
}

func (d *demo) authorize(ctx context.Context) error {
	args := []string{"authorize", "google-oauth", "--port", fmt.Sprint(d.callbackPort), "--timeout", "2m"}
	if d.o.browser == "user" {
		cmd := exec.CommandContext(ctx, d.tokend, args...)
		cmd.Env, cmd.Stdout, cmd.Stderr, cmd.Stdin = d.env, os.Stdout, os.Stderr, os.Stdin
		return cmd.Run()
	}
	var final string
	stderr, err := d.authorizeNoBrowser(ctx, d.env, args, func(stdout io.Reader) (err error) {
		final, err = d.consent(ctx, stdout)
		return err
	})
	if err != nil {
		return err
	}
	info("%s", final)
	info("%s", lastLines(stderr, 1))
	out, _ := d.tokendCmd(ctx, "list")
	info("tokend list:\n%s", indent(string(out), "      "))
	return nil
}

// authorizeNoBrowser runs `tokend ARGS --no-browser` (an authorize command) with env and
// hands what it prints, the authorization URL, to browse (a browser's part). It returns
// tokend's standard error.
func (d *demo) authorizeNoBrowser(ctx context.Context, env, args []string, browse func(io.Reader) error) (string, error) {
	cmd := exec.CommandContext(ctx, d.tokend, append(args, "--no-browser")...)
	cmd.Env = env
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return "", err
	}
	berr := browse(stdout)
	werr := cmd.Wait()
	if berr != nil || werr != nil {
		return stderr.String(), fmt.Errorf("tokend %s: %v %v\n%s", strings.Join(args[:2], " "), werr, berr, stderr.String())
	}
	return stderr.String(), nil
}

// consent reads the authorization URL that `tokend authorize --no-browser` prints and goes
// through Hydra's login and consent with headless Chromium.
func (d *demo) consent(ctx context.Context, stdout io.Reader) (string, error) {
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("no authorization URL printed: %w", err)
	}
	u, err := url.Parse(strings.TrimSpace(line))
	if err != nil {
		return "", err
	}
	info("authorization URL: %s://%s%s?... (state, PKCE S256 challenge, nonce)", u.Scheme, u.Host, u.Path)
	b, err := testenv.NewBrowser(testenv.BrowserOptions{Dir: filepath.Join(d.tmp, "chromium")})
	if err != nil {
		return "", err
	}
	defer b.Close()
	start := time.Now()
	vctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	_, text, err := b.Visit(vctx, u.String())
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("Chromium went through Hydra's login and consent to the callback in %s; the page says: %q",
		time.Since(start).Round(100*time.Millisecond), firstLine(text)), nil
}

func (d *demo) serve(ctx context.Context) error {
	out, err := d.tokendCmd(ctx, "keys", "create", "--connections", "google-*,service-*", "--description", "demo function")
	if err != nil {
		return fmt.Errorf("keys create: %v %s", err, out)
	}
	d.apiKey = strings.TrimSpace(firstLine(string(out)))
	info("API key %s… created (shown once; only its SHA-256 is in Vault)", d.apiKey[:16])
	d.auditLog = filepath.Join(d.tmp, "audit.jsonl")
	p, err := testenv.StartProcess(testenv.ProcessSpec{Name: "tokend-serve", Bin: d.tokend, Dir: d.tmp, Env: d.catalogEnv(),
		Args: []string{"serve", "--listen", fmt.Sprintf("127.0.0.1:%d", d.tokendPort), "--public-url", d.tokendURL, "--webhook-interval", "200ms",
			"--audit-log", d.auditLog}})
	if err != nil {
		return err
	}
	d.serveProc = p
	d.closers = append(d.closers, p.Stop)
	if err := p.WaitHTTP(d.tokendURL+"/readyz", time.Minute); err != nil {
		return err
	}
	info("tokend serving at %s (log %s, audit trail %s)", d.tokendURL, p.LogPath, d.auditLog)
	return nil
}

func (d *demo) function(ctx context.Context) error {
	info("fetch(\"https://www.googleapis.com/oauth2/v2/userinfo\") is routed to %s/userinfo (TAILOR_FETCH_REWRITE)", d.hydra.PublicURL)
	if err := d.runFunction(ctx); err != nil {
		return err
	}
	exp, err := d.tokenExpiry()
	if err != nil {
		return err
	}
	d.firstExpiry = exp
	info("GET /v1/connections/google-oauth/token -> expires_at %s", exp)
	return nil
}

func (d *demo) waitForRefresh(ctx context.Context) error {
	if d.o.noWait {
		info("skipped (-no-refresh-wait)")
		return nil
	}
	deadline := time.Now().Add(d.o.ttl + 10*time.Second)
	for {
		cur, err := d.tokenExpiry()
		if err == nil && cur != d.firstExpiry {
			info("new token, expires_at %s (refreshed by tokend at the cutoff, a lead before expiry; the old token was never served after it)", cur)
			return d.runFunction(ctx)
		}
		if time.Now().After(deadline) {
			return errors.New("no refresh happened")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

func (d *demo) status(context.Context) error {
	body, err := d.get("/v1/connections", d.apiKey)
	if err != nil {
		return err
	}
	info("%s", strings.TrimSpace(string(body)))
	m, err := d.get("/metrics", "")
	if err != nil {
		return err
	}
	for _, l := range strings.Split(string(m), "\n") {
		for _, p := range []string{"tokend_refreshes_total", `tokend_token_requests_total{outcome="ok"}`, "tokend_token_expiry_seconds", "tokend_cache_hits_total"} {
			if strings.HasPrefix(l, p) {
				info("%s", l)
			}
		}
	}
	return nil
}

// tokendCmd runs tokend with args and returns its standard output.
func (d *demo) tokendCmd(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, d.tokend, args...)
	cmd.Env = d.env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return append(out, stderr.Bytes()...), err
	}
	return out, nil
}

// runFunction runs the seed's function example with node, against the demo's tokend.
func (d *demo) runFunction(ctx context.Context) error {
	js := filepath.Join(d.repo, "functions", "js")
	cmd := exec.CommandContext(ctx, d.node, filepath.Join(js, "run-function.mjs"), filepath.Join(js, "examples", "basic-usage.mjs"))
	cmd.Env = append(os.Environ(), "TAILOR_TOKEND_URL="+d.tokendURL, "TAILOR_TOKEND_API_KEY="+d.apiKey,
		"TAILOR_FETCH_REWRITE=https://www.googleapis.com/oauth2/v2/userinfo="+d.hydra.PublicURL+"/userinfo")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("function: %v\n%s", err, out)
	}
	info("function returned (Hydra's userinfo):\n%s", indent(string(out), "      "))
	return nil
}

func (d *demo) get(path, key string) ([]byte, error) {
	req, err := http.NewRequest(http.MethodGet, d.tokendURL+path, nil)
	if err != nil {
		return nil, err
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}

// tokenExpiry returns expires_at of the connection's current token.
func (d *demo) tokenExpiry() (string, error) {
	t, err := d.token("google-oauth")
	if err != nil {
		return "", err
	}
	return t.ExpiresAt, nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return line
}
