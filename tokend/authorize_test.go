package main

import (
	"context"
	"encoding/json"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authorize"
	"github.com/authconnection/terraform-provider-tailor/internal/connection"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv"
)

// TestAuthorizeCLIWithHydra runs the commands in-process against Vault, Hydra and
// Chromium: create, authorize (browser opener injected), list, authorize --no-browser,
// revoke, authorize again, delete.
func TestAuthorizeCLIWithHydra(t *testing.T) {
	st := cliVault(t)
	h := testenv.StartHydra(t, testenv.HydraOptions{})
	b := testenv.StartBrowser(t)
	ctx := context.Background()
	port := testenv.Port(t)
	id, secret := h.CreateClient(t, testenv.ClientSpec{RedirectURIs: []string{authorize.RedirectURI(port)}})
	p := strconv.Itoa(port)

	r := cliRun(t, secret, "create", "--name", "hydra", "--provider-url", h.Issuer, "--client-id", id, "--client-secret-stdin")
	if r.err != nil {
		t.Fatal(r.err)
	}
	if !strings.Contains(r.stderr.String(), "Provider: oidc (discovery)") {
		t.Errorf("create did not report the discovered provider:\n%s", r.stderr)
	}

	op := b.NewOpener(time.Minute)
	openBrowser = op.Open
	t.Cleanup(func() { openBrowser = nil })
	r = cliRun(t, "", "authorize", "hydra", "--port", p, "--scopes", "openid,offline_access", "--timeout", "1m")
	if r.err != nil {
		t.Fatal(r.err)
	}
	if v := op.Wait(t, time.Minute); !strings.Contains(v.Text, "Authorization complete") {
		t.Errorf("browser page %q", v.Text)
	}
	if r.stdout.String() != "" {
		t.Errorf("stdout with a browser: %q", r.stdout)
	}
	errOut := r.stderr.String()
	for _, want := range []string{"scopes: openid offline_access", "Redirect URI (must be registered", authorize.RedirectURI(port), "Waiting up to 1m0s", `Connection "hydra" authorized`, "refresh token: yes"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("authorize output lacks %q:\n%s", want, errOut)
		}
	}
	ts, err := st.GetTokens(ctx, "hydra")
	if err != nil {
		t.Fatal(err)
	}
	if ir := h.Introspect(t, ts.AccessToken); !ir.Active || ir.Scope != "openid offline_access" {
		t.Errorf("introspection %+v", ir)
	}
	if strings.Contains(errOut, secret) || strings.Contains(errOut, ts.AccessToken) || strings.Contains(errOut, ts.RefreshToken) {
		t.Error("authorize printed a secret")
	}

	r = cliRun(t, "", "list", "--json")
	var entries []connection.Summary
	if err := json.Unmarshal([]byte(r.stdout.String()), &entries); err != nil || len(entries) != 1 || !entries[0].Authorized || entries[0].ExpiresAt == nil {
		t.Errorf("list --json: %v %s", err, r.stdout)
	}

	// --no-browser: the URL is the only stdout line; Chromium opens it.
	openBrowser = func(string) error { t.Error("browser opened with --no-browser"); return nil }
	runCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	stdout, stderr, done := cliStart(runCtx, "", "authorize", "hydra", "--port", p, "--no-browser")
	u := cliWaitURL(t, stdout.String, 30*time.Second)
	op2 := b.NewOpener(time.Minute)
	_ = op2.Open(u)
	if err := <-done; err != nil {
		t.Fatalf("authorize --no-browser: %v\n%s", err, stderr)
	}
	op2.Wait(t, time.Minute)
	if strings.TrimSpace(stdout.String()) != u {
		t.Errorf("stdout %q, want only the URL", stdout)
	}
	if !strings.Contains(stderr.String(), "authorized again (the earlier tokens were replaced)") {
		t.Errorf("stderr:\n%s", stderr)
	}
	ts2, err := st.GetTokens(ctx, "hydra")
	if err != nil || ts2.Version <= ts.Version {
		t.Fatalf("tokens after re-authorization: %v (version %d -> %d)", err, ts.Version, ts2.Version)
	}

	// Port in use.
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	taken := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	r = cliRun(t, "", "authorize", "hydra", "--port", taken)
	l.Close()
	if r.err == nil || !strings.Contains(r.err.Error(), "port "+taken+" is already in use") || !strings.Contains(r.err.Error(), "--port") {
		t.Errorf("port in use: %v", r.err)
	}
	// Unknown connection.
	r = cliRun(t, "", "authorize", "nope", "--port", p)
	if r.err == nil || !strings.Contains(r.err.Error(), "tokend create --name nope") {
		t.Errorf("unknown connection: %v", r.err)
	}

	// revoke: Hydra reports the tokens inactive, Vault has none, the connection stays.
	r = cliRun(t, "", "revoke", "hydra")
	if r.err != nil {
		t.Fatal(r.err)
	}
	if !strings.Contains(r.stderr.String(), "Revoked at the provider: refresh_token, access_token") || !strings.Contains(r.stderr.String(), "tokend authorize hydra") {
		t.Errorf("revoke output:\n%s", r.stderr)
	}
	if h.Introspect(t, ts2.AccessToken).Active || h.Introspect(t, ts2.RefreshToken).Active {
		t.Error("tokens active after revoke")
	}
	r = cliRun(t, "", "list", "--json")
	entries = nil
	if err := json.Unmarshal([]byte(r.stdout.String()), &entries); err != nil || len(entries) != 1 || entries[0].Authorized || entries[0].Status != "not_authorized" {
		t.Errorf("list after revoke: %v %s", err, r.stdout)
	}

	// Authorize again, then delete: nothing is left in Vault.
	openBrowser = op.Open
	if r = cliRun(t, "", "authorize", "hydra", "--port", p); r.err != nil {
		t.Fatal(r.err)
	}
	op.Wait(t, time.Minute)
	ts3, err := st.GetTokens(ctx, "hydra")
	if err != nil || !h.Introspect(t, ts3.RefreshToken).Active {
		t.Fatalf("authorize after revoke: %v", err)
	}
	if r = cliRun(t, "", "delete", "hydra"); r.err != nil {
		t.Fatal(r.err)
	}
	if h.Introspect(t, ts3.RefreshToken).Active {
		t.Error("refresh token active after delete")
	}
	if left := vaultLeft(t, st); len(left) != 0 {
		t.Errorf("left in Vault after delete: %v", left)
	}
}
