package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/testenv"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv/tailortest"
	"github.com/authconnection/terraform-provider-tailor/tokend/client"
)

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
	bed := newTokendBed(t, env)
	key := checkKeysCLI(t, bed, env)
	checkNoAuthOffLoopback(t, bed)
	var procs []*tokendProc
	for i := range 3 {
		procs = append(procs, bed.serve(t, fmt.Sprintf("serve-%d", i)))
	}
	checkAPIAnswers(t, procs[0].URL, key)
	distinct := checkConcurrentClients(t, env, procs, key)
	checkLogsHoldNoSecret(t, env, procs, key, distinct)
	checkMetrics(t, procs[0].URL)
	checkNodeModule(t, env, procs[1].URL, key)
	checkRevokedKeyRefused(t, bed, procs[0].URL, key)
}

// checkKeysCLI creates an API key through the CLI: it is printed once, listed by its ID
// only, and stored as a hash that does not hold its secret part.
func checkKeysCLI(t *testing.T, bed *tokendBed, env *tailortest.Env) string {
	t.Helper()
	key := bed.createKey(t, "--connections", "google-*,unauthorized-conn", "--description", "e2e")
	keyID := strings.SplitN(key, "_", 3)[1]
	list, _, err := bed.run("keys", "list")
	if err != nil || !strings.Contains(list, keyID) || strings.Contains(list, key) {
		t.Fatalf("keys list: %v\n%s", err, list)
	}
	rec, err := env.Store.GetAPIKey(context.Background(), keyID)
	if err != nil || rec.Hash == "" || strings.Contains(rec.Hash, strings.SplitN(key, "_", 3)[2]) {
		t.Fatalf("stored key record: %+v %v", rec, err)
	}
	return key
}

// checkNoAuthOffLoopback: --insecure-no-auth is refused off loopback.
func checkNoAuthOffLoopback(t *testing.T, bed *tokendBed) {
	t.Helper()
	_, stderr, err := bed.run("serve", "--insecure-no-auth", "--listen", "0.0.0.0:0")
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(stderr, "loopback") {
		t.Errorf("serve --insecure-no-auth on 0.0.0.0: %v %s", err, stderr)
	}
}

// checkAPIAnswers: the token body, headers, every error code with a message, the list and
// /healthz.
func checkAPIAnswers(t *testing.T, base, key string) {
	t.Helper()
	resp, body := get(t, base+"/v1/connections/google-oauth/token", key)
	if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("token: %d %v", resp.StatusCode, resp.Header)
	}
	var tok map[string]any
	_ = json.Unmarshal(body, &tok)
	if _, ok := tok["refresh_token"]; ok || tok["access_token"] == nil || tok["token_type"] == nil {
		t.Errorf("token body has keys %v", slices.Sorted(maps.Keys(tok)))
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
		resp, body := get(t, base+c.path, c.key)
		var eb struct{ Error, Message string }
		_ = json.Unmarshal(body, &eb)
		if resp.StatusCode != c.status || eb.Error != c.code || eb.Message == "" {
			t.Errorf("GET %s: %d %s, want %d %s", c.path, resp.StatusCode, body, c.status, c.code)
		}
		if c.status == 409 && !strings.Contains(eb.Message, "tokend authorize unauthorized-conn") {
			t.Errorf("409 message %q does not name the command", eb.Message)
		}
	}
	resp, body = get(t, base+"/v1/connections", key)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"google-oauth"`) || !strings.Contains(string(body), `"not_authorized"`) || strings.Contains(string(body), "access_token") {
		t.Errorf("list: %d %s", resp.StatusCode, body)
	}
	if resp, _ := get(t, base+"/healthz", ""); resp.StatusCode != 200 {
		t.Errorf("healthz %d", resp.StatusCode)
	}
}

// checkConcurrentClients runs 60 Go clients on all processes for 10 s, across expiry
// boundaries: every call gets an unexpired token, each refresh token reaches Hydra once,
// and the chain stays active. It returns the access tokens served.
func checkConcurrentClients(t *testing.T, env *tailortest.Env, procs []*tokendProc, key string) map[string]bool {
	t.Helper()
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
			c := client.New(procs[i%len(procs)].URL, key)
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
	t.Logf("%d tokend processes: %d calls, %d failures, %d distinct tokens, %d refreshes at Hydra (%v)", len(procs), calls.Load(), failures.Load(), len(distinct), env.Proxy.Refreshes(), env.Proxy.Statuses())
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
	return distinct
}

// checkLogsHoldNoSecret: no token or key secret in any log line (the processes log at
// debug level).
func checkLogsHoldNoSecret(t *testing.T, env *tailortest.Env, procs []*tokendProc, key string, served map[string]bool) {
	t.Helper()
	final, _ := env.Store.GetTokens(context.Background(), "google-oauth")
	secrets := append([]string{strings.SplitN(key, "_", 3)[2], final.RefreshToken, env.ClientSecret}, slices.Collect(maps.Keys(served))...)
	for _, p := range procs {
		logText, _ := os.ReadFile(p.log)
		for _, sec := range secrets {
			if sec != "" && bytes.Contains(logText, []byte(sec)) {
				t.Errorf("%s logged a secret", p.log)
			}
		}
	}
}

// checkMetrics: /metrics exposes the request, cache, expiry and refresh series.
func checkMetrics(t *testing.T, base string) {
	t.Helper()
	_, metrics := get(t, base+"/metrics", "")
	for _, m := range []string{`tokend_token_requests_total{outcome="ok"}`, "tokend_cache_hits_total", `tokend_token_expiry_seconds{connection="google-oauth"}`, "tokend_refreshes_total"} {
		if !bytes.Contains(metrics, []byte(m)) {
			t.Errorf("metrics lack %s", m)
		}
	}
}

// checkNodeModule runs the JavaScript module's tests (node --test) against base: every
// test runs and passes.
func checkNodeModule(t *testing.T, env *tailortest.Env, base, key string) {
	t.Helper()
	root, _ := testenv.RepoRoot()
	node, err := exec.LookPath("node")
	if err != nil {
		testenv.Require(t, "node", "install Node.js 20 or later")
	}
	cmd := exec.Command(node, "--test", "--test-reporter=spec", filepath.Join(root, "functions", "js"))
	cmd.Env = append(os.Environ(),
		"TAILOR_TOKEND_URL="+base, "TAILOR_TOKEND_API_KEY="+key,
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
}

// checkRevokedKeyRefused: a key revoked through the CLI is refused within --key-cache-ttl
// (1 s; the poll allows 10 s).
func checkRevokedKeyRefused(t *testing.T, bed *tokendBed, base, key string) {
	t.Helper()
	if out, stderr, err := bed.run("keys", "revoke", strings.SplitN(key, "_", 3)[1]); err != nil {
		t.Fatalf("keys revoke: %v %s %s", err, out, stderr)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, _ := get(t, base+"/v1/connections/google-oauth/token", key)
		if resp.StatusCode == 401 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("revoked key still accepted: %d", resp.StatusCode)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
