package provider

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/authconnection/terraform-provider-tailor/internal/store"
)

var (
	_ datasource.DataSource              = &authConnectionDataSource{}
	_ datasource.DataSourceWithConfigure = &authConnectionDataSource{}
)

// NewAuthConnectionDataSource returns the tailor_authconnection data source.
func NewAuthConnectionDataSource() datasource.DataSource {
	return &authConnectionDataSource{}
}

// authConnectionDataSource reads one connection by name. It never reads the client secret
// or the tokens, only the configuration and the token status metadata.
type authConnectionDataSource struct {
	store *store.Store
}

// authConnectionDataSourceModel maps the data source schema; connectionStatusModel is
// shared with tailor_authconnections.
type authConnectionDataSourceModel = connectionStatusModel

// connectionStatusModel is one connection's configuration and token status.
type connectionStatusModel struct {
	ID types.String `tfsdk:"id"`
	connectionConfigModel
	Status         types.String `tfsdk:"status"`
	Authorized     types.Bool   `tfsdk:"authorized"`
	TokenExpiresAt types.String `tfsdk:"token_expires_at"`
	LastError      types.String `tfsdk:"last_error"`
	Metadata       types.Map    `tfsdk:"metadata"`
	APIBaseURL     types.String `tfsdk:"api_base_url"`
}

func (d *authConnectionDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_authconnection"
}

func (d *authConnectionDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	attrs := connectionStatusAttributes()
	attrs["name"] = schema.StringAttribute{
		MarkdownDescription: "Name of the connection to read.",
		Required:            true,
		Validators:          []validator.String{connectionName()},
	}
	resp.Schema = schema.Schema{
		MarkdownDescription: "Reads one OAuth2 connection from Vault by name: its configuration and token status. " +
			"The client secret and the tokens are never read.",
		Attributes: attrs,
	}
}

func (d *authConnectionDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	if pd := configureData(req.ProviderData, &resp.Diagnostics); pd != nil {
		d.store = pd.Store
	}
}

func (d *authConnectionDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var cfg authConnectionDataSourceModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &cfg)...)
	if resp.Diagnostics.HasError() {
		return
	}
	m, err := readConnectionStatus(ctx, d.store, cfg.Name.ValueString())
	if errors.Is(err, store.ErrNotFound) {
		resp.Diagnostics.AddAttributeError(path.Root("name"), "Connection not found",
			fmt.Sprintf("No connection named %q in Vault (%s/%s). The data source tailor_authconnections lists the existing ones; "+
				"check the provider's mount and path_prefix.", cfg.Name.ValueString(), d.store.Mount(), d.store.Prefix()))
		return
	}
	if err != nil {
		resp.Diagnostics.AddError("Cannot read the connection", err.Error())
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, m)...)
}

// readConnectionStatus reads the configuration and token status of connection name.
func readConnectionStatus(ctx context.Context, st *store.Store, name string) (*connectionStatusModel, error) {
	c, err := st.GetConnection(ctx, name)
	if err != nil {
		return nil, err
	}
	ts, err := st.GetTokenStatus(ctx, name)
	if err != nil {
		return nil, err
	}
	m := &connectionStatusModel{ID: types.StringValue(c.Name)}
	if diags := m.set(ctx, &c.Connection); diags.HasError() {
		return nil, diagsError(diags)
	}
	m.Authorized, m.TokenExpiresAt = statusValues(ts)
	m.Status = types.StringValue(string(ts.Status))
	m.LastError = optionalString(ts.LastError)
	var diags diag.Diagnostics
	if m.Metadata, m.APIBaseURL, diags = metadataValues(ts); diags.HasError() {
		return nil, diagsError(diags)
	}
	return m, nil
}

func diagsError(diags diag.Diagnostics) error {
	var errs []error
	for _, d := range diags.Errors() {
		errs = append(errs, fmt.Errorf("%s: %s", d.Summary(), d.Detail()))
	}
	return errors.Join(errs...)
}

// connectionStatusAttributes returns the computed attributes of one connection, as both
// data sources show them.
func connectionStatusAttributes() map[string]schema.Attribute {
	str := func(md string) schema.StringAttribute {
		return schema.StringAttribute{MarkdownDescription: md, Computed: true}
	}
	return map[string]schema.Attribute{
		"id":             str("The connection name."),
		"name":           str("The connection name."),
		"type":           str("Authentication type (`TYPE_OAUTH2`)."),
		"provider_url":   str("OAuth2 provider URL."),
		"issuer_url":     str("Token issuer URL, or null."),
		"client_id":      str("OAuth2 client ID."),
		"auth_url":       str("Authorization endpoint override, or null."),
		"token_url":      str("Token endpoint override, or null."),
		"revocation_url": str("Revocation endpoint override, or null."),
		"scopes": schema.ListAttribute{
			MarkdownDescription: "Default scopes requested at authorization, or null.",
			ElementType:         types.StringType,
			Computed:            true,
		},
		"grant_type":              str("`authorization_code` or `client_credentials`."),
		"client_auth":             str("Client authentication method (`client_secret_basic`, `client_secret_post`, `private_key_jwt`), or null for the provider's default."),
		"audience":                str("Audience parameter of token requests, or null."),
		"client_assertion_key_id": str("Key id of the client assertion key (private_key_jwt), or null."),
		"resources": schema.ListAttribute{
			MarkdownDescription: "RFC 8707 resource indicators, or null.",
			ElementType:         types.StringType,
			Computed:            true,
		},
		"status": str("Token status: `authorized`, `needs_reauthorization` (the provider refused the refresh token; run `tokend authorize NAME` again), `not_authorized` (no tokens yet) or `failed` (a client-credentials token request was refused; see `last_error`)."),
		"authorized": schema.BoolAttribute{
			MarkdownDescription: "Whether `status` is `authorized`.",
			Computed:            true,
		},
		"token_expires_at": str("When the current access token expires (RFC 3339), or null."),
		"last_error":       str("The last refresh error `tokend` recorded, or null."),
		"provider_name":    str("The provider's catalog entry the connection names, or null (detected from `provider_url`)."),
		"params": schema.MapAttribute{
			MarkdownDescription: "The connection's values of its entry's parameters, or null.",
			ElementType:         types.StringType,
			Computed:            true,
		},
		"host_overrides": schema.MapAttribute{
			MarkdownDescription: "The hosts of the catalog entry the connection reaches at another origin, or null.",
			ElementType:         types.StringType,
			Computed:            true,
		},
		"proxy_base_url": str("Where tokend's proxy sends the connection's API calls, with the access token, instead of the entry's API base URL; or null."),
		"proxy_allowed_hosts": schema.SetAttribute{
			MarkdownDescription: "Further hosts a call through tokend's proxy may reach, with the access token; or null.",
			ElementType:         types.StringType,
			Computed:            true,
		},
		"client_secret_expires_at": str("When the client secret expires (RFC 3339), or null when not recorded."),
		"metadata": schema.MapAttribute{
			MarkdownDescription: "The non-secret values kept with the connection's tokens (QuickBooks `realmId`, Salesforce `instance_url`, ...), or null until authorized.",
			ElementType:         types.StringType,
			Computed:            true,
		},
		"api_base_url": str("The base URL of the provider's API for this connection, or null."),
	}
}
