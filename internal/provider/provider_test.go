package provider

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/authconnection/terraform-provider-tailor/internal/store"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv"
)

// testAccProtoV6ProviderFactories runs the provider under test in-process for
// terraform-plugin-testing (OpenTofu reattaches to it).
var testAccProtoV6ProviderFactories = map[string]func() (tfprotov6.ProviderServer, error){
	"tailor": providerserver.NewProtocol6WithError(New("test")()),
}

// accEnv is what an acceptance test runs against: OpenTofu and a fresh Vault dev server,
// with a store on a path prefix of the test's own.
type accEnv struct {
	t      *testing.T
	vault  *testenv.Vault
	store  *store.Store
	prefix string
}

// newAccEnv prepares OpenTofu (testenv.SetupTofu) and starts a Vault dev server. Tests that
// use it cannot run in parallel (SetupTofu uses t.Setenv). With -short they are skipped.
func newAccEnv(t *testing.T) *accEnv {
	t.Helper()
	if testing.Short() {
		t.Skip("acceptance test (OpenTofu + Vault); run without -short")
	}
	testenv.SetupTofu(t)
	// The provider runs in this process: keep the developer's Vault settings out of it.
	for _, k := range []string{"VAULT_ADDR", "VAULT_TOKEN", "VAULT_NAMESPACE", "VAULT_CACERT", "VAULT_CAPATH",
		"VAULT_SKIP_VERIFY", "VAULT_ROLE_ID", "VAULT_SECRET_ID_FILE", EnvMount, EnvPathPrefix} {
		t.Setenv(k, "")
	}
	v := testenv.StartVault(t)
	prefix := "tf-" + randomHex(4)
	st, err := store.New(v.Client(), store.Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	return &accEnv{t: t, vault: v, store: st, prefix: prefix}
}

// providerConfig is the provider block for the test's Vault and prefix.
func (e *accEnv) providerConfig() string {
	return fmt.Sprintf(`
provider "tailor" {
  vault_address = %q
  vault_token   = %q
  path_prefix   = %q
}
`, e.vault.Addr, e.vault.Token, e.prefix)
}

// checkDestroyed is a CheckDestroy that looks in Vault: no connection is left under the
// prefix, and none of names has a configuration, a client secret or tokens.
func (e *accEnv) checkDestroyed(names ...string) resource.TestCheckFunc {
	return func(*terraform.State) error {
		ctx := context.Background()
		left, err := e.store.ListConnections(ctx)
		if err != nil {
			return err
		}
		if len(left) != 0 {
			return fmt.Errorf("connections left in Vault after destroy: %v", left)
		}
		for _, n := range names {
			if _, err := e.store.GetConnection(ctx, n); !errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("connection %q after destroy: want not found, got %v", n, err)
			}
			if _, err := e.store.ClientSecretVersion(ctx, n); !errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("client secret of %q after destroy: want not found, got %v", n, err)
			}
			if _, err := e.store.GetTokens(ctx, n); !errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("tokens of %q after destroy: want not found, got %v", n, err)
			}
		}
		return nil
	}
}

// vaultCheck wraps a check of Vault's contents as a TestCheckFunc.
func vaultCheck(f func(ctx context.Context) error) resource.TestCheckFunc {
	return func(*terraform.State) error { return f(context.Background()) }
}

// mustRun calls f in a PreConfig and fails the test on error.
func (e *accEnv) mustRun(f func(ctx context.Context) error) func() {
	return func() {
		if err := f(context.Background()); err != nil {
			e.t.Fatalf("PreConfig: %v", err)
		}
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// quoteRE returns a regexp that matches s literally, with any run of whitespace in s
// matching any run of whitespace (the CLI wraps long diagnostics).
func quoteRE(s string) *regexp.Regexp {
	parts := strings.Fields(s)
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	return regexp.MustCompile(strings.Join(parts, `\s+`))
}

func TestProviderSchemaIsValid(t *testing.T) {
	srv, err := testAccProtoV6ProviderFactories["tailor"]()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.GetProviderSchema(context.Background(), &tfprotov6.GetProviderSchemaRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range resp.Diagnostics {
		t.Errorf("schema diagnostic: %s: %s", d.Summary, d.Detail)
	}
	if _, ok := resp.ResourceSchemas["tailor_authconnection"]; !ok {
		t.Errorf("resource tailor_authconnection missing; have %v", keys(resp.ResourceSchemas))
	}
	for _, ds := range []string{"tailor_authconnection", "tailor_authconnections"} {
		if _, ok := resp.DataSourceSchemas[ds]; !ok {
			t.Errorf("data source %s missing; have %v", ds, keys(resp.DataSourceSchemas))
		}
	}

	// Every attribute has a description: they are the generated documentation.
	check := func(kind string, s *tfprotov6.Schema) {
		var walk func(prefix string, attrs []*tfprotov6.SchemaAttribute)
		walk = func(prefix string, attrs []*tfprotov6.SchemaAttribute) {
			for _, a := range attrs {
				if strings.TrimSpace(a.Description) == "" {
					t.Errorf("%s: attribute %s%s has no description", kind, prefix, a.Name)
				}
				if a.NestedType != nil {
					walk(prefix+a.Name+".", a.NestedType.Attributes)
				}
			}
		}
		if s.Block.Description == "" {
			t.Errorf("%s has no description", kind)
		}
		walk("", s.Block.Attributes)
	}
	check("provider", resp.Provider)
	for n, s := range resp.ResourceSchemas {
		check(n, s)
	}
	for n, s := range resp.DataSourceSchemas {
		check(n, s)
	}

	// The secrets are sensitive, and the new one write-only.
	attrs := map[string]*tfprotov6.SchemaAttribute{}
	for _, a := range resp.ResourceSchemas["tailor_authconnection"].Block.Attributes {
		attrs[a.Name] = a
	}
	if a := attrs["client_secret_wo"]; a == nil || !a.WriteOnly || !a.Sensitive {
		t.Errorf("client_secret_wo must be write-only and sensitive: %+v", a)
	}
	if a := attrs["client_secret"]; a == nil || !a.Sensitive || a.WriteOnly {
		t.Errorf("client_secret must be sensitive (and not write-only): %+v", a)
	}
	for _, a := range resp.Provider.Block.Attributes {
		if a.Name == "vault_token" && !a.Sensitive {
			t.Error("vault_token must be sensitive")
		}
	}

	ids, err := srv.GetResourceIdentitySchemas(context.Background(), &tfprotov6.GetResourceIdentitySchemasRequest{})
	if err != nil {
		t.Fatal(err)
	}
	id := ids.IdentitySchemas["tailor_authconnection"]
	if id == nil || len(id.IdentityAttributes) != 1 || id.IdentityAttributes[0].Name != "name" || !id.IdentityAttributes[0].RequiredForImport {
		t.Errorf("identity schema of tailor_authconnection: want one required attribute name, got %+v", id)
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
