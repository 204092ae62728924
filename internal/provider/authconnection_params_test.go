package provider

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
	"github.com/hashicorp/terraform-plugin-testing/tfversion"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
)

// TestAccAuthConnectionResource_providerParams: provider_name and params are checked against the
// catalog entry at plan time (an unknown entry, a value that does not match its pattern, an
// undeclared parameter), a good set applies and round-trips through Vault and import, the
// token record's metadata and API base URL show in the resource and the data source, and
// changing a parameter without writing the secret again warns.
func TestAccAuthConnectionResource_providerParams(t *testing.T) {
	e := newAccEnv(t)
	const addr, ds, name = "tailor_authconnection.sf", "data.tailor_authconnection.sf", "salesforce-oauth"
	args := func(provider, params, expires string, version int) string {
		a := connArgs{Name: name, ProviderURL: "https://login.salesforce.com", ClientID: "3MVG9-consumer-key",
			SecretWO: "sf-secret-" + fmt.Sprint(version), SecretVersion: version}
		a.Extra = fmt.Sprintf("  provider_name = %q\n  params = %s\n", provider, params)
		if expires != "" {
			a.Extra += fmt.Sprintf("  client_secret_expires_at = %q\n", expires)
		}
		return e.providerConfig() + a.hcl("sf")
	}
	const good = `{ hostname = "acme.my.salesforce.com" }`
	const expires = "2030-01-02T03:04:05+01:00"
	metadata := map[string]string{"instance_url": "https://acme.my.salesforce.com", "identity_url": "https://login.salesforce.com/id/00D/005"}
	dataSource := `
data "tailor_authconnection" "sf" {
  name = tailor_authconnection.sf.name
}
`
	rec := &applyDiags{}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories(rec),
		TerraformVersionChecks:   []tfversion.TerraformVersionCheck{tfversion.SkipBelow(tfversion.Version1_11_0)},
		CheckDestroy:             e.checkDestroyed(name),
		Steps: []resource.TestStep{
			{
				Config:      args("nosuch", good, "", 1),
				ExpectError: quoteRE(`provider "nosuch" is not in the catalog: use one of`),
			},
			{
				Config:      args("salesforce", `{ hostname = "evil.example/x" }`, "", 1),
				ExpectError: quoteRE(`salesforce: parameter hostname: does not match ^[a-z0-9][a-z0-9-]*(\.[a-z0-9][a-z0-9-]*)*\.(salesforce|force)\.com$`),
			},
			{
				Config:      args("salesforce", `{ subdomain = "acme" }`, "", 1),
				ExpectError: quoteRE("salesforce: parameter subdomain: not declared by the entry; its parameters are hostname, instance_url"),
			},
			{ // a host the entry does not name: reported on that host_overrides key, not on params
				Config:      args("salesforce", good+"\n  host_overrides = { \"evil.example.com\" = \"https://127.0.0.1:8443\" }", "", 1),
				ExpectError: regexp.MustCompile(`(?s)Invalid host override.*host_overrides = .*host_overrides: evil\.example\.com is not a host of the catalog\s+entry\s+"salesforce"`),
			},
			{ // an override that is not an origin: reported on its key too
				Config:      args("salesforce", good+"\n  host_overrides = { \"login.salesforce.com\" = \"https://gw.example.com/sf\" }", "", 1),
				ExpectError: regexp.MustCompile(`(?s)Invalid host override.*host_overrides = .*host_overrides\[login\.salesforce\.com\]\s+"https://gw\.example\.com/sf"\s+must\s+be\s+an\s+origin\s+only`),
			},
			{
				Config:      args("salesforce", good, "next tuesday", 1),
				ExpectError: quoteRE(`invalid client_secret_expires_at "next tuesday": an RFC 3339 timestamp`),
			},
			{ // good: applied, in Vault, and the secret bound to the entry and its parameter
				Config: args("salesforce", good, expires, 1),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(addr, tfjsonpath.New("provider_name"), knownvalue.StringExact("salesforce")),
					statecheck.ExpectKnownValue(addr, tfjsonpath.New("params"), knownvalue.MapExact(map[string]knownvalue.Check{
						"hostname": knownvalue.StringExact("acme.my.salesforce.com")})),
					statecheck.ExpectKnownValue(addr, tfjsonpath.New("client_secret_expires_at"), knownvalue.StringExact(expires)),
					statecheck.ExpectKnownValue(addr, tfjsonpath.New("metadata"), knownvalue.Null()),
					statecheck.ExpectKnownValue(addr, tfjsonpath.New("api_base_url"), knownvalue.Null()),
				},
				Check: resource.ComposeAggregateTestCheckFunc(
					vaultCheck(func(ctx context.Context) error {
						c, err := e.store.GetConnection(ctx, name)
						if err != nil {
							return err
						}
						if c.Provider != "salesforce" || !maps.Equal(c.Params, map[string]string{"hostname": "acme.my.salesforce.com"}) ||
							!c.ClientSecretExpiresAt.Equal(mustTime(t, expires)) {
							return fmt.Errorf("connection in Vault does not match the configuration: %+v", c)
						}
						return nil
					}),
					expectSecretOrigins(e, name, "https://login.salesforce.com:443", "provider:salesforce", "param:hostname=acme.my.salesforce.com"),
				),
			},
			{ // terraform import NAME
				ResourceName:            addr,
				ImportState:             true,
				ImportStateVerify:       true,
				ImportStateVerifyIgnore: []string{"client_secret_wo", "client_secret_wo_version"},
			},
			{ // tokend authorized it: the token record's metadata shows, never the tokens
				PreConfig: e.mustRun(func(ctx context.Context) error {
					_, err := e.store.PutTokens(ctx, name, &authconn.TokenSet{
						AccessToken: "at-" + randomHex(8), RefreshToken: "rt-" + randomHex(8), TokenType: "Bearer",
						Expiry: mustTimeE("2031-01-02T03:04:05Z"), Status: authconn.StatusAuthorized, AuthorizedAt: time.Now().UTC(),
						Metadata: metadata, APIBaseURL: "https://acme.my.salesforce.com/services/data",
					}, 0)
					return err
				}),
				Config: args("salesforce", good, expires, 1) + dataSource,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(addr, tfjsonpath.New("metadata"), knownvalue.MapExact(map[string]knownvalue.Check{
						"instance_url": knownvalue.StringExact(metadata["instance_url"]), "identity_url": knownvalue.StringExact(metadata["identity_url"])})),
					statecheck.ExpectKnownValue(addr, tfjsonpath.New("api_base_url"), knownvalue.StringExact("https://acme.my.salesforce.com/services/data")),
					statecheck.ExpectKnownValue(ds, tfjsonpath.New("metadata").AtMapKey("instance_url"), knownvalue.StringExact(metadata["instance_url"])),
					statecheck.ExpectKnownValue(ds, tfjsonpath.New("api_base_url"), knownvalue.StringExact("https://acme.my.salesforce.com/services/data")),
					statecheck.ExpectKnownValue(ds, tfjsonpath.New("provider_name"), knownvalue.StringExact("salesforce")),
					statecheck.ExpectKnownValue(ds, tfjsonpath.New("params").AtMapKey("hostname"), knownvalue.StringExact("acme.my.salesforce.com")),
					statecheck.ExpectKnownValue(ds, tfjsonpath.New("client_secret_expires_at"), knownvalue.StringExact(expires)),
				},
			},
			{ // another parameter moves where the secret goes: the plan warns unless it is written again
				PreConfig: func() { rec.plannedWarnings() },
				Config:    args("salesforce", `{ hostname = "acme2.my.salesforce.com" }`, expires, 1) + dataSource,
				PlanOnly:  true, ExpectNonEmptyPlan: true,
				ConfigPlanChecks: resource.ConfigPlanChecks{PostApplyPreRefresh: []plancheck.PlanCheck{planWarning{rec: rec, at: "params", want: []string{
					"The client secret will not be sent to the moved endpoints", "param:hostname=acme2.my.salesforce.com",
					"bump client_secret_wo_version in this same apply", "authorize the connection again afterwards (`tokend authorize salesforce-oauth`)"}}}},
			},
			{ // written again in the same apply: bound to the new parameter
				Config: args("salesforce", `{ hostname = "acme2.my.salesforce.com" }`, expires, 2) + dataSource,
				Check: resource.ComposeAggregateTestCheckFunc(
					expectSecretOrigins(e, name, "https://login.salesforce.com:443", "provider:salesforce", "param:hostname=acme2.my.salesforce.com"),
				),
			},
		},
	})
}

// TestAccAuthConnectionResource_detectedParams: without provider_name the entry is the one
// provider_url selects, and its parameters are checked all the same; a required parameter
// is named with its description and pattern, and a past client secret expiry warns.
func TestAccAuthConnectionResource_detectedParams(t *testing.T) {
	e := newAccEnv(t)
	ms := func(params, extra string) string {
		a := connArgs{Name: "ms365-oauth", ProviderURL: "https://login.microsoftonline.com/contoso.onmicrosoft.com", ClientID: "app",
			SecretWO: "ms-secret", SecretVersion: 1, Extra: "  params = " + params + "\n" + extra}
		return e.providerConfig() + a.hcl("ms")
	}
	rec := &applyDiags{}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories(rec),
		TerraformVersionChecks:   []tfversion.TerraformVersionCheck{tfversion.SkipBelow(tfversion.Version1_11_0)},
		CheckDestroy:             e.checkDestroyed("ms365-oauth"),
		Steps: []resource.TestStep{
			{ // an empty map is no parameter: applied, and no diff afterwards
				Config: ms(`{}`, ""),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue("tailor_authconnection.ms", tfjsonpath.New("params"), knownvalue.MapSizeExact(0)),
				},
			},
			{
				Config:      ms(`{ tenant = "../evil" }`, ""),
				ExpectError: quoteRE(`microsoft: parameter tenant: does not match ^[A-Za-z0-9][A-Za-z0-9.-]{0,127}$`),
			},
			{
				Config:      ms(`{ realmId = "1" }`, ""),
				ExpectError: quoteRE(`microsoft: parameter realmId: not declared by the entry; its parameters are tenant`),
			},
			{
				PreConfig: func() { rec.plannedWarnings() },
				Config:    ms(`{ tenant = "contoso.onmicrosoft.com" }`, "  client_secret_expires_at = \"2020-01-01T00:00:00Z\"\n"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{planWarning{rec: rec, want: []string{
					"Client secret expired", `The client secret of connection "ms365-oauth" expired on 2020-01-01T00:00:00Z`}}}},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue("tailor_authconnection.ms", tfjsonpath.New("provider_name"), knownvalue.Null()),
					statecheck.ExpectKnownValue("tailor_authconnection.ms", tfjsonpath.New("params").AtMapKey("tenant"), knownvalue.StringExact("contoso.onmicrosoft.com")),
				},
			},
		},
	})
}

// TestAccAuthConnectionResource_hostOverrides: host_overrides names hosts of the entry only
// (checked at plan time), is stored and bound with the secret, and an update of another
// attribute keeps it (it used to be dropped by any update, since Terraform did not know it).
func TestAccAuthConnectionResource_hostOverrides(t *testing.T) {
	e := newAccEnv(t)
	const addr, name = "tailor_authconnection.qb", "quickbooks-gw"
	args := func(overrides string, scopes string) string {
		a := connArgs{Name: name, ProviderURL: "https://appcenter.intuit.com", ClientID: "qb-client", SecretWO: "qb-secret", SecretVersion: 1}
		a.Extra = fmt.Sprintf("  provider_name = \"quickbooks\"\n  host_overrides = %s\n  scopes = %s\n", overrides, scopes)
		return e.providerConfig() + a.hcl("qb")
	}
	const good = `{ "quickbooks.api.intuit.com" = "https://gateway.internal.example:8443" }`
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories(nil),
		TerraformVersionChecks:   []tfversion.TerraformVersionCheck{tfversion.SkipBelow(tfversion.Version1_11_0)},
		CheckDestroy:             e.checkDestroyed(name),
		Steps: []resource.TestStep{
			{
				Config:      args(`{ "evil.example.com" = "https://gateway.internal.example:8443" }`, `["com.intuit.quickbooks.accounting"]`),
				ExpectError: quoteRE("evil.example.com"),
			},
			{
				Config: args(good, `["com.intuit.quickbooks.accounting"]`),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(addr, tfjsonpath.New("host_overrides").AtMapKey("quickbooks.api.intuit.com"),
						knownvalue.StringExact("https://gateway.internal.example:8443")),
				},
				Check: expectSecretOrigins(e, name, "https://appcenter.intuit.com:443", "provider:quickbooks",
					"host:quickbooks.api.intuit.com=https://gateway.internal.example:8443"),
			},
			{ // another attribute changes: the overrides stay in Vault
				Config: args(good, `["com.intuit.quickbooks.accounting", "openid"]`),
				Check: vaultCheck(func(ctx context.Context) error {
					c, err := e.store.GetConnection(ctx, name)
					if err != nil {
						return err
					}
					if c.HostOverrides["quickbooks.api.intuit.com"] != "https://gateway.internal.example:8443" || len(c.Scopes) != 2 {
						return fmt.Errorf("after the update: host_overrides %v, scopes %v", c.HostOverrides, c.Scopes)
					}
					return nil
				}),
			},
			{ResourceName: addr, ImportState: true, ImportStateVerify: true, ImportStateVerifyIgnore: []string{"client_secret_wo", "client_secret_wo_version"}},
		},
	})
}
