package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authorize"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv"
)

// tokenRecorder is a reverse proxy in front of Hydra's token endpoint that keeps every
// access and refresh token Hydra issues (authorization-code and refresh grants), so the
// hygiene test knows every token that ever existed.
type tokenRecorder struct {
	URL string

	mu      sync.Mutex
	access  []string
	refresh []string
}

func newTokenRecorder(t *testing.T, target string) *tokenRecorder {
	tu, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	r := &tokenRecorder{}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme, pr.Out.URL.Host, pr.Out.URL.Path = tu.Scheme, tu.Host, tu.Path
			pr.Out.Host = tu.Host
		},
		ModifyResponse: func(resp *http.Response) error {
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				return err
			}
			resp.Body = io.NopCloser(bytes.NewReader(b))
			var m struct {
				AccessToken  string `json:"access_token"`
				RefreshToken string `json:"refresh_token"`
			}
			if json.Unmarshal(b, &m) == nil {
				r.mu.Lock()
				if m.AccessToken != "" {
					r.access = append(r.access, m.AccessToken)
				}
				if m.RefreshToken != "" {
					r.refresh = append(r.refresh, m.RefreshToken)
				}
				r.mu.Unlock()
			}
			return nil
		},
	}
	srv := httptest.NewServer(rp)
	t.Cleanup(srv.Close)
	r.URL = srv.URL + tu.Path
	return r
}

func (r *tokenRecorder) tokens() (access, refresh []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.access...), append([]string(nil), r.refresh...)
}

// procWatch samples /proc/<pid>/cmdline of every process the test started and of all their
// descendants (tofu's provider plugin, ...) while they run.
type procWatch struct {
	mu       sync.Mutex
	roots    map[int]bool
	cmdlines map[string]bool // unique command lines seen
	pids     map[int]bool
	stop     chan struct{}
	done     chan struct{}
}

func newProcWatch(t *testing.T) *procWatch {
	w := &procWatch{roots: map[int]bool{}, cmdlines: map[string]bool{}, pids: map[int]bool{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		tk := time.NewTicker(25 * time.Millisecond)
		defer tk.Stop()
		for {
			w.sample()
			select {
			case <-w.stop:
				return
			case <-tk.C:
			}
		}
	}()
	t.Cleanup(w.close)
	return w
}

func (w *procWatch) close() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
		<-w.done
	}
}

// add registers a started process and samples it at once.
func (w *procWatch) add(pid int) {
	w.mu.Lock()
	w.roots[pid] = true
	w.mu.Unlock()
	w.sample()
}

func (w *procWatch) sample() {
	ents, _ := os.ReadDir("/proc")
	parent := map[int]int{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so parse after the last ')'.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		parent[pid] = ppid
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for pid := range parent {
		ours := false
		for p, n := pid, 0; p > 1 && n < 64; p, n = parent[p], n+1 {
			if w.roots[p] {
				ours = true
				break
			}
		}
		if !ours {
			continue
		}
		if b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline"); err == nil && len(b) > 0 {
			w.cmdlines[string(b)] = true
			w.pids[pid] = true
		}
	}
}

func (w *procWatch) result() (cmdlines []string, pids int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for c := range w.cmdlines {
		cmdlines = append(cmdlines, c)
	}
	sort.Strings(cmdlines)
	return cmdlines, len(w.pids)
}

// artifacts are the texts searched for secrets, by name.
type artifacts struct {
	mu    sync.Mutex
	items map[string][]byte
}

func (a *artifacts) add(name string, b []byte) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.items == nil {
		a.items = map[string][]byte{}
	}
	a.items[name] = append(a.items[name], b...)
}

func (a *artifacts) addFile(t *testing.T, name, path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("artifact %s: %v", name, err)
	}
	a.add(name, b)
}

// TestSecretHygieneEndToEnd runs the whole life of a connection with real processes:
// `tofu plan/apply` (the in-repo provider through dev_overrides, TF_LOG=trace), `tokend
// authorize` (the printed URL opened in Chromium), `tokend keys create`, `tokend serve
// --log-level debug` answering 200, 401, 403, 404 and 409 while Hydra's 6-second access
// tokens are refreshed, `tofu apply -refresh-only`, `tokend revoke`, a second authorize, and
// `tofu destroy` (which revokes at Hydra and deletes). Every access and refresh token Hydra
// issued is recorded by a proxy in front of its token endpoint. Then every log and output
// of ours (tofu trace and output, tokend output), every state file and backup, `tofu show
// -json` of the saved plans, every HTTP error body and every command line of the processes
// we started (and their children) is searched for the client secret and every token: no hit,
// except access tokens in the token endpoint's own 200 answers (not searched, counted).
func TestSecretHygieneEndToEnd(t *testing.T) {
	t.Parallel()
	tofu := testenv.Binary(t, "tofu")
	v := testenv.StartVault(t)
	h := testenv.StartHydra(t, testenv.HydraOptions{AccessTokenTTL: 6 * time.Second})
	b := testenv.StartBrowser(t)
	rec := newTokenRecorder(t, h.TokenURL)
	watch := newProcWatch(t)
	tmp := t.TempDir()
	var arts artifacts
	var okBodies int
	var okArt []byte // the token endpoint's 200 bodies: access tokens allowed, nothing else

	// Binaries: tokend and the provider, freshly built.
	bin := buildTokend(t)
	plugins := filepath.Join(tmp, "plugins")
	if out, err := exec.Command("go", "build", "-o", filepath.Join(plugins, "terraform-provider-tailor"), "..").CombinedOutput(); err != nil {
		t.Fatalf("building the provider: %v\n%s", err, out)
	}
	port := cliFreePort(t)
	clientID, secret := h.CreateClient(t, testenv.ClientSpec{RedirectURIs: []string{authorize.RedirectURI(port)}})

	// OpenTofu with the in-repo provider (dev_overrides), trace logging to one file per command.
	work := filepath.Join(tmp, "tf")
	if err := os.MkdirAll(work, 0o700); err != nil {
		t.Fatal(err)
	}
	rc := filepath.Join(tmp, "tofurc")
	os.WriteFile(rc, []byte(fmt.Sprintf("provider_installation {\n  dev_overrides {\n    \"registry.opentofu.org/authconnection/tailor\" = %q\n  }\n  direct {}\n}\n", plugins)), 0o600)
	conn := func(label, name string) string {
		return fmt.Sprintf(`resource "tailor_authconnection" %q {
  name                     = %q
  type                     = "TYPE_OAUTH2"
  provider_url             = %q
  issuer_url               = %q
  client_id                = %q
  auth_url                 = %q
  token_url                = %q
  revocation_url           = %q
  scopes                   = ["openid", "offline_access", "email"]
  client_secret_wo         = var.client_secret
  client_secret_wo_version = 1
}
`, label, name, h.Issuer, h.Issuer, clientID, h.AuthURL, rec.URL, h.RevokeURL)
	}
	mainTF := fmt.Sprintf(`terraform {
  required_providers {
    tailor = { source = "authconnection/tailor" }
  }
}
provider "tailor" {
  vault_address = %q
}
variable "client_secret" {
  type      = string
  sensitive = true
  ephemeral = true
}
`, v.Addr) + conn("h", "hygiene") + conn("pending", "hygiene-pending")
	if err := os.WriteFile(filepath.Join(work, "main.tf"), []byte(mainTF), 0o600); err != nil {
		t.Fatal(err)
	}
	baseEnv := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + tmp}
	step := 0
	tofuRun := func(args ...string) []byte {
		t.Helper()
		step++
		name := fmt.Sprintf("tofu-%02d-%s", step, args[0])
		trace := filepath.Join(tmp, name+".trace.log")
		cmd := exec.Command(tofu, args...)
		cmd.Dir = work
		cmd.Env = append(baseEnv, "TF_CLI_CONFIG_FILE="+rc, "TF_LOG=trace", "TF_LOG_PATH="+trace, "CHECKPOINT_DISABLE=1",
			"TF_IN_AUTOMATION=1", "VAULT_TOKEN="+v.Token, "TF_VAR_client_secret="+secret)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		watch.add(cmd.Process.Pid)
		err := cmd.Wait()
		arts.add(name+".stdout", stdout.Bytes())
		arts.add(name+".stderr", stderr.Bytes())
		arts.addFile(t, name+".trace", trace)
		arts.add(name+".argv", []byte(strings.Join(cmd.Args, "\x00")))
		// Every state file and backup as it is after each command (a later command overwrites them).
		states, _ := filepath.Glob(filepath.Join(work, "*.tfstate*"))
		for _, p := range states {
			arts.addFile(t, "file "+filepath.Base(p)+" after "+name, p)
		}
		if err != nil {
			t.Fatalf("tofu %s: %v\n%s\n%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
		}
		return stdout.Bytes()
	}
	tokendEnv := append(baseEnv, "VAULT_ADDR="+v.Addr, "VAULT_TOKEN="+v.Token)
	tokendRun := func(args ...string) (string, string) {
		t.Helper()
		step++
		name := fmt.Sprintf("tokend-%02d-%s", step, args[0])
		cmd := exec.Command(bin, args...)
		cmd.Env = tokendEnv
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		watch.add(cmd.Process.Pid)
		err := cmd.Wait()
		arts.add(name+".stdout", stdout.Bytes())
		arts.add(name+".stderr", stderr.Bytes())
		if err != nil {
			t.Fatalf("tokend %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
		return stdout.String(), stderr.String()
	}
	authorizeOnce := func() {
		t.Helper()
		step++
		name := fmt.Sprintf("tokend-%02d-authorize", step)
		cmd, rd, stderr := startAuthorizeProc(t, bin, tokendEnv, "hygiene", port, "--log-level", "debug")
		watch.add(cmd.Process.Pid)
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatalf("authorize: %v\n%s", err, stderr.String())
		}
		op := b.NewOpener(time.Minute)
		_ = op.Open(strings.TrimSpace(line))
		rest, _ := io.ReadAll(rd)
		if err := cmd.Wait(); err != nil {
			t.Fatalf("tokend authorize: %v\n%s", err, stderr.String())
		}
		vis := op.Wait(t, time.Minute)
		if !strings.Contains(vis.Text, "Authorization complete") {
			t.Fatalf("browser page: %q", vis.Text)
		}
		arts.add(name+".stdout", append([]byte(line), rest...))
		arts.add(name+".stderr", []byte(stderr.String()))
		arts.add(name+".browser-page", []byte(vis.FinalURL+"\n"+vis.Text))
	}

	// 1. plan (saved), show -json of the plan, apply.
	tofuRun("plan", "-input=false", "-no-color", "-out=plan1.bin")
	arts.add("tofu show -json plan1.bin", tofuRun("show", "-json", "-no-color", "plan1.bin"))
	tofuRun("apply", "-input=false", "-no-color", "plan1.bin")

	// 2. authorize, API keys, serve.
	authorizeOnce()
	keyOut, _ := tokendRun("keys", "create", "--connections", "hygiene*", "--description", "hygiene")
	key := strings.TrimSpace(keyOut)
	otherOut, _ := tokendRun("keys", "create", "--connections", "someone-else")
	other := strings.TrimSpace(otherOut)

	addr := freeAddr(t)
	serveLog := filepath.Join(tmp, "serve.log")
	lf, err := os.Create(serveLog)
	if err != nil {
		t.Fatal(err)
	}
	serve := exec.Command(bin, "serve", "--listen", addr, "--log-level", "debug", "--recheck-interval", "1s", "--key-cache-ttl", "1s")
	serve.Env = tokendEnv
	serve.Stdout, serve.Stderr = lf, lf
	serve.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	watch.add(serve.Process.Pid)
	stopServe := func() {
		if serve.ProcessState == nil {
			_ = serve.Process.Signal(syscall.SIGTERM)
			_ = serve.Wait()
		}
	}
	t.Cleanup(stopServe)
	base := "http://" + addr
	waitReady(t, http.DefaultClient, base, "tokend serve", "", 20*time.Second)
	served := map[string]bool{}
	statuses := map[int]int{}
	call := func(path, authz string) (int, []byte) {
		t.Helper()
		resp, body, err := getAuth(base+path, authz)
		if err != nil {
			t.Fatal(err)
		}
		statuses[resp.StatusCode]++
		var hdr strings.Builder
		for k, vs := range resp.Header {
			fmt.Fprintf(&hdr, "%s: %s\n", k, strings.Join(vs, ","))
		}
		if resp.StatusCode == 200 && strings.HasSuffix(path, "/token") {
			var tok struct {
				AccessToken string `json:"access_token"`
			}
			if json.Unmarshal(body, &tok) != nil || tok.AccessToken == "" {
				t.Fatalf("token answer %s", body)
			}
			served[tok.AccessToken] = true
			okBodies++
			okArt = append(okArt, body...)
			arts.add("token 200 headers", []byte(hdr.String()))
		} else {
			arts.add(fmt.Sprintf("GET %s -> %d", path, resp.StatusCode), append([]byte(hdr.String()), body...))
		}
		return resp.StatusCode, body
	}
	expect := func(path, authz string, want int) {
		t.Helper()
		if got, body := call(path, authz); got != want {
			t.Fatalf("GET %s: %d %s, want %d", path, got, body, want)
		}
	}
	const tokPath = "/v1/connections/hygiene/token"
	expect(tokPath, "Bearer "+key, 200)
	expect(tokPath, "", 401)
	expect(tokPath, "Bearer tk_nope", 401)
	expect(tokPath, "Bearer "+key[:len(key)-4]+"AAAA", 401)
	expect(tokPath, "Bearer "+other, 403)
	expect("/v1/connections/hygiene-missing/token", "Bearer "+key, 404)
	expect("/v1/connections/hygiene-pending/token", "Bearer "+key, 409)
	expect("/v1/connections/Hygiene/token", "Bearer "+key, 400)
	expect("/v1/connections", "Bearer "+key, 200)
	expect("/v1/connections", "", 401)
	expect("/nope", "Bearer "+key, 404)
	expect("/metrics", "", 200)

	// 3. Refreshes: serve until tokend has handed out at least three access tokens.
	for deadline := time.Now().Add(40 * time.Second); len(served) < 3; {
		if time.Now().After(deadline) {
			t.Fatalf("only %d distinct access tokens served in 40s", len(served))
		}
		expect(tokPath, "Bearer "+key, 200)
		time.Sleep(250 * time.Millisecond)
	}
	expect("/metrics", "", 200)

	// 4. Terraform sees the token status (refresh-only apply writes state and a backup);
	// a saved plan of the authorized connection.
	tofuRun("apply", "-input=false", "-no-color", "-refresh-only", "-auto-approve")
	tofuRun("plan", "-input=false", "-no-color", "-out=plan2.bin")
	arts.add("tofu show -json plan2.bin", tofuRun("show", "-json", "-no-color", "plan2.bin"))
	arts.add("tofu show -json (state)", tofuRun("show", "-json", "-no-color"))

	// 5. revoke; the API says 409; authorize again; serve picks it up.
	tokendRun("revoke", "hygiene")
	waitStatus := func(want int) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); ; {
			got, _ := call(tokPath, "Bearer "+key)
			if got == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("GET %s: %d, want %d", tokPath, got, want)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	waitStatus(409)
	tokendRun("list")
	authorizeOnce()
	waitStatus(200)

	// 6. destroy: revokes at Hydra (the token_url/revocation_url are set) and deletes.
	access, refresh := rec.tokens()
	tofuRun("destroy", "-input=false", "-no-color", "-auto-approve")
	waitStatus(404)
	stopServe()
	lf.Close()
	arts.addFile(t, "tokend serve stdout+stderr", serveLog)
	for _, tok := range refresh[len(refresh)-1:] {
		if h.Introspect(t, tok).Active {
			t.Error("the last refresh token is still active after tofu destroy")
		}
	}

	// Every state file and backup, every file tofu left in the working directory.
	filepath.WalkDir(work, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, ".bin") {
			return nil // plan files are zip archives: their JSON (tofu show -json) is searched
		}
		rel, _ := filepath.Rel(work, p)
		arts.addFile(t, "file "+rel, p)
		return nil
	})
	watch.close()
	cmdlines, npids := watch.result()
	for i, c := range cmdlines {
		arts.add(fmt.Sprintf("cmdline #%d", i+1), []byte(c))
	}

	// The search.
	access, refresh = rec.tokens()
	if len(refresh) < 3 || len(access) < 4 {
		t.Fatalf("recorded only %d access and %d refresh tokens", len(access), len(refresh))
	}
	for tok := range served {
		found := false
		for _, a := range access {
			found = found || a == tok
		}
		if !found {
			t.Errorf("tokend served an access token the recorder never saw")
		}
	}
	type secretT struct{ kind, value string }
	secrets := []secretT{{"client secret", secret}}
	for _, a := range access {
		secrets = append(secrets, secretT{"access token", a})
	}
	for _, r := range refresh {
		secrets = append(secrets, secretT{"refresh token", r})
	}
	names := make([]string, 0, len(arts.items))
	var total int
	for n, body := range arts.items {
		names = append(names, n)
		total += len(body)
	}
	sort.Strings(names)
	hits := 0
	for _, n := range names {
		body := arts.items[n]
		for _, s := range secrets {
			for _, form := range []string{s.value, url.QueryEscape(s.value)} {
				if bytes.Contains(body, []byte(form)) {
					hits++
					t.Errorf("%s (%.6s...) found in %s", s.kind, s.value, n)
					break
				}
			}
		}
	}
	tofuTrace := 0
	for _, n := range names {
		if strings.HasSuffix(n, ".trace") {
			tofuTrace += len(arts.items[n])
		}
	}
	// The control: the search finds what is there. Every served access token is in the 200
	// bodies, and no refresh token or client secret is.
	for tok := range served {
		if !bytes.Contains(okArt, []byte(tok)) {
			t.Errorf("control: a served access token is not found in the 200 bodies")
		}
	}
	for _, s := range secrets {
		if s.kind != "access token" && bytes.Contains(okArt, []byte(s.value)) {
			t.Errorf("a token endpoint 200 body holds a %s", s.kind)
		}
	}
	cats := map[string][2]int{}
	for _, n := range names {
		c := "other"
		for _, p := range []string{"tofu show -json", "tofu-", "tokend-", "GET ", "file ", "cmdline", "token 200 headers", "tokend serve"} {
			if strings.HasPrefix(n, p) {
				c = strings.TrimSpace(p)
				break
			}
		}
		v := cats[c]
		cats[c] = [2]int{v[0] + 1, v[1] + len(arts.items[n])}
		if c == "file" {
			t.Logf("hygiene: searched %s (%d bytes)", n, len(arts.items[n]))
		}
	}
	t.Logf("hygiene: artifacts by kind (count, bytes): %v", cats)
	t.Logf("hygiene: searched %d artifacts, %d bytes (tofu trace logs %d bytes, %d command lines of %d processes) for %d secrets "+
		"(1 client secret, %d access tokens, %d refresh tokens): %d hits; %d token-endpoint 200 bodies (%d distinct access tokens served) not searched; API statuses %v",
		len(names), total, tofuTrace, len(cmdlines), npids, len(secrets), len(access), len(refresh), hits, okBodies, len(served), statuses)
}
