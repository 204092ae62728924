package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
	"github.com/hashicorp/terraform-plugin-testing/tfversion"
	vaultapi "github.com/hashicorp/vault/api"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv"
)

// revokeCall is one request received by a revocationEndpoint.
type revokeCall struct {
	Path, Token, Hint      string
	ClientID, ClientSecret string
	// BasicAuth: the client authenticated with HTTP Basic; otherwise in the form.
	BasicAuth bool
}

// revocationEndpoint is an RFC 7009 token revocation endpoint on 127.0.0.1 (httptest) that
// records every request. answer gives the HTTP status of a request (200 when nil or 0); an
// error answer echoes the token in its error_description, as a careless provider might, so
// that tests can check the provider keeps it out of its diagnostics.
type revocationEndpoint struct {
	srv    *httptest.Server
	answer func(revokeCall) int
	mu     sync.Mutex
	calls  []revokeCall
}

func newRevocationEndpoint(t *testing.T, answer func(revokeCall) int) *revocationEndpoint {
	t.Helper()
	ep := &revocationEndpoint{answer: answer}
	ep.srv = httptest.NewServer(http.HandlerFunc(ep.serve))
	t.Cleanup(ep.srv.Close)
	return ep
}

func (ep *revocationEndpoint) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	body, _ := io.ReadAll(r.Body)
	form, err := url.ParseQuery(string(body))
	if err != nil || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
		return
	}
	c := revokeCall{Path: r.URL.Path, Token: form.Get("token"), Hint: form.Get("token_type_hint"),
		ClientID: form.Get("client_id"), ClientSecret: form.Get("client_secret")}
	if id, secret, ok := r.BasicAuth(); ok {
		// RFC 6749 2.3.1: id and secret are form-urlencoded before Basic authentication.
		c.BasicAuth = true
		c.ClientID, _ = url.QueryUnescape(id)
		c.ClientSecret, _ = url.QueryUnescape(secret)
	}
	ep.mu.Lock()
	ep.calls = append(ep.calls, c)
	ep.mu.Unlock()

	status := http.StatusOK
	if ep.answer != nil {
		if s := ep.answer(c); s != 0 {
			status = s
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if status != http.StatusOK {
		_ = json.NewEncoder(w).Encode(map[string]string{
			"error": "temporarily_unavailable", "error_description": "cannot revoke " + c.Token + " right now",
		})
	}
}

// callsTo returns the requests received on path, in order.
func (ep *revocationEndpoint) callsTo(path string) []revokeCall {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	var out []revokeCall
	for _, c := range ep.calls {
		if c.Path == path {
			out = append(out, c)
		}
	}
	return out
}

// expectRevoked checks that path received exactly the revocation of ts's refresh token, then
// of its access token, each authenticated as clientID with secret, in the form (basic false)
// or with HTTP Basic (basic true).
func expectRevoked(ep *revocationEndpoint, path string, ts *store.TokenRecord, clientID, secret string, basic bool) error {
	got := ep.callsTo(path)
	want := []struct{ token, hint string }{{ts.RefreshToken, "refresh_token"}, {ts.AccessToken, "access_token"}}
	if len(got) != len(want) {
		return fmt.Errorf("%s received %d revocation requests, want %d (refresh token, then access token)", path, len(got), len(want))
	}
	for i, w := range want {
		c := got[i]
		if c.Token != w.token || c.Hint != w.hint {
			return fmt.Errorf("%s request #%d: token_type_hint %q, token is the stored %s: %v; want the %s", path, i+1,
				c.Hint, w.hint, c.Token == w.token, w.hint)
		}
		if c.ClientID != clientID || c.ClientSecret != secret || c.BasicAuth != basic {
			return fmt.Errorf("%s request #%d: client %q, secret from Vault: %v, HTTP Basic: %v; want client %q, the secret, HTTP Basic: %v",
				path, i+1, c.ClientID, c.ClientSecret == secret, c.BasicAuth, clientID, basic)
		}
	}
	return nil
}

// TestAccAuthConnectionResource_destroyRevokes: destroying connections that hold tokens
// revokes the refresh token, then the access token, at the connection's RFC 7009 endpoint
// (an httptest server on 127.0.0.1), with the client id and the client secret from Vault,
// in the form for the Google preset and with HTTP Basic for a custom provider; then nothing
// of the connections is left in Vault, and no warning was given.
func TestAccAuthConnectionResource_destroyRevokes(t *testing.T) {
	e := newAccEnv(t)
	ep := newRevocationEndpoint(t, nil)
	rec := &applyDiags{}
	google := connArgs{Name: "google-oauth-revoke", ProviderURL: "https://accounts.google.com",
		ClientID: "revoke.apps.googleusercontent.com", RevocationURL: ep.srv.URL + "/google/revoke",
		SecretWO: "g-" + randomHex(16), SecretVersion: 1}
	custom := connArgs{Name: "custom-oauth-revoke", ProviderURL: ep.srv.URL, ClientID: "custom:client/1",
		AuthURL: ep.srv.URL + "/authorize", TokenURL: ep.srv.URL + "/token", RevocationURL: ep.srv.URL + "/custom/revoke",
		SecretWO: "c-" + randomHex(16) + "+&=", SecretVersion: 1}
	cfg := e.providerConfig() + google.hcl("google") + custom.hcl("custom")
	var googleTokens, customTokens *store.TokenRecord

	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories(rec),
		TerraformVersionChecks:   []tfversion.TerraformVersionCheck{tfversion.SkipBelow(tfversion.Version1_11_0)},
		CheckDestroy: resource.ComposeAggregateTestCheckFunc(
			e.checkDestroyed(google.Name, custom.Name),
			e.checkVaultEmpty(), // refresh leases included
			func(*terraform.State) error {
				return errors.Join(
					expectRevoked(ep, "/google/revoke", googleTokens, google.ClientID, google.SecretWO, false),
					expectRevoked(ep, "/custom/revoke", customTokens, custom.ClientID, custom.SecretWO, true),
				)
			},
			func(*terraform.State) error {
				for _, d := range rec.of(tfprotov6.DiagnosticSeverityWarning) {
					return fmt.Errorf("unexpected warning: %s: %s", d.Summary, d.Detail)
				}
				return nil
			},
		),
		Steps: []resource.TestStep{
			{Config: cfg},
			{ // tokend authorizes both connections; nothing is revoked before the destroy
				PreConfig: e.mustRun(func(ctx context.Context) (err error) {
					expiry := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
					if googleTokens, err = e.putTokens(ctx, google.Name, expiry, 0); err != nil {
						return err
					}
					customTokens, err = e.putTokens(ctx, custom.Name, expiry, 0)
					return err
				}),
				Config: cfg,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue("tailor_authconnection.google", tfjsonpath.New("authorized"), knownvalue.Bool(true)),
					statecheck.ExpectKnownValue("tailor_authconnection.custom", tfjsonpath.New("authorized"), knownvalue.Bool(true)),
				},
				Check: func(*terraform.State) error {
					if n := len(ep.callsTo("/google/revoke")) + len(ep.callsTo("/custom/revoke")); n != 0 {
						return fmt.Errorf("%d revocation requests before the destroy", n)
					}
					return nil
				},
			},
		},
	})
}

// TestAccAuthConnectionResource_destroyRevocationFails: a provider that cannot revoke does
// not block the destroy. Its endpoint answers 503 for every token ("down"), or for the access
// token only ("partial"); a third connection has Google's public revocation endpoint, which
// the test transport refuses to reach ("offline"). Destroy succeeds, Vault holds nothing of
// the connections, and each connection gets a warning that says the tokens may stay valid
// until they expire and how to revoke them by hand, without any token or client secret in it
// (the 503 answers echo the token); nor is any token in the TF_LOG=trace log, where the
// provider logs which token types it revoked.
func TestAccAuthConnectionResource_destroyRevocationFails(t *testing.T) {
	e := newAccEnv(t)
	logPath := filepath.Join(t.TempDir(), "trace.log")
	t.Setenv("TF_ACC_LOG", "TRACE")
	t.Setenv("TF_LOG", "TRACE")
	t.Setenv("TF_ACC_LOG_PATH", logPath)
	ep := newRevocationEndpoint(t, func(c revokeCall) int {
		if c.Path == "/down/revoke" || c.Hint == "access_token" {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	rec := &applyDiags{}
	down := connArgs{Name: "down-oauth", ProviderURL: "https://accounts.google.com", ClientID: "down-client",
		RevocationURL: ep.srv.URL + "/down/revoke", SecretWO: "d-" + randomHex(16), SecretVersion: 1}
	partial := connArgs{Name: "partial-oauth", ProviderURL: ep.srv.URL, ClientID: "partial-client",
		AuthURL: ep.srv.URL + "/authorize", TokenURL: ep.srv.URL + "/token", RevocationURL: ep.srv.URL + "/partial/revoke",
		SecretWO: "p-" + randomHex(16), SecretVersion: 1}
	offline := connArgs{Name: "offline-oauth", ProviderURL: "https://accounts.google.com", ClientID: "offline-client",
		SecretWO: "o-" + randomHex(16), SecretVersion: 1}
	all := []connArgs{down, partial, offline}
	cfg := e.providerConfig() + down.hcl("down") + partial.hcl("partial") + offline.hcl("offline")
	tokens := map[string]*authconn.TokenSet{}

	checkWarnings := func(*terraform.State) error {
		if errs := rec.of(tfprotov6.DiagnosticSeverityError); len(errs) != 0 {
			return fmt.Errorf("destroy gave an error: %s: %s", errs[0].Summary, errs[0].Detail)
		}
		warnings := rec.of(tfprotov6.DiagnosticSeverityWarning)
		var secrets []string
		for _, c := range all {
			secrets = append(secrets, c.SecretWO, tokens[c.Name].RefreshToken, tokens[c.Name].AccessToken)
		}
		for _, w := range warnings {
			for _, s := range secrets {
				if strings.Contains(w.Summary+w.Detail, s) {
					return fmt.Errorf("a warning contains a token or client secret: %s", w.Summary)
				}
			}
		}
		want := map[string][]string{
			down.Name: {"Tokens not revoked at the OAuth2 provider", "HTTP 503", "cannot revoke [redacted] right now"},
			partial.Name: {"Tokens only partly revoked at the OAuth2 provider", "The refresh token was revoked, but revoking the access token failed",
				"HTTP 503", "cannot revoke [redacted] right now"},
			offline.Name: {"Tokens not revoked at the OAuth2 provider", "oauth2.googleapis.com", errNotLoopback.Error()},
		}
		for name, parts := range want {
			var found *tfprotov6.Diagnostic
			for _, w := range warnings {
				if strings.Contains(w.Detail, fmt.Sprintf("%q", name)) {
					found = w
				}
			}
			if found == nil {
				return fmt.Errorf("no warning for %s; warnings: %d", name, len(warnings))
			}
			text := found.Summary + "\n" + found.Detail
			parts = append(parts, "may stay valid at the provider until they expire", "in the provider's console",
				fmt.Sprintf("The connection %q was deleted from Vault", name))
			for _, p := range parts {
				if !strings.Contains(text, p) {
					return fmt.Errorf("the warning for %s does not say %q:\n%s", name, p, text)
				}
			}
			if strings.Contains(text, "will be retried") {
				return fmt.Errorf("the warning for %s says the revocation will be retried:\n%s", name, text)
			}
		}
		if len(warnings) != len(want) {
			return fmt.Errorf("%d warnings, want %d (one per connection)", len(warnings), len(want))
		}
		return nil
	}

	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories(rec),
		TerraformVersionChecks:   []tfversion.TerraformVersionCheck{tfversion.SkipBelow(tfversion.Version1_11_0)},
		CheckDestroy: resource.ComposeAggregateTestCheckFunc(
			e.checkDestroyed(down.Name, partial.Name, offline.Name),
			e.checkVaultEmpty(),
			checkWarnings,
			func(*terraform.State) error {
				d, p := ep.callsTo("/down/revoke"), ep.callsTo("/partial/revoke")
				if len(d) != 1 || d[0].Hint != "refresh_token" || d[0].Token != tokens[down.Name].RefreshToken {
					return fmt.Errorf("down: %d revocation requests, want 1, for the refresh token", len(d))
				}
				if len(p) != 2 || p[0].Hint != "refresh_token" || p[1].Hint != "access_token" {
					return fmt.Errorf("partial: %d revocation requests, want the refresh token then the access token", len(p))
				}
				return nil
			},
		),
		Steps: []resource.TestStep{
			{Config: cfg},
			{
				PreConfig: e.mustRun(func(ctx context.Context) error {
					for _, c := range all {
						ts, err := e.putTokens(ctx, c.Name, time.Now().Add(time.Hour).UTC().Truncate(time.Second), 0)
						if err != nil {
							return err
						}
						tokens[c.Name] = &ts.TokenSet
					}
					return nil
				}),
				Config: cfg,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue("tailor_authconnection.down", tfjsonpath.New("authorized"), knownvalue.Bool(true)),
				},
			},
		},
	})
	if t.Failed() {
		return
	}

	log, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatalf("trace log: %v", err)
	}
	for _, want := range []string{"Response contains warning diagnostic", "deleted connection, its client secret and its tokens",
		`name=partial-oauth`, `revoked=["refresh_token"]`} {
		if !strings.Contains(string(log), want) {
			t.Errorf("the trace log (%d bytes) does not contain %q: the check would prove nothing", len(log), want)
		}
	}
	// (The client secrets are literals of this test's configuration, so OpenTofu logs them;
	// TestAccAuthConnectionResource_noSecretLeak covers secrets given the way users should.)
	for _, c := range all {
		for _, ts := range []struct{ kind, v string }{{"refresh token", tokens[c.Name].RefreshToken}, {"access token", tokens[c.Name].AccessToken}} {
			if strings.Contains(string(log), ts.v) {
				t.Errorf("%s: the %s appears in the trace log", c.Name, ts.kind)
			}
		}
	}
}

// TestLoopbackOnlyHTTP: the HTTP client of the provider under test reaches httptest servers
// and refuses every other host, without a connection attempt, as does its dialer.
func TestLoopbackOnlyHTTP(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }))
	defer srv.Close()
	c := loopbackOnlyHTTP()
	u, _ := url.Parse(srv.URL)
	for _, ok := range []string{srv.URL, "http://localhost:" + u.Port()} {
		resp, err := c.Get(ok)
		if err != nil {
			t.Errorf("GET %s: %v", ok, err)
			continue
		}
		_ = resp.Body.Close()
	}
	for _, refused := range []string{
		"https://oauth2.googleapis.com/revoke", "https://accounts.google.com/.well-known/openid-configuration",
		"https://developer.api.intuit.com/v2/oauth2/tokens/revoke", "http://10.0.0.1/revoke", "http://127.0.0.1.nip.io/",
		"http://[::ffff:8.8.8.8]/",
	} {
		// errNotLoopback comes from the round tripper, before any lookup or dial.
		_, err := c.Post(refused, "application/x-www-form-urlencoded", strings.NewReader("token=x"))
		if !errors.Is(err, errNotLoopback) {
			t.Errorf("POST %s: want the loopback-only refusal, got %v", refused, err)
		}
	}
	// The dialer refuses too, should a request get past the round tripper (a redirect target
	// is checked by RoundTrip again, but keep both layers honest).
	tr := c.Transport.(loopbackOnlyTransport).next.(*http.Transport)
	if tr.Proxy != nil {
		t.Error("the test transport must not use a proxy")
	}
	if _, err := tr.DialContext(context.Background(), "tcp", "93.184.216.34:443"); err == nil || !strings.Contains(err.Error(), "refused to dial") {
		t.Errorf("dial of a public address: want a refusal, got %v", err)
	}
}

// TestAccAuthConnectionResource_destroyWithTerraformPolicy: with the least-privilege policy
// of the Terraform role (terraformPolicy: no read of client secrets or tokens, no refresh
// lease), the provider manages a connection, and destroying it while it holds tokens
// deletes everything from Vault without revoking (it cannot read the tokens), with a warning
// that says so and which capabilities revocation needs.
func TestAccAuthConnectionResource_destroyWithTerraformPolicy(t *testing.T) {
	e := newAccEnv(t)
	ep := newRevocationEndpoint(t, nil)
	rec := &applyDiags{}
	root := e.vault.Client()
	if err := root.Sys().PutPolicy("tailor-terraform", testenv.DocPolicy(t, "terraform", e.prefix)); err != nil {
		t.Fatal(err)
	}
	tok, err := root.Auth().Token().Create(&vaultapi.TokenCreateRequest{Policies: []string{"tailor-terraform"}, TTL: "1h"})
	if err != nil {
		t.Fatal(err)
	}
	provider := fmt.Sprintf("provider \"tailor\" {\n  vault_address = %q\n  vault_token = %q\n  path_prefix = %q\n}\n",
		e.vault.Addr, tok.Auth.ClientToken, e.prefix)
	args := connArgs{Name: "google-oauth-ci", ProviderURL: "https://accounts.google.com", ClientID: "ci-client",
		RevocationURL: ep.srv.URL + "/revoke", SecretWO: "ci-" + randomHex(16), SecretVersion: 1}
	cfg := provider + args.hcl("ci")
	var tokens *store.TokenRecord

	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories(rec),
		TerraformVersionChecks:   []tfversion.TerraformVersionCheck{tfversion.SkipBelow(tfversion.Version1_11_0)},
		CheckDestroy: resource.ComposeAggregateTestCheckFunc(
			e.checkDestroyed(args.Name),
			e.checkVaultEmpty(),
			func(*terraform.State) error {
				if n := len(ep.callsTo("/revoke")); n != 0 {
					return fmt.Errorf("%d revocation requests without access to the tokens", n)
				}
				if errs := rec.of(tfprotov6.DiagnosticSeverityError); len(errs) != 0 {
					return fmt.Errorf("destroy gave an error: %s: %s", errs[0].Summary, errs[0].Detail)
				}
				w := rec.of(tfprotov6.DiagnosticSeverityWarning)
				if len(w) != 1 {
					return fmt.Errorf("%d warnings, want 1", len(w))
				}
				text := w[0].Summary + "\n" + w[0].Detail
				for _, want := range []string{"Tokens not revoked at the OAuth2 provider", `The connection "google-oauth-ci" was deleted from Vault`,
					"Vault answered 403", "grant the Terraform role read on .../connections/+/tokens", "may stay valid at the provider until they expire",
					"in the provider's console"} {
					if !strings.Contains(text, want) {
						return fmt.Errorf("the warning does not say %q:\n%s", want, text)
					}
				}
				for _, s := range []string{tokens.RefreshToken, tokens.AccessToken, args.SecretWO} {
					if strings.Contains(text, s) {
						return errors.New("the warning contains a token or the client secret")
					}
				}
				return nil
			},
		),
		Steps: []resource.TestStep{
			{Config: cfg, Check: expectSecret(e, args.Name, args.SecretWO, 1)},
			{
				PreConfig: e.mustRun(func(ctx context.Context) (err error) {
					tokens, err = e.putTokens(ctx, args.Name, time.Now().Add(time.Hour).UTC().Truncate(time.Second), 0)
					return err
				}),
				Config: cfg,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue("tailor_authconnection.ci", tfjsonpath.New("authorized"), knownvalue.Bool(true)),
				},
			},
		},
	})
}
