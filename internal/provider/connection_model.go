package provider

import (
	"context"
	"slices"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/connection"
)

// connectionConfigModel is a connection's stored configuration as Terraform sees it. The
// resource and both data sources embed it, so the mapping between a stored connection and
// Terraform values exists once (set and connection).
type connectionConfigModel struct {
	Name           types.String `tfsdk:"name"`
	Type           types.String `tfsdk:"type"`
	ProviderURL    types.String `tfsdk:"provider_url"`
	IssuerURL      types.String `tfsdk:"issuer_url"`
	ClientID       types.String `tfsdk:"client_id"`
	AuthURL        types.String `tfsdk:"auth_url"`
	TokenURL       types.String `tfsdk:"token_url"`
	RevocationURL  types.String `tfsdk:"revocation_url"`
	Scopes         types.List   `tfsdk:"scopes"`
	GrantType      types.String `tfsdk:"grant_type"`
	ClientAuth     types.String `tfsdk:"client_auth"`
	Audience       types.String `tfsdk:"audience"`
	Resources      types.List   `tfsdk:"resources"`
	AssertionKeyID types.String `tfsdk:"client_assertion_key_id"`
	Provider       types.String `tfsdk:"provider_name"`
	Params         types.Map    `tfsdk:"params"`
	HostOverrides  types.Map    `tfsdk:"host_overrides"`
	ProxyBaseURL   types.String `tfsdk:"proxy_base_url"`
	ProxyHosts     types.Set    `tfsdk:"proxy_allowed_hosts"`
	SecretExpires  types.String `tfsdk:"client_secret_expires_at"`
}

// set copies the configuration of c into m; empty optional fields become null.
func (m *connectionConfigModel) set(ctx context.Context, c *authconn.Connection) diag.Diagnostics {
	m.Name = types.StringValue(c.Name)
	m.Type = types.StringValue(c.Type)
	m.ProviderURL = types.StringValue(c.ProviderURL)
	m.IssuerURL = optionalString(c.IssuerURL)
	m.ClientID = types.StringValue(c.ClientID)
	m.AuthURL = optionalString(c.AuthURL)
	m.TokenURL = optionalString(c.TokenURL)
	m.RevocationURL = optionalString(c.RevocationURL)
	m.GrantType = types.StringValue(c.Grant())
	m.ClientAuth = optionalString(c.ClientAuth)
	m.Audience = optionalString(c.Audience)
	m.AssertionKeyID = optionalString(c.AssertionKeyID)
	m.Provider = optionalString(c.Provider)
	m.ProxyBaseURL = optionalString(c.ProxyBaseURL)
	m.SecretExpires = secretExpiresValue(m.SecretExpires, c.ClientSecretExpiresAt)
	var diags, d2, d3 diag.Diagnostics
	m.Scopes, diags = scopesValue(ctx, c.Scopes)
	m.Resources, d2 = scopesValue(ctx, c.Resources)
	emptyMap := !m.Params.IsNull() && !m.Params.IsUnknown() && len(m.Params.Elements()) == 0
	if len(c.Params) > 0 || !emptyMap { // none stored and Terraform had {}: keep its spelling
		m.Params, d3 = stringMapValue(ctx, c.Params)
	}
	var d4, d5 diag.Diagnostics
	if len(c.HostOverrides) > 0 || m.HostOverrides.IsNull() || m.HostOverrides.IsUnknown() || len(m.HostOverrides.Elements()) > 0 {
		m.HostOverrides, d4 = stringMapValue(ctx, c.HostOverrides)
	}
	m.ProxyHosts, d5 = stringSetValue(ctx, c.ProxyAllowedHosts)
	return append(append(append(append(diags, d2...), d3...), d4...), d5...)
}

// secretExpiresValue is the client_secret_expires_at of t: the value Terraform had when it
// names the same instant (the same spelling), else t in RFC 3339 with the offset it was
// stored with (a stored time keeps its offset, so an import reads what was configured);
// null when zero.
func secretExpiresValue(had types.String, t time.Time) types.String {
	if t.IsZero() {
		return types.StringNull()
	}
	if prev, err := time.Parse(time.RFC3339, had.ValueString()); err == nil && prev.Equal(t) {
		return had
	}
	return types.StringValue(t.Format(time.RFC3339))
}

// stringMapValue is m as a Terraform map of strings; null when empty.
func stringMapValue(ctx context.Context, m map[string]string) (types.Map, diag.Diagnostics) {
	if len(m) == 0 {
		return types.MapNull(types.StringType), nil
	}
	return types.MapValueFrom(ctx, types.StringType, m)
}

// stringSetValue is s as a Terraform set of strings; null when empty.
func stringSetValue(ctx context.Context, s []string) (types.Set, diag.Diagnostics) {
	if len(s) == 0 {
		return types.SetNull(types.StringType), nil
	}
	return types.SetValueFrom(ctx, types.StringType, s)
}

// connection returns the connection m describes (without timestamps).
func (m *connectionConfigModel) connection(ctx context.Context, diags *diag.Diagnostics) *authconn.Connection {
	var scopes, resources []string
	if !m.Scopes.IsNull() && !m.Scopes.IsUnknown() {
		diags.Append(m.Scopes.ElementsAs(ctx, &scopes, false)...)
	}
	if !m.Resources.IsNull() && !m.Resources.IsUnknown() {
		diags.Append(m.Resources.ElementsAs(ctx, &resources, false)...)
	}
	var params, hosts map[string]string
	if !m.Params.IsNull() && !m.Params.IsUnknown() {
		diags.Append(m.Params.ElementsAs(ctx, &params, false)...)
	}
	if !m.HostOverrides.IsNull() && !m.HostOverrides.IsUnknown() {
		diags.Append(m.HostOverrides.ElementsAs(ctx, &hosts, false)...)
	}
	var proxyHosts []string
	if !m.ProxyHosts.IsNull() && !m.ProxyHosts.IsUnknown() {
		diags.Append(m.ProxyHosts.ElementsAs(ctx, &proxyHosts, false)...)
		slices.Sort(proxyHosts) // a set has no order; Vault keeps one
	}
	expires, err := connection.ParseSecretExpiry(m.SecretExpires.ValueString())
	if err != nil {
		diags.AddAttributeError(path.Root("client_secret_expires_at"), "Invalid client_secret_expires_at", err.Error())
	}
	grant := m.GrantType.ValueString()
	if grant == authconn.GrantAuthorizationCode {
		grant = "" // the default is not stored
	}
	return &authconn.Connection{
		GrantType:      grant,
		ClientAuth:     m.ClientAuth.ValueString(),
		Audience:       m.Audience.ValueString(),
		AssertionKeyID: m.AssertionKeyID.ValueString(),
		Resources:      resources,
		Name:           m.Name.ValueString(),
		Type:           m.Type.ValueString(),
		ProviderURL:    m.ProviderURL.ValueString(),
		IssuerURL:      m.IssuerURL.ValueString(),
		ClientID:       m.ClientID.ValueString(),
		AuthURL:        m.AuthURL.ValueString(),
		TokenURL:       m.TokenURL.ValueString(),
		RevocationURL:  m.RevocationURL.ValueString(),
		Scopes:         scopes,
		Provider:       m.Provider.ValueString(),
		Params:         params,
		HostOverrides:  hosts,

		ProxyBaseURL:          m.ProxyBaseURL.ValueString(),
		ProxyAllowedHosts:     proxyHosts,
		ClientSecretExpiresAt: expires,
	}
}

// equal reports whether m and o describe the same stored configuration.
func (m *connectionConfigModel) equal(o *connectionConfigModel) bool {
	return m.Name.Equal(o.Name) && m.Type.Equal(o.Type) && m.ProviderURL.Equal(o.ProviderURL) &&
		m.IssuerURL.Equal(o.IssuerURL) && m.ClientID.Equal(o.ClientID) && m.AuthURL.Equal(o.AuthURL) &&
		m.TokenURL.Equal(o.TokenURL) && m.RevocationURL.Equal(o.RevocationURL) && m.Scopes.Equal(o.Scopes) &&
		m.GrantType.Equal(o.GrantType) && m.ClientAuth.Equal(o.ClientAuth) && m.Audience.Equal(o.Audience) && m.Resources.Equal(o.Resources) && m.AssertionKeyID.Equal(o.AssertionKeyID) &&
		m.Provider.Equal(o.Provider) && m.Params.Equal(o.Params) && m.HostOverrides.Equal(o.HostOverrides) &&
		m.ProxyBaseURL.Equal(o.ProxyBaseURL) && m.ProxyHosts.Equal(o.ProxyHosts) && m.SecretExpires.Equal(o.SecretExpires)
}

func optionalString(s string) types.String {
	if s == "" {
		return types.StringNull()
	}
	return types.StringValue(s)
}

func scopesValue(ctx context.Context, scopes []string) (types.List, diag.Diagnostics) {
	if len(scopes) == 0 {
		return types.ListNull(types.StringType), nil
	}
	return types.ListValueFrom(ctx, types.StringType, scopes)
}
