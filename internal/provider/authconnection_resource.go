package provider

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/identityschema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/connection"
	"github.com/authconnection/terraform-provider-tailor/internal/oauth"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
)

var (
	_ resource.Resource                   = &authConnectionResource{}
	_ resource.ResourceWithConfigure      = &authConnectionResource{}
	_ resource.ResourceWithImportState    = &authConnectionResource{}
	_ resource.ResourceWithModifyPlan     = &authConnectionResource{}
	_ resource.ResourceWithIdentity       = &authConnectionResource{}
	_ resource.ResourceWithValidateConfig = &authConnectionResource{}
)

// NewAuthConnectionResource returns the tailor_authconnection resource.
func NewAuthConnectionResource() resource.Resource {
	return &authConnectionResource{}
}

// authConnectionResource manages one OAuth2 connection: its configuration and client
// secret in Vault. Tokens are tokend's; this resource reports their status, and on delete
// revokes them at the provider (connection.Delete, as `tokend delete` does).
type authConnectionResource struct {
	store *store.Store
	oauth *oauth.Client
}

// authConnectionResourceModel maps the resource schema.
type authConnectionResourceModel struct {
	ID types.String `tfsdk:"id"`
	connectionConfigModel
	ClientSecretWO        types.String `tfsdk:"client_secret_wo"`
	ClientSecretWOVersion types.Int64  `tfsdk:"client_secret_wo_version"`
	ClientSecret          types.String `tfsdk:"client_secret"`
	AssertionKeyWO        types.String `tfsdk:"client_assertion_key_wo"`
	AssertionKeyWOVersion types.Int64  `tfsdk:"client_assertion_key_wo_version"`
	Authorized            types.Bool   `tfsdk:"authorized"`
	TokenExpiresAt        types.String `tfsdk:"token_expires_at"`
	Metadata              types.Map    `tfsdk:"metadata"`
	APIBaseURL            types.String `tfsdk:"api_base_url"`
}

// authConnectionIdentityModel maps the resource identity schema.
type authConnectionIdentityModel struct {
	Name types.String `tfsdk:"name"`
}

func (r *authConnectionResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_authconnection"
}

func (r *authConnectionResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = authConnectionResourceSchema()
}

// authConnectionResourceSchema is the schema of tailor_authconnection. Descriptions are
// Markdown; tfplugindocs renders them into docs/resources/authconnection.md.
func authConnectionResourceSchema() schema.Schema {
	return schema.Schema{
		MarkdownDescription: "An OAuth2 connection to an external provider (Google, Microsoft 365, QuickBooks, ...): its client " +
			"configuration and client secret, stored in Vault. Authorize it afterwards with `tokend authorize NAME`; " +
			"rotating the client secret keeps the tokens, so nobody has to authorize again.\n\n" +
			"Give the client secret with the write-only `client_secret_wo` and `client_secret_wo_version` " +
			"(Terraform and OpenTofu 1.11 or later): it is sent to Vault and never stored in the plan or the state. " +
			"Bump `client_secret_wo_version` to rotate it.\n\n" +
			"Destroying the connection revokes its tokens at the provider ([RFC 7009](https://www.rfc-editor.org/rfc/rfc7009), " +
			"when the provider has a revocation endpoint: Google and QuickBooks do, Microsoft does not), then deletes its " +
			"configuration, client secret and tokens from Vault. When revocation fails, destroy still succeeds, with a warning: " +
			"the tokens may then stay valid at the provider until they expire.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{
				MarkdownDescription: "The connection name.",
				Computed:            true,
				PlanModifiers:       []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"name": schema.StringAttribute{
				MarkdownDescription: "Unique connection name: " + authconn.NameRule + ". Functions fetch tokens by this name. " +
					"Changing it **replaces** the connection (the new one must be authorized again). " +
					"Name connections after provider and environment, e.g. `google-oauth-dev` and `google-oauth-prod`.",
				Required:      true,
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()},
				Validators:    []validator.String{connectionName()},
			},
			"type": schema.StringAttribute{
				MarkdownDescription: "Authentication type. Only `TYPE_OAUTH2` is supported.",
				Required:            true,
				Validators:          []validator.String{connectionType()},
			},
			"provider_url": schema.StringAttribute{
				MarkdownDescription: "OAuth2 provider URL, e.g. `https://accounts.google.com`; its `/.well-known/openid-configuration` gives " +
					"the endpoints unless `auth_url` and `token_url` are set. `https`, or `http` for localhost and loopback addresses only.",
				Required:   true,
				Validators: []validator.String{endpointURL()},
			},
			"issuer_url": schema.StringAttribute{
				MarkdownDescription: "Token issuer URL, for ID token validation. `https`, or `http` for localhost and loopback addresses only.",
				Optional:            true,
				Validators:          []validator.String{endpointURL()},
			},
			"client_id": schema.StringAttribute{
				MarkdownDescription: "OAuth2 client ID, from the provider's console: at most 1024 bytes, without control characters.",
				Required:            true,
				Validators:          []validator.String{clientID()},
			},
			"auth_url": schema.StringAttribute{
				MarkdownDescription: "Authorization endpoint; overrides discovery. `https`, or `http` for localhost and loopback addresses only.",
				Optional:            true,
				Validators:          []validator.String{endpointURL()},
			},
			"token_url": schema.StringAttribute{
				MarkdownDescription: "Token endpoint; overrides discovery. `https`, or `http` for localhost and loopback addresses only.",
				Optional:            true,
				Validators:          []validator.String{endpointURL()},
			},
			"revocation_url": schema.StringAttribute{
				MarkdownDescription: "Token revocation endpoint ([RFC 7009](https://www.rfc-editor.org/rfc/rfc7009)), where destroy revokes the tokens; overrides discovery. `https`, or `http` for localhost and loopback addresses only.",
				Optional:            true,
				Validators:          []validator.String{endpointURL()},
			},
			"scopes": schema.ListAttribute{
				MarkdownDescription: "Default scopes that `tokend authorize` requests, one per element. " +
					"Microsoft 365 returns a refresh token only when `offline_access` is among them; Google needs none for that. " +
					"Each scope is at most 256 bytes, without spaces, commas or control characters.",
				ElementType: types.StringType,
				Optional:    true,
				Validators: []validator.List{
					listvalidator.SizeAtLeast(1),
					listvalidator.UniqueValues(),
					listvalidator.ValueStringsAre(scope()),
				},
			},
			"grant_type": schema.StringAttribute{
				MarkdownDescription: "How the connection gets its tokens: `authorization_code` (the default: someone authorizes once with " +
					"`tokend authorize NAME`, browser or `--device`, and tokend refreshes) or `client_credentials` (the application's own access, " +
					"RFC 6749 4.4: no authorization; tokend obtains a token on first use and before each expiry, e.g. Microsoft Graph " +
					"application permissions with the scope `https://graph.microsoft.com/.default`).",
				Optional:   true,
				Computed:   true,
				Default:    stringdefault.StaticString(authconn.GrantAuthorizationCode),
				Validators: []validator.String{grantType()},
			},
			"client_auth": schema.StringAttribute{
				MarkdownDescription: "How the client authenticates at the token endpoint: `client_secret_basic`, `client_secret_post`, or " +
					"`private_key_jwt` (RFC 7523: a JWT signed with `client_assertion_key_wo`, RS256 or ES256; no client secret). " +
					"When unset, from the provider's metadata or preset.",
				Optional:   true,
				Validators: []validator.String{clientAuth()},
			},
			"audience": schema.StringAttribute{
				MarkdownDescription: "The `audience` parameter of authorization and token requests, for providers that want it (Auth0, Okta).",
				Optional:            true,
			},
			"resources": schema.ListAttribute{
				MarkdownDescription: "[RFC 8707](https://www.rfc-editor.org/rfc/rfc8707) resource indicators sent with authorization and token requests: absolute URIs without a fragment.",
				ElementType:         types.StringType,
				Optional:            true,
				Validators:          []validator.List{listvalidator.SizeAtLeast(1), listvalidator.UniqueValues(), listvalidator.ValueStringsAre(resourceURI())},
			},
			"client_assertion_key_wo": schema.StringAttribute{
				MarkdownDescription: "The client's private key in PEM (RSA of 2048 bits or more for RS256, or P-256 for ES256), for " +
					"`client_auth = \"private_key_jwt\"`, **write-only**: sent to Vault, never stored in the plan or the state. Written on create " +
					"and whenever `client_assertion_key_wo_version` changes. Register its public key at the provider, with the key id " +
					"`client_assertion_key_id` (by default the key's RFC 7638 thumbprint). At most 16 KiB.",
				Optional:  true,
				Sensitive: true,
				WriteOnly: true,
				Validators: []validator.String{
					stringvalidator.AlsoRequires(path.MatchRoot("client_assertion_key_wo_version")),
					stringvalidator.ConflictsWith(path.MatchRoot("client_secret_wo"), path.MatchRoot("client_secret")),
					assertionKey(),
				},
			},
			"client_assertion_key_wo_version": schema.Int64Attribute{
				MarkdownDescription: "Version of `client_assertion_key_wo`. Change it to write a new key to Vault; the tokens are kept.",
				Optional:            true,
				Validators:          []validator.Int64{int64validator.AlsoRequires(path.MatchRoot("client_assertion_key_wo"))},
			},
			"client_assertion_key_id": schema.StringAttribute{
				MarkdownDescription: "The `kid` of the client assertion key, as registered at the provider; its RFC 7638 thumbprint when unset.",
				Optional:            true,
			},
			"client_secret_wo": schema.StringAttribute{
				MarkdownDescription: "OAuth2 client secret, **write-only**: sent to Vault, never stored in the plan or the state. " +
					"Written on create and whenever `client_secret_wo_version` changes. Needs Terraform or OpenTofu 1.11 or later. " +
					"Exactly one of `client_secret_wo` and `client_secret` is required to create a connection. " +
					"At most 4096 bytes, without control characters: a secret that cannot be stored as given is refused, never altered.",
				Optional:  true,
				Sensitive: true,
				WriteOnly: true,
				Validators: []validator.String{
					stringvalidator.AlsoRequires(path.MatchRoot("client_secret_wo_version")),
					stringvalidator.ConflictsWith(path.MatchRoot("client_secret")),
					clientSecret(),
				},
			},
			"client_secret_wo_version": schema.Int64Attribute{
				MarkdownDescription: "Version of `client_secret_wo`. Change it (e.g. increment it) to write a new client secret to Vault; " +
					"the stored tokens are kept, so nobody has to authorize again.",
				Optional: true,
				Validators: []validator.Int64{
					int64validator.AlsoRequires(path.MatchRoot("client_secret_wo")),
					int64validator.ConflictsWith(path.MatchRoot("client_secret")),
				},
			},
			"client_secret": schema.StringAttribute{
				MarkdownDescription: "OAuth2 client secret, for Terraform and OpenTofu older than 1.11 only. **It is stored in the state** " +
					"(in plain text; `sensitive` only hides it from the CLI output): prefer `client_secret_wo`. " +
					"Changing it writes the new secret to Vault and keeps the tokens. The same limits as `client_secret_wo`.",
				Optional:  true,
				Sensitive: true,
				Validators: []validator.String{
					stringvalidator.ConflictsWith(path.MatchRoot("client_secret_wo"), path.MatchRoot("client_secret_wo_version")),
					clientSecret(),
				},
			},
			"provider_name":            providerAttribute(),
			"params":                   paramsAttribute(),
			"host_overrides":           hostOverridesAttribute(),
			"proxy_base_url":           proxyBaseURLAttribute(),
			"proxy_allowed_hosts":      proxyAllowedHostsAttribute(),
			"client_secret_expires_at": secretExpiresAttribute(),
			"metadata":                 metadataAttribute(),
			"api_base_url":             apiBaseURLAttribute(),
			"authorized": schema.BoolAttribute{
				MarkdownDescription: "Whether `tokend` holds usable tokens for the connection (read from the token record's metadata, " +
					"never the tokens). `false` until `tokend authorize NAME` runs, and after the provider refused the refresh token.",
				Computed: true,
			},
			"token_expires_at": schema.StringAttribute{
				MarkdownDescription: "When the current access token expires (RFC 3339), or null when there is none. `tokend` refreshes it before then.",
				Computed:            true,
			},
		},
	}
}

func (r *authConnectionResource) IdentitySchema(_ context.Context, _ resource.IdentitySchemaRequest, resp *resource.IdentitySchemaResponse) {
	resp.IdentitySchema = identityschema.Schema{
		Attributes: map[string]identityschema.Attribute{
			"name": identityschema.StringAttribute{
				Description:       "The connection name.",
				RequiredForImport: true,
			},
		},
	}
}

func (r *authConnectionResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	if d := configureData(req.ProviderData, &resp.Diagnostics); d != nil {
		r.store, r.oauth = d.Store, d.OAuth
	}
}

// ModifyPlan warns about a client secret past its expiry, and requires the client's credential when a connection is created: a client
// secret, or a client assertion key for private_key_jwt. After create, the attributes may be
// removed from the configuration: the credential stays in Vault.
func (r *authConnectionResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() {
		return // destroy
	}
	warnExpiredSecret(ctx, req, resp)
	if !req.State.Raw.IsNull() {
		warnMovedCredential(ctx, req, resp)
		return
	}
	var wo, legacy, key, auth types.String
	for p, v := range map[string]*types.String{"client_secret_wo": &wo, "client_secret": &legacy, "client_assertion_key_wo": &key, "client_auth": &auth} {
		resp.Diagnostics.Append(req.Config.GetAttribute(ctx, path.Root(p), v)...)
	}
	if resp.Diagnostics.HasError() || auth.IsUnknown() {
		return
	}
	switch {
	case auth.ValueString() == authconn.ClientAuthPrivateKeyJWT && key.IsNull():
		resp.Diagnostics.AddAttributeError(path.Root("client_assertion_key_wo"), "Missing client assertion key",
			"A connection with client_auth = \"private_key_jwt\" authenticates with the client's private key: set "+
				"client_assertion_key_wo and client_assertion_key_wo_version (the key is never stored in state).")
	case auth.ValueString() != authconn.ClientAuthPrivateKeyJWT && !key.IsNull():
		resp.Diagnostics.AddAttributeError(path.Root("client_assertion_key_wo"), "Client assertion key without private_key_jwt",
			"client_assertion_key_wo is used only with client_auth = \"private_key_jwt\": set that, or give a client secret instead.")
	case auth.ValueString() != authconn.ClientAuthPrivateKeyJWT && wo.IsNull() && legacy.IsNull():
		resp.Diagnostics.AddAttributeError(path.Root("client_secret_wo"), "Missing client secret",
			"A new connection needs its OAuth2 client secret: set client_secret_wo and client_secret_wo_version "+
				"(Terraform or OpenTofu 1.11 or later; the secret is never stored in state), "+
				"or client_secret with older versions (the secret is stored in state).")
	}
}

// warnMovedCredential warns when an update moves the connection's endpoints to other origins
// (authconn.EndpointOrigins: provider_url, issuer_url, token_url, revocation_url, the
// catalog entry and its params, which pick the hosts of its endpoint templates, host_overrides,
// and proxy_base_url and proxy_allowed_hosts, where the access token goes) without
// writing the client secret or assertion key again in the same apply: the stored credential
// was written for the old origins, and tokend sends it nowhere else (connection.Credentials),
// so the connection stops working until it is written again. Tokens issued by the old token
// endpoint are not sent to a new one either.
func warnMovedCredential(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	var plan, state authConnectionResourceModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	for _, v := range []types.String{plan.ProviderURL, plan.IssuerURL, plan.TokenURL, plan.RevocationURL, plan.ClientAuth, plan.Provider, plan.ProxyBaseURL} {
		if v.IsUnknown() {
			return // known at apply only
		}
	}
	if plan.Params.IsUnknown() || plan.HostOverrides.IsUnknown() || plan.ProxyHosts.IsUnknown() {
		return
	}
	var d diag.Diagnostics
	was, will := state.connection(ctx, &d), plan.connection(ctx, &d)
	if d.HasError() {
		return
	}
	from, to := authconn.EndpointOrigins(was), authconn.EndpointOrigins(will)
	if authconn.SameOrigins(from, to) {
		return
	}
	what, attr, version, rewritten := "client secret", "client_secret_wo", "client_secret_wo_version", false
	if plan.ClientAuth.ValueString() == authconn.ClientAuthPrivateKeyJWT {
		what, attr, version = "client assertion key", "client_assertion_key_wo", "client_assertion_key_wo_version"
		rewritten = !plan.AssertionKeyWOVersion.IsNull() && !plan.AssertionKeyWOVersion.Equal(state.AssertionKeyWOVersion)
	} else {
		rewritten = (!plan.ClientSecretWOVersion.IsNull() && !plan.ClientSecretWOVersion.Equal(state.ClientSecretWOVersion)) ||
			(!plan.ClientSecret.IsNull() && !plan.ClientSecret.Equal(state.ClientSecret))
	}
	if rewritten {
		return
	}
	reauthorize := ""
	if !authconn.SameOrigins(withoutProxy(from), withoutProxy(to)) {
		reauthorize = fmt.Sprintf(" Tokens issued by the old token endpoint are not sent to a new one either: authorize the connection again afterwards (`tokend authorize %s`).",
			plan.Name.ValueString())
	}
	summary := "The " + what + " will not be sent to the moved endpoints"
	detail := fmt.Sprintf("This update moves the endpoints of connection %q from %s to %s. The %s in Vault was written for the old endpoints, "+
		"so tokend will not send it to the new ones until it is written again: set %s to the %s for the new endpoints and bump %s in this same apply.%s",
		plan.Name.ValueString(), strings.Join(from, ", "), strings.Join(to, ", "), what, attr, what, version, reauthorize)
	if at, ok := movedAttribute(will, was, from, to); ok {
		resp.Diagnostics.AddAttributeWarning(at, summary, detail)
	} else {
		resp.Diagnostics.AddWarning(summary, detail)
	}
}

// movedAttribute returns the attribute that moved the endpoints from the origins from (of
// was, the state) to those of to (of will, the plan): the first whose planned value adds an
// origin, else the first whose former value held an origin the plan drops. The plan's warning
// is attached there. ok is false when no single attribute accounts for the move.
func movedAttribute(will, was *authconn.Connection, from, to []string) (at path.Path, ok bool) {
	for _, side := range []struct {
		c     *authconn.Connection
		other []string
	}{{will, from}, {was, to}} {
		for _, a := range originAttributes() {
			for _, o := range authconn.EndpointOrigins(a.only(side.c)) {
				if !slices.Contains(side.other, o) {
					return path.Root(a.name), true
				}
			}
		}
	}
	return path.Empty(), false
}

// originAttributes are the attributes that place a connection's endpoints (the fields
// authconn.EndpointOrigins reads), each with a copy of a connection holding only that field.
func originAttributes() []struct {
	name string
	only func(*authconn.Connection) *authconn.Connection
} {
	return []struct {
		name string
		only func(*authconn.Connection) *authconn.Connection
	}{
		{"provider_name", func(c *authconn.Connection) *authconn.Connection { return &authconn.Connection{Provider: c.Provider} }},
		{"provider_url", func(c *authconn.Connection) *authconn.Connection {
			return &authconn.Connection{ProviderURL: c.ProviderURL}
		}},
		{"issuer_url", func(c *authconn.Connection) *authconn.Connection { return &authconn.Connection{IssuerURL: c.IssuerURL} }},
		{"token_url", func(c *authconn.Connection) *authconn.Connection { return &authconn.Connection{TokenURL: c.TokenURL} }},
		{"revocation_url", func(c *authconn.Connection) *authconn.Connection {
			return &authconn.Connection{RevocationURL: c.RevocationURL}
		}},
		{"params", func(c *authconn.Connection) *authconn.Connection { return &authconn.Connection{Params: c.Params} }},
		{"host_overrides", func(c *authconn.Connection) *authconn.Connection {
			return &authconn.Connection{HostOverrides: c.HostOverrides}
		}},
		{"proxy_base_url", func(c *authconn.Connection) *authconn.Connection {
			return &authconn.Connection{ProxyBaseURL: c.ProxyBaseURL}
		}},
		{"proxy_allowed_hosts", func(c *authconn.Connection) *authconn.Connection {
			return &authconn.Connection{ProxyAllowedHosts: c.ProxyAllowedHosts}
		}},
	}
}

// withoutProxy returns the endpoint origins without the proxy's destinations ("proxy:",
// "proxy-host:"): where the access token is used, not where tokens are issued, so moving them
// needs no new authorization.
func withoutProxy(origins []string) []string {
	var out []string
	for _, o := range origins {
		if !strings.HasPrefix(o, "proxy:") && !strings.HasPrefix(o, "proxy-host:") {
			out = append(out, o)
		}
	}
	return out
}

// secretFrom returns the credential of a new connection from its plan and configuration
// (write-only values are only in the configuration).
func secretFrom(plan, config *authConnectionResourceModel) (connection.Secret, bool) {
	if !config.AssertionKeyWO.IsNull() && !config.AssertionKeyWO.IsUnknown() {
		return connection.Secret{AssertionKey: &store.ClientAssertionKey{PEM: config.AssertionKeyWO.ValueString()}}, true
	}
	secret := config.ClientSecretWO
	if secret.IsNull() {
		secret = plan.ClientSecret
	}
	return connection.Secret{ClientSecret: secret.ValueString()}, !secret.IsNull() && !secret.IsUnknown()
}

func (r *authConnectionResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan, config authConnectionResourceModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.Config.Get(ctx, &config)...)
	if resp.Diagnostics.HasError() {
		return
	}
	sec, ok := secretFrom(&plan, &config)
	if !ok {
		resp.Diagnostics.AddAttributeError(path.Root("client_secret_wo"), "Missing client secret",
			"A new connection needs its OAuth2 client secret: set client_secret_wo and client_secret_wo_version, or client_secret.")
		return
	}
	c := plan.connection(ctx, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	if err := connection.CheckProvider(c); err != nil { // values known only at apply
		addProviderCheckError(&resp.Diagnostics, c, err)
		return
	}
	if err := r.oauthClient().Pin(ctx, c); err != nil {
		resp.Diagnostics.AddError("Cannot discover the provider's endpoints", err.Error()+".")
		return
	}
	// The token status is independent of the configuration: read it while creating.
	status := r.statusAsync(ctx, c.Name)
	if err := connection.Create(ctx, r.store, c, sec); err != nil {
		if errors.Is(err, store.ErrConflict) {
			resp.Diagnostics.AddAttributeError(path.Root("name"), "Connection already exists",
				fmt.Sprintf("A connection named %q already exists in Vault (%s/%s). To manage it with Terraform, import it: "+
					"`terraform import tailor_authconnection.<label> %[1]s`, or an `import` block with "+
					"`to = tailor_authconnection.<label>` and `id = %[1]q`. Otherwise choose another name.",
					c.Name, r.store.Mount(), r.store.Prefix()))
			return
		}
		resp.Diagnostics.AddError("Cannot create the connection", err.Error()+". Fix the cause and apply again.")
		return
	}
	tflog.Info(ctx, "created connection", map[string]any{"name": c.Name})
	plan.ID = types.StringValue(c.Name)
	plan.ClientSecretWO, plan.AssertionKeyWO = types.StringNull(), types.StringNull()
	resp.Diagnostics.Append(status(&plan)...)
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
	resp.Diagnostics.Append(resp.Identity.Set(ctx, authConnectionIdentityModel{Name: plan.Name})...)
}

func (r *authConnectionResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state authConnectionResourceModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	status := r.statusAsync(ctx, state.Name.ValueString())
	c, err := r.store.GetConnection(ctx, state.Name.ValueString())
	if errors.Is(err, store.ErrNotFound) {
		tflog.Warn(ctx, "connection not found in Vault; removing it from the state", map[string]any{"name": state.Name.ValueString()})
		resp.State.RemoveResource(ctx)
		return
	}
	if err != nil {
		resp.Diagnostics.AddError("Cannot read the connection", err.Error())
		return
	}
	state.ID = types.StringValue(c.Name)
	resp.Diagnostics.Append(state.set(ctx, &c.Connection)...)
	resp.Diagnostics.Append(status(&state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
	resp.Diagnostics.Append(resp.Identity.Set(ctx, authConnectionIdentityModel{Name: state.Name})...)
}

func (r *authConnectionResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan, state, config authConnectionResourceModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	resp.Diagnostics.Append(req.Config.Get(ctx, &config)...)
	if resp.Diagnostics.HasError() {
		return
	}
	name := plan.Name.ValueString()

	if !plan.connectionConfigModel.equal(&state.connectionConfigModel) {
		cur, err := r.store.GetConnection(ctx, name)
		if errors.Is(err, store.ErrNotFound) {
			resp.Diagnostics.AddError("Connection was deleted",
				fmt.Sprintf("The connection %q was deleted from Vault outside Terraform while this plan was applied. "+
					"Run plan again: it will create the connection.", name))
			return
		}
		if err != nil {
			resp.Diagnostics.AddError("Cannot read the connection", err.Error())
			return
		}
		c := plan.connection(ctx, &resp.Diagnostics)
		if resp.Diagnostics.HasError() {
			return
		}
		if err := connection.CheckProvider(c); err != nil { // values known only at apply
			addProviderCheckError(&resp.Diagnostics, c, err)
			return
		}
		c.CreatedAt = cur.CreatedAt
		r.repin(ctx, c, &cur.Connection, &resp.Diagnostics)
		if resp.Diagnostics.HasError() {
			return
		}
		v, err := r.store.UpdateConnection(ctx, c, cur.Version)
		if err != nil {
			if errors.Is(err, store.ErrConflict) {
				resp.Diagnostics.AddError("Connection changed concurrently",
					fmt.Sprintf("%v. Someone changed the connection in Vault while Terraform updated it; run plan again.", err))
				return
			}
			resp.Diagnostics.AddError("Cannot update the connection", err.Error())
			return
		}
		tflog.Info(ctx, "updated connection", map[string]any{"name": name, "vault_version": v})
	}

	if secret, ok := rotatedSecret(&plan, &state, &config); ok {
		if secret.IsNull() || secret.IsUnknown() {
			resp.Diagnostics.AddAttributeError(path.Root("client_secret_wo"), "Missing client secret",
				"client_secret_wo_version changed but client_secret_wo has no value: set both.")
			return
		}
		// Bound to the endpoints of this plan (written just before): sent only there.
		origins := authconn.EndpointOrigins(plan.connection(ctx, &resp.Diagnostics))
		if _, err := r.store.PutClientSecret(ctx, name, secret.ValueString(), origins...); err != nil {
			resp.Diagnostics.AddError("Cannot store the new client secret",
				fmt.Sprintf("Writing the new client secret of %q to Vault failed: %v. The previous secret is still in use; apply again.", name, err))
			return
		}
		tflog.Info(ctx, "rotated client secret; tokens kept", map[string]any{"name": name})
	}

	if !plan.AssertionKeyWOVersion.IsNull() && !plan.AssertionKeyWOVersion.Equal(state.AssertionKeyWOVersion) {
		key := store.ClientAssertionKey{PEM: config.AssertionKeyWO.ValueString(), EndpointOrigins: authconn.EndpointOrigins(plan.connection(ctx, &resp.Diagnostics))}
		if _, err := r.store.PutClientAssertionKey(ctx, name, key); err != nil {
			resp.Diagnostics.AddError("Cannot store the new client assertion key",
				fmt.Sprintf("Writing the new client assertion key of %q to Vault failed: %v. The previous key is still in use; apply again.", name, err))
			return
		}
		tflog.Info(ctx, "rotated client assertion key; tokens kept", map[string]any{"name": name})
	}
	plan.ID = types.StringValue(name)
	plan.ClientSecretWO, plan.AssertionKeyWO = types.StringNull(), types.StringNull()
	resp.Diagnostics.Append(r.readStatus(ctx, &plan)...)
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
	resp.Diagnostics.Append(resp.Identity.Set(ctx, authConnectionIdentityModel{Name: plan.Name})...)
}

// oauthClient is the client for provider requests (discovery, revocation).
func (r *authConnectionResource) oauthClient() *oauth.Client {
	if r.oauth == nil {
		return &oauth.Client{}
	}
	return r.oauth
}

// repin discovers the endpoints of c, the updated form of cur, again (an update pins the
// provider's current document). When the provider cannot be reached and c discovers from the
// same URLs as cur, cur's pinned endpoints are kept with a warning; otherwise it is an error.
func (r *authConnectionResource) repin(ctx context.Context, c, cur *authconn.Connection, diags *diag.Diagnostics) {
	err := r.oauthClient().Pin(ctx, c)
	if err == nil {
		if moved := movedEndpoints(cur.Discovered, c.Discovered); moved != "" {
			diags.AddWarning("Provider endpoints changed",
				fmt.Sprintf("The provider's discovery document changed since the connection's endpoints were pinned (%s). This apply pins the new ones; check that they are the provider's.", moved))
		}
		return
	}
	same := c.ProviderURL == cur.ProviderURL && c.IssuerURL == cur.IssuerURL && c.AuthURL == cur.AuthURL && c.TokenURL == cur.TokenURL
	if same && cur.Discovered != nil {
		c.Discovered = cur.Discovered
		diags.AddWarning("Provider endpoints not refreshed",
			fmt.Sprintf("%v. The endpoints pinned on %s are kept; apply again when the provider is reachable to pin its current ones.", err, cur.Discovered.At.Format(time.DateOnly)))
		return
	}
	diags.AddError("Cannot discover the provider's endpoints", err.Error()+".")
}

// movedEndpoints describes the endpoints that differ between two pinned discovery results;
// empty when either is nil or nothing moved.
func movedEndpoints(was, now *authconn.Discovered) string {
	if was == nil || now == nil {
		return ""
	}
	var out []string
	for _, f := range [][3]string{
		{"authorization_endpoint", was.AuthorizationEndpoint, now.AuthorizationEndpoint},
		{"token_endpoint", was.TokenEndpoint, now.TokenEndpoint},
		{"revocation_endpoint", was.RevocationEndpoint, now.RevocationEndpoint},
		{"device_authorization_endpoint", was.DeviceAuthorizationEndpoint, now.DeviceAuthorizationEndpoint},
	} {
		if f[1] != f[2] {
			out = append(out, fmt.Sprintf("%s %q, was %q", f[0], f[2], f[1]))
		}
	}
	return strings.Join(out, "; ")
}

// rotatedSecret returns the secret to write when the plan rotates it: a changed
// client_secret_wo_version (the value comes from the configuration, as write-only values
// are never in the plan) or a changed legacy client_secret.
func rotatedSecret(plan, state, config *authConnectionResourceModel) (types.String, bool) {
	if !plan.ClientSecretWOVersion.IsNull() && !plan.ClientSecretWOVersion.Equal(state.ClientSecretWOVersion) {
		return config.ClientSecretWO, true
	}
	if !plan.ClientSecret.IsNull() && !plan.ClientSecret.Equal(state.ClientSecret) {
		return plan.ClientSecret, true
	}
	return types.StringNull(), false
}

// Delete revokes the connection's tokens at the provider and removes every record of the
// connection from Vault, with connection.Delete (the code `tokend delete` runs) and the
// policy a destroy needs: revocation is best effort (connection.Options.Force), so a provider
// that is down, slow or refusing the client cannot block `terraform destroy` in CI; and a
// Vault token that may not do what revocation needs, as the least-privilege Terraform policy
// of docs/vault-layout.md, deletes without revoking (connection.Options.DeleteIfForbidden).
// Either becomes a warning (connection.Result.Warning). Other Vault errors fail the destroy:
// nothing is lost, and running it again finishes the job.
func (r *authConnectionResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state authConnectionResourceModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	name := state.Name.ValueString()
	// connection.deleted is emitted by tokend serve from the change log: the Terraform role
	// may not write the webhooks' outbox (docs/vault-layout.md).
	res, err := connection.Delete(ctx, r.store, r.oauth, name,
		connection.Options{Force: true, DeleteIfForbidden: true, NoDeletedEvent: true})
	if err != nil {
		resp.Diagnostics.AddError("Cannot delete the connection", err.Error())
		return
	}
	if res.Forbidden != nil {
		tflog.Warn(ctx, "deleted connection without revoking its tokens: the Vault token may not read them", map[string]any{"name": name})
	} else {
		tflog.Info(ctx, "deleted connection, its client secret and its tokens", deleteLogFields(res))
	}
	if w, ok := res.Warning(); ok {
		resp.Diagnostics.AddWarning(w.Summary, w.Detail)
	}
}

// deleteLogFields are the log fields of a delete: what was found and revoked, never a token.
func deleteLogFields(res connection.Result) map[string]any {
	revoked := res.Revoked
	if revoked == nil {
		revoked = []string{}
	}
	fields := map[string]any{"name": res.Name, "found": res.Found, "had_tokens": res.HadTokens, "revoked": revoked}
	if res.RevokeSkipped != "" {
		fields["revoke_skipped"] = res.RevokeSkipped
	}
	if res.RevokeError != nil {
		fields["revoke_failed"] = true
	}
	return fields
}

func (r *authConnectionResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	name := req.ID
	if name == "" {
		var id authConnectionIdentityModel
		resp.Diagnostics.Append(req.Identity.Get(ctx, &id)...)
		if resp.Diagnostics.HasError() {
			return
		}
		name = id.Name.ValueString()
	}
	if err := authconn.ValidateName(name); err != nil {
		resp.Diagnostics.AddError("Invalid import ID",
			fmt.Sprintf("Import a connection by its name, e.g. `terraform import tailor_authconnection.google google-oauth-prod`: %v", err))
		return
	}
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("name"), name)...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("id"), name)...)
	resp.Diagnostics.Append(resp.Identity.Set(ctx, authConnectionIdentityModel{Name: types.StringValue(name)})...)
}

// readStatus sets Authorized and TokenExpiresAt from the token record's metadata.
func (r *authConnectionResource) readStatus(ctx context.Context, m *authConnectionResourceModel) diag.Diagnostics {
	st, err := r.store.GetTokenStatus(ctx, m.Name.ValueString())
	return setStatus(m, st, err)
}

// statusAsync starts reading the token status of connection name, so that it overlaps the
// other Vault requests of a CRUD method (one round trip fewer per resource). The returned
// function waits for it and sets Authorized and TokenExpiresAt, as readStatus.
func (r *authConnectionResource) statusAsync(ctx context.Context, name string) func(m *authConnectionResourceModel) diag.Diagnostics {
	type result struct {
		st  authconn.TokenStatus
		err error
	}
	ch := make(chan result, 1)
	go func() {
		st, err := r.store.GetTokenStatus(ctx, name)
		ch <- result{st, err}
	}()
	return func(m *authConnectionResourceModel) diag.Diagnostics {
		res := <-ch
		return setStatus(m, res.st, res.err)
	}
}

// setStatus sets Authorized and TokenExpiresAt from a token status read with err.
func setStatus(m *authConnectionResourceModel, st authconn.TokenStatus, err error) diag.Diagnostics {
	var diags diag.Diagnostics
	if err != nil {
		diags.AddError("Cannot read the token status", err.Error())
		return diags
	}
	m.Authorized, m.TokenExpiresAt = statusValues(st)
	m.Metadata, m.APIBaseURL, diags = metadataValues(st)
	return diags
}

// statusValues maps a token status to the `authorized` and `token_expires_at` attributes.
func statusValues(st authconn.TokenStatus) (types.Bool, types.String) {
	expires := types.StringNull()
	if st.Status != authconn.StatusNotAuthorized && !st.Expiry.IsZero() {
		expires = types.StringValue(st.Expiry.UTC().Format(time.RFC3339))
	}
	return types.BoolValue(st.Status == authconn.StatusAuthorized), expires
}
