// Command demo shows the whole job on loopback (run it through `make demo`, which calls
// scripts/demo.sh): a Vault dev server, Ory Hydra as the OAuth2 provider (with a tiny
// login and consent app), `tofu apply` of a configuration that creates the connection
// google-oauth, `tokend authorize` through headless Chromium (or your own browser), `tokend
// serve`, and the seed's function example fetching a token and calling Hydra's userinfo.
//
// Every process listens on 127.0.0.1 only and is stopped at the end; files live in a
// temporary directory that is removed unless -keep is given.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

var (
	binDir   = flag.String("bin", "bin", "directory with tokend and terraform-provider-tailor (and vault, hydra, tofu unless on PATH or in $TAILOR_<TOOL>)")
	browser  = flag.String("browser", "headless", "headless: drive headless Chromium; user: open your own browser")
	keep     = flag.Bool("keep", false, "keep the temporary directory and wait for Ctrl-C before stopping the servers")
	ttl      = flag.Duration("access-token-ttl", 20*time.Second, "Hydra's access-token lifetime (short, so a refresh happens during the demo)")
	noWait   = flag.Bool("no-refresh-wait", false, "do not wait for a refresh to show it")
	repoRoot = flag.String("root", ".", "repository root")
)

type demo struct {
	tmp   string
	procs []*exec.Cmd
	env   []string // Vault settings for tokend and tofu
}

func main() {
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	d := &demo{}
	err := d.run(ctx)
	d.cleanup()
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo failed:", err)
		os.Exit(1)
	}
}

func step(format string, args ...any) { fmt.Printf("\n==> "+format+"\n", args...) }
func info(format string, args ...any) { fmt.Printf("    "+format+"\n", args...) }

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// tool finds vault, hydra or tofu: $TAILOR_<TOOL>, then -bin, then PATH.
func tool(name string) (string, error) {
	if p := os.Getenv("TAILOR_" + strings.ToUpper(name)); p != "" {
		return p, nil
	}
	if p := filepath.Join(*binDir, name); isExec(p) {
		return filepath.Abs(p)
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%s not found: run `make tools` or set TAILOR_%s", name, strings.ToUpper(name))
}

func isExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

func (d *demo) start(name, bin string, args, env []string) (*exec.Cmd, string, error) {
	logPath := filepath.Join(d.tmp, name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, "", err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env, cmd.Stdout, cmd.Stderr = env, logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	d.procs = append(d.procs, cmd)
	return cmd, logPath, nil
}

func (d *demo) cleanup() {
	for i := len(d.procs) - 1; i >= 0; i-- {
		p := d.procs[i]
		if p.Process != nil {
			_ = syscall.Kill(-p.Process.Pid, syscall.SIGTERM)
			done := make(chan struct{})
			go func() { _ = p.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				_ = syscall.Kill(-p.Process.Pid, syscall.SIGKILL)
			}
		}
	}
	if d.tmp != "" && !*keep {
		_ = os.RemoveAll(d.tmp)
	}
}

func waitHTTP(ctx context.Context, u string, logPath string) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(u)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			b, _ := os.ReadFile(logPath)
			if len(b) > 3000 {
				b = b[len(b)-3000:]
			}
			return fmt.Errorf("%s did not become ready: %v\n%s", u, err, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func baseEnv(home string) []string {
	env := []string{"HOME=" + home}
	for _, k := range []string{"PATH", "TMPDIR", "LANG", "TZ"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

func (d *demo) run(ctx context.Context) error {
	var err error
	if d.tmp, err = os.MkdirTemp("", "tailor-demo-"); err != nil {
		return err
	}
	home := filepath.Join(d.tmp, "home")
	_ = os.Mkdir(home, 0o700)
	root, _ := filepath.Abs(*repoRoot)
	tokend, _ := filepath.Abs(filepath.Join(*binDir, "tokend"))
	providerBin, _ := filepath.Abs(filepath.Join(*binDir, "terraform-provider-tailor"))
	vaultBin, err := tool("vault")
	if err != nil {
		return err
	}
	hydraBin, err := tool("hydra")
	if err != nil {
		return err
	}
	tofuBin, err := tool("tofu")
	if err != nil {
		return err
	}
	fmt.Printf("Working directory: %s\n", d.tmp)

	// 1. Vault.
	step("Vault dev server (KV v2 at secret/)")
	vport := freePort()
	vaultAddr := fmt.Sprintf("http://127.0.0.1:%d", vport)
	vaultToken := "root-" + randHex(16)
	_, vlog, err := d.start("vault", vaultBin, []string{"server", "-dev", fmt.Sprintf("-dev-listen-address=127.0.0.1:%d", vport), "-dev-no-store-token"},
		append(baseEnv(home), "VAULT_DEV_ROOT_TOKEN_ID="+vaultToken))
	if err != nil {
		return err
	}
	if err := waitHTTP(ctx, vaultAddr+"/v1/sys/health", vlog); err != nil {
		return err
	}
	info("Vault at %s", vaultAddr)
	d.env = append(baseEnv(home), "VAULT_ADDR="+vaultAddr, "VAULT_TOKEN="+vaultToken)

	// 2. Hydra with a login and consent app that logs in demo@example.com.
	step("Ory Hydra (the OAuth2 provider), access tokens live %s", *ttl)
	idp, err := startLoginApp()
	if err != nil {
		return err
	}
	pub, adm := freePort(), freePort()
	hydraPublic := fmt.Sprintf("http://127.0.0.1:%d", pub)
	idp.admin = fmt.Sprintf("http://127.0.0.1:%d", adm)
	_, hlog, err := d.start("hydra", hydraBin, []string{"serve", "all", "--dev", "--sqa-opt-out"}, append(baseEnv(home),
		"DSN=memory", "SECRETS_SYSTEM="+randHex(24), "SERVE_PUBLIC_HOST=127.0.0.1", "SERVE_ADMIN_HOST=127.0.0.1",
		fmt.Sprintf("SERVE_PUBLIC_PORT=%d", pub), fmt.Sprintf("SERVE_ADMIN_PORT=%d", adm),
		"URLS_SELF_ISSUER="+hydraPublic, "URLS_LOGIN="+idp.url+"/login", "URLS_CONSENT="+idp.url+"/consent",
		"TTL_ACCESS_TOKEN="+fmt.Sprintf("%ds", int(ttl.Seconds())), "LOG_LEVEL=warn"))
	if err != nil {
		return err
	}
	if err := waitHTTP(ctx, idp.admin+"/health/ready", hlog); err != nil {
		return err
	}
	if err := waitHTTP(ctx, hydraPublic+"/health/ready", hlog); err != nil {
		return err
	}
	cbPort := freePort()
	clientID, clientSecret, err := createClient(idp.admin, fmt.Sprintf("http://localhost:%d/callback", cbPort))
	if err != nil {
		return err
	}
	info("Hydra at %s; OAuth client %s with redirect URI http://localhost:%d/callback", hydraPublic, clientID, cbPort)

	// 3. tofu apply.
	step("tofu apply: the tailor provider creates the connection google-oauth in Vault")
	plugins := filepath.Join(d.tmp, "plugins")
	_ = os.MkdirAll(plugins, 0o755)
	if err := os.Symlink(providerBin, filepath.Join(plugins, "terraform-provider-tailor")); err != nil {
		return err
	}
	rc := filepath.Join(d.tmp, "tofurc")
	_ = os.WriteFile(rc, []byte(fmt.Sprintf("provider_installation {\n  dev_overrides {\n    \"registry.terraform.io/authconnection/tailor\" = %q\n  }\n  direct {}\n}\n", plugins)), 0o600)
	tfDir := filepath.Join(d.tmp, "tf")
	_ = os.MkdirAll(tfDir, 0o755)
	mainTF := fmt.Sprintf(`terraform {
  required_providers {
    tailor = { source = "registry.terraform.io/authconnection/tailor" }
  }
}

provider "tailor" {} # Vault from VAULT_ADDR / VAULT_TOKEN

variable "client_secret" {
  type      = string
  sensitive = true
  ephemeral = true
}

# The seed's function asks for "google-oauth"; here it points at the local Hydra.
resource "tailor_authconnection" "google" {
  name         = "google-oauth"
  type         = "TYPE_OAUTH2"
  provider_url = %q
  issuer_url   = %q
  client_id    = %q
  scopes       = ["openid", "offline_access", "email", "profile"]

  client_secret_wo         = var.client_secret
  client_secret_wo_version = 1
}
`, hydraPublic, hydraPublic, clientID)
	if err := os.WriteFile(filepath.Join(tfDir, "main.tf"), []byte(mainTF), 0o644); err != nil {
		return err
	}
	info("main.tf:\n%s", indent(mainTF, "      "))
	tofu := exec.CommandContext(ctx, tofuBin, "apply", "-auto-approve", "-no-color")
	tofu.Dir = tfDir
	tofu.Env = append(d.env, "TF_CLI_CONFIG_FILE="+rc, "TF_VAR_client_secret="+clientSecret, "CHECKPOINT_DISABLE=1", "TF_IN_AUTOMATION=1")
	out, err := tofu.CombinedOutput()
	if err != nil {
		return fmt.Errorf("tofu apply: %v\n%s", err, out)
	}
	info("%s", lastLines(string(out), 3))

	// 4. tokend authorize.
	step("tokend authorize google-oauth (%s browser)", *browser)
	if err := d.authorize(ctx, tokend, cbPort); err != nil {
		return err
	}
	out, _ = d.tokend(ctx, tokend, "list")
	info("tokend list:\n%s", indent(string(out), "      "))

	// 5. tokend serve with an API key.
	step("tokend keys create + tokend serve")
	keyOut, err := d.tokend(ctx, tokend, "keys", "create", "--connections", "google-*", "--description", "demo function")
	if err != nil {
		return fmt.Errorf("keys create: %v %s", err, keyOut)
	}
	apiKey := strings.TrimSpace(firstLine(string(keyOut)))
	info("API key %s… created (shown once; only its SHA-256 is in Vault)", apiKey[:16])
	sport := freePort()
	tokendURL := fmt.Sprintf("http://127.0.0.1:%d", sport)
	_, slog, err := d.start("tokend-serve", tokend, []string{"serve", "--listen", fmt.Sprintf("127.0.0.1:%d", sport)}, d.env)
	if err != nil {
		return err
	}
	if err := waitHTTP(ctx, tokendURL+"/readyz", slog); err != nil {
		return err
	}
	info("tokend serving at %s (log %s)", tokendURL, slog)

	// 6. The function.
	step("The seed's function example (functions/js/examples/basic-usage.mjs), unchanged")
	fnEnv := append(os.Environ(), "TAILOR_TOKEND_URL="+tokendURL, "TAILOR_TOKEND_API_KEY="+apiKey,
		"TAILOR_FETCH_REWRITE=https://www.googleapis.com/oauth2/v2/userinfo="+hydraPublic+"/userinfo")
	info("fetch(\"https://www.googleapis.com/oauth2/v2/userinfo\") is routed to %s/userinfo (TAILOR_FETCH_REWRITE)", hydraPublic)
	if err := runFunction(ctx, root, fnEnv); err != nil {
		return err
	}
	first, err := tokenInfo(tokendURL, apiKey)
	if err != nil {
		return err
	}
	info("GET /v1/connections/google-oauth/token -> expires_at %s", first)

	if !*noWait {
		step("Waiting for tokend to refresh the access token before it expires (%s lifetime)", *ttl)
		deadline := time.Now().Add(*ttl + 10*time.Second)
		for {
			cur, err := tokenInfo(tokendURL, apiKey)
			if err == nil && cur != first {
				info("new token, expires_at %s (refreshed by tokend at the cutoff, a lead before expiry; the old token was never served after it)", cur)
				break
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
		if err := runFunction(ctx, root, fnEnv); err != nil {
			return err
		}
	}
	step("GET /v1/connections and /metrics")
	body, _ := getWithKey(tokendURL+"/v1/connections", apiKey)
	info("%s", strings.TrimSpace(string(body)))
	m, _ := getWithKey(tokendURL+"/metrics", "")
	for _, l := range strings.Split(string(m), "\n") {
		if strings.HasPrefix(l, "tokend_refreshes_total") || strings.HasPrefix(l, `tokend_token_requests_total{outcome="ok"}`) ||
			strings.HasPrefix(l, "tokend_token_expiry_seconds") || strings.HasPrefix(l, "tokend_cache_hits_total") {
			info("%s", l)
		}
	}
	step("Done: everything ran on 127.0.0.1 and is being stopped")
	if *keep {
		fmt.Printf("Servers keep running until Ctrl-C. VAULT_ADDR=%s TAILOR_TOKEND_URL=%s\n", vaultAddr, tokendURL)
		<-ctx.Done()
	}
	return nil
}

func (d *demo) tokend(ctx context.Context, bin string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = d.env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return append(out, stderr.Bytes()...), err
	}
	return out, nil
}

func (d *demo) authorize(ctx context.Context, tokend string, port int) error {
	args := []string{"authorize", "google-oauth", "--port", fmt.Sprint(port)}
	if *browser == "user" {
		cmd := exec.CommandContext(ctx, tokend, args...)
		cmd.Env, cmd.Stdout, cmd.Stderr, cmd.Stdin = d.env, os.Stdout, os.Stderr, os.Stdin
		return cmd.Run()
	}
	cmd := exec.CommandContext(ctx, tokend, append(args, "--no-browser", "--timeout", "2m")...)
	cmd.Env = d.env
	stdout, _ := cmd.StdoutPipe()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	authURL, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		_ = cmd.Wait()
		return fmt.Errorf("tokend authorize printed no URL: %v\n%s", err, stderr.String())
	}
	authURL = strings.TrimSpace(authURL)
	u, _ := url.Parse(authURL)
	info("authorization URL: %s://%s%s?... (state, PKCE S256 challenge, nonce)", u.Scheme, u.Host, u.Path)
	chromium, err := findChromium()
	if err != nil {
		_ = cmd.Process.Kill()
		return err
	}
	start := time.Now()
	cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	ch := exec.CommandContext(cctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--disable-features=Translate,OptimizationHints,MediaRouter,HttpsUpgrades",
		"--user-data-dir="+filepath.Join(d.tmp, "chromium"), "--dump-dom", authURL)
	ch.Env = baseEnv(filepath.Join(d.tmp, "home"))
	page, cerr := ch.Output()
	werr := cmd.Wait()
	if werr != nil {
		return fmt.Errorf("tokend authorize: %v\n%s\nchromium: %v", werr, stderr.String(), cerr)
	}
	info("Chromium went through Hydra's login and consent to the callback in %s; the page said: %q",
		time.Since(start).Round(100*time.Millisecond), textOf(string(page), 100))
	info("%s", strings.TrimSpace(lastLines(stderr.String(), 2)))
	return nil
}

func findChromium() (string, error) {
	if p := os.Getenv("TAILOR_CHROMIUM"); p != "" {
		return p, nil
	}
	for _, n := range []string{"chromium", "chromium-browser", "google-chrome-stable", "google-chrome"} {
		if p, err := exec.LookPath(n); err == nil {
			return p, nil
		}
	}
	return "", errors.New("chromium not found: apt-get install chromium, set TAILOR_CHROMIUM, or use -browser user")
}

func runFunction(ctx context.Context, root string, env []string) error {
	node, err := exec.LookPath("node")
	if err != nil {
		return errors.New("node not found: install Node.js 20+")
	}
	cmd := exec.CommandContext(ctx, node, filepath.Join(root, "functions/js/run-function.mjs"), filepath.Join(root, "functions/js/examples/basic-usage.mjs"))
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("function: %v\n%s", err, out)
	}
	info("function returned (Hydra's userinfo):\n%s", indent(string(out), "      "))
	return nil
}

func getWithKey(u, key string) ([]byte, error) {
	req, _ := http.NewRequest(http.MethodGet, u, nil)
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

func tokenInfo(base, key string) (string, error) {
	b, err := getWithKey(base+"/v1/connections/google-oauth/token", key)
	if err != nil {
		return "", err
	}
	var t struct {
		ExpiresAt string `json:"expires_at"`
	}
	if err := json.Unmarshal(b, &t); err != nil || t.ExpiresAt == "" {
		return "", fmt.Errorf("unexpected answer %s", b)
	}
	return t.ExpiresAt, nil
}

// loginApp accepts every login (as demo@example.com) and consent at Hydra's admin API.
type loginApp struct {
	url, admin string
}

func startLoginApp() (*loginApp, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	a := &loginApp{url: "http://" + l.Addr().String()}
	go func() { _ = http.Serve(l, http.HandlerFunc(a.serve)) }()
	return a, nil
}

func (a *loginApp) serve(w http.ResponseWriter, r *http.Request) {
	base := a.admin + "/admin/oauth2/auth/requests"
	var redirect struct {
		RedirectTo string `json:"redirect_to"`
	}
	var err error
	switch r.URL.Path {
	case "/login":
		ch := url.QueryEscape(r.URL.Query().Get("login_challenge"))
		err = doJSON(http.MethodPut, base+"/login/accept?login_challenge="+ch, map[string]any{"subject": "demo@example.com"}, &redirect)
	case "/consent":
		ch := url.QueryEscape(r.URL.Query().Get("consent_challenge"))
		var req struct {
			RequestedScope    []string `json:"requested_scope"`
			RequestedAudience []string `json:"requested_access_token_audience"`
		}
		if err = doJSON(http.MethodGet, base+"/consent?consent_challenge="+ch, nil, &req); err == nil {
			err = doJSON(http.MethodPut, base+"/consent/accept?consent_challenge="+ch, map[string]any{
				"grant_scope": req.RequestedScope, "grant_access_token_audience": req.RequestedAudience,
				"session": map[string]any{"id_token": map[string]any{"email": "demo@example.com", "email_verified": true, "name": "Demo User"}},
			}, &redirect)
		}
	default:
		http.NotFound(w, r)
		return
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	http.Redirect(w, r, redirect.RedirectTo, http.StatusFound)
}

func createClient(admin, redirectURI string) (string, string, error) {
	var res struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	err := doJSON(http.MethodPost, admin+"/admin/clients", map[string]any{
		"client_name": "tailor demo", "redirect_uris": []string{redirectURI},
		"grant_types": []string{"authorization_code", "refresh_token"}, "response_types": []string{"code"},
		"scope": "openid offline_access email profile", "token_endpoint_auth_method": "client_secret_basic",
	}, &res)
	return res.ClientID, res.ClientSecret, err
}

func doJSON(method, u string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %d %s", method, u, resp.StatusCode, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

func indent(s, p string) string {
	s = strings.TrimRight(s, "\n")
	return p + strings.ReplaceAll(s, "\n", "\n"+p)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n    ")
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// textOf returns the visible text of an HTML page, shortened.
func textOf(html string, n int) string {
	for {
		i := strings.Index(html, "<style")
		j := strings.Index(html, "</style>")
		if i < 0 || j < i {
			break
		}
		html = html[:i] + html[j+len("</style>"):]
	}
	var b strings.Builder
	in := false
	for _, r := range html {
		switch {
		case r == '<':
			in = true
		case r == '>':
			in = false
			b.WriteByte(' ')
		case !in:
			b.WriteRune(r)
		}
	}
	s := strings.Join(strings.Fields(b.String()), " ")
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}
