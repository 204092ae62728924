package provider

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
	"github.com/hashicorp/terraform-plugin-testing/tfversion"
)

// expectProxyInVault checks the proxy destinations stored with connection name.
func expectProxyInVault(e *accEnv, name, baseURL string, hosts ...string) resource.TestCheckFunc {
	return vaultCheck(func(ctx context.Context) error {
		c, err := e.store.GetConnection(ctx, name)
		if err != nil {
			return err
		}
		if c.ProxyBaseURL != baseURL || !slices.Equal(c.ProxyAllowedHosts, hosts) {
			return fmt.Errorf("connection %q in Vault: proxy_base_url %q, proxy_allowed_hosts %q; want %q, %q",
				name, c.ProxyBaseURL, c.ProxyAllowedHosts, baseURL, hosts)
		}
		return nil
	})
}

// TestAccAuthConnectionResource_proxy: proxy_base_url and proxy_allowed_hosts of a generic
// OpenID Connect connection are stored in Vault and bound with the client secret (the access
// token goes there), show in both data sources, round-trip through import, and are removed;
// changing either without writing the secret again warns at plan, as any other move of the
// endpoint origins does. The invalid values are rows of the invalid-input table.
func TestAccAuthConnectionResource_proxy(t *testing.T) {
	e := newAccEnv(t)
	idp := newDiscoveryIdP(t, nil)
	const addr, ds, name = "tailor_authconnection.api", "data.tailor_authconnection.api", "example-api"
	args := func(base string, hosts []string, version int) string {
		a := connArgs{Name: name, ProviderURL: idp.URL, ClientID: "api-client", SecretWO: fmt.Sprint("api-secret-", version),
			SecretVersion: version, ProxyBaseURL: base, ProxyHosts: hosts}
		return e.providerConfig() + a.hcl("api")
	}
	const base, base2 = "https://api.example.com/v1", "https://api2.example.com/v2"
	hosts := []string{"uploads.example.com", "127.0.0.1:8443"}
	idpOrigin := originOf(t, idp.URL)
	dataSources := `
data "tailor_authconnection" "api" {
  name = tailor_authconnection.api.name
}
data "tailor_authconnections" "all" {
  depends_on = [tailor_authconnection.api]
}
`
	rec := &applyDiags{}
	// The tokens stay valid: only where the access token is used moved, not where it was issued.
	warns := func(cfg, at string, want ...string) resource.TestStep {
		return resource.TestStep{
			PreConfig: func() { rec.plannedWarnings() },
			Config:    cfg, PlanOnly: true, ExpectNonEmptyPlan: true,
			ConfigPlanChecks: resource.ConfigPlanChecks{PostApplyPreRefresh: []plancheck.PlanCheck{
				planWarning{rec: rec, at: at, want: append([]string{
					"The client secret will not be sent to the moved endpoints", "bump client_secret_wo_version in this same apply"}, want...),
					not: []string{"authorize the connection again"}}}},
		}
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories(rec),
		TerraformVersionChecks:   []tfversion.TerraformVersionCheck{tfversion.SkipBelow(tfversion.Version1_11_0)},
		CheckDestroy:             e.checkDestroyed(name),
		Steps: []resource.TestStep{
			{ // set: stored, and the client secret bound to the proxy's destinations
				Config: args(base, hosts, 1),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(addr, tfjsonpath.New("proxy_base_url"), knownvalue.StringExact(base)),
					statecheck.ExpectKnownValue(addr, tfjsonpath.New("proxy_allowed_hosts"), knownvalue.SetExact([]knownvalue.Check{
						knownvalue.StringExact("uploads.example.com"), knownvalue.StringExact("127.0.0.1:8443")})),
				},
				Check: resource.ComposeAggregateTestCheckFunc(
					expectProxyInVault(e, name, base, "127.0.0.1:8443", "uploads.example.com"),
					expectSecretOrigins(e, name, idpOrigin, "proxy:"+base, "proxy-host:127.0.0.1:8443", "proxy-host:uploads.example.com"),
				),
			},
			{ResourceName: addr, ImportState: true, ImportStateVerify: true, ImportStateVerifyIgnore: []string{"client_secret_wo", "client_secret_wo_version"}},
			{ // both data sources show them
				Config: args(base, hosts, 1) + dataSources,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(ds, tfjsonpath.New("proxy_base_url"), knownvalue.StringExact(base)),
					statecheck.ExpectKnownValue(ds, tfjsonpath.New("proxy_allowed_hosts"), knownvalue.SetExact([]knownvalue.Check{
						knownvalue.StringExact("uploads.example.com"), knownvalue.StringExact("127.0.0.1:8443")})),
					statecheck.ExpectKnownValue("data.tailor_authconnections.all", tfjsonpath.New("connections").AtSliceIndex(0).AtMapKey("proxy_base_url"),
						knownvalue.StringExact(base)),
				},
			},
			// another base URL or another host moves where the access token goes: a warning unless the secret is written again
			warns(args(base2, hosts, 1), "proxy_base_url", "to "+idpOrigin+", proxy-host:127.0.0.1:8443, proxy-host:uploads.example.com, proxy:"+base2+"."),
			warns(args(base, []string{"uploads.example.com"}, 1), "proxy_allowed_hosts", "to "+idpOrigin+", proxy-host:uploads.example.com, proxy:"+base+"."),
			{ // updated with the secret written again: bound to the new destinations
				Config: args(base2, []string{"uploads.example.com"}, 2),
				Check: resource.ComposeAggregateTestCheckFunc(
					expectProxyInVault(e, name, base2, "uploads.example.com"),
					expectSecretOrigins(e, name, idpOrigin, "proxy:"+base2, "proxy-host:uploads.example.com"),
				),
			},
			{ResourceName: addr, ImportState: true, ImportStateVerify: true, ImportStateVerifyIgnore: []string{"client_secret_wo", "client_secret_wo_version"}},
			{ // removed, with the secret written again: nothing of the proxy is left
				Config: args("", nil, 3),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(addr, tfjsonpath.New("proxy_base_url"), knownvalue.Null()),
					statecheck.ExpectKnownValue(addr, tfjsonpath.New("proxy_allowed_hosts"), knownvalue.Null()),
				},
				Check: resource.ComposeAggregateTestCheckFunc(
					expectProxyInVault(e, name, ""),
					expectSecretOrigins(e, name, idpOrigin),
				),
			},
		},
	})
}
