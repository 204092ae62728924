package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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

// names returns the artifacts' names, sorted.
func (a *artifacts) names() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Sorted(maps.Keys(a.items))
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
// --log-level debug` answering 200, 400, 401, 403, 404 and 409 while Hydra's 6-second
// access tokens are refreshed, `tofu apply -refresh-only`, `tokend revoke`, a second
// authorize, and `tofu destroy` (which revokes at Hydra and deletes). Every access and
// refresh token Hydra issued is recorded by a proxy in front of its token endpoint. Then
// every log and output of ours (tofu trace and output, tokend output), every state file and
// backup, `tofu show -json` of the saved plans, every HTTP error body and every command line
// of the processes we started (and their children) is searched for the client secret and
// every token: no hit, except access tokens in the token endpoint's own 200 answers (not
// searched, counted).
func TestSecretHygieneEndToEnd(t *testing.T) {
	t.Parallel()
	bed := newHygieneBed(t)
	bed.applyWithSavedPlan(t)
	bed.authorize(t)
	bed.startServe(t)
	bed.hosted(t)
	bed.callEveryAnswer(t)
	bed.serveUntilRefreshed(t, 3)
	bed.refreshTerraform(t)
	bed.revokeAndAuthorizeAgain(t)
	bed.destroy(t)
	bed.collectFiles(t)

	secrets := bed.secrets(t)
	checkServedTokensWereIssued(t, bed)
	checkNoSecretInAnyArtifact(t, bed, secrets)
	checkAuditStream(t, bed, secrets)
	checkTheSearchFindsWhatIsThere(t, bed, secrets)
	bed.logFigures(t, secrets)
}

// hygieneBed is the hygiene test's servers, processes and the artifacts they leave.
type hygieneBed struct {
	tofu, bin, tmp, work, rc string
	vault                    *testenv.Vault
	hydra                    *testenv.Hydra
	browser                  *testenv.Browser
	rec                      *tokenRecorder
	watch                    *procWatch
	arts                     artifacts
	clientSecret             string
	port                     int
	step                     int
	tokendEnv                []string
	key, otherKey            string
	serve                    *exec.Cmd
	serveLog, base           string
	served                   map[string]bool
	statuses                 map[int]int
	okBodies                 int
	okArt                    []byte // the token endpoint's 200 bodies: access tokens allowed, nothing else
	cmdlines                 []string
	npids                    int
	hostedSecrets            *hostedSecrets
}

// newHygieneBed starts Vault, Hydra (6-second access tokens), Chromium and the token
// recorder, builds tokend and the provider, and writes the Terraform configuration of two
// connections (one is never authorized).
func newHygieneBed(t *testing.T) *hygieneBed {
	bed := &hygieneBed{tofu: testenv.Binary(t, "tofu"), vault: testenv.StartVault(t), tmp: t.TempDir(),
		served: map[string]bool{}, statuses: map[int]int{}}
	bed.hydra = testenv.StartHydra(t, testenv.HydraOptions{AccessTokenTTL: 6 * time.Second})
	bed.browser = testenv.StartBrowser(t)
	bed.rec = newTokenRecorder(t, bed.hydra.TokenURL)
	bed.watch = newProcWatch(t)
	bed.bin = buildTokend(t)
	plugins := filepath.Join(bed.tmp, "plugins")
	testenv.Build(t, ".", plugins, "terraform-provider-tailor")
	bed.port = testenv.Port(t)
	var clientID string
	clientID, bed.clientSecret = bed.hydra.CreateClient(t, testenv.ClientSpec{RedirectURIs: []string{authorize.RedirectURI(bed.port)}})
	bed.work = filepath.Join(bed.tmp, "tf")
	if err := os.MkdirAll(bed.work, 0o700); err != nil {
		t.Fatal(err)
	}
	var err error
	if bed.rc, err = testenv.TofuDevConfig(bed.tmp, plugins); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bed.work, "main.tf"), []byte(bed.config(clientID)), 0o600); err != nil {
		t.Fatal(err)
	}
	// Every tokend command and serve append their audit records to one stream, searched too.
	bed.tokendEnv = minimalEnv(bed.tmp, bed.vault.Addr, "VAULT_TOKEN="+bed.vault.Token, "TOKEND_AUDIT_LOG="+bed.auditPath())
	return bed
}

func (bed *hygieneBed) baseEnv() []string {
	return []string{"PATH=" + os.Getenv("PATH"), "HOME=" + bed.tmp}
}

// config is the Terraform configuration: connections hygiene and hygiene-pending.
func (bed *hygieneBed) config(clientID string) string {
	h := bed.hydra
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
`, label, name, h.Issuer, h.Issuer, clientID, h.AuthURL, bed.rec.URL, h.RevokeURL)
	}
	return fmt.Sprintf(`terraform {
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
`, bed.vault.Addr) + conn("h", "hygiene") + conn("pending", "hygiene-pending")
}

// run runs a program as a numbered step, keeps its output (and extra files) as artifacts,
// and watches its command line and those of its children.
func (bed *hygieneBed) run(t *testing.T, label, bin string, env []string, dir string, args ...string) []byte {
	t.Helper()
	bed.step++
	name := fmt.Sprintf("%s-%02d-%s", label, bed.step, args[0])
	cmd := exec.Command(bin, args...)
	cmd.Dir, cmd.Env = dir, env
	if label == "tofu" {
		cmd.Env = append(cmd.Env, "TF_LOG=trace", "TF_LOG_PATH="+filepath.Join(bed.tmp, name+".trace.log"))
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	bed.watch.add(cmd.Process.Pid)
	err := cmd.Wait()
	bed.arts.add(name+".stdout", stdout.Bytes())
	bed.arts.add(name+".stderr", stderr.Bytes())
	if label == "tofu" {
		bed.arts.addFile(t, name+".trace", filepath.Join(bed.tmp, name+".trace.log"))
		bed.arts.add(name+".argv", []byte(strings.Join(cmd.Args, "\x00")))
		// Every state file and backup as it is after each command (a later one overwrites them).
		states, _ := filepath.Glob(filepath.Join(bed.work, "*.tfstate*"))
		for _, p := range states {
			bed.arts.addFile(t, "file "+filepath.Base(p)+" after "+name, p)
		}
	}
	if err != nil {
		t.Fatalf("%s %s: %v\n%s\n%s", label, strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.Bytes()
}

func (bed *hygieneBed) tofuRun(t *testing.T, args ...string) []byte {
	t.Helper()
	env := append(append(bed.baseEnv(), testenv.TofuEnv(bed.rc)...), "VAULT_TOKEN="+bed.vault.Token, "TF_VAR_client_secret="+bed.clientSecret)
	return bed.run(t, "tofu", bed.tofu, env, bed.work, args...)
}

func (bed *hygieneBed) tokendRun(t *testing.T, args ...string) string {
	t.Helper()
	return string(bed.run(t, "tokend", bed.bin, bed.tokendEnv, "", args...))
}

// applyWithSavedPlan: plan (saved), show -json of the plan, apply.
func (bed *hygieneBed) applyWithSavedPlan(t *testing.T) {
	bed.tofuRun(t, "plan", "-input=false", "-no-color", "-out=plan1.bin")
	bed.arts.add("tofu show -json plan1.bin", bed.tofuRun(t, "show", "-json", "-no-color", "plan1.bin"))
	bed.tofuRun(t, "apply", "-input=false", "-no-color", "plan1.bin")
}

// authorize runs `tokend authorize hygiene --log-level debug`, completing it in Chromium.
func (bed *hygieneBed) authorize(t *testing.T) {
	t.Helper()
	bed.step++
	name := fmt.Sprintf("tokend-%02d-authorize", bed.step)
	cmd, rd, stderr := startAuthorizeProc(t, bed.bin, bed.tokendEnv, "hygiene", bed.port, "--log-level", "debug")
	bed.watch.add(cmd.Process.Pid)
	line, err := rd.ReadString('\n')
	if err != nil {
		t.Fatalf("authorize: %v\n%s", err, stderr.String())
	}
	op := bed.browser.NewOpener(time.Minute)
	_ = op.Open(strings.TrimSpace(line))
	rest, _ := io.ReadAll(rd)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("tokend authorize: %v\n%s", err, stderr.String())
	}
	vis := op.Wait(t, time.Minute)
	if !strings.Contains(vis.Text, "Authorization complete") {
		t.Fatalf("browser page: %q", vis.Text)
	}
	bed.arts.add(name+".stdout", append([]byte(line), rest...))
	bed.arts.add(name+".stderr", []byte(stderr.String()))
	bed.arts.add(name+".browser-page", []byte(vis.FinalURL+"\n"+vis.Text))
}

// startServe creates two API keys and starts `tokend serve --log-level debug` on a free
// port (on another one, 3 tries, when another process took it in between).
func (bed *hygieneBed) startServe(t *testing.T) {
	bed.key = strings.TrimSpace(bed.tokendRun(t, "keys", "create", "--connections", "hygiene*", "--description", "hygiene"))
	bed.otherKey = strings.TrimSpace(bed.tokendRun(t, "keys", "create", "--connections", "someone-else"))
	bed.serveLog = filepath.Join(bed.tmp, "serve.log")
	t.Cleanup(bed.stopServe)
	for attempt := 1; ; attempt++ {
		addr := freeAddr(t)
		bed.launchServe(t, addr)
		err := awaitServing(http.DefaultClient, bed.base, bed.serve.Process.Pid, bed.serveLog, 20*time.Second)
		if err == nil {
			return
		}
		bed.stopServe()
		if !errors.Is(err, errAddrInUse) || attempt == 3 {
			// Never its log: it is an artifact this test searches for secrets, not output.
			t.Fatalf("tokend serve not ready: %v (its log is not printed)", err)
		}
		t.Logf("tokend serve: %s was taken, starting on another port", addr)
	}
}

// launchServe starts `tokend serve` on addr, its output in bed.serveLog.
func (bed *hygieneBed) launchServe(t *testing.T, addr string) {
	lf, err := os.Create(bed.serveLog)
	if err != nil {
		t.Fatal(err)
	}
	bed.serve = exec.Command(bed.bin, "serve", "--listen", addr, "--log-level", "debug", "--recheck-interval", "1s", "--key-cache-ttl", "1s",
		"--public-url", "http://"+addr, "--webhook-interval", "200ms")
	bed.serve.Env = bed.tokendEnv
	bed.serve.Stdout, bed.serve.Stderr = lf, lf
	bed.serve.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := bed.serve.Start(); err != nil {
		t.Fatal(err)
	}
	lf.Close() // the child has its own descriptor
	bed.watch.add(bed.serve.Process.Pid)
	bed.base = "http://" + addr
}

func (bed *hygieneBed) stopServe() {
	if bed.serve != nil && bed.serve.ProcessState == nil {
		_ = bed.serve.Process.Signal(syscall.SIGTERM)
		_ = bed.serve.Wait()
	}
}

// call asks serve for path and keeps the answer: a token endpoint's 200 body (which holds
// an access token by design) apart, every other answer as an artifact.
func (bed *hygieneBed) call(t *testing.T, path, authz string) (int, []byte) {
	t.Helper()
	resp, body, err := getAuth(bed.base+path, authz)
	if err != nil {
		t.Fatal(err)
	}
	bed.statuses[resp.StatusCode]++
	hdr := headerLines(resp.Header)
	if resp.StatusCode != 200 || !strings.HasSuffix(path, "/token") {
		bed.arts.add(fmt.Sprintf("GET %s -> %d", path, resp.StatusCode), append([]byte(hdr), body...))
		return resp.StatusCode, body
	}
	var tok struct {
		AccessToken string            `json:"access_token"`
		Metadata    map[string]string `json:"metadata"`
		APIBaseURL  string            `json:"api_base_url"`
	}
	if json.Unmarshal(body, &tok) != nil || tok.AccessToken == "" {
		t.Fatalf("token answer %s", body)
	}
	// The answer's metadata and API base URL are not secrets: searched like every artifact.
	md, _ := json.Marshal(tok.Metadata)
	bed.arts.add("token 200 metadata", append(md, tok.APIBaseURL...))
	bed.served[tok.AccessToken] = true
	bed.okBodies++
	bed.okArt = append(bed.okArt, body...)
	bed.arts.add("token 200 headers", []byte(hdr))
	return resp.StatusCode, body
}

// headerLines is h as "Name: value,value" lines, for searching.
func headerLines(h http.Header) string {
	var b strings.Builder
	for k, vs := range h {
		fmt.Fprintf(&b, "%s: %s\n", k, strings.Join(vs, ","))
	}
	return b.String()
}

func (bed *hygieneBed) expect(t *testing.T, path, authz string, want int) {
	t.Helper()
	if got, body := bed.call(t, path, authz); got != want {
		t.Fatalf("GET %s: %d %s, want %d", path, got, body, want)
	}
}

const hygieneTokenPath = "/v1/connections/hygiene/token"

// callEveryAnswer makes serve give each of its answers at least once.
func (bed *hygieneBed) callEveryAnswer(t *testing.T) {
	key := bed.key
	bed.expect(t, hygieneTokenPath, "Bearer "+key, 200)
	bed.expect(t, hygieneTokenPath, "", 401)
	bed.expect(t, hygieneTokenPath, "Bearer tk_nope", 401)
	bed.expect(t, hygieneTokenPath, "Bearer "+key[:len(key)-4]+"AAAA", 401)
	bed.expect(t, hygieneTokenPath, "Bearer "+bed.otherKey, 403)
	bed.expect(t, "/v1/connections/hygiene-missing/token", "Bearer "+key, 404)
	bed.expect(t, "/v1/connections/hygiene-pending/token", "Bearer "+key, 409)
	bed.expect(t, "/v1/connections/Hygiene/token", "Bearer "+key, 400)
	bed.expect(t, "/v1/connections", "Bearer "+key, 200)
	bed.expect(t, "/v1/connections", "", 401)
	bed.expect(t, "/nope", "Bearer "+key, 404)
	bed.expect(t, "/metrics", "", 200)
}

// serveUntilRefreshed asks for the token until serve has handed out n distinct ones.
func (bed *hygieneBed) serveUntilRefreshed(t *testing.T, n int) {
	for deadline := time.Now().Add(40 * time.Second); len(bed.served) < n; {
		if time.Now().After(deadline) {
			t.Fatalf("only %d distinct access tokens served in 40s", len(bed.served))
		}
		bed.expect(t, hygieneTokenPath, "Bearer "+bed.key, 200)
		time.Sleep(250 * time.Millisecond)
	}
	bed.expect(t, "/metrics", "", 200)
}

// refreshTerraform: Terraform sees the token status (a refresh-only apply writes state and
// a backup), and a saved plan of the authorized connection.
func (bed *hygieneBed) refreshTerraform(t *testing.T) {
	bed.tofuRun(t, "apply", "-input=false", "-no-color", "-refresh-only", "-auto-approve")
	bed.tofuRun(t, "plan", "-input=false", "-no-color", "-out=plan2.bin")
	bed.arts.add("tofu show -json plan2.bin", bed.tofuRun(t, "show", "-json", "-no-color", "plan2.bin"))
	bed.arts.add("tofu show -json (state)", bed.tofuRun(t, "show", "-json", "-no-color"))
}

func (bed *hygieneBed) waitStatus(t *testing.T, want int) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; {
		got, _ := bed.call(t, hygieneTokenPath, "Bearer "+bed.key)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %d, want %d", hygieneTokenPath, got, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// revokeAndAuthorizeAgain: revoke; the API says 409; authorize again; serve picks it up.
func (bed *hygieneBed) revokeAndAuthorizeAgain(t *testing.T) {
	bed.tokendRun(t, "revoke", "hygiene")
	bed.waitStatus(t, 409)
	bed.tokendRun(t, "list")
	bed.authorize(t)
	bed.waitStatus(t, 200)
}

// destroy: tofu destroy revokes at Hydra (token_url and revocation_url are set) and deletes.
func (bed *hygieneBed) destroy(t *testing.T) {
	_, refresh := bed.rec.tokens()
	bed.tofuRun(t, "destroy", "-input=false", "-no-color", "-auto-approve")
	bed.waitStatus(t, 404)
	// tokend serve tells the webhooks of the deletion it reads in the change log (the
	// Terraform role may not write the outbox): wait for that delivery before stopping it.
	bed.hostedSecrets.receiver.waitFor(t, "connection.deleted")
	bed.stopServe()
	bed.arts.addFile(t, "tokend serve stdout+stderr", bed.serveLog)
	bed.arts.addFile(t, "audit stream", bed.auditPath())
	if bed.hydra.Introspect(t, refresh[len(refresh)-1]).Active {
		t.Error("the last refresh token is still active after tofu destroy")
	}
}

// collectFiles adds every file tofu left in the working directory and every command line.
func (bed *hygieneBed) collectFiles(t *testing.T) {
	_ = filepath.WalkDir(bed.work, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, ".bin") {
			return nil // plan files are zip archives: their JSON (tofu show -json) is searched
		}
		rel, _ := filepath.Rel(bed.work, p)
		bed.arts.addFile(t, "file "+rel, p)
		return nil
	})
	bed.watch.close()
	bed.cmdlines, bed.npids = bed.watch.result()
	for i, c := range bed.cmdlines {
		bed.arts.add(fmt.Sprintf("cmdline #%d", i+1), []byte(c))
	}
}

// secrets are the client secret and every token Hydra issued.
func (bed *hygieneBed) secrets(t *testing.T) []testenv.Secret {
	access, refresh := bed.rec.tokens()
	if len(refresh) < 3 || len(access) < 4 {
		t.Fatalf("recorded only %d access and %d refresh tokens", len(access), len(refresh))
	}
	out := append([]testenv.Secret{{Kind: "client secret", Value: bed.clientSecret}}, bed.hostedSecrets.list()...)
	for _, a := range access {
		out = append(out, testenv.Secret{Kind: "access token", Value: a})
	}
	for _, r := range refresh {
		out = append(out, testenv.Secret{Kind: "refresh token", Value: r})
	}
	return out
}

func checkServedTokensWereIssued(t *testing.T, bed *hygieneBed) {
	access, _ := bed.rec.tokens()
	for tok := range bed.served {
		if !slices.Contains(access, tok) {
			t.Errorf("invariant «the recorder saw every token»: tokend served an access token the recorder never saw")
		}
	}
}

func checkNoSecretInAnyArtifact(t *testing.T, bed *hygieneBed, secrets []testenv.Secret) {
	for _, n := range bed.arts.names() {
		testenv.CheckNoSecret(t, "no secret in any artifact", n, bed.arts.items[n], secrets)
	}
}

// checkTheSearchFindsWhatIsThere is the control: every served access token is in the 200
// bodies, and no refresh token or client secret is.
func checkTheSearchFindsWhatIsThere(t *testing.T, bed *hygieneBed, secrets []testenv.Secret) {
	for tok := range bed.served {
		if !bytes.Contains(bed.okArt, []byte(tok)) {
			t.Errorf("invariant «the search finds what is there»: a served access token is not found in the 200 bodies")
		}
	}
	for _, s := range secrets {
		if s.Kind != "access token" && bytes.Contains(bed.okArt, []byte(s.Value)) {
			t.Errorf("invariant «the token endpoint answers only access tokens»: a 200 body holds a %s", s.Kind)
		}
	}
}

// logFigures logs what was searched (docs/reliability.md quotes it).
func (bed *hygieneBed) logFigures(t *testing.T, secrets []testenv.Secret) {
	names := bed.arts.names()
	cats := map[string][2]int{}
	total, tofuTrace := 0, 0
	for _, n := range names {
		size := len(bed.arts.items[n])
		total += size
		if strings.HasSuffix(n, ".trace") {
			tofuTrace += size
		}
		c := "other"
		for _, p := range []string{"tofu show -json", "tofu-", "tokend-", "GET ", "POST ", "webhook delivery", "file ", "cmdline", "token 200 headers", "tokend serve"} {
			if strings.HasPrefix(n, p) {
				c = strings.TrimSpace(p)
				break
			}
		}
		v := cats[c]
		cats[c] = [2]int{v[0] + 1, v[1] + size}
		if c == "file" {
			t.Logf("hygiene: searched %s (%d bytes)", n, size)
		}
	}
	access, refresh := bed.rec.tokens()
	t.Logf("hygiene: artifacts by kind (count, bytes): %v", cats)
	t.Logf("hygiene: searched %d artifacts, %d bytes (tofu trace logs %d bytes, %d command lines of %d processes) for %d secrets "+
		"(1 client secret, %d access tokens, %d refresh tokens, and the admin key, webhook secret and connect link each whole and as its secret part); %d token-endpoint 200 bodies (%d distinct access tokens served) not searched; API statuses %v",
		len(names), total, tofuTrace, len(bed.cmdlines), bed.npids, len(secrets), len(access), len(refresh), bed.okBodies, len(bed.served), bed.statuses)
}

// auditPath is the audit stream (--audit-log, through $TOKEND_AUDIT_LOG) of every tokend
// process the test runs.
func (bed *hygieneBed) auditPath() string { return filepath.Join(bed.tmp, "audit.jsonl") }

// checkAuditStream: the audit stream recorded the token reads (served and refused), the
// revoke and the key creations, and holds none of the secrets, nor the API keys (whole or
// their secret part), which may appear in other artifacts (keys create prints them).
func checkAuditStream(t *testing.T, bed *hygieneBed, secrets []testenv.Secret) {
	b := bed.arts.items["audit stream"]
	seen := map[string]int{}
	for _, a := range readAudit(t, bed.auditPath()) {
		seen[a.Action+" "+a.Outcome]++
	}
	for _, want := range []string{"token.read success", "token.read denied", "token.read failure", "connection.revoked success", "key.created success"} {
		if seen[want] == 0 {
			t.Errorf("invariant «every token read, revoke and key change is recorded»: no %q record in the audit stream (%v)", want, seen)
		}
	}
	all := slices.Clone(secrets)
	for i, k := range []string{bed.key, bed.otherKey} {
		all = append(all, testenv.Secret{Kind: fmt.Sprintf("API key #%d", i+1), Value: k},
			testenv.Secret{Kind: fmt.Sprintf("API key #%d's secret part", i+1), Value: strings.SplitN(k, "_", 3)[2]})
	}
	testenv.CheckNoSecret(t, "no secret in the audit stream", "audit stream", b, all)
	t.Logf("hygiene: audit stream of %d bytes, records by action and outcome %v, searched for %d secrets", len(b), seen, len(all))
}
