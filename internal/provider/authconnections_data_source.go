package provider

import (
	"context"
	"errors"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/authconnection/terraform-provider-tailor/internal/store"
)

var (
	_ datasource.DataSource              = &authConnectionsDataSource{}
	_ datasource.DataSourceWithConfigure = &authConnectionsDataSource{}
)

// NewAuthConnectionsDataSource returns the tailor_authconnections data source.
func NewAuthConnectionsDataSource() datasource.DataSource {
	return &authConnectionsDataSource{}
}

// authConnectionsDataSource lists every connection with its token status.
type authConnectionsDataSource struct {
	store *store.Store
}

// authConnectionsDataSourceModel maps the data source schema.
type authConnectionsDataSourceModel struct {
	Names       types.List              `tfsdk:"names"`
	Connections []connectionStatusModel `tfsdk:"connections"`
}

func (d *authConnectionsDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_authconnections"
}

func (d *authConnectionsDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "Lists every OAuth2 connection in Vault (under the provider's `mount` and `path_prefix`) with its " +
			"configuration and token status, sorted by name. The client secrets and the tokens are never read.",
		Attributes: map[string]schema.Attribute{
			"names": schema.ListAttribute{
				MarkdownDescription: "Names of all connections, sorted.",
				ElementType:         types.StringType,
				Computed:            true,
			},
			"connections": schema.ListNestedAttribute{
				MarkdownDescription: "All connections, sorted by name.",
				Computed:            true,
				NestedObject: schema.NestedAttributeObject{
					Attributes: connectionStatusAttributes(),
				},
			},
		},
	}
}

func (d *authConnectionsDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	if pd := configureData(req.ProviderData, &resp.Diagnostics); pd != nil {
		d.store = pd.Store
	}
}

func (d *authConnectionsDataSource) Read(ctx context.Context, _ datasource.ReadRequest, resp *datasource.ReadResponse) {
	names, err := d.store.ListConnections(ctx)
	if err != nil {
		resp.Diagnostics.AddError("Cannot list the connections", err.Error())
		return
	}
	m := authConnectionsDataSourceModel{Connections: make([]connectionStatusModel, 0, len(names))}
	found := make([]string, 0, len(names))
	for _, name := range names {
		c, err := readConnectionStatus(ctx, d.store, name)
		if errors.Is(err, store.ErrNotFound) {
			continue // deleted since the listing, or a leftover without configuration
		}
		if err != nil {
			resp.Diagnostics.AddError("Cannot read a connection", err.Error())
			return
		}
		m.Connections = append(m.Connections, *c)
		found = append(found, name)
	}
	list, diags := types.ListValueFrom(ctx, types.StringType, found)
	resp.Diagnostics.Append(diags...)
	m.Names = list
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}
