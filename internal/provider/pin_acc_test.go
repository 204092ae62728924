package provider

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/tfversion"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
)

// TestAccAuthConnectionResource_pinsDiscovery: create pins the provider's discovered
// endpoints in Vault; an update pins the provider's current document again; a provider that
// cannot be reached at create time fails the apply with what to set.
func TestAccAuthConnectionResource_pinsDiscovery(t *testing.T) {
	e := newAccEnv(t)
	var moved atomic.Bool
	idp := newDiscoveryIdP(t, func() string {
		if moved.Load() {
			return "/v2/token"
		}
		return "/token"
	})
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	const name = "pinned-oauth"
	args := connArgs{Name: name, ProviderURL: idp.URL, IssuerURL: idp.URL, ClientID: "cid", SecretWO: "pin-secret", SecretVersion: 1}
	updated := args
	updated.Scopes = []string{"openid"}
	unreachable := connArgs{Name: "unreachable-oauth", ProviderURL: gone.URL, ClientID: "cid", SecretWO: "s", SecretVersion: 1}
	pinned := func(want string) resource.TestCheckFunc {
		return vaultCheck(func(ctx context.Context) error {
			c, err := e.store.GetConnection(ctx, name)
			if err != nil {
				return err
			}
			if c.Discovered == nil || c.Discovered.TokenEndpoint != want {
				return fmt.Errorf("pinned %+v, want token endpoint %s", c.Discovered, want)
			}
			return nil
		})
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		TerraformVersionChecks:   []tfversion.TerraformVersionCheck{tfversion.SkipBelow(tfversion.Version1_11_0)},
		CheckDestroy:             e.checkDestroyed(name, unreachable.Name),
		Steps: []resource.TestStep{
			{Config: e.providerConfig() + args.hcl("idp"), Check: pinned(idp.URL + "/token")},
			{
				PreConfig: func() { moved.Store(true) },
				Config:    e.providerConfig() + args.hcl("idp"),
				Check:     pinned(idp.URL + "/token"), // no change planned: the pin stays
			},
			{Config: e.providerConfig() + updated.hcl("idp"), Check: pinned(idp.URL + "/v2/token")},
			{
				Config:      e.providerConfig() + updated.hcl("idp") + unreachable.hcl("gone"),
				ExpectError: regexp.MustCompile(`(?s)could not be\s+discovered.*auth_url\s+and\s+token_url`),
			},
		},
	})
}

func TestMovedEndpointsNamesEachChange(t *testing.T) {
	was := &authconn.Discovered{TokenEndpoint: "https://idp.example.com/token", AuthorizationEndpoint: "https://idp.example.com/a"}
	now := &authconn.Discovered{TokenEndpoint: "https://idp.example.com/v2/token", AuthorizationEndpoint: "https://idp.example.com/a"}
	if got := movedEndpoints(was, now); !strings.Contains(got, `token_endpoint "https://idp.example.com/v2/token", was "https://idp.example.com/token"`) || strings.Contains(got, "authorization_endpoint") {
		t.Errorf("movedEndpoints = %q", got)
	}
	if movedEndpoints(nil, now) != "" || movedEndpoints(was, was) != "" {
		t.Error("nothing moved, yet a change was named")
	}
}
