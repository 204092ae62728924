package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/testenv"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv/tailortest"
	"github.com/authconnection/terraform-provider-tailor/tokend/client"
)

// buildTokend builds this command into a temporary directory.
func buildTokend(t *testing.T) string {
	t.Helper()
	return testenv.Build(t, "./tokend", t.TempDir(), "tokend")
}

type tokendProc struct {
	URL string
	cmd *exec.Cmd
	log string
}

func vaultEnv(env *tailortest.Env) []string {
	return append(os.Environ(), "VAULT_ADDR="+env.Vault.Addr, "VAULT_TOKEN="+env.Vault.Token, "TAILOR_PATH_PREFIX="+env.Prefix)
}

func runTokend(t *testing.T, bin string, env *tailortest.Env, args ...string) (string, string, error) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = vaultEnv(env)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startServe starts `tokend serve` against env's Vault and waits for /readyz.
func startServe(t *testing.T, bin string, env *tailortest.Env, replica string, extra ...string) *tokendProc {
	t.Helper()
	return startServeWith(t, bin, vaultEnv(env), replica, extra...)
}

// startServeWith starts `tokend serve` with the process environment environ and waits for
// /readyz.
func startServeWith(t *testing.T, bin string, environ []string, replica string, extra ...string) *tokendProc {
	t.Helper()
	return startServeOn(t, bin, environ, freeAddr(t), replica, extra...)
}

// startServeAt starts `tokend serve` against env's Vault on addr.
func startServeAt(t *testing.T, bin string, env *tailortest.Env, addr string, extra ...string) *tokendProc {
	t.Helper()
	return startServeOn(t, bin, vaultEnv(env), addr, "serve-"+strings.ReplaceAll(addr, ":", "-"), extra...)
}

// startServeOn starts `tokend serve` on addr and waits for /readyz.
func startServeOn(t *testing.T, bin string, environ []string, addr, replica string, extra ...string) *tokendProc {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), replica+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"serve", "--listen", addr, "--replica-id", replica, "--lease-ttl", "20s", "--lease-safety", "5s",
		"--recheck-interval", "2s", "--key-cache-ttl", "1s", "--log-level", "debug"}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Env = environ
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	scheme := "http://"
	hc := http.DefaultClient
	for _, a := range extra {
		if a == "--tls-cert" {
			scheme = "https://"
			// Readiness only: the test checks the certificate with its own client.
			hc = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
		}
	}
	p := &tokendProc{URL: scheme + addr, cmd: cmd, log: logPath}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			if len(b) > 6000 {
				b = b[len(b)-6000:]
			}
			t.Logf("%s log:\n%s", replica, b)
		}
	})
	waitReady(t, hc, p.URL, "tokend "+replica, logPath, 30*time.Second)
	return p
}

// waitReady polls base/readyz until it answers 200, or fails the test after timeout with
// the server's log (logPath, when not empty).
func waitReady(t *testing.T, hc *http.Client, base, what, logPath string, timeout time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(timeout); ; {
		resp, err := hc.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			var b []byte
			if logPath != "" {
				b, _ = os.ReadFile(logPath)
			}
			t.Fatalf("%s not ready: %v\n%s", what, err, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func get(t *testing.T, url, key string) (*http.Response, []byte) {
	t.Helper()
	authz := ""
	if key != "" {
		authz = "Bearer " + key
	}
	resp, b, err := getAuth(url, authz)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// quietClient bounds every test request, so a hung server fails the test instead of the
// test binary's timeout.
var quietClient = &http.Client{Timeout: 15 * time.Second}

// getAuth sends GET url with the Authorization header authz ("" for none) and returns the
// response and up to 64 KiB of its body. It never fails the test, so goroutines may call it.
func getAuth(url, authz string) (*http.Response, []byte, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil, nil, err
	}
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	resp, err := quietClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	return resp, b, err
}

// TestServeProcessesAndNode runs three real `tokend serve` processes on one Vault against
// Hydra with 4-second access tokens: concurrent Go clients across expiry boundaries, the
// HTTP API's answers and headers, API key management through the CLI, and the JavaScript
// module's tests (node --test) against one of the processes.
func TestServeProcessesAndNode(t *testing.T) {
	env := tailortest.Start(t, testenv.HydraOptions{AccessTokenTTL: 4 * time.Second})
	env.AddConnection(t, "google-oauth")
	env.AddConnection(t, "unauthorized-conn")
	env.Authorize(t, "google-oauth")
	bin := buildTokend(t)

	// API keys through the CLI.
	key, stderr, err := runTokend(t, bin, env, "keys", "create", "--connections", "google-*,unauthorized-conn", "--description", "e2e")
	if err != nil {
		t.Fatalf("keys create: %v\n%s", err, stderr)
	}
	key = strings.TrimSpace(key)
	if !strings.HasPrefix(key, "tk_") {
		t.Fatalf("keys create printed %q", key)
	}
	keyID := strings.SplitN(key, "_", 3)[1]
	list, _, err := runTokend(t, bin, env, "keys", "list")
	if err != nil || !strings.Contains(list, keyID) || strings.Contains(list, key) {
		t.Fatalf("keys list: %v\n%s", err, list)
	}
	rec, err := env.Store.GetAPIKey(context.Background(), keyID)
	if err != nil || rec.Hash == "" || strings.Contains(rec.Hash, strings.SplitN(key, "_", 3)[2]) {
		t.Fatalf("stored key record: %+v %v", rec, err)
	}

	// --insecure-no-auth is refused off loopback.
	_, stderr, err = runTokend(t, bin, env, "serve", "--insecure-no-auth", "--listen", "0.0.0.0:0")
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(stderr, "loopback") {
		t.Errorf("serve --insecure-no-auth on 0.0.0.0: %v %s", err, stderr)
	}

	var procs []*tokendProc
	for i := range 3 {
		procs = append(procs, startServe(t, bin, env, fmt.Sprintf("serve-%d", i)))
	}

	// The API's answers.
	p0 := procs[0].URL
	resp, body := get(t, p0+"/v1/connections/google-oauth/token", key)
	if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("token: %d %v", resp.StatusCode, resp.Header)
	}
	var tok map[string]any
	_ = json.Unmarshal(body, &tok)
	if _, ok := tok["refresh_token"]; ok || tok["access_token"] == nil || tok["token_type"] == nil {
		t.Errorf("token body has keys %v", keys(tok))
	}
	if _, err := time.Parse(time.RFC3339, fmt.Sprint(tok["expires_at"])); err != nil {
		t.Errorf("expires_at: %v", err)
	}
	for _, c := range []struct {
		path, key string
		status    int
		code      string
	}{
		{"/v1/connections/google-oauth/token", "", 401, "unauthenticated"},
		{"/v1/connections/google-oauth/token", "tk_aaaaaaaaaaaa_bogusbogusbogusbogusbogus", 401, "unauthenticated"},
		{"/v1/connections/google-oauth/token", "garbage", 401, "unauthenticated"},
		{"/v1/connections/other-conn/token", key, 403, "forbidden"},
		{"/v1/connections/google-missing/token", key, 404, "not_found"},
		{"/v1/connections/unauthorized-conn/token", key, 409, "not_authorized"},
	} {
		resp, body := get(t, p0+c.path, c.key)
		var eb struct{ Error, Message string }
		_ = json.Unmarshal(body, &eb)
		if resp.StatusCode != c.status || eb.Error != c.code || eb.Message == "" {
			t.Errorf("GET %s: %d %s, want %d %s", c.path, resp.StatusCode, body, c.status, c.code)
		}
		if c.status == 409 && !strings.Contains(eb.Message, "tokend authorize unauthorized-conn") {
			t.Errorf("409 message %q does not name the command", eb.Message)
		}
	}
	resp, body = get(t, p0+"/v1/connections", key)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"google-oauth"`) || !strings.Contains(string(body), `"not_authorized"`) || strings.Contains(string(body), "access_token") {
		t.Errorf("list: %d %s", resp.StatusCode, body)
	}
	if resp, _ := get(t, p0+"/healthz", ""); resp.StatusCode != 200 {
		t.Errorf("healthz %d", resp.StatusCode)
	}

	// Concurrent Go clients on all three processes across expiry boundaries.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var calls, failures atomic.Int64
	var firstErr atomic.Value
	var mu sync.Mutex
	distinct := map[string]bool{}
	var wg sync.WaitGroup
	for i := range 60 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := client.New(procs[i%3].URL, key)
			for ctx.Err() == nil {
				tk, err := c.Token(ctx, "google-oauth")
				if ctx.Err() != nil {
					return
				}
				calls.Add(1)
				if err != nil || !time.Now().Before(tk.ExpiresAt.Add(time.Second)) {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprint(err))
					continue
				}
				mu.Lock()
				distinct[tk.AccessToken] = true
				mu.Unlock()
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	t.Logf("3 tokend processes: %d calls, %d failures, %d distinct tokens, %d refreshes at Hydra (%v)", calls.Load(), failures.Load(), len(distinct), env.Proxy.Refreshes(), env.Proxy.Statuses())
	if failures.Load() > 0 {
		t.Errorf("%d failed calls; first: %v", failures.Load(), firstErr.Load())
	}
	if env.Proxy.Reused() > 0 {
		t.Errorf("a refresh token reached Hydra twice")
	}
	if st := env.Proxy.Statuses(); st[200] != env.Proxy.Refreshes() || env.Proxy.Refreshes() < 2 {
		t.Errorf("refresh answers %v", st)
	}
	final, _ := env.Store.GetTokens(context.Background(), "google-oauth")
	if ir, _ := env.Introspect(final.RefreshToken); !ir.Active {
		t.Errorf("chain revoked")
	}
	// No token or key secret in any log line (the processes log at debug level).
	secrets := []string{strings.SplitN(key, "_", 3)[2], final.RefreshToken, env.ClientSecret}
	for tk := range distinct {
		secrets = append(secrets, tk)
	}
	for _, p := range procs {
		logText, _ := os.ReadFile(p.log)
		for _, sec := range secrets {
			if sec != "" && bytes.Contains(logText, []byte(sec)) {
				t.Errorf("%s logged a secret", p.log)
			}
		}
	}
	_, metrics := get(t, p0+"/metrics", "")
	for _, m := range []string{`tokend_token_requests_total{outcome="ok"}`, "tokend_cache_hits_total", `tokend_token_expiry_seconds{connection="google-oauth"}`, "tokend_refreshes_total"} {
		if !bytes.Contains(metrics, []byte(m)) {
			t.Errorf("metrics lack %s", m)
		}
	}

	// The JavaScript module against a real tokend.
	root, _ := testenv.RepoRoot()
	node, err := exec.LookPath("node")
	if err != nil {
		testenv.Require(t, "node", "install Node.js 20 or later")
	}
	cmd := exec.Command(node, "--test", "--test-reporter=spec", filepath.Join(root, "functions", "js"))
	cmd.Env = append(os.Environ(),
		"TAILOR_TOKEND_URL="+procs[1].URL, "TAILOR_TOKEND_API_KEY="+key,
		"TAILOR_TEST_CONNECTION=google-oauth", "TAILOR_TEST_UNAUTHORIZED=unauthorized-conn",
		"TAILOR_TEST_FORBIDDEN=other-conn", "TAILOR_TEST_MISSING=google-missing",
		"TAILOR_TEST_USERINFO_URL="+env.Hydra.PublicURL+"/userinfo", "TAILOR_TEST_SUBJECT="+testenv.DefaultSubject)
	out, err := cmd.CombinedOutput()
	t.Logf("node --test functions/js:\n%s", out)
	if err != nil || !bytes.Contains(out, []byte("fail 0")) || !bytes.Contains(out, []byte("skipped 0")) {
		t.Errorf("node --test: %v (want every test run and passed)", err)
	}
	if dst := os.Getenv("TOKEND_NODE_OUTPUT"); dst != "" {
		_ = os.WriteFile(dst, out, 0o644)
	}

	// Revoking the key: refused within --key-cache-ttl (1 s).
	if out, stderr, err := runTokend(t, bin, env, "keys", "revoke", keyID); err != nil {
		t.Fatalf("keys revoke: %v %s %s", err, out, stderr)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, _ := get(t, p0+"/v1/connections/google-oauth/token", key)
		if resp.StatusCode == 401 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("revoked key still accepted: %d", resp.StatusCode)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
