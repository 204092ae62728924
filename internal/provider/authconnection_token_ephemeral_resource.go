package provider

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/ephemeral"
	"github.com/hashicorp/terraform-plugin-framework/ephemeral/schema"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/authconnection/terraform-provider-tailor/tokend/client"
)

var (
	_ ephemeral.EphemeralResource              = &authConnectionTokenEphemeralResource{}
	_ ephemeral.EphemeralResourceWithConfigure = &authConnectionTokenEphemeralResource{}
)

// NewAuthConnectionTokenEphemeralResource returns the tailor_authconnection_token ephemeral
// resource.
func NewAuthConnectionTokenEphemeralResource() ephemeral.EphemeralResource {
	return &authConnectionTokenEphemeralResource{}
}

// authConnectionTokenEphemeralResource hands out a valid access token of a connection,
// obtained from a running tokend (never from Vault directly: tokend's replicas are the only
// callers of the provider's token endpoint, see the resource's description).
type authConnectionTokenEphemeralResource struct {
	tokend *client.Client
}

// authConnectionTokenModel maps the ephemeral resource schema.
type authConnectionTokenModel struct {
	Name        types.String `tfsdk:"name"`
	AccessToken types.String `tfsdk:"access_token"`
	TokenType   types.String `tfsdk:"token_type"`
	ExpiresAt   types.String `tfsdk:"expires_at"`
}

func (r *authConnectionTokenEphemeralResource) Metadata(_ context.Context, req ephemeral.MetadataRequest, resp *ephemeral.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_authconnection_token"
}

func (r *authConnectionTokenEphemeralResource) Schema(_ context.Context, _ ephemeral.SchemaRequest, resp *ephemeral.SchemaResponse) {
	resp.Schema = authConnectionTokenSchema()
}

// authConnectionTokenSchema is the schema of tailor_authconnection_token.
func authConnectionTokenSchema() schema.Schema {
	return schema.Schema{
		MarkdownDescription: "A valid access token of a connection, for the configuration of other providers or their write-only " +
			"attributes during one Terraform run (Terraform 1.10+, OpenTofu 1.11+). It is **never stored in the plan or the state**. " +
			"It comes from a running `tokend serve` (the provider's `tokend_url` and `tokend_api_key`), which refreshes it: tokend's " +
			"replicas stay the only callers of the OAuth2 provider's token endpoint, so a Terraform run can never spend a rotating " +
			"refresh token at the same time as tokend, and the Terraform role needs no Vault access to tokens. Works for " +
			"both grants (`authorization_code` and `client_credentials`).",
		Attributes: map[string]schema.Attribute{
			"name": schema.StringAttribute{
				MarkdownDescription: "The connection's name; the API key must be allowed to fetch its tokens.",
				Required:            true,
				Validators:          []validator.String{connectionName()},
			},
			"access_token": schema.StringAttribute{
				MarkdownDescription: "The access token. Valid at least until `expires_at` minus tokend's refresh lead.",
				Computed:            true,
				Sensitive:           true,
			},
			"token_type": schema.StringAttribute{
				MarkdownDescription: "The token type, usually `Bearer`.",
				Computed:            true,
			},
			"expires_at": schema.StringAttribute{
				MarkdownDescription: "When the access token expires (RFC 3339).",
				Computed:            true,
			},
		},
	}
}

func (r *authConnectionTokenEphemeralResource) Configure(_ context.Context, req ephemeral.ConfigureRequest, resp *ephemeral.ConfigureResponse) {
	if d := providerDataOf(req.ProviderData, &resp.Diagnostics); d != nil {
		r.tokend = d.Tokend
	}
}

func (r *authConnectionTokenEphemeralResource) Open(ctx context.Context, req ephemeral.OpenRequest, resp *ephemeral.OpenResponse) {
	var m authConnectionTokenModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if r.tokend == nil {
		resp.Diagnostics.AddError("No tokend configured",
			"tailor_authconnection_token gets tokens from a running tokend: set tokend_url and tokend_api_key in the provider block "+
				"(or TAILOR_TOKEND_URL and TAILOR_TOKEND_API_KEY).")
		return
	}
	name := m.Name.ValueString()
	tok, err := r.tokend.Token(ctx, name)
	if err != nil {
		summary, detail := tokenError(name, err)
		resp.Diagnostics.AddAttributeError(path.Root("name"), summary, detail)
		return
	}
	m.AccessToken = types.StringValue(tok.AccessToken)
	m.TokenType = types.StringValue(tok.TokenType)
	m.ExpiresAt = types.StringValue(tok.ExpiresAt.UTC().Format(time.RFC3339))
	resp.Diagnostics.Append(resp.Result.Set(ctx, &m)...)
}

// tokenError turns an error of tokend's client into a diagnostic that says what to do.
func tokenError(name string, err error) (summary, detail string) {
	var ce *client.Error
	msg := err.Error()
	if errors.As(err, &ce) && ce.Message != "" {
		msg = ce.Message
	}
	switch {
	case client.IsNotAuthorized(err) && errors.As(err, &ce) && ce.Code == client.CodeNeedsReauthorization:
		return "Connection needs to be authorized again", fmt.Sprintf("%s. Authorize it again with `tokend authorize %s`, then apply again.", msg, name)
	case client.IsNotAuthorized(err):
		return "Connection not authorized", fmt.Sprintf("%s. Authorize it once with `tokend authorize %s`, then apply again.", msg, name)
	case client.IsNotFound(err):
		return "Connection not found", fmt.Sprintf("%s. Create it first (resource tailor_authconnection) in an earlier apply, or check the name.", msg)
	case client.IsAuth(err):
		return "tokend refused the API key", fmt.Sprintf("%s. Check tokend_api_key, and that the key may fetch tokens for %q (tokend keys create --connections).", msg, name)
	case client.IsUnavailable(err):
		return "No token available right now", fmt.Sprintf("%s. tokend could not get a valid token for %q now (provider or Vault unreachable, or tokend_url wrong); apply again later.", msg, name)
	}
	return "Cannot get the token", msg
}
