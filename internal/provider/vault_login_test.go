package provider

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/tfversion"

	"github.com/authconnection/terraform-provider-tailor/internal/testenv"
)

const ciSubject = "repo:acme/infra:ref:refs/heads/main"

// jwtLoginBed is an acceptance environment whose Vault has the JWT auth method with the
// role terraform-ci: tokens with the documented Terraform policy, for JWTs of audience vault
// from the main branch only (what a GitHub Actions role binds).
type jwtLoginBed struct {
	e      *accEnv
	issuer *testenv.JWTIssuer
}

func newJWTLoginBed(t *testing.T) *jwtLoginBed {
	t.Helper()
	b := &jwtLoginBed{e: newAccEnv(t)}
	if err := b.e.vault.Client().Sys().PutPolicy("tailor-terraform", testenv.DocPolicy(t, "terraform", b.e.prefix)); err != nil {
		t.Fatal(err)
	}
	b.issuer = b.e.vault.EnableJWTAuth(t, "jwt")
	b.issuer.AddRole(t, "terraform-ci", map[string]any{"bound_audiences": []string{"vault"}, "bound_subject": ciSubject,
		"token_policies": []string{"tailor-terraform"}, "token_ttl": "10m"})
	return b
}

// provider returns a provider block without vault_token that logs in with login (HCL
// attributes of auth_login_jwt).
func (b *jwtLoginBed) provider(login string) string {
	return fmt.Sprintf("provider \"tailor\" {\n  vault_address = %q\n  path_prefix = %q\n  auth_login_jwt {\n%s\n  }\n}\n",
		b.e.vault.Addr, b.e.prefix, login)
}

// TestAccProvider_jwtLoginManagesConnections: with no Vault token anywhere, the provider logs
// in with a CI system's JWT, from an environment variable (GitLab CI's id_tokens) and from a
// file (a Kubernetes service-account token), and manages a connection under the Terraform
// policy.
func TestAccProvider_jwtLoginManagesConnections(t *testing.T) {
	b := newJWTLoginBed(t)
	t.Setenv("VAULT_TOKEN", "")
	jwt := b.issuer.Sign(t, map[string]any{"sub": ciSubject})
	t.Setenv("CI_VAULT_ID_TOKEN", jwt)
	file := filepath.Join(t.TempDir(), "sa-token")
	if err := os.WriteFile(file, []byte(jwt), 0o600); err != nil {
		t.Fatal(err)
	}
	args := connArgs{Name: "google-oauth-ci", ProviderURL: "https://accounts.google.com", ClientID: "ci-client",
		SecretWO: "ci-" + randomHex(16), SecretVersion: 1}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories(nil),
		TerraformVersionChecks:   []tfversion.TerraformVersionCheck{tfversion.SkipBelow(tfversion.Version1_11_0)},
		CheckDestroy:             b.e.checkDestroyed(args.Name),
		Steps: []resource.TestStep{
			{Config: b.provider(`    role = "terraform-ci"`+"\n"+`    jwt_env = "CI_VAULT_ID_TOKEN"`) + args.hcl("ci"),
				Check: expectSecret(b.e, args.Name, args.SecretWO, 1)},
			{Config: b.provider(`    role = "terraform-ci"`+"\n"+fmt.Sprintf(`    jwt_file = %q`, file)) + args.hcl("ci"),
				PlanOnly: true},
		},
	})
}

// TestAccProvider_jwtLoginRefusals: a JWT from another branch, an expired JWT and an unknown
// role each stop the plan with an error that says what to check; two login blocks or two JWT
// sources are refused before Vault is asked.
func TestAccProvider_jwtLoginRefusals(t *testing.T) {
	b := newJWTLoginBed(t)
	t.Setenv("VAULT_TOKEN", "")
	past := time.Now().Add(-time.Hour)
	n := 0
	login := func(role string, claims map[string]any) string { // each step its own variable
		n++
		env := fmt.Sprintf("CI_VAULT_ID_TOKEN_%d", n)
		t.Setenv(env, b.issuer.Sign(t, claims))
		return b.provider(fmt.Sprintf("    role = %q\n    jwt_env = %q", role, env))
	}
	data := "data \"tailor_authconnections\" \"all\" {}\n"
	steps := []resource.TestStep{
		{Config: login("terraform-ci", map[string]any{"sub": "repo:acme/infra:ref:refs/heads/feature"}) + data,
			ExpectError: regexp.MustCompile(`bound_subject or bound_claims`)},
		{Config: login("terraform-ci", map[string]any{"sub": ciSubject, "exp": past.Unix(), "iat": past.Unix(), "nbf": past.Unix()}) + data,
			ExpectError: regexp.MustCompile(`the JWT has expired`)},
		{Config: login("deploy", map[string]any{"sub": ciSubject}) + data,
			ExpectError: regexp.MustCompile(`the role does not exist`)},
		{Config: b.provider(`    role = "terraform-ci"`+"\n"+`    jwt_env = "X"`+"\n"+`    jwt_file = "/y"`) + data,
			ExpectError: regexp.MustCompile(`(?s)jwt_env.*jwt_file|jwt_file.*jwt_env`)},
		{Config: fmt.Sprintf("provider \"tailor\" {\n  vault_address = %q\n  auth_login_jwt {\n    role = \"a\"\n    jwt_env = \"X\"\n  }\n  auth_login_approle {\n    role_id = \"r\"\n    secret_id_file = \"/f\"\n  }\n}\n", b.e.vault.Addr) + data,
			ExpectError: regexp.MustCompile(`auth_login_jwt.*auth_login_approle|cannot be configured together|Invalid Attribute Combination`)},
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories(nil),
		TerraformVersionChecks:   []tfversion.TerraformVersionCheck{tfversion.SkipBelow(tfversion.Version1_11_0)},
		Steps:                    steps,
	})
}
