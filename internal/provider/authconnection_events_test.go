package provider

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfversion"
	vaultapi "github.com/hashicorp/vault/api"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv"
)

// TestAccAuthConnectionResource_destroyWithoutOutbox: with the documented Terraform policy
// plus its revocation add-on (docs/vault-layout.md) and no access to the webhooks' outbox, a
// destroy revokes at the provider and deletes, with no warning or error about events, while a
// webhook is registered (connection.deleted is tokend serve's to emit, from the change log).
func TestAccAuthConnectionResource_destroyWithoutOutbox(t *testing.T) {
	e := newAccEnv(t)
	ep := newRevocationEndpoint(t, nil)
	rec := &applyDiags{}
	root := e.vault.Client()
	for _, role := range []string{"terraform", "terraform-revoke"} {
		if err := root.Sys().PutPolicy("tailor-"+role, testenv.DocPolicy(t, role, e.prefix)); err != nil {
			t.Fatal(err)
		}
	}
	tok, err := root.Auth().Token().Create(&vaultapi.TokenCreateRequest{Policies: []string{"tailor-terraform", "tailor-terraform-revoke"}, TTL: "1h"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	wh := &store.Webhook{ID: "wh_" + randomHex(8), URL: "http://127.0.0.1:9/hook", Events: authconn.EventTypes, Secret: "whsec_" + randomHex(16), CreatedAt: time.Now().UTC()}
	if err := e.store.CreateWebhook(ctx, wh); err != nil {
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
			func(*terraform.State) error {
				if err := expectRevoked(ep, "/revoke", tokens, args.ClientID, args.SecretWO, false); err != nil {
					return err
				}
				for _, sev := range []tfprotov6.DiagnosticSeverity{tfprotov6.DiagnosticSeverityError, tfprotov6.DiagnosticSeverityWarning} {
					if d := rec.of(sev); len(d) != 0 {
						return fmt.Errorf("destroy without access to the outbox: %s: %s", d[0].Summary, d[0].Detail)
					}
				}
				if ids, err := e.store.ListEvents(ctx); err != nil || len(ids) != 0 {
					return fmt.Errorf("the destroy stored events %v (%v): that is tokend serve's job", ids, err)
				}
				return nil
			},
		),
		Steps: []resource.TestStep{
			{Config: cfg},
			{
				PreConfig: e.mustRun(func(ctx context.Context) (err error) {
					tokens, err = e.putTokens(ctx, args.Name, time.Now().Add(time.Hour).UTC().Truncate(time.Second), 0)
					return err
				}),
				Config: cfg,
				Check: func(*terraform.State) error {
					if strings.Contains(fmt.Sprint(rec.of(tfprotov6.DiagnosticSeverityWarning)), "webhook") {
						return errors.New("a warning about webhooks")
					}
					return nil
				},
			},
		},
	})
}
