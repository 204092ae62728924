package provider

import (
	"context"
	"fmt"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
)

// TestAccProvider_configure: the VAULT_* and TAILOR_* fallbacks, and a clear error at
// configure time when Vault is unreachable, refuses the token, or the mount is invalid.
func TestAccProvider_configure(t *testing.T) {
	e := newAccEnv(t)
	const list = `
data "tailor_authconnections" "all" {}
`
	provider := func(body string) string { return "provider \"tailor\" {\n" + body + "}\n" + list }

	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config:      provider(""),
				ExpectError: quoteRE("no Vault address: set vault_address (provider), --vault-addr or VAULT_ADDR"),
			},
			{
				Config:      provider(`vault_address = "http://127.0.0.1:1"` + "\n" + `vault_token = "x"` + "\n"),
				ExpectError: quoteRE("cannot reach Vault at http://127.0.0.1:1"),
			},
			{
				Config:      provider(fmt.Sprintf("vault_address = %q\nvault_token = \"not-a-valid-token\"\n", e.vault.Addr)),
				ExpectError: quoteRE(fmt.Sprintf("Vault at %s refused the token (403): check vault_token / VAULT_TOKEN", e.vault.Addr)),
			},
			{
				Config:      provider(fmt.Sprintf("vault_address = %q\nvault_token = %q\nmount = \"bad mount\"\n", e.vault.Addr, e.vault.Token)),
				ExpectError: quoteRE(`invalid Vault mount or path prefix "bad mount/tailor"`),
			},
			{ // everything from the environment
				PreConfig: func() {
					t.Setenv("VAULT_ADDR", e.vault.Addr)
					t.Setenv("VAULT_TOKEN", e.vault.Token)
					t.Setenv(EnvPathPrefix, e.prefix)
					if _, err := e.store.CreateConnection(context.Background(), &authconn.Connection{Name: "from-env",
						Type: authconn.TypeOAuth2, ProviderURL: "https://accounts.google.com", ClientID: "c"}); err != nil {
						t.Fatal(err)
					}
				},
				Config: provider(""),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue("data.tailor_authconnections.all", tfjsonpath.New("names"),
						knownvalue.ListExact([]knownvalue.Check{knownvalue.StringExact("from-env")})),
				},
			},
			{ // explicit arguments win over the environment
				Config: provider(fmt.Sprintf("vault_address = %q\nvault_token = %q\nmount = %q\npath_prefix = \"other\"\n",
					e.vault.Addr, e.vault.Token, store.DefaultMount)),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue("data.tailor_authconnections.all", tfjsonpath.New("names"), knownvalue.ListSizeExact(0)),
				},
			},
		},
	})
}
