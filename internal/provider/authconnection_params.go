package provider

import (
	"context"
	"errors"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/setvalidator"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/catalog"
	"github.com/authconnection/terraform-provider-tailor/internal/connection"
	"github.com/authconnection/terraform-provider-tailor/internal/oauth"
)

// providerAttribute is tailor_authconnection's provider_name: a catalog entry's name (Terraform
// reserves the attribute name provider for its own meta-argument).
func providerAttribute() schema.StringAttribute {
	return schema.StringAttribute{
		MarkdownDescription: "The provider's catalog entry (the `tailor_providers` data source lists them, docs/providers.md describes them), " +
			"e.g. `salesforce` or `zendesk`. When unset, the entry is the one whose hosts hold `provider_url`'s or `issuer_url`'s host, " +
			"else the generic OpenID Connect / RFC 8414 one. (Named `provider_name` because Terraform reserves `provider`.) Changing it moves where the client secret is sent: " +
			"write the secret again in the same apply (bump `client_secret_wo_version`).",
		Optional:   true,
		Validators: []validator.String{catalogProvider()},
	}
}

// paramsAttribute is tailor_authconnection's params: the entry's per-connection parameters.
func paramsAttribute() schema.MapAttribute {
	return schema.MapAttribute{
		MarkdownDescription: "Values of the entry's per-connection parameters, e.g. `{ subdomain = \"acme\" }` for Zendesk or " +
			"`{ shop = \"acme\" }` for Shopify. Each must be declared by the entry and match its pattern (checked at plan time), " +
			"so that no value can change a host or path beyond its placeholder; a parameter the entry's endpoints need is required. " +
			"Changing one moves where the client secret is sent: write the secret again in the same apply (bump `client_secret_wo_version`).",
		Optional:    true,
		ElementType: types.StringType,
	}
}

// hostOverridesAttribute is tailor_authconnection's host_overrides.
func hostOverridesAttribute() schema.MapAttribute {
	return schema.MapAttribute{
		MarkdownDescription: "Hosts of the catalog entry to reach at another origin: `{ \"quickbooks.api.intuit.com\" = \"https://gateway.internal:8443\" }` " +
			"(a private gateway, a regional mirror, a test double). Every URL tokend takes from the entry (authorize, token, refresh, " +
			"revocation, the metadata call, the API base URL) uses it. A key must be a host the entry names; a value an https (or " +
			"loopback http) origin without a path. These origins are operator-typed, so the egress policy lets them reach internal " +
			"addresses. Changing one moves where the client secret is sent: write the secret again in the same apply.",
		Optional:    true,
		ElementType: types.StringType,
	}
}

// proxyBaseURLAttribute is tailor_authconnection's proxy_base_url.
func proxyBaseURLAttribute() schema.StringAttribute {
	return schema.StringAttribute{
		MarkdownDescription: "Where tokend's proxy (`/v1/connections/NAME/proxy/PATH`, docs/proxy.md) sends this connection's API calls, " +
			"with the access token: the base URL every proxied path is put under, e.g. `https://api.example.com/v1`, instead of the " +
			"catalog entry's API base URL. `https`, or `http` for localhost and loopback addresses only; no query. It is operator-typed, " +
			"so the egress policy lets exactly this origin be reached even on an internal address. **The access token is sent there.** " +
			"Changing it moves where the connection's credentials go: write the secret again in the same apply (bump `client_secret_wo_version`).",
		Optional:   true,
		Validators: []validator.String{proxyBaseURL()},
	}
}

// proxyAllowedHostsAttribute is tailor_authconnection's proxy_allowed_hosts.
func proxyAllowedHostsAttribute() schema.SetAttribute {
	return schema.SetAttribute{
		MarkdownDescription: "Further hosts a call through tokend's proxy (docs/proxy.md) may reach besides the API base URL's host, " +
			"e.g. `[\"uploads.example.com\", \"127.0.0.1:8443\"]`: a lowercase hostname or IP address with an optional port, " +
			"no scheme or path. Operator-typed, so the egress policy lets exactly these hosts be reached even on internal addresses. " +
			"**The access token is sent there.** Changing them moves where the connection's credentials go: write the secret again in the same apply.",
		Optional:    true,
		ElementType: types.StringType,
		Validators:  []validator.Set{setvalidator.SizeAtLeast(1), setvalidator.ValueStringsAre(proxyHost())},
	}
}

// secretExpiresAttribute is tailor_authconnection's client_secret_expires_at.
func secretExpiresAttribute() schema.StringAttribute {
	return schema.StringAttribute{
		MarkdownDescription: "When the client secret expires (RFC 3339, e.g. `2027-06-30T00:00:00Z`), as the provider's console shows it; " +
			"Microsoft Entra client secrets last at most two years. `tokend serve` emits `connection.client_secret_expiring` " +
			"30, 7 and 1 days before, and `tokend list` and the status page show it. A value in the past is a warning.",
		Optional:   true,
		Validators: []validator.String{secretExpiry()},
	}
}

// metadataAttribute is the computed metadata of a connection's tokens.
func metadataAttribute() schema.MapAttribute {
	return schema.MapAttribute{
		MarkdownDescription: "The non-secret values the provider's catalog entry keeps with the connection's tokens " +
			"(QuickBooks `realmId`, Salesforce `instance_url`, Xero `tenant_id`, ...), read from the token record's summary, never the tokens; " +
			"null until the connection is authorized.",
		Computed:    true,
		ElementType: types.StringType,
	}
}

// apiBaseURLAttribute is the computed API base URL of a connection.
func apiBaseURLAttribute() schema.StringAttribute {
	return schema.StringAttribute{
		MarkdownDescription: "The base URL of the provider's API for this connection (the entry's template filled with its params and metadata), " +
			"or null until the connection is authorized or when the entry names none.",
		Computed: true,
	}
}

// metadataValues maps a token status to the `metadata` and `api_base_url` attributes.
func metadataValues(st authconn.TokenStatus) (types.Map, types.String, diag.Diagnostics) {
	m, diags := stringMapValue(context.Background(), st.Metadata)
	return m, optionalString(st.APIBaseURL), diags
}

// ValidateConfig checks provider_name and params together at plan time, as connection.Create
// does (connection.CheckProvider).
func (r *authConnectionResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var cfg authConnectionResourceModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &cfg)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if !knownParams(cfg.connectionConfigModel) {
		return // known at apply only: Create checks them then
	}
	var d diag.Diagnostics
	c := cfg.connection(ctx, &d)
	if d.HasError() {
		return // the attributes' own validators report it
	}
	var unknown *connection.UnknownProviderError
	if err := connection.CheckProvider(c); err != nil && !errors.As(err, &unknown) {
		// an unknown name is the provider attribute's validator's to report
		addProviderCheckError(&resp.Diagnostics, c, err)
	}
}

// addProviderCheckError reports an error of connection.CheckProvider on the attribute that
// holds the value it names: params["x"] for a catalog.ParamError on a parameter that is set
// (params itself for a missing one), host_overrides["host"] for an *oauth.HostOverrideError,
// provider_name for an unknown entry, params otherwise.
func addProviderCheckError(diags *diag.Diagnostics, c *authconn.Connection, err error) {
	var pe *catalog.ParamError
	var he *oauth.HostOverrideError
	var unknown *connection.UnknownProviderError
	switch {
	case errors.As(err, &unknown):
		diags.AddAttributeError(path.Root("provider_name"), "Unknown provider", err.Error()+".")
	case errors.As(err, &pe):
		at := path.Root("params")
		if _, ok := c.Params[pe.Param]; ok {
			at = at.AtMapKey(pe.Param)
		}
		diags.AddAttributeError(at, "Invalid connection parameter", err.Error()+".")
	case errors.As(err, &he):
		diags.AddAttributeError(path.Root("host_overrides").AtMapKey(he.Host), "Invalid host override", err.Error()+".")
	default:
		diags.AddAttributeError(path.Root("params"), "Invalid connection parameters", err.Error()+".")
	}
}

// knownParams reports whether everything CheckProvider reads is known.
func knownParams(m connectionConfigModel) bool {
	for _, v := range []types.String{m.Provider, m.ProviderURL, m.IssuerURL} {
		if v.IsUnknown() {
			return false
		}
	}
	if m.Params.IsUnknown() {
		return false
	}
	for _, v := range m.Params.Elements() {
		if v.IsUnknown() {
			return false
		}
	}
	return true
}

// warnExpiredSecret warns in the plan when client_secret_expires_at is in the past
// (connection.SecretExpiryWarning).
func warnExpiredSecret(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	var name, expires types.String
	resp.Diagnostics.Append(req.Plan.GetAttribute(ctx, path.Root("name"), &name)...)
	resp.Diagnostics.Append(req.Plan.GetAttribute(ctx, path.Root("client_secret_expires_at"), &expires)...)
	if expires.IsNull() || expires.IsUnknown() {
		return
	}
	at, err := connection.ParseSecretExpiry(expires.ValueString())
	if err != nil {
		return // the attribute's validator reports it
	}
	if warn := connection.SecretExpiryWarning(name.ValueString(), at, time.Now()); warn != "" {
		resp.Diagnostics.AddAttributeWarning(path.Root("client_secret_expires_at"), "Client secret expired", warn)
	}
}
