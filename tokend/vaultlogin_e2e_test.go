package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/testenv"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv/tailortest"
)

const tokendSubject = "system:serviceaccount:tailor:tokend"

// vaultLoginBed runs tokend serve with no Vault token at all: it logs in with a
// Kubernetes-style service-account JWT from a file, to a role whose Vault tokens live 3 s
// (6 s at most), with the documented tokend policy.
type vaultLoginBed struct {
	env    *tailortest.Env
	issuer *testenv.JWTIssuer
	file   string
	proc   *tokendProc
	key    string
}

func newVaultLoginBed(t *testing.T) *vaultLoginBed {
	t.Helper()
	b := &vaultLoginBed{env: tailortest.Start(t, testenv.HydraOptions{AccessTokenTTL: 4 * time.Second})}
	b.env.AddConnection(t, "google-oauth")
	b.env.Authorize(t, "google-oauth")
	root := b.env.Vault.Client()
	if err := root.Sys().PutPolicy("tailor-tokend", testenv.DocPolicy(t, "tokend", b.env.Prefix)); err != nil {
		t.Fatal(err)
	}
	b.issuer = b.env.Vault.EnableJWTAuth(t, "jwt")
	b.issuer.AddRole(t, "tokend", map[string]any{"bound_audiences": []string{"vault"}, "bound_subject": tokendSubject,
		"token_policies": []string{"tailor-tokend"}, "token_ttl": "3s", "token_max_ttl": "6s"})
	b.file = filepath.Join(t.TempDir(), "token")
	b.writeJWT(t, b.issuer.Sign(t, map[string]any{"sub": tokendSubject}))
	bed := newTokendBed(t, b.env)
	b.key = bed.createKey(t, "--connections", "google-*")
	jwtLogin := minimalEnv(t.TempDir(), b.env.Vault.Addr, "TAILOR_PATH_PREFIX="+b.env.Prefix, "VAULT_JWT_ROLE=tokend", "VAULT_JWT_FILE="+b.file)
	b.proc = bed.with(jwtLogin).serve(t, "jwt-replica")
	return b
}

// writeJWT replaces the token file atomically, as the kubelet does.
func (b *vaultLoginBed) writeJWT(t *testing.T, jwt string) {
	t.Helper()
	if err := os.WriteFile(b.file+".new", []byte(jwt), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(b.file+".new", b.file); err != nil {
		t.Fatal(err)
	}
}

// TestServeWithJWTLoginAcrossVaultTokenLifetimes: tokend serves and refreshes for 20 s,
// more than three lifetimes of its Vault token, logging in again by itself. When the JWT
// file then holds an expired JWT, tokend logs the failure and /readyz fails once its Vault
// token has expired; a fresh JWT in the file makes it ready again.
func TestServeWithJWTLoginAcrossVaultTokenLifetimes(t *testing.T) {
	t.Parallel()
	b := newVaultLoginBed(t)
	served := b.serveFor(t, 20*time.Second)
	if served < 4 {
		t.Errorf("invariant «refreshes go on across Vault token lifetimes»: %d distinct access tokens in 20 s of 4 s tokens", served)
	}
	logged, _ := os.ReadFile(b.proc.log)
	if n := strings.Count(string(logged), "logged in to Vault again"); n < 3 {
		t.Errorf("invariant «tokend logs in again before its Vault token expires»: %d re-logins in 20 s of 3-6 s Vault tokens", n)
	}

	past := time.Now().Add(-time.Hour)
	b.writeJWT(t, b.issuer.Sign(t, map[string]any{"sub": tokendSubject, "exp": past.Unix(), "iat": past.Unix(), "nbf": past.Unix()}))
	body := b.waitReady(t, false, 20*time.Second)
	if strings.TrimSpace(body) != `{"status":"not ready"}` {
		t.Errorf("invariant «/readyz tells anonymous callers only ready or not»: %s", body)
	}
	logged, _ = os.ReadFile(b.proc.log)
	if !strings.Contains(string(logged), "not ready") || !strings.Contains(string(logged), "logging in again fails") {
		t.Error("invariant «the log says why /readyz is not ready»: no such line")
	}
	if !strings.Contains(string(logged), "Vault login failed") || !strings.Contains(string(logged), "the JWT has expired") {
		t.Error("invariant «a clear log line when tokend cannot log in»: none in the log")
	}
	b.writeJWT(t, b.issuer.Sign(t, map[string]any{"sub": tokendSubject}))
	b.waitReady(t, true, 70*time.Second) // the re-login backoff doubles up to a minute
	b.waitToken(t, 30*time.Second)       // the broker retries Vault after its backoff
}

// waitToken polls the token endpoint until it answers 200.
func (b *vaultLoginBed) waitToken(t *testing.T, d time.Duration) {
	t.Helper()
	var last string
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
		resp, body := get(t, b.proc.URL+"/v1/connections/google-oauth/token", b.key)
		if resp.StatusCode == 200 {
			return
		}
		last = string(body)
	}
	t.Fatalf("invariant «ready again serves tokens»: none in %s; last answer %s", d, last)
}

// serveFor asks for the token every 100 ms for d; every answer must be a token. It returns
// the number of distinct access tokens.
func (b *vaultLoginBed) serveFor(t *testing.T, d time.Duration) int {
	t.Helper()
	seen := map[string]bool{}
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		resp, body := get(t, b.proc.URL+"/v1/connections/google-oauth/token", b.key)
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		if resp.StatusCode != 200 || json.Unmarshal(body, &tok) != nil || tok.AccessToken == "" {
			t.Fatalf("invariant «tokend keeps serving»: %d %s after %d tokens", resp.StatusCode, body, len(seen))
		}
		seen[tok.AccessToken] = true
	}
	return len(seen)
}

// waitReady polls /readyz until it answers 200 (ready) or 503, and returns the body.
func (b *vaultLoginBed) waitReady(t *testing.T, ready bool, d time.Duration) string {
	t.Helper()
	var last string
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
		resp, body := get(t, b.proc.URL+"/readyz", "")
		last = string(body)
		if (resp.StatusCode == 200) == ready {
			return last
		}
	}
	t.Fatalf("/readyz did not become ready=%v in %s; last answer %s", ready, d, last)
	return ""
}
