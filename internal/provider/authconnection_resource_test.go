package provider

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
	"github.com/hashicorp/terraform-plugin-testing/tfversion"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
)

// connArgs are the arguments of one tailor_authconnection block in a test configuration.
type connArgs struct {
	Name, ProviderURL, IssuerURL, ClientID, AuthURL, TokenURL, RevocationURL string
	Scopes                                                                   []string
	SecretWO                                                                 string // literal, or an expression such as var.x (see SecretExpr)
	SecretExpr                                                               bool
	SecretVersion                                                            int
	Secret                                                                   string // legacy client_secret
	Extra                                                                    string // raw HCL lines
	GrantType, ClientAuth                                                    string
	Resources                                                                []string
	KeyWO                                                                    string // client_assertion_key_wo, a literal
	KeyVersion                                                               int
	ProxyBaseURL                                                             string
	ProxyHosts                                                               []string // proxy_allowed_hosts; nil: unset
}

func (a connArgs) hcl(label string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "resource \"tailor_authconnection\" %q {\n", label)
	fmt.Fprintf(&b, "  name         = %q\n  type         = \"TYPE_OAUTH2\"\n", a.Name)
	fmt.Fprintf(&b, "  provider_url = %q\n  client_id    = %s\n", a.ProviderURL, hclQuote(a.ClientID))
	for _, kv := range [][2]string{{"issuer_url", a.IssuerURL}, {"auth_url", a.AuthURL}, {"token_url", a.TokenURL}, {"revocation_url", a.RevocationURL}} {
		if kv[1] != "" {
			fmt.Fprintf(&b, "  %s = %q\n", kv[0], kv[1])
		}
	}
	if a.Scopes != nil {
		q := make([]string, len(a.Scopes))
		for i, s := range a.Scopes {
			q[i] = hclQuote(s)
		}
		fmt.Fprintf(&b, "  scopes = [%s]\n", strings.Join(q, ", "))
	}
	if a.SecretWO != "" {
		if a.SecretExpr {
			fmt.Fprintf(&b, "  client_secret_wo = %s\n", a.SecretWO)
		} else {
			fmt.Fprintf(&b, "  client_secret_wo = %s\n", hclQuote(a.SecretWO))
		}
	}
	if a.SecretVersion != 0 {
		fmt.Fprintf(&b, "  client_secret_wo_version = %d\n", a.SecretVersion)
	}
	if a.Secret != "" {
		fmt.Fprintf(&b, "  client_secret = %q\n", a.Secret)
	}
	for _, kv := range [][2]string{{"grant_type", a.GrantType}, {"client_auth", a.ClientAuth}, {"client_assertion_key_wo", a.KeyWO}} {
		if kv[1] != "" {
			fmt.Fprintf(&b, "  %s = %q\n", kv[0], kv[1])
		}
	}
	if a.KeyVersion != 0 {
		fmt.Fprintf(&b, "  client_assertion_key_wo_version = %d\n", a.KeyVersion)
	}
	if a.Resources != nil {
		q := make([]string, len(a.Resources))
		for i, s := range a.Resources {
			q[i] = fmt.Sprintf("%q", s)
		}
		fmt.Fprintf(&b, "  resources = [%s]\n", strings.Join(q, ", "))
	}
	if a.ProxyBaseURL != "" {
		fmt.Fprintf(&b, "  proxy_base_url = %s\n", hclQuote(a.ProxyBaseURL))
	}
	if a.ProxyHosts != nil {
		q := make([]string, len(a.ProxyHosts))
		for i, h := range a.ProxyHosts {
			q[i] = hclQuote(h)
		}
		fmt.Fprintf(&b, "  proxy_allowed_hosts = [%s]\n", strings.Join(q, ", "))
	}
	b.WriteString(a.Extra)
	b.WriteString("}\n")
	return b.String()
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// putTokens stores a token set for name as tokend would after `tokend authorize`.
//
// Destroying a connection revokes its tokens at the provider. A test that destroys a
// connection with tokens points its revocation_url at a revocationEndpoint on 127.0.0.1, or
// leaves it to the provider's public endpoint, which the test transport refuses
// (loopbackOnlyHTTP): the destroy then succeeds with a warning, and nothing leaves the machine.
func (e *accEnv) putTokens(ctx context.Context, name string, expiry time.Time, version int, issuedBy ...*authconn.Issuance) (*store.TokenRecord, error) {
	ts := &authconn.TokenSet{
		AccessToken: "at-" + randomHex(8), RefreshToken: "rt-" + randomHex(8), TokenType: "Bearer",
		Expiry: expiry, Status: authconn.StatusAuthorized, AuthorizedAt: time.Now().UTC(),
	}
	if len(issuedBy) > 0 {
		ts.IssuedBy = issuedBy[0]
	}
	v, err := e.store.PutTokens(ctx, name, ts, version)
	return &store.TokenRecord{TokenSet: *ts, Version: v}, err
}

func expectSecret(e *accEnv, name, want string, wantVersion int) resource.TestCheckFunc {
	return vaultCheck(func(ctx context.Context) error {
		cs, err := e.store.GetClientSecret(ctx, name)
		if err != nil {
			return err
		}
		if cs.Value != want {
			return fmt.Errorf("client secret of %q in Vault is not the configured one", name)
		}
		if wantVersion > 0 && cs.Version != wantVersion {
			return fmt.Errorf("client secret of %q: Vault version %d, want %d", name, cs.Version, wantVersion)
		}
		return nil
	})
}

// planWarning is a plan check that a plan warning recorded in rec says each of want, and
// none of not.
type planWarning struct {
	rec       *applyDiags
	want, not []string
	// at, when set, is the attribute the warning must be attached to.
	at string
}

// CheckPlan implements plancheck.PlanCheck.
func (c planWarning) CheckPlan(_ context.Context, _ plancheck.CheckPlanRequest, resp *plancheck.CheckPlanResponse) {
	w := c.rec.plannedWarnings()
	if len(w) == 0 {
		resp.Error = errors.New("the plan gave no warning")
		return
	}
	text := w[0].Summary + "\n" + w[0].Detail
	if c.at != "" {
		if got := w[0].Attribute; got == nil || len(got.Steps()) == 0 || got.Steps()[0] != tftypes.AttributeName(c.at) {
			resp.Error = fmt.Errorf("the plan warning is attached to %v, want %s:\n%s", got, c.at, text)
			return
		}
	}
	for _, want := range c.want {
		if !strings.Contains(text, want) {
			resp.Error = fmt.Errorf("the plan warning does not say %q:\n%s", want, text)
			return
		}
	}
	for _, not := range c.not {
		if strings.Contains(text, not) {
			resp.Error = fmt.Errorf("the plan warning says %q:\n%s", not, text)
			return
		}
	}
}

// expectSecretOrigins checks the endpoint origins the client secret of name was written for.
func expectSecretOrigins(e *accEnv, name string, want ...string) resource.TestCheckFunc {
	return vaultCheck(func(ctx context.Context) error {
		cs, err := e.store.GetClientSecret(ctx, name)
		if err != nil {
			return err
		}
		if !authconn.SameOrigins(cs.EndpointOrigins, want) {
			return fmt.Errorf("client secret of %q written for %v, want %v", name, cs.EndpointOrigins, want)
		}
		return nil
	})
}

func originOf(t *testing.T, raw string) string {
	t.Helper()
	o, err := authconn.Origin(raw)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func sameTokens(e *accEnv, name string, want **store.TokenRecord) resource.TestCheckFunc {
	return vaultCheck(func(ctx context.Context) error {
		got, err := e.store.GetTokens(ctx, name)
		if err != nil {
			return fmt.Errorf("tokens of %q: %w", name, err)
		}
		w := *want
		if got.Version != w.Version || got.AccessToken != w.AccessToken || got.RefreshToken != w.RefreshToken {
			return fmt.Errorf("tokens of %q changed: version %d, want %d (values equal: %v)", name, got.Version, w.Version,
				got.AccessToken == w.AccessToken && got.RefreshToken == w.RefreshToken)
		}
		return nil
	})
}

// TestAccAuthConnectionResource_lifecycle: create, import, update in place, rotation of the
// secret by version bump (tokens kept), a token refresh by tokend that shows no diff, rename
// (replace, which revokes the old connection's tokens at its revocation_url, an httptest
// endpoint) and destroy, each checked in Vault itself.
func TestAccAuthConnectionResource_lifecycle(t *testing.T) {
	e := newAccEnv(t)
	ep := newRevocationEndpoint(t, nil)
	const addr = "tailor_authconnection.google"
	const name, renamed = "google-oauth-dev", "google-oauth-prod"
	secret1, secret2, secret3 := "s1-"+randomHex(16), "s2-"+randomHex(16), "s3-"+randomHex(16)
	expiry1, expiry2 := mustTime(t, "2031-01-02T03:04:05Z"), mustTime(t, "2031-01-02T04:04:05Z")

	base := connArgs{
		Name: name, ProviderURL: "https://accounts.google.com", IssuerURL: "https://accounts.google.com",
		ClientID: "dev-client.apps.googleusercontent.com", Scopes: []string{"openid", "email"},
		SecretWO: secret1, SecretVersion: 1,
	}
	updated := base
	updated.ClientID = "dev-client-2.apps.googleusercontent.com"
	updated.IssuerURL = ""
	updated.AuthURL = "http://127.0.0.1:4444/oauth2/auth"
	updated.TokenURL = "http://localhost:4444/oauth2/token"
	updated.RevocationURL = ep.srv.URL + "/revoke" // loopback: the rename revokes the tokens there
	updated.Scopes = []string{"openid", "email", "https://www.googleapis.com/auth/admin.directory.user.readonly"}
	moved := updated // the endpoints move to other origins: the secret is written again with them
	moved.SecretWO, moved.SecretVersion = secret2, 2
	rotated := moved
	rotated.SecretWO, rotated.SecretVersion = secret3, 3
	renamedArgs := rotated
	renamedArgs.Name = renamed
	rec := &applyDiags{}
	noPlanWarning := func(*terraform.State) error {
		if w := rec.plannedWarnings(); len(w) != 0 {
			return fmt.Errorf("unexpected plan warning: %s: %s", w[0].Summary, w[0].Detail)
		}
		return nil
	}

	var tokens *store.TokenRecord
	var configVersion int

	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories(rec),
		TerraformVersionChecks:   []tfversion.TerraformVersionCheck{tfversion.SkipBelow(tfversion.Version1_11_0)},
		CheckDestroy:             e.checkDestroyed(name, renamed),
		Steps: []resource.TestStep{
			{ // create
				Config: e.providerConfig() + base.hcl("google"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(addr, plancheck.ResourceActionCreate),
					plancheck.ExpectKnownValue(addr, tfjsonpath.New("client_secret_wo"), knownvalue.Null()),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(addr, tfjsonpath.New("id"), knownvalue.StringExact(name)),
					statecheck.ExpectKnownValue(addr, tfjsonpath.New("name"), knownvalue.StringExact(name)),
					statecheck.ExpectKnownValue(addr, tfjsonpath.New("type"), knownvalue.StringExact("TYPE_OAUTH2")),
					statecheck.ExpectKnownValue(addr, tfjsonpath.New("client_id"), knownvalue.StringExact(base.ClientID)),
					statecheck.ExpectKnownValue(addr, tfjsonpath.New("issuer_url"), knownvalue.StringExact(base.IssuerURL)),
					statecheck.ExpectKnownValue(addr, tfjsonpath.New("auth_url"), knownvalue.Null()),
					statecheck.ExpectKnownValue(addr, tfjsonpath.New("scopes"), knownvalue.ListExact([]knownvalue.Check{
						knownvalue.StringExact("openid"), knownvalue.StringExact("email")})),
					statecheck.ExpectKnownValue(addr, tfjsonpath.New("client_secret_wo"), knownvalue.Null()),
					statecheck.ExpectKnownValue(addr, tfjsonpath.New("client_secret_wo_version"), knownvalue.Int64Exact(1)),
					statecheck.ExpectKnownValue(addr, tfjsonpath.New("client_secret"), knownvalue.Null()),
					statecheck.ExpectKnownValue(addr, tfjsonpath.New("authorized"), knownvalue.Bool(false)),
					statecheck.ExpectKnownValue(addr, tfjsonpath.New("token_expires_at"), knownvalue.Null()),
					statecheck.ExpectIdentity(addr, map[string]knownvalue.Check{"name": knownvalue.StringExact(name)}),
				},
				Check: resource.ComposeAggregateTestCheckFunc(
					vaultCheck(func(ctx context.Context) error {
						c, err := e.store.GetConnection(ctx, name)
						if err != nil {
							return err
						}
						if c.Type != authconn.TypeOAuth2 || c.ProviderURL != base.ProviderURL || c.IssuerURL != base.IssuerURL ||
							c.ClientID != base.ClientID || !slices.Equal(c.Scopes, base.Scopes) || c.AuthURL != "" {
							return fmt.Errorf("connection in Vault does not match the configuration: %+v", c)
						}
						return nil
					}),
					expectSecret(e, name, secret1, 1),
				),
			},
			{ // terraform import NAME
				ResourceName:            addr,
				ImportState:             true,
				ImportStateVerify:       true,
				ImportStateVerifyIgnore: []string{"client_secret_wo", "client_secret_wo_version"},
			},
			{ // moving the endpoints without writing the secret again: the plan warns
				PreConfig: func() { rec.plannedWarnings() },
				Config:    e.providerConfig() + updated.hcl("google"),
				PlanOnly:  true, ExpectNonEmptyPlan: true,
				ConfigPlanChecks: resource.ConfigPlanChecks{PostApplyPreRefresh: []plancheck.PlanCheck{planWarning{rec: rec, at: "token_url", want: []string{
					"The client secret will not be sent to the moved endpoints", "https://accounts.google.com:443",
					"http://localhost:4444", "bump client_secret_wo_version in this same apply", "authorize the connection again"}}}},
			},
			{ // update in place, after tokend authorized the connection, with the secret for the new endpoints
				PreConfig: e.mustRun(func(ctx context.Context) (err error) {
					rec.plannedWarnings()
					tokens, err = e.putTokens(ctx, name, expiry1, 0, &authconn.Issuance{TokenOrigin: "https://oauth2.googleapis.com:443"})
					return err
				}),
				Config: e.providerConfig() + moved.hcl("google"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(addr, plancheck.ResourceActionUpdate),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(addr, tfjsonpath.New("client_id"), knownvalue.StringExact(updated.ClientID)),
					statecheck.ExpectKnownValue(addr, tfjsonpath.New("issuer_url"), knownvalue.Null()),
					statecheck.ExpectKnownValue(addr, tfjsonpath.New("token_url"), knownvalue.StringExact(updated.TokenURL)),
					statecheck.ExpectKnownValue(addr, tfjsonpath.New("scopes"), knownvalue.ListSizeExact(3)),
					statecheck.ExpectKnownValue(addr, tfjsonpath.New("authorized"), knownvalue.Bool(true)),
					statecheck.ExpectKnownValue(addr, tfjsonpath.New("token_expires_at"), knownvalue.StringExact("2031-01-02T03:04:05Z")),
				},
				Check: resource.ComposeAggregateTestCheckFunc(
					vaultCheck(func(ctx context.Context) error {
						c, err := e.store.GetConnection(ctx, name)
						if err != nil {
							return err
						}
						configVersion = c.Version
						if c.ClientID != updated.ClientID || c.IssuerURL != "" || c.AuthURL != updated.AuthURL ||
							c.TokenURL != updated.TokenURL || c.RevocationURL != updated.RevocationURL || !slices.Equal(c.Scopes, updated.Scopes) {
							return fmt.Errorf("connection in Vault was not updated: %+v", c)
						}
						if c.Version != 2 {
							return fmt.Errorf("connection config version %d, want 2 (one update)", c.Version)
						}
						return nil
					}),
					expectSecret(e, name, secret2, 2), // written again, for the new endpoints
					expectSecretOrigins(e, name, "http://localhost:4444", "https://accounts.google.com:443", originOf(t, ep.srv.URL)),
					sameTokens(e, name, &tokens),
					noPlanWarning,
				),
			},
			{ // rotate: bump client_secret_wo_version
				Config: e.providerConfig() + rotated.hcl("google"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(addr, plancheck.ResourceActionUpdate),
					plancheck.ExpectKnownValue(addr, tfjsonpath.New("client_secret_wo_version"), knownvalue.Int64Exact(3)),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(addr, tfjsonpath.New("client_secret_wo_version"), knownvalue.Int64Exact(3)),
					statecheck.ExpectKnownValue(addr, tfjsonpath.New("client_secret_wo"), knownvalue.Null()),
					statecheck.ExpectKnownValue(addr, tfjsonpath.New("authorized"), knownvalue.Bool(true)),
				},
				Check: resource.ComposeAggregateTestCheckFunc(
					expectSecret(e, name, secret3, 3),
					sameTokens(e, name, &tokens), // no re-authorization needed
					vaultCheck(func(ctx context.Context) error {
						c, err := e.store.GetConnection(ctx, name)
						if err != nil {
							return err
						}
						if c.Version != configVersion {
							return fmt.Errorf("rotation rewrote the connection config (version %d -> %d)", configVersion, c.Version)
						}
						return nil
					}),
				),
			},
			{ // authorized again at the new endpoints: state follows, and the plan stays empty
				PreConfig: e.mustRun(func(ctx context.Context) (err error) {
					tokens, err = e.putTokens(ctx, name, expiry2, tokens.Version, &authconn.Issuance{TokenOrigin: "http://localhost:4444", RevocationOrigin: originOf(t, ep.srv.URL)})
					return err
				}),
				Config: e.providerConfig() + rotated.hcl("google"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectEmptyPlan(),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(addr, tfjsonpath.New("token_expires_at"), knownvalue.StringExact("2031-01-02T04:04:05Z")),
				},
			},
			{ // rename: replaces the connection
				Config: e.providerConfig() + renamedArgs.hcl("google"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(addr, plancheck.ResourceActionDestroyBeforeCreate),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(addr, tfjsonpath.New("id"), knownvalue.StringExact(renamed)),
					statecheck.ExpectKnownValue(addr, tfjsonpath.New("authorized"), knownvalue.Bool(false)),
					statecheck.ExpectKnownValue(addr, tfjsonpath.New("token_expires_at"), knownvalue.Null()),
					statecheck.ExpectIdentity(addr, map[string]knownvalue.Check{"name": knownvalue.StringExact(renamed)}),
				},
				Check: resource.ComposeAggregateTestCheckFunc(
					expectSecret(e, renamed, secret3, 1),
					func(*terraform.State) error {
						// Google preset: the client authenticates in the form, with the rotated secret.
						return expectRevoked(ep, "/revoke", tokens, updated.ClientID, secret3, false)
					},
					vaultCheck(func(ctx context.Context) error {
						if _, err := e.store.GetConnection(ctx, name); !errors.Is(err, store.ErrNotFound) {
							return fmt.Errorf("old connection %q after rename: want not found, got %v", name, err)
						}
						if _, err := e.store.GetTokens(ctx, name); !errors.Is(err, store.ErrNotFound) {
							return fmt.Errorf("tokens of old connection %q after rename: want not found, got %v", name, err)
						}
						names, err := e.store.ListConnections(ctx)
						if err != nil {
							return err
						}
						if !slices.Equal(names, []string{renamed}) {
							return fmt.Errorf("connections in Vault: %v, want [%s]", names, renamed)
						}
						return nil
					}),
				),
			},
		},
	})
}

// TestAccAuthConnectionResource_import: import blocks by name and by identity, adopting a
// connection created outside Terraform, and the errors for a missing or invalid name.
func TestAccAuthConnectionResource_import(t *testing.T) {
	e := newAccEnv(t)
	const addr = "tailor_authconnection.ms365"
	const name, outside = "ms365-oauth-dev", "quickbooks-oauth-staging"
	secret, outsideSecret := "s-"+randomHex(16), "q-"+randomHex(16)
	full := connArgs{
		Name: name, ProviderURL: "https://login.microsoftonline.com/common",
		IssuerURL: "https://login.microsoftonline.com/common/v2.0", ClientID: "azure-app-id",
		Scopes: []string{"offline_access", "https://graph.microsoft.com/.default"}, SecretWO: secret, SecretVersion: 1,
	}
	noSecret := full
	noSecret.SecretWO, noSecret.SecretVersion = "", 0

	qb := connArgs{
		Name: outside, ProviderURL: "https://appcenter.intuit.com/connect/oauth2", IssuerURL: "https://oauth.platform.intuit.com/op/v1",
		ClientID: "qb-client", Scopes: []string{"com.intuit.quickbooks.accounting", "openid"},
	}
	importBlock := fmt.Sprintf("import {\n  to = tailor_authconnection.qb\n  id = %q\n}\n", outside)

	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		TerraformVersionChecks:   []tfversion.TerraformVersionCheck{tfversion.SkipBelow(tfversion.Version1_12_0)},
		CheckDestroy:             e.checkDestroyed(name, outside),
		Steps: []resource.TestStep{
			{Config: e.providerConfig() + full.hcl("ms365")},
			{ // import block by name; the configuration no longer carries the secret: a no-op import
				Config:          e.providerConfig() + noSecret.hcl("ms365"),
				ResourceName:    addr,
				ImportState:     true,
				ImportStateKind: resource.ImportBlockWithID,
				ImportPlanChecks: resource.ImportPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(addr, plancheck.ResourceActionNoop),
					plancheck.ExpectKnownValue(addr, tfjsonpath.New("client_id"), knownvalue.StringExact("azure-app-id")),
					plancheck.ExpectKnownValue(addr, tfjsonpath.New("scopes"), knownvalue.ListSizeExact(2)),
				}},
			},
			{ // import block by name with client_secret_wo configured: the secret is not imported, so
				// the plan writes it (an update; the tokens are kept)
				Config:             e.providerConfig() + full.hcl("ms365"),
				ResourceName:       addr,
				ImportState:        true,
				ImportStateKind:    resource.ImportBlockWithID,
				ExpectNonEmptyPlan: true,
				ImportPlanChecks: resource.ImportPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(addr, plancheck.ResourceActionUpdate),
					plancheck.ExpectKnownValue(addr, tfjsonpath.New("client_secret_wo_version"), knownvalue.Int64Exact(1)),
				}},
			},
			{ // import block by resource identity
				Config:          e.providerConfig() + noSecret.hcl("ms365"),
				ResourceName:    addr,
				ImportState:     true,
				ImportStateKind: resource.ImportBlockWithResourceIdentity,
			},
			{ // adopt a connection created outside Terraform (e.g. by tokend create) with an import block
				PreConfig: e.mustRun(func(ctx context.Context) error {
					c := &authconn.Connection{Name: outside, Type: authconn.TypeOAuth2, ProviderURL: qb.ProviderURL,
						IssuerURL: qb.IssuerURL, ClientID: qb.ClientID, Scopes: qb.Scopes}
					if _, err := e.store.CreateConnection(ctx, c); err != nil {
						return err
					}
					_, err := e.store.PutClientSecret(ctx, outside, outsideSecret)
					return err
				}),
				Config: e.providerConfig() + full.hcl("ms365") + qb.hcl("qb") + importBlock,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("tailor_authconnection.qb", plancheck.ResourceActionNoop),
					plancheck.ExpectResourceAction(addr, plancheck.ResourceActionNoop),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue("tailor_authconnection.qb", tfjsonpath.New("id"), knownvalue.StringExact(outside)),
					statecheck.ExpectKnownValue("tailor_authconnection.qb", tfjsonpath.New("client_id"), knownvalue.StringExact("qb-client")),
					statecheck.ExpectKnownValue("tailor_authconnection.qb", tfjsonpath.New("client_secret"), knownvalue.Null()),
				},
				Check: expectSecret(e, outside, outsideSecret, 1), // adopting does not touch the secret
			},
			{ // a name that does not exist
				Config:        e.providerConfig() + full.hcl("ms365") + qb.hcl("qb"),
				ResourceName:  addr,
				ImportState:   true,
				ImportStateId: "no-such-connection",
				ExpectError:   quoteRE("Cannot import non-existent remote object"),
			},
			{ // an ID that is not a connection name
				Config:        e.providerConfig() + full.hcl("ms365") + qb.hcl("qb"),
				ResourceName:  addr,
				ImportState:   true,
				ImportStateId: "Not_A_Name",
				ExpectError:   quoteRE(`Import a connection by its name`),
			},
		},
	})
}

// TestAccAuthConnectionResource_drift: a connection changed or deleted in Vault outside
// Terraform shows in the next plan, and apply puts back the configuration.
func TestAccAuthConnectionResource_drift(t *testing.T) {
	e := newAccEnv(t)
	const addr = "tailor_authconnection.google"
	const name = "google-oauth-staging"
	secret := "s-" + randomHex(16)
	args := connArgs{Name: name, ProviderURL: "https://accounts.google.com", ClientID: "client-a",
		Scopes: []string{"openid"}, SecretWO: secret, SecretVersion: 1}
	cfg := e.providerConfig() + args.hcl("google")

	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		TerraformVersionChecks:   []tfversion.TerraformVersionCheck{tfversion.SkipBelow(tfversion.Version1_11_0)},
		CheckDestroy:             e.checkDestroyed(name),
		Steps: []resource.TestStep{
			{Config: cfg},
			{ // changed in Vault: refresh sees it, the plan updates it back
				PreConfig: e.mustRun(func(ctx context.Context) error {
					c, err := e.store.GetConnection(ctx, name)
					if err != nil {
						return err
					}
					c.ClientID, c.Scopes, c.TokenURL = "client-changed-outside", []string{"openid", "email"}, "https://oauth2.googleapis.com/token"
					_, err = e.store.UpdateConnection(ctx, &c.Connection, c.Version)
					return err
				}),
				RefreshState: true,
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(addr, "client_id", "client-changed-outside"),
					resource.TestCheckResourceAttr(addr, "token_url", "https://oauth2.googleapis.com/token"),
					resource.TestCheckResourceAttr(addr, "scopes.#", "2"),
				),
				RefreshPlanChecks: resource.RefreshPlanChecks{PostRefresh: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(addr, plancheck.ResourceActionUpdate),
				}},
				ExpectNonEmptyPlan: true,
			},
			{
				Config: cfg,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(addr, plancheck.ResourceActionUpdate),
					plancheck.ExpectKnownValue(addr, tfjsonpath.New("client_id"), knownvalue.StringExact("client-a")),
					plancheck.ExpectKnownValue(addr, tfjsonpath.New("token_url"), knownvalue.Null()),
				}},
				Check: vaultCheck(func(ctx context.Context) error {
					c, err := e.store.GetConnection(ctx, name)
					if err != nil {
						return err
					}
					if c.ClientID != "client-a" || c.TokenURL != "" || !slices.Equal(c.Scopes, []string{"openid"}) {
						return fmt.Errorf("apply did not restore the connection: %+v", c)
					}
					return nil
				}),
			},
			{ // deleted in Vault: the plan creates it again, with the configured secret
				PreConfig: e.mustRun(func(ctx context.Context) error { return e.store.DeleteConnection(ctx, name) }),
				Config:    cfg,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(addr, plancheck.ResourceActionCreate),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					expectSecret(e, name, secret, 1),
					vaultCheck(func(ctx context.Context) error {
						c, err := e.store.GetConnection(ctx, name)
						if err != nil {
							return err
						}
						if c.ClientID != "client-a" {
							return fmt.Errorf("recreated connection: %+v", c)
						}
						return nil
					}),
				),
			},
		},
	})
}

// TestAccAuthConnectionResource_invalid: every invalid input is rejected at plan, with the
// store's message, before anything reaches Vault.
func TestAccAuthConnectionResource_invalid(t *testing.T) {
	e := newAccEnv(t)
	ok := validConnArgs
	with := func(f func(a *connArgs)) string {
		a := ok
		f(&a)
		return e.providerConfig() + a.hcl("c")
	}
	// The cases are the rows of the invalid-input table in the docs (invalid_inputs_test.go).
	var steps []resource.TestStep
	for _, c := range invalidInputs() {
		steps = append(steps, resource.TestStep{Config: e.providerConfig() + c.config("c"), PlanOnly: true, ExpectError: quoteRE(c.want)})
	}
	// A name that is taken in Vault (created outside Terraform): an actionable error at apply.
	steps = append(steps, resource.TestStep{
		PreConfig: e.mustRun(func(ctx context.Context) error {
			_, err := e.store.CreateConnection(ctx, &authconn.Connection{Name: "taken", Type: authconn.TypeOAuth2,
				ProviderURL: "https://accounts.google.com", ClientID: "someone-else"})
			return err
		}),
		Config:      with(func(a *connArgs) { a.Name = "taken" }),
		ExpectError: quoteRE(`A connection named "taken" already exists in Vault (secret/` + e.prefix + `). To manage it with Terraform, import it`),
	})

	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		TerraformVersionChecks:   []tfversion.TerraformVersionCheck{tfversion.SkipBelow(tfversion.Version1_11_0)},
		CheckDestroy: func(*terraform.State) error {
			// Nothing but the connection made outside Terraform reached Vault, and it is unchanged.
			ctx := context.Background()
			names, err := e.store.ListConnections(ctx)
			if err != nil {
				return err
			}
			if !slices.Equal(names, []string{"taken"}) {
				return fmt.Errorf("connections in Vault: %v, want only [taken]", names)
			}
			c, err := e.store.GetConnection(ctx, "taken")
			if err != nil {
				return err
			}
			if c.ClientID != "someone-else" || c.Version != 1 {
				return fmt.Errorf("the existing connection was modified: %+v", c)
			}
			if _, err := e.store.ClientSecretVersion(ctx, "taken"); !errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("a client secret was written for the existing connection: %v", err)
			}
			return nil
		},
		Steps: steps,
	})
}

// TestAccAuthConnectionResource_legacySecret: the client_secret alternative for Terraform
// older than 1.11 (stored in state, sensitive), its rotation, and the switch to
// client_secret_wo.
func TestAccAuthConnectionResource_legacySecret(t *testing.T) {
	e := newAccEnv(t)
	const addr = "tailor_authconnection.qb"
	const name = "quickbooks-oauth-dev"
	s1, s2, s3 := "l1-"+randomHex(12), "l2-"+randomHex(12), "w3-"+randomHex(12)
	args := connArgs{Name: name, ProviderURL: "https://appcenter.intuit.com/connect/oauth2",
		IssuerURL: "https://oauth.platform.intuit.com/op/v1", ClientID: "qb", Secret: s1}
	args2 := args
	args2.Secret = s2
	args3 := args
	args3.Secret, args3.SecretWO, args3.SecretVersion = "", s3, 1
	var tokens *store.TokenRecord
	rec := &applyDiags{}

	resource.Test(t, resource.TestCase{
		// The QuickBooks preset's revocation endpoint is public: the test transport refuses it,
		// so the destroy of the connection (which holds tokens) warns and still succeeds.
		ProtoV6ProviderFactories: protoV6ProviderFactories(rec),
		TerraformVersionChecks:   []tfversion.TerraformVersionCheck{tfversion.SkipBelow(tfversion.Version1_11_0)},
		CheckDestroy: resource.ComposeAggregateTestCheckFunc(
			e.checkDestroyed(name),
			func(*terraform.State) error {
				w := rec.of(tfprotov6.DiagnosticSeverityWarning)
				if len(w) != 1 || !strings.Contains(w[0].Detail, "developer.api.intuit.com") || !strings.Contains(w[0].Detail, errNotLoopback.Error()) {
					return fmt.Errorf("destroy: want one warning about the refused QuickBooks revocation endpoint, got %d", len(w))
				}
				return nil
			},
		),
		Steps: []resource.TestStep{
			{
				Config: e.providerConfig() + args.hcl("qb"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectSensitiveValue(addr, tfjsonpath.New("client_secret")),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					// documented: the legacy attribute lands in state
					statecheck.ExpectKnownValue(addr, tfjsonpath.New("client_secret"), knownvalue.StringExact(s1)),
					statecheck.ExpectSensitiveValue(addr, tfjsonpath.New("client_secret")),
				},
				Check: expectSecret(e, name, s1, 1),
			},
			{
				PreConfig: e.mustRun(func(ctx context.Context) (err error) {
					tokens, err = e.putTokens(ctx, name, time.Now().Add(time.Hour).UTC().Truncate(time.Second), 0)
					return err
				}),
				Config: e.providerConfig() + args2.hcl("qb"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(addr, plancheck.ResourceActionUpdate),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(expectSecret(e, name, s2, 2), sameTokens(e, name, &tokens)),
			},
			{ // switch to the write-only attribute
				Config: e.providerConfig() + args3.hcl("qb"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(addr, plancheck.ResourceActionUpdate),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(addr, tfjsonpath.New("client_secret"), knownvalue.Null()),
					statecheck.ExpectKnownValue(addr, tfjsonpath.New("client_secret_wo"), knownvalue.Null()),
				},
				Check: resource.ComposeAggregateTestCheckFunc(expectSecret(e, name, s3, 3), sameTokens(e, name, &tokens)),
			},
		},
	})
}
