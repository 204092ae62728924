// Package provider implements the `tailor` Terraform provider: OAuth2 connections whose
// configuration and client secret live in HashiCorp Vault, read by tokend.
package provider

import (
	"context"
	"fmt"
	"os"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/authconnection/terraform-provider-tailor/internal/oauth"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
	"github.com/authconnection/terraform-provider-tailor/internal/vaultclient"
)

// Environment variables read when the matching provider argument is not set. The VAULT_*
// variables are read by internal/vaultclient, as the Vault CLI reads them.
const (
	EnvMount      = "TAILOR_MOUNT"
	EnvPathPrefix = "TAILOR_PATH_PREFIX"
)

var _ provider.Provider = &tailorProvider{}

// tailorProvider is the `tailor` provider.
type tailorProvider struct {
	// version is "dev" for local builds, the release version otherwise, "test" in tests.
	version string
	// oauth makes the requests to OAuth2 providers (token revocation on destroy).
	oauth *oauth.Client
}

// providerOptions are the dependencies of the provider that tests replace.
type providerOptions struct {
	// OAuth is the client for requests to OAuth2 providers; the zero oauth.Client (30 s
	// timeout per request) when nil. Tests give it an HTTP client that refuses any host but
	// the loopback interface.
	OAuth *oauth.Client
}

// tailorProviderModel maps the provider block.
type tailorProviderModel struct {
	VaultAddress   types.String `tfsdk:"vault_address"`
	VaultToken     types.String `tfsdk:"vault_token"`
	VaultNamespace types.String `tfsdk:"vault_namespace"`
	Mount          types.String `tfsdk:"mount"`
	PathPrefix     types.String `tfsdk:"path_prefix"`
	CACertFile     types.String `tfsdk:"ca_cert_file"`
	CACertDir      types.String `tfsdk:"ca_cert_dir"`
	SkipTLSVerify  types.Bool   `tfsdk:"skip_tls_verify"`
}

// providerData is what Configure hands to every resource and data source.
type providerData struct {
	Store *store.Store
	// OAuth makes the requests to OAuth2 providers (token revocation on destroy).
	OAuth *oauth.Client
}

// New returns a constructor of the provider for providerserver.
func New(version string) func() provider.Provider {
	return newProvider(version, providerOptions{})
}

// newProvider is New with the dependencies of opts; tests use it.
func newProvider(version string, opts providerOptions) func() provider.Provider {
	return func() provider.Provider {
		oc := opts.OAuth
		if oc == nil {
			oc = &oauth.Client{}
		}
		return &tailorProvider{version: version, oauth: oc}
	}
}

func (p *tailorProvider) Metadata(_ context.Context, _ provider.MetadataRequest, resp *provider.MetadataResponse) {
	resp.TypeName = "tailor"
	resp.Version = p.version
}

func (p *tailorProvider) Schema(_ context.Context, _ provider.SchemaRequest, resp *provider.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "The `tailor` provider manages OAuth2 connections (client configuration and client secret) " +
			"stored in HashiCorp Vault's KV v2 secrets engine, where `tokend` reads them to authorize and refresh tokens. " +
			"The client secret is written to Vault and never kept in Terraform state when you use `client_secret_wo`.",
		Attributes: map[string]schema.Attribute{
			"vault_address": schema.StringAttribute{
				MarkdownDescription: "Address of the Vault server, e.g. `https://vault.example.com:8200`. Falls back to `VAULT_ADDR`.",
				Optional:            true,
			},
			"vault_token": schema.StringAttribute{
				MarkdownDescription: "Vault token. Falls back to `VAULT_TOKEN`. Prefer the environment variable: a token written in the configuration ends up in saved plan files.",
				Optional:            true,
				Sensitive:           true,
			},
			"vault_namespace": schema.StringAttribute{
				MarkdownDescription: "Vault Enterprise / HCP Vault namespace. Falls back to `VAULT_NAMESPACE`.",
				Optional:            true,
			},
			"mount": schema.StringAttribute{
				MarkdownDescription: fmt.Sprintf("Path of the KV version 2 secrets engine that holds the connections. Falls back to `%s`, then `%s`.", EnvMount, store.DefaultMount),
				Optional:            true,
			},
			"path_prefix": schema.StringAttribute{
				MarkdownDescription: fmt.Sprintf("Path prefix inside the mount under which connections are stored; `tokend` must use the same one. Falls back to `%s`, then `%s`.", EnvPathPrefix, store.DefaultPrefix),
				Optional:            true,
			},
			"ca_cert_file": schema.StringAttribute{
				MarkdownDescription: "PEM file of the CA certificate that signed Vault's TLS certificate. Falls back to `VAULT_CACERT`.",
				Optional:            true,
			},
			"ca_cert_dir": schema.StringAttribute{
				MarkdownDescription: "Directory of PEM CA certificates to verify Vault's TLS certificate. Falls back to `VAULT_CAPATH`.",
				Optional:            true,
			},
			"skip_tls_verify": schema.BoolAttribute{
				MarkdownDescription: "Do not verify Vault's TLS certificate. For tests only. Falls back to `VAULT_SKIP_VERIFY`.",
				Optional:            true,
			},
		},
	}
}

func (p *tailorProvider) Configure(ctx context.Context, req provider.ConfigureRequest, resp *provider.ConfigureResponse) {
	var cfg tailorProviderModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &cfg)...)
	if resp.Diagnostics.HasError() {
		return
	}
	for name, v := range map[string]interface{ IsUnknown() bool }{
		"vault_address": cfg.VaultAddress, "vault_token": cfg.VaultToken, "vault_namespace": cfg.VaultNamespace,
		"mount": cfg.Mount, "path_prefix": cfg.PathPrefix, "ca_cert_file": cfg.CACertFile,
		"ca_cert_dir": cfg.CACertDir, "skip_tls_verify": cfg.SkipTLSVerify,
	} {
		if v.IsUnknown() {
			resp.Diagnostics.AddAttributeError(path.Root(name), "Unknown provider argument",
				fmt.Sprintf("The provider cannot connect to Vault because %s is not known until apply. "+
					"Set it to a literal, a variable or an environment variable (see the provider documentation), "+
					"or apply the resources it depends on first with -target.", name))
		}
	}
	if resp.Diagnostics.HasError() {
		return
	}

	client, err := vaultclient.New(ctx, vaultclient.Config{
		Address:    cfg.VaultAddress.ValueString(),
		Token:      cfg.VaultToken.ValueString(),
		Namespace:  cfg.VaultNamespace.ValueString(),
		CACert:     cfg.CACertFile.ValueString(),
		CAPath:     cfg.CACertDir.ValueString(),
		SkipVerify: cfg.SkipTLSVerify.ValueBool(),
	})
	if err != nil {
		resp.Diagnostics.AddError("Cannot create the Vault client", err.Error())
		return
	}
	if err := client.Verify(ctx); err != nil {
		resp.Diagnostics.AddError("Cannot use Vault", err.Error())
		return
	}

	st, err := store.New(client.Client, store.Options{
		Mount:  withEnv(cfg.Mount, EnvMount),
		Prefix: withEnv(cfg.PathPrefix, EnvPathPrefix),
	})
	if err != nil {
		resp.Diagnostics.AddError("Invalid Vault mount or path prefix", err.Error())
		return
	}
	tflog.Debug(ctx, "configured the Vault store", map[string]any{
		"vault_address": client.Address(), "mount": st.Mount(), "path_prefix": st.Prefix(),
	})

	data := &providerData{Store: st, OAuth: p.oauth}
	resp.DataSourceData = data
	resp.ResourceData = data
}

// withEnv returns v, or the environment variable env when v is null or empty.
func withEnv(v types.String, env string) string {
	if s := v.ValueString(); s != "" {
		return s
	}
	return os.Getenv(env)
}

func (p *tailorProvider) Resources(_ context.Context) []func() resource.Resource {
	return []func() resource.Resource{
		NewAuthConnectionResource,
	}
}

func (p *tailorProvider) DataSources(_ context.Context) []func() datasource.DataSource {
	return []func() datasource.DataSource{
		NewAuthConnectionDataSource,
		NewAuthConnectionsDataSource,
	}
}

// configureData extracts the providerData handed over by Configure. It returns nil without
// an error while the provider is not configured yet (e.g. during validation).
func configureData(pd any, diags interface {
	AddError(summary, detail string)
}) *providerData {
	if pd == nil {
		return nil
	}
	d, ok := pd.(*providerData)
	if !ok {
		diags.AddError("Unexpected provider data",
			fmt.Sprintf("Expected *providerData, got %T. This is a bug in the provider; please report it.", pd))
		return nil
	}
	return d
}
