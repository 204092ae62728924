package provider

import (
	"context"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
)

func TestAccAuthConnectionsDataSource(t *testing.T) {
	e := newAccEnv(t)
	const d = "data.tailor_authconnections.all"
	config := e.providerConfig() + `
data "tailor_authconnections" "all" {}
`
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{ // an empty prefix lists nothing
				Config: config,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(d, tfjsonpath.New("names"), knownvalue.ListSizeExact(0)),
					statecheck.ExpectKnownValue(d, tfjsonpath.New("connections"), knownvalue.ListSizeExact(0)),
				},
			},
			{
				PreConfig: e.mustRun(e.seedConnections),
				Config:    config,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(d, tfjsonpath.New("names"), knownvalue.ListExact([]knownvalue.Check{
						knownvalue.StringExact("google-oauth-prod"),
						knownvalue.StringExact("ms365-oauth-prod"),
						knownvalue.StringExact("quickbooks-oauth-prod"),
					})),
					statecheck.ExpectKnownValue(d, tfjsonpath.New("connections"), knownvalue.ListExact([]knownvalue.Check{
						knownvalue.ObjectPartial(map[string]knownvalue.Check{
							"name":             knownvalue.StringExact("google-oauth-prod"),
							"client_id":        knownvalue.StringExact("prod.apps.googleusercontent.com"),
							"status":           knownvalue.StringExact("authorized"),
							"authorized":       knownvalue.Bool(true),
							"token_expires_at": knownvalue.StringExact("2032-05-06T07:08:09Z"),
						}),
						knownvalue.ObjectPartial(map[string]knownvalue.Check{
							"name":       knownvalue.StringExact("ms365-oauth-prod"),
							"status":     knownvalue.StringExact("needs_reauthorization"),
							"authorized": knownvalue.Bool(false),
							"last_error": knownvalue.StringExact("invalid_grant: the refresh token was revoked"),
						}),
						knownvalue.ObjectPartial(map[string]knownvalue.Check{
							"name":             knownvalue.StringExact("quickbooks-oauth-prod"),
							"provider_url":     knownvalue.StringExact("https://appcenter.intuit.com/connect/oauth2"),
							"status":           knownvalue.StringExact("not_authorized"),
							"authorized":       knownvalue.Bool(false),
							"token_expires_at": knownvalue.Null(),
						}),
					})),
				},
			},
			{ // a connection deleted outside Terraform disappears from the list
				PreConfig: e.mustRun(func(ctx context.Context) error { return e.store.DeleteConnection(ctx, "ms365-oauth-prod") }),
				Config:    config,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(d, tfjsonpath.New("names"), knownvalue.ListExact([]knownvalue.Check{
						knownvalue.StringExact("google-oauth-prod"),
						knownvalue.StringExact("quickbooks-oauth-prod"),
					})),
				},
			},
		},
	})
}
