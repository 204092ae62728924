package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework-validators/providervalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/authconnection/terraform-provider-tailor/internal/vaultclient"
)

// authLoginJWTModel maps the auth_login_jwt block.
type authLoginJWTModel struct {
	Role    types.String `tfsdk:"role"`
	Mount   types.String `tfsdk:"mount"`
	JWT     types.String `tfsdk:"jwt"`
	JWTFile types.String `tfsdk:"jwt_file"`
	JWTEnv  types.String `tfsdk:"jwt_env"`
}

// authLoginAppRoleModel maps the auth_login_approle block.
type authLoginAppRoleModel struct {
	RoleID       types.String `tfsdk:"role_id"`
	SecretID     types.String `tfsdk:"secret_id"`
	SecretIDFile types.String `tfsdk:"secret_id_file"`
	Mount        types.String `tfsdk:"mount"`
}

// vaultLoginBlocks are the provider's Vault login blocks, in the style of
// terraform-provider-vault's auth_login_*.
func vaultLoginBlocks() map[string]schema.Block {
	// ConflictsWith, not ExactlyOneOf: the framework runs nested validators of an absent
	// SingleNestedBlock too, and ExactlyOneOf would then demand a JWT from every provider
	// block. vaultclient reports a block with no JWT source.
	oneJWT := stringvalidator.ConflictsWith(path.MatchRelative().AtParent().AtName("jwt"),
		path.MatchRelative().AtParent().AtName("jwt_file"), path.MatchRelative().AtParent().AtName("jwt_env"))
	return map[string]schema.Block{
		"auth_login_jwt": schema.SingleNestedBlock{
			MarkdownDescription: "Log in to Vault with a JWT (Vault's JWT/OIDC auth method) instead of a token: the OIDC token " +
				"of GitHub Actions or GitLab CI, or a Kubernetes service-account token. Set exactly one of `jwt`, `jwt_file` " +
				"and `jwt_env`. Takes precedence over `vault_token`. See the CI example in the provider documentation.",
			Attributes: map[string]schema.Attribute{
				"role": schema.StringAttribute{
					MarkdownDescription: "Role of the JWT auth method to log in as (required in this block).",
					Optional:            true,
					Validators:          []validator.String{stringvalidator.LengthAtLeast(1)},
				},
				"mount": schema.StringAttribute{
					MarkdownDescription: "Mount path of the JWT auth method. Defaults to `jwt`.",
					Optional:            true,
				},
				"jwt": schema.StringAttribute{
					MarkdownDescription: "The JWT itself, e.g. from an ephemeral variable. Prefer `jwt_env` or `jwt_file`.",
					Optional:            true, Sensitive: true,
					Validators: []validator.String{oneJWT},
				},
				"jwt_file": schema.StringAttribute{
					MarkdownDescription: "File holding the JWT (a Kubernetes projected service-account token).",
					Optional:            true,
					Validators:          []validator.String{oneJWT},
				},
				"jwt_env": schema.StringAttribute{
					MarkdownDescription: "Name of the environment variable holding the JWT, e.g. `VAULT_ID_TOKEN` for GitLab CI's `id_tokens`.",
					Optional:            true,
					Validators:          []validator.String{oneJWT},
				},
			},
		},
		"auth_login_approle": schema.SingleNestedBlock{
			MarkdownDescription: "Log in to Vault with AppRole instead of a token. Set one of `secret_id` and `secret_id_file`. " +
				"Takes precedence over `vault_token`.",
			Attributes: map[string]schema.Attribute{
				"role_id": schema.StringAttribute{MarkdownDescription: "The AppRole role id (required in this block).", Optional: true},
				"secret_id": schema.StringAttribute{
					MarkdownDescription: "The secret id. Prefer `secret_id_file` or an ephemeral variable.",
					Optional:            true, Sensitive: true,
					Validators: []validator.String{stringvalidator.ConflictsWith(path.MatchRelative().AtParent().AtName("secret_id_file"))},
				},
				"secret_id_file": schema.StringAttribute{MarkdownDescription: "File holding the secret id.", Optional: true},
				"mount":          schema.StringAttribute{MarkdownDescription: "Mount path of the AppRole auth method. Defaults to `approle`.", Optional: true},
			},
		},
	}
}

// ConfigValidators refuses both login blocks at once.
func (p *tailorProvider) ConfigValidators(context.Context) []provider.ConfigValidator {
	return []provider.ConfigValidator{
		providervalidator.Conflicting(path.MatchRoot("auth_login_jwt"), path.MatchRoot("auth_login_approle")),
	}
}

// vaultLogin sets cfg's login method from the blocks, if one is present.
func (m *tailorProviderModel) vaultLogin(cfg *vaultclient.Config) {
	if j := m.AuthLoginJWT; j != nil {
		cfg.JWT = &vaultclient.JWT{Role: j.Role.ValueString(), MountPath: j.Mount.ValueString(),
			Token: j.JWT.ValueString(), File: j.JWTFile.ValueString(), Env: j.JWTEnv.ValueString()}
	}
	if a := m.AuthLoginAppRole; a != nil {
		cfg.AppRole = &vaultclient.AppRole{RoleID: a.RoleID.ValueString(), SecretID: a.SecretID.ValueString(),
			SecretIDFile: a.SecretIDFile.ValueString(), MountPath: a.Mount.ValueString()}
	}
}
