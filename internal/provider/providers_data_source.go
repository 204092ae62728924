package provider

import (
	"context"
	"slices"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/authconnection/terraform-provider-tailor/internal/catalog"
	"github.com/authconnection/terraform-provider-tailor/internal/oauth"
)

var _ datasource.DataSource = &providersDataSource{}

// NewProvidersDataSource returns the tailor_providers data source.
func NewProvidersDataSource() datasource.DataSource {
	return &providersDataSource{}
}

// providersDataSource lists the provider catalog built into the provider. It reads nothing
// from Vault.
type providersDataSource struct{}

// providersDataSourceModel maps the data source schema.
type providersDataSourceModel struct {
	Names     []string            `tfsdk:"names"`
	Providers []catalogEntryModel `tfsdk:"providers"`
}

// catalogEntryModel is one catalog entry as Terraform sees it.
type catalogEntryModel struct {
	Name        string              `tfsdk:"name"`
	DisplayName string              `tfsdk:"display_name"`
	Hosts       []string            `tfsdk:"hosts"`
	Params      []catalogParamModel `tfsdk:"params"`
	GrantTypes  []string            `tfsdk:"grant_types"`
	Metadata    []string            `tfsdk:"metadata"`
	APIBaseURL  types.String        `tfsdk:"api_base_url"`
	Docs        []string            `tfsdk:"docs"`
	Checked     types.String        `tfsdk:"checked"`
}

// catalogParamModel is one declared parameter of an entry.
type catalogParamModel struct {
	Name        string       `tfsdk:"name"`
	Description string       `tfsdk:"description"`
	Pattern     string       `tfsdk:"pattern"`
	Default     types.String `tfsdk:"default"`
}

func (d *providersDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_providers"
}

func (d *providersDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	list := func(md string) schema.ListAttribute {
		return schema.ListAttribute{MarkdownDescription: md, ElementType: types.StringType, Computed: true}
	}
	str := func(md string) schema.StringAttribute {
		return schema.StringAttribute{MarkdownDescription: md, Computed: true}
	}
	resp.Schema = schema.Schema{
		MarkdownDescription: "Lists the provider catalog: the entries `tailor_authconnection`'s `provider_name` may name, with the " +
			"per-connection parameters each takes in `params` (their patterns are checked at plan time), the metadata each keeps " +
			"with the tokens, and the documentation each entry was written from. See docs/providers.md and docs/catalog.md.",
		Attributes: map[string]schema.Attribute{
			"names": list("The entries' names, sorted; the generic OpenID Connect / RFC 8414 entry (`oidc`) last."),
			"providers": schema.ListNestedAttribute{
				MarkdownDescription: "The entries, in the order of `names`.",
				Computed:            true,
				NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
					"name":         str("The entry's name: the value of `provider_name`."),
					"display_name": str("The provider's name for people."),
					"hosts":        list("The `provider_url` / `issuer_url` hosts that select the entry when `provider_name` is unset."),
					"params": schema.ListNestedAttribute{
						MarkdownDescription: "The per-connection parameters (keys of `params`) and the metadata values the entry's templates use.",
						Computed:            true,
						NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
							"name":        str("The parameter's name: a key of `params`."),
							"description": str("What the value is and where to find it."),
							"pattern":     str("The anchored regular expression every value must match."),
							"default":     str("The value when the connection gives none, or null."),
						}},
					},
					"grant_types":  list("The grant types the entry is for (`authorization_code`, `refresh_token`, `client_credentials`, the device grant)."),
					"metadata":     list("The names of the metadata values kept with the tokens (the connection's `metadata` keys)."),
					"api_base_url": str("The template of the API base URL (`{param}` placeholders), or null."),
					"docs":         list("The provider documentation pages the entry was written from."),
					"checked":      str("The date (YYYY-MM-DD) the entry was last compared with those pages, or null."),
				}},
			},
		},
	}
}

func (d *providersDataSource) Read(ctx context.Context, _ datasource.ReadRequest, resp *datasource.ReadResponse) {
	resp.Diagnostics.Append(resp.State.Set(ctx, catalogModel())...)
}

// catalogModel is the whole catalog: the named entries, then the generic one.
func catalogModel() *providersDataSourceModel {
	m := &providersDataSourceModel{}
	for _, p := range append(slices.Clone(oauth.Presets), oauth.Generic) {
		m.Names = append(m.Names, p.Name)
		m.Providers = append(m.Providers, entryModel(p.Entry))
	}
	return m
}

// entryModel maps one entry.
func entryModel(e *catalog.Entry) catalogEntryModel {
	m := catalogEntryModel{Name: e.Name, DisplayName: e.DisplayName, Hosts: nonNil(e.Hosts), Docs: nonNil(e.Docs), Checked: optionalString(e.Checked),
		Params: []catalogParamModel{}, APIBaseURL: optionalString(e.API.BaseURL.First()), Metadata: metadataNames(e)}
	for _, p := range e.Params {
		m.Params = append(m.Params, catalogParamModel{Name: p.Name, Description: p.Description, Pattern: p.Pattern, Default: optionalString(p.Default)})
	}
	m.GrantTypes = slices.Clone(e.Grants())
	if len(e.URLs.DeviceAuthorization) > 0 && !slices.Contains(m.GrantTypes, catalog.GrantDeviceCode) {
		m.GrantTypes = append(m.GrantTypes, catalog.GrantDeviceCode)
	}
	return m
}

// metadataNames are the names of the metadata values an entry keeps, in declaration order.
func metadataNames(e *catalog.Entry) []string {
	vals := append(slices.Clone(e.Metadata.Callback), e.Metadata.Token...)
	if e.Metadata.Call != nil {
		vals = append(vals, e.Metadata.Call.Values...)
	}
	out := []string{}
	for _, v := range vals {
		if !slices.Contains(out, v.Name) {
			out = append(out, v.Name)
		}
	}
	return out
}

// nonNil returns s, or an empty list for nil (an empty list, not null, in Terraform).
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
