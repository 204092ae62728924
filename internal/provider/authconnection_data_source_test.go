package provider

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
)

// seedConnections stores, as tokend would: an authorized Google connection, a Microsoft one
// whose refresh token was refused, and a QuickBooks one that was never authorized.
func (e *accEnv) seedConnections(ctx context.Context) error {
	conns := []*authconn.Connection{
		{Name: "google-oauth-prod", Type: authconn.TypeOAuth2, ProviderURL: "https://accounts.google.com",
			IssuerURL: "https://accounts.google.com", ClientID: "prod.apps.googleusercontent.com", Scopes: []string{"openid", "email"}},
		{Name: "ms365-oauth-prod", Type: authconn.TypeOAuth2, ProviderURL: "https://login.microsoftonline.com/tenant",
			ClientID: "azure-app", TokenURL: "https://login.microsoftonline.com/tenant/oauth2/v2.0/token"},
		{Name: "quickbooks-oauth-prod", Type: authconn.TypeOAuth2, ProviderURL: "https://appcenter.intuit.com/connect/oauth2",
			ClientID: "qb"},
	}
	for _, c := range conns {
		if _, err := e.store.CreateConnection(ctx, c); err != nil {
			return err
		}
		if _, err := e.store.PutClientSecret(ctx, c.Name, "secret-"+randomHex(8)); err != nil {
			return err
		}
	}
	if _, err := e.putTokens(ctx, "google-oauth-prod", mustTimeE("2032-05-06T07:08:09Z"), 0); err != nil {
		return err
	}
	_, err := e.store.PutTokens(ctx, "ms365-oauth-prod", &authconn.TokenSet{
		Status: authconn.StatusNeedsReauthorization, Expiry: mustTimeE("2020-01-01T00:00:00Z"),
		LastError: "invalid_grant: the refresh token was revoked",
	}, 0)
	return err
}

func mustTimeE(s string) time.Time {
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return v
}

func TestAccAuthConnectionDataSource(t *testing.T) {
	e := newAccEnv(t)
	if err := e.seedConnections(context.Background()); err != nil {
		t.Fatal(err)
	}
	const g, m = "data.tailor_authconnection.google", "data.tailor_authconnection.ms365"
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: e.providerConfig() + `
data "tailor_authconnection" "missing" {
  name = "no-such-connection"
}
`,
				ExpectError: quoteRE(fmt.Sprintf(`No connection named "no-such-connection" in Vault (secret/%s).`, e.prefix)),
			},
			{
				Config: e.providerConfig() + `
data "tailor_authconnection" "bad" {
  name = "Bad_Name"
}
`,
				ExpectError: quoteRE(authconn.ValidateName("Bad_Name").Error()),
			},
			{ // last, so that the post-test destroy has a valid configuration
				Config: e.providerConfig() + `
data "tailor_authconnection" "google" {
  name = "google-oauth-prod"
}
data "tailor_authconnection" "ms365" {
  name = "ms365-oauth-prod"
}
`,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(g, tfjsonpath.New("id"), knownvalue.StringExact("google-oauth-prod")),
					statecheck.ExpectKnownValue(g, tfjsonpath.New("type"), knownvalue.StringExact("TYPE_OAUTH2")),
					statecheck.ExpectKnownValue(g, tfjsonpath.New("provider_url"), knownvalue.StringExact("https://accounts.google.com")),
					statecheck.ExpectKnownValue(g, tfjsonpath.New("issuer_url"), knownvalue.StringExact("https://accounts.google.com")),
					statecheck.ExpectKnownValue(g, tfjsonpath.New("client_id"), knownvalue.StringExact("prod.apps.googleusercontent.com")),
					statecheck.ExpectKnownValue(g, tfjsonpath.New("token_url"), knownvalue.Null()),
					statecheck.ExpectKnownValue(g, tfjsonpath.New("scopes"), knownvalue.ListExact([]knownvalue.Check{
						knownvalue.StringExact("openid"), knownvalue.StringExact("email")})),
					statecheck.ExpectKnownValue(g, tfjsonpath.New("status"), knownvalue.StringExact("authorized")),
					statecheck.ExpectKnownValue(g, tfjsonpath.New("authorized"), knownvalue.Bool(true)),
					statecheck.ExpectKnownValue(g, tfjsonpath.New("token_expires_at"), knownvalue.StringExact("2032-05-06T07:08:09Z")),
					statecheck.ExpectKnownValue(g, tfjsonpath.New("last_error"), knownvalue.Null()),

					statecheck.ExpectKnownValue(m, tfjsonpath.New("token_url"), knownvalue.StringExact("https://login.microsoftonline.com/tenant/oauth2/v2.0/token")),
					statecheck.ExpectKnownValue(m, tfjsonpath.New("scopes"), knownvalue.Null()),
					statecheck.ExpectKnownValue(m, tfjsonpath.New("status"), knownvalue.StringExact("needs_reauthorization")),
					statecheck.ExpectKnownValue(m, tfjsonpath.New("authorized"), knownvalue.Bool(false)),
					statecheck.ExpectKnownValue(m, tfjsonpath.New("last_error"), knownvalue.StringExact("invalid_grant: the refresh token was revoked")),
				},
			},
		},
	})
}
