// Package provider implements the `tailor` Terraform provider: OAuth2 connections whose
// configuration and client secret live in HashiCorp Vault, read by tokend.
package provider

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"maps"
	"net/http"
	"os"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/ephemeral"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/authconnection/terraform-provider-tailor/internal/oauth"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
	"github.com/authconnection/terraform-provider-tailor/internal/vaultclient"
	"github.com/authconnection/terraform-provider-tailor/tokend/client"
)

// Environment variables read when the matching provider argument is not set. The VAULT_*
// variables are read by internal/vaultclient, as the Vault CLI reads them.
const (
	EnvMount        = "TAILOR_MOUNT"
	EnvPathPrefix   = "TAILOR_PATH_PREFIX"
	EnvTokendURL    = "TAILOR_TOKEND_URL"
	EnvTokendAPIKey = "TAILOR_TOKEND_API_KEY"
)

var (
	_ provider.Provider                       = &tailorProvider{}
	_ provider.ProviderWithEphemeralResources = &tailorProvider{}
	_ provider.ProviderWithConfigValidators   = &tailorProvider{}
)

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
	TokendURL      types.String `tfsdk:"tokend_url"`
	TokendAPIKey   types.String `tfsdk:"tokend_api_key"`
	TokendCACert   types.String `tfsdk:"tokend_ca_cert_file"`

	AuthLoginJWT     *authLoginJWTModel     `tfsdk:"auth_login_jwt"`
	AuthLoginAppRole *authLoginAppRoleModel `tfsdk:"auth_login_approle"`
}

// providerData is what Configure hands to every resource, data source and ephemeral
// resource.
type providerData struct {
	// Store is nil when the provider block names no Vault (only tokend_url).
	Store *store.Store
	// OAuth makes the requests to OAuth2 providers (token revocation on destroy).
	OAuth *oauth.Client
	// Tokend fetches access tokens for tailor_authconnection_token; nil without tokend_url.
	Tokend *client.Client
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
				MarkdownDescription: "Address of the Vault server, e.g. `https://vault.example.com:8200`, or the nodes of a Vault cluster separated by commas (a request that a node cannot take, during an election for example, goes to the next). Falls back to `VAULT_ADDR`.",
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
			"tokend_url": schema.StringAttribute{
				MarkdownDescription: "URL of a running `tokend serve`, e.g. `https://tokend.internal:8787`, from which the ephemeral resource " +
					"`tailor_authconnection_token` gets access tokens. Falls back to `TAILOR_TOKEND_URL`. A provider block with only " +
					"`tokend_url` (no Vault address) can open that ephemeral resource and nothing else.",
				Optional: true,
			},
			"tokend_api_key": schema.StringAttribute{
				MarkdownDescription: "API key for `tokend_url` (`tokend keys create --connections ...`). Falls back to `TAILOR_TOKEND_API_KEY`; prefer the variable.",
				Optional:            true,
				Sensitive:           true,
			},
			"tokend_ca_cert_file": schema.StringAttribute{
				MarkdownDescription: "PEM file of the CA that signed tokend's TLS certificate, when it is not a public one.",
				Optional:            true,
			},
			"skip_tls_verify": schema.BoolAttribute{
				MarkdownDescription: "Do not verify Vault's TLS certificate. For tests only. Falls back to `VAULT_SKIP_VERIFY`.",
				Optional:            true,
			},
		},
		Blocks: vaultLoginBlocks(),
	}
}

func (p *tailorProvider) Configure(ctx context.Context, req provider.ConfigureRequest, resp *provider.ConfigureResponse) {
	var cfg tailorProviderModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &cfg)...)
	if resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(cfg.checkKnown()...)
	if resp.Diagnostics.HasError() {
		return
	}
	data := &providerData{OAuth: p.oauth}
	var err error
	if data.Tokend, err = cfg.tokendClient(); err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("tokend_ca_cert_file"), "Cannot use tokend's CA certificate", err.Error())
		return
	}
	if data.Tokend == nil || cfg.namesVault() {
		var diags diag.Diagnostics
		data.Store, diags = cfg.openStore(ctx)
		resp.Diagnostics.Append(diags...)
		if resp.Diagnostics.HasError() {
			return
		}
	}
	resp.DataSourceData = data
	resp.ResourceData = data
	resp.EphemeralResourceData = data
}

// checkKnown reports arguments that are not known until apply: the provider needs them now.
func (cfg *tailorProviderModel) checkKnown() diag.Diagnostics {
	var diags diag.Diagnostics
	args := map[string]interface{ IsUnknown() bool }{
		"vault_address": cfg.VaultAddress, "vault_token": cfg.VaultToken, "vault_namespace": cfg.VaultNamespace,
		"mount": cfg.Mount, "path_prefix": cfg.PathPrefix, "ca_cert_file": cfg.CACertFile,
		"ca_cert_dir": cfg.CACertDir, "skip_tls_verify": cfg.SkipTLSVerify,
		"tokend_url": cfg.TokendURL, "tokend_api_key": cfg.TokendAPIKey, "tokend_ca_cert_file": cfg.TokendCACert,
	}
	if j := cfg.AuthLoginJWT; j != nil {
		maps.Copy(args, map[string]interface{ IsUnknown() bool }{"auth_login_jwt.role": j.Role, "auth_login_jwt.mount": j.Mount,
			"auth_login_jwt.jwt": j.JWT, "auth_login_jwt.jwt_file": j.JWTFile, "auth_login_jwt.jwt_env": j.JWTEnv})
	}
	if a := cfg.AuthLoginAppRole; a != nil {
		maps.Copy(args, map[string]interface{ IsUnknown() bool }{"auth_login_approle.role_id": a.RoleID, "auth_login_approle.secret_id": a.SecretID,
			"auth_login_approle.secret_id_file": a.SecretIDFile, "auth_login_approle.mount": a.Mount})
	}
	for name, v := range args {
		if v.IsUnknown() {
			block, attr, nested := strings.Cut(name, ".")
			p := path.Root(block)
			if nested {
				p = p.AtName(attr)
			}
			diags.AddAttributeError(p, "Unknown provider argument",
				fmt.Sprintf("The provider cannot connect because %s is not known until apply. "+
					"Set it to a literal, a variable or an environment variable (see the provider documentation), "+
					"or apply the resources it depends on first with -target.", name))
		}
	}
	return diags
}

// namesVault reports whether the configuration or the environment gives a Vault address.
func (cfg *tailorProviderModel) namesVault() bool {
	return cfg.VaultAddress.ValueString() != "" || os.Getenv("VAULT_ADDR") != ""
}

// openStore connects to Vault, checks the token and returns the store.
func (cfg *tailorProviderModel) openStore(ctx context.Context) (*store.Store, diag.Diagnostics) {
	var diags diag.Diagnostics
	vcfg := vaultclient.Config{
		Address:    cfg.VaultAddress.ValueString(),
		Token:      cfg.VaultToken.ValueString(),
		Namespace:  cfg.VaultNamespace.ValueString(),
		CACert:     cfg.CACertFile.ValueString(),
		CAPath:     cfg.CACertDir.ValueString(),
		SkipVerify: cfg.SkipTLSVerify.ValueBool(),
	}
	cfg.vaultLogin(&vcfg)
	vc, err := vaultclient.New(ctx, vcfg)
	if err != nil {
		diags.AddError("Cannot log in to Vault", err.Error())
		return nil, diags
	}
	if err := vc.Verify(ctx); err != nil {
		diags.AddError("Cannot use Vault", err.Error())
		return nil, diags
	}
	st, err := store.New(vc.Client, store.Options{Mount: withEnv(cfg.Mount, EnvMount), Prefix: withEnv(cfg.PathPrefix, EnvPathPrefix),
		Writer: store.WriterTerraform})
	if err != nil {
		diags.AddError("Invalid Vault mount or path prefix", err.Error())
		return nil, diags
	}
	tflog.Debug(ctx, "configured the Vault store", map[string]any{"vault_address": vc.Address(), "mount": st.Mount(), "path_prefix": st.Prefix()})
	return st, diags
}

// tokendClient returns the client of tokend_url (TAILOR_TOKEND_URL), or nil when none is set.
func (cfg *tailorProviderModel) tokendClient() (*client.Client, error) {
	u := withEnv(cfg.TokendURL, EnvTokendURL)
	if u == "" {
		return nil, nil
	}
	c := client.New(u, withEnv(cfg.TokendAPIKey, EnvTokendAPIKey))
	if f := cfg.TokendCACert.ValueString(); f != "" {
		pem, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s holds no PEM certificate", f)
		}
		c.HTTP.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	}
	return c, nil
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

func (p *tailorProvider) EphemeralResources(_ context.Context) []func() ephemeral.EphemeralResource {
	return []func() ephemeral.EphemeralResource{
		NewAuthConnectionTokenEphemeralResource,
	}
}

func (p *tailorProvider) DataSources(_ context.Context) []func() datasource.DataSource {
	return []func() datasource.DataSource{
		NewAuthConnectionDataSource,
		NewAuthConnectionsDataSource,
		NewProvidersDataSource,
	}
}

// configureData extracts the providerData handed over by Configure for a resource or data
// source, which need Vault. It returns nil without an error while the provider is not
// configured yet (e.g. during validation).
func configureData(pd any, diags interface {
	AddError(summary, detail string)
}) *providerData {
	d := providerDataOf(pd, diags)
	if d != nil && d.Store == nil {
		diags.AddError("No Vault configured",
			"This provider block has tokend_url but no Vault address, so it can only open the ephemeral resource "+
				"tailor_authconnection_token. Set vault_address (or VAULT_ADDR) to manage connections.")
		return nil
	}
	return d
}

func providerDataOf(pd any, diags interface {
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
