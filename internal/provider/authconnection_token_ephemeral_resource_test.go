package provider

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/echoprovider"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
	"github.com/hashicorp/terraform-plugin-testing/tfversion"

	"github.com/authconnection/terraform-provider-tailor/internal/api"
	"github.com/authconnection/terraform-provider-tailor/internal/apikey"
	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/broker"
	"github.com/authconnection/terraform-provider-tailor/internal/oauth"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv/tailortest"
	"github.com/authconnection/terraform-provider-tailor/tokend/client"
)

// tokenBed is the ephemeral resource's world: the acceptance environment's Vault, Hydra,
// and a real tokend (broker and HTTP API in this process) with an API key, and three
// connections: tok-code (authorization code, authorized), tok-cc (client credentials) and
// tok-pending (never authorized).
type tokenBed struct {
	*accEnv
	env    *tailortest.Env
	tokend *client.Client
	url    string
	key    string
}

func newTokenBed(t *testing.T) *tokenBed {
	e := newAccEnv(t)
	env := tailortest.StartWithVault(t, e.vault, testenv.HydraOptions{})
	env.Prefix = e.prefix
	env.Store = env.NewStore(t)
	env.AddConnection(t, "tok-code")
	env.Authorize(t, "tok-code")
	env.AddClientCredentials(t, "tok-cc", authconn.ClientAuthBasic)
	env.AddConnection(t, "tok-pending")
	b, err := broker.New(broker.Options{Store: env.Store, OAuth: &oauth.Client{}, ReplicaID: "acc-tokend", RecheckInterval: time.Second,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go b.Run(ctx)
	t.Cleanup(func() { cancel(); b.Close() })
	srv, err := api.New(api.Options{Broker: b, Keys: env.Store, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	k, err := apikey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Store.CreateAPIKey(context.Background(), &store.APIKey{ID: k.ID, Hash: k.Hash, Connections: []string{"tok-*"}}); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvTokendAPIKey, k.Plain) // as CI passes it: never in the configuration
	return &tokenBed{accEnv: e, env: env, tokend: client.New(hs.URL, k.Plain), url: hs.URL, key: k.Plain}
}

// config is the provider block with tokend_url, then body.
func (b *tokenBed) config(body string) string {
	return fmt.Sprintf(`
provider "tailor" {
  vault_address = %q
  vault_token   = %q
  path_prefix   = %q
  tokend_url    = %q
}
`, b.vault.Addr, b.vault.Token, b.prefix, b.url) + body
}

func (b *tokenBed) token(t *testing.T, name string) string {
	t.Helper()
	tok, err := b.tokend.Token(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return tok.AccessToken
}

// TestAccAuthConnectionToken_reachesAConsumer opens the ephemeral resource for both grants
// and hands it to the echo provider, whose resource copies it into its own state: the value
// a consumer gets is the token tokend serves.
func TestAccAuthConnectionToken_reachesAConsumer(t *testing.T) {
	b := newTokenBed(t)
	factories := protoV6ProviderFactories(nil)
	factories["echo"] = echoprovider.NewProviderServer()
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: factories,
		TerraformVersionChecks:   []tfversion.TerraformVersionCheck{tfversion.SkipBelow(tfversion.Version1_11_0)},
		Steps: []resource.TestStep{{
			Config: b.config(`
ephemeral "tailor_authconnection_token" "code" {
  name = "tok-code"
}
ephemeral "tailor_authconnection_token" "cc" {
  name = "tok-cc"
}
provider "echo" {
  data = {
    code = ephemeral.tailor_authconnection_token.code
    cc   = ephemeral.tailor_authconnection_token.cc
  }
}
resource "echo" "test" {}
`),
			ConfigStateChecks: []statecheck.StateCheck{
				statecheck.ExpectKnownValue("echo.test", tfjsonpath.New("data").AtMapKey("code").AtMapKey("access_token"), tokenNow(b, "tok-code")),
				statecheck.ExpectKnownValue("echo.test", tfjsonpath.New("data").AtMapKey("cc").AtMapKey("access_token"), tokenNow(b, "tok-cc")),
				statecheck.ExpectKnownValue("echo.test", tfjsonpath.New("data").AtMapKey("cc").AtMapKey("token_type"), knownvalue.StringRegexp(regexp.MustCompile(`(?i)^bearer$`))),
				statecheck.ExpectKnownValue("echo.test", tfjsonpath.New("data").AtMapKey("code").AtMapKey("expires_at"),
					knownvalue.StringRegexp(regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`))),
			},
		}},
	})
}

// awaitCode polls tokend (which re-reads cached records every second) until it answers
// name's token with the error code, for 10 s at most.
func (b *tokenBed) awaitCode(ctx context.Context, name, code string) error {
	var last error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		_, last = b.tokend.Token(ctx, name)
		if ce := (*client.Error)(nil); errors.As(last, &ce) && ce.Code == code {
			return nil
		}
	}
	return fmt.Errorf("tokend did not answer %s for %s within 10 s; last answer: %v", code, name, last)
}

// tokenNow is a known-value check against the token tokend serves when the check runs.
func tokenNow(b *tokenBed, name string) knownvalue.Check {
	return knownvalue.StringFunc(func(v string) error {
		tok, err := b.tokend.Token(context.Background(), name)
		if err != nil {
			return err
		}
		if v != tok.AccessToken {
			return fmt.Errorf("the consumer got another value than the token tokend serves for %s", name)
		}
		return nil
	})
}

// TestAccAuthConnectionToken_errors: a connection that was never authorized, one that
// needs re-authorization, and one the API key may not use get errors that say what to do.
func TestAccAuthConnectionToken_errors(t *testing.T) {
	b := newTokenBed(t)
	rec, err := b.env.Store.GetTokens(context.Background(), "tok-code")
	if err != nil {
		t.Fatal(err)
	}
	dead := rec.TokenSet
	dead.Status, dead.LastError = authconn.StatusNeedsReauthorization, "invalid_grant"
	open := func(name string) string {
		return b.config(fmt.Sprintf(`
ephemeral "tailor_authconnection_token" "t" {
  name = %q
}
`, name))
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		TerraformVersionChecks:   []tfversion.TerraformVersionCheck{tfversion.SkipBelow(tfversion.Version1_11_0)},
		Steps: []resource.TestStep{
			{Config: open("tok-pending"), ExpectError: quoteRE("Connection not authorized")},
			{Config: open("tok-pending"), ExpectError: quoteRE("tokend authorize tok-pending")},
			{Config: open("tok-missing"), ExpectError: quoteRE("Connection not found")},
			{Config: open("other"), ExpectError: quoteRE("tokend refused the API key")},
			{
				PreConfig: b.mustRun(func(ctx context.Context) error {
					if _, err := b.env.Store.PutTokens(ctx, "tok-code", &dead, rec.Version); err != nil {
						return err
					}
					return b.awaitCode(ctx, "tok-code", client.CodeNeedsReauthorization)
				}),
				Config:      open("tok-code"),
				ExpectError: quoteRE("Connection needs to be authorized again"),
			},
		},
	})
}

// TestAccAuthConnectionToken_noLeak passes the token into a write-only attribute (the client
// secret of another connection, which then holds the token in Vault: proof that the value
// arrived), with TF_LOG=trace: neither the token nor the API key appears in the state, the
// saved plans, `tofu show -json` of either, or the trace log.
func TestAccAuthConnectionToken_noLeak(t *testing.T) {
	b := newTokenBed(t)
	tmp := t.TempDir()
	workDir, logPath := filepath.Join(tmp, "work"), filepath.Join(tmp, "trace.log")
	if err := os.Mkdir(workDir, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TF_ACC_PERSIST_WORKING_DIR", "1")
	t.Setenv("TF_ACC_LOG", "TRACE")
	t.Setenv("TF_LOG", "TRACE")
	t.Setenv("TF_ACC_LOG_PATH", logPath)
	secrets := testenv.Secrets(b.token(t, "tok-cc"), b.token(t, "tok-code"), b.key)
	const addr = "tailor_authconnection.sink"
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		TerraformVersionChecks:   []tfversion.TerraformVersionCheck{tfversion.SkipBelow(tfversion.Version1_11_0)},
		WorkingDir:               workDir,
		Steps: []resource.TestStep{{
			Config: b.config(`
ephemeral "tailor_authconnection_token" "cc" {
  name = "tok-cc"
}
ephemeral "tailor_authconnection_token" "code" {
  name = "tok-code"
}
resource "tailor_authconnection" "sink" {
  name                     = "tok-sink"
  type                     = "TYPE_OAUTH2"
  provider_url             = "https://idp.example.com"
  client_id                = "sink"
  auth_url                 = "https://idp.example.com/auth"
  token_url                = "https://idp.example.com/token"
  client_secret_wo         = "${ephemeral.tailor_authconnection_token.cc.access_token}.${ephemeral.tailor_authconnection_token.code.access_token}"
  client_secret_wo_version = 1
}
`),
			ConfigPlanChecks:  resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{noSecretInPlan{secrets, addr}}},
			ConfigStateChecks: []statecheck.StateCheck{noSecretInState{secrets, addr}},
			Check: vaultCheck(func(ctx context.Context) error {
				cs, err := b.store.GetClientSecret(ctx, "tok-sink")
				if err != nil || cs.Value != secrets[0].Value+"."+secrets[1].Value {
					return fmt.Errorf("the write-only attribute did not receive the tokens (%v)", err)
				}
				return nil
			}),
		}},
	})
	if t.Failed() {
		return
	}
	searchArtifacts(t, workDir, logPath, secrets, []string{"OpenEphemeralResource", "tailor_authconnection_token"})
}

// searchArtifacts fails when any of secrets is in a file under workDir (states, plans,
// copies of the working directory) or in the trace log, which must contain every marker.
func searchArtifacts(t *testing.T, workDir, logPath string, secrets []testenv.Secret, markers []string) {
	t.Helper()
	files := testenv.CheckTreeHasNoSecret(t, "no token in Terraform's files", workDir, secrets, nil)
	n := testenv.CheckTraceLogHasNoSecret(t, "no token in the trace log", logPath, markers, secrets)
	t.Logf("searched %d files and the %d-byte trace log for %d secrets", files, n, len(secrets))
}
