package provider

import (
	"slices"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
)

// TestProvidersCatalogModel: the data source lists every entry of the catalog, the generic
// one last, with its parameters and metadata names.
func TestProvidersCatalogModel(t *testing.T) {
	m := catalogModel()
	if len(m.Names) < 8 || m.Names[len(m.Names)-1] != "oidc" {
		t.Fatalf("names %v: want at least 8, oidc last", m.Names)
	}
	byName := map[string]catalogEntryModel{}
	for _, p := range m.Providers {
		byName[p.Name] = p
	}
	for _, want := range []string{"google", "microsoft", "quickbooks", "github", "salesforce", "slack", "xero", "oidc"} {
		if _, ok := byName[want]; !ok {
			t.Errorf("%s is not listed", want)
		}
	}
	if qb := byName["quickbooks"]; !slices.Contains(qb.Metadata, "realmId") {
		t.Errorf("quickbooks metadata %v: want realmId", qb.Metadata)
	}
	if sf := byName["salesforce"]; len(sf.Params) == 0 || sf.Params[0].Name != "hostname" || sf.Params[0].Pattern == "" || sf.Params[0].Description == "" {
		t.Errorf("salesforce params %+v", sf.Params)
	}
	if got := byName["xero"].Metadata; !slices.Contains(got, "tenant_id") {
		t.Errorf("xero metadata %v: want the post-connect call's values", got)
	}
	if got := byName["google"].GrantTypes; !slices.Contains(got, "authorization_code") || !slices.Contains(got, "refresh_token") {
		t.Errorf("google grant types %v", got)
	}
	if zd := byName["zendesk"]; len(zd.Params) != 1 || zd.Params[0].Name != "subdomain" || zd.APIBaseURL.ValueString() != "https://{subdomain}.zendesk.com/api/v2" {
		t.Errorf("zendesk: params %+v, api_base_url %s", zd.Params, zd.APIBaseURL)
	}
	if ms := byName["microsoft"]; len(ms.Params) != 1 || ms.Params[0].Default.ValueString() != "common" {
		t.Errorf("microsoft params %+v", ms.Params)
	}
}

func TestAccProvidersDataSource(t *testing.T) {
	e := newAccEnv(t)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config: e.providerConfig() + `
data "tailor_providers" "all" {}

output "lists_the_seed_entries" {
  value = length(data.tailor_providers.all.names) >= 8 && alltrue([for n in ["google", "microsoft", "quickbooks", "github", "salesforce", "slack", "xero", "oidc"] :
    contains(data.tailor_providers.all.names, n)])
}

output "salesforce_params" {
  value = [for p in data.tailor_providers.all.providers : p.params if p.name == "salesforce"][0]
}
`,
			ConfigStateChecks: []statecheck.StateCheck{
				statecheck.ExpectKnownOutputValue("lists_the_seed_entries", knownvalue.Bool(true)),
				statecheck.ExpectKnownOutputValue("salesforce_params", knownvalue.ListExact([]knownvalue.Check{
					knownvalue.ObjectPartial(map[string]knownvalue.Check{
						"name":    knownvalue.StringExact("hostname"),
						"pattern": knownvalue.StringExact(`^[a-z0-9][a-z0-9-]*(\.[a-z0-9][a-z0-9-]*)*\.(salesforce|force)\.com$`),
						"default": knownvalue.Null(),
					}),
					knownvalue.ObjectPartial(map[string]knownvalue.Check{"name": knownvalue.StringExact("instance_url")}),
				})),
			},
		}},
	})
}
