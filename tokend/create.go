package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/authorize"
	"github.com/authconnection/terraform-provider-tailor/internal/connection"
	"github.com/authconnection/terraform-provider-tailor/internal/oauth"
	"github.com/authconnection/terraform-provider-tailor/internal/secretfile"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
)

// maxSecretSize bounds what is read from a secret file or stdin.
const maxSecretSize = 64 << 10

func newCreateCmd(g *globalFlags) *cobra.Command {
	var f createFlags
	cmd := &cobra.Command{
		Use:   "create --name NAME --provider-url URL --client-id ID (--client-secret-file FILE | --client-secret-stdin)",
		Short: "Create a connection: its configuration and client secret, in Vault",
		Long: `create stores a new OAuth2 connection in Vault: its configuration and its client secret.
Then register the redirect URI http://localhost:8080/callback at the provider and run
'tokend authorize NAME'.

The client secret is never a command-line argument (other users can read process
arguments, and shells keep them in history): give it in a file with --client-secret-file
(readable only by you) or on standard input with --client-secret-stdin.

Endpoints: the provider catalog (docs/providers.md) knows many providers, selected by
--provider NAME or by the host of --provider-url; an entry's per-connection parameters
(a subdomain, a shop, a tenant) are given with --param NAME=VALUE and checked against the
entry's patterns before anything is stored. Any other provider is found by OIDC discovery /
RFC 8414 metadata from --issuer-url or --provider-url, and --auth-url, --token-url and
--revocation-url override what is found. --client-secret-expires-at records when the client
secret expires (Microsoft Entra secrets last at most two years): tokend serve warns before.

Grants: --grant-type authorization_code (the default; authorize once, browser or --device)
or client_credentials (the application's own access: no authorize, tokend serve obtains
tokens by itself). --client-auth private_key_jwt authenticates with a JWT signed by the key
in --client-assertion-key-file instead of a secret; the public key to register at the
provider is printed as a JWK Set. --audience and --resource (RFC 8707) go with every token
request. See docs/grants.md.

Connections managed with the Terraform provider (tailor_authconnection) should be
changed there, not here.`,
		Example: `  # Google, secret from a file
  tokend create --name google-oauth --type TYPE_OAUTH2 \
    --provider-url https://accounts.google.com --issuer-url https://accounts.google.com \
    --client-id 1234.apps.googleusercontent.com --client-secret-file ~/.secrets/google-oauth

  # Microsoft 365, secret piped from a password manager
  pass show azure/app-secret | tokend create --name ms365-oauth \
    --provider-url https://login.microsoftonline.com/TENANT_ID \
    --issuer-url https://login.microsoftonline.com/TENANT_ID/v2.0 \
    --client-id APP_ID --client-secret-stdin --scopes https://graph.microsoft.com/User.Read

  # QuickBooks
  tokend create --name quickbooks-oauth --provider-url https://appcenter.intuit.com/connect/oauth2 \
    --issuer-url https://oauth.platform.intuit.com/op/v1 --client-id ID \
    --client-secret-file qb.secret --scopes com.intuit.quickbooks.accounting

  # Zendesk: a catalog entry with a per-connection subdomain
  tokend create --name zendesk-oauth --provider zendesk --param subdomain=acme \
    --provider-url https://acme.zendesk.com --client-id tailor --client-secret-file zd.secret \
    --client-secret-expires-at 2027-06-30T00:00:00Z

  # Microsoft Graph with application permissions: client credentials
  tokend create --name ms365-graph-app --grant-type client_credentials \
    --provider-url https://login.microsoftonline.com/TENANT_ID --client-id APP_ID \
    --client-secret-file graph.secret --scopes https://graph.microsoft.com/.default

  # A service that authenticates with private_key_jwt
  tokend create --name internal-api --grant-type client_credentials --client-auth private_key_jwt \
    --provider-url https://sso.example.com/realms/main --client-id billing-service \
    --client-assertion-key-file billing.key.pem --scopes billing.read

  # Any OpenID Connect provider, with an explicit token endpoint
  tokend create --name keycloak --provider-url https://sso.example.com/realms/main \
    --client-id tailor --client-secret-file kc.secret \
    --token-url https://sso.example.com/realms/main/protocol/openid-connect/token`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runCreate(g, cmd, &f) },
	}
	f.register(cmd)
	return cmd
}

// createFlags are the flags of `tokend create`.
type createFlags struct {
	c           authconn.Connection
	scopes      string
	hosts       []string
	secretFile  string
	secretStdin bool
	secretArg   string
	keyFile     string
	params      []string
	expiresAt   string
}

func (f *createFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	c := &f.c
	fl.StringVar(&c.Name, "name", "", "connection name (required): "+authconn.NameRule)
	fl.StringVar(&c.Type, "type", authconn.TypeOAuth2, "authentication type; only TYPE_OAUTH2")
	fl.StringVar(&c.ProviderURL, "provider-url", "", "OAuth2 provider URL (required), e.g. https://accounts.google.com")
	fl.StringVar(&c.IssuerURL, "issuer-url", "", "issuer URL, for discovery and token validation")
	fl.StringVar(&c.ClientID, "client-id", "", "OAuth2 client id from the provider's console (required)")
	fl.StringVar(&c.AuthURL, "auth-url", "", "authorization endpoint, overriding presets and discovery")
	fl.StringVar(&c.TokenURL, "token-url", "", "token endpoint, overriding presets and discovery")
	fl.StringVar(&c.RevocationURL, "revocation-url", "", "RFC 7009 revocation endpoint, overriding presets and discovery")
	fl.StringArrayVar(&f.hosts, "host-override", nil, "HOST=ORIGIN: send every URL of the catalog entry on HOST to ORIGIN instead, e.g. api.example.com=https://gateway.internal:8443 (repeat for several)")
	fl.StringVar(&f.scopes, "scopes", "", "comma-separated default scopes for authorize (default openid,profile,email)")
	fl.StringVar(&f.secretFile, "client-secret-file", "", "file holding the client secret (surrounding white space is ignored)")
	fl.BoolVar(&f.secretStdin, "client-secret-stdin", false, "read the client secret from standard input")
	fl.StringVar(&f.secretArg, "client-secret", "", "refused: use --client-secret-file or --client-secret-stdin")
	_ = fl.MarkHidden("client-secret")
	fl.StringVar(&c.GrantType, "grant-type", authconn.GrantAuthorizationCode, "authorization_code (someone authorizes once) or client_credentials (the application's own access; no authorize)")
	fl.StringVar(&c.ClientAuth, "client-auth", "", "client authentication: client_secret_basic, client_secret_post or private_key_jwt (default: from the provider's metadata)")
	fl.StringVar(&c.Audience, "audience", "", "audience parameter of token requests (Auth0, Okta)")
	fl.StringArrayVar(&c.Resources, "resource", nil, "RFC 8707 resource indicator of token requests (repeat for several)")
	fl.StringVar(&f.keyFile, "client-assertion-key-file", "", "PEM private key (RSA 2048+ or P-256) for --client-auth private_key_jwt, instead of a client secret")
	fl.StringVar(&c.AssertionKeyID, "client-assertion-key-id", "", "kid of the client assertion key (default: its RFC 7638 thumbprint)")
	fl.StringVar(&c.Provider, "provider", "", "the provider's catalog entry (docs/providers.md), e.g. salesforce; default: detected from --provider-url / --issuer-url")
	fl.StringArrayVar(&f.params, "param", nil, "a parameter of the catalog entry as NAME=VALUE, e.g. subdomain=acme (repeat for several)")
	fl.StringVar(&c.ProxyBaseURL, "proxy-base-url", "", "where tokend's proxy sends this connection's API calls, instead of its catalog entry's API base URL (https, or http on loopback)")
	fl.StringArrayVar(&c.ProxyAllowedHosts, "proxy-allowed-host", nil, "a further host[:port] a proxied call may name with Tailor-Proxy-Host, e.g. uploads.example.com (repeat for several)")
	fl.StringVar(&f.expiresAt, "client-secret-expires-at", "", "when the client secret expires (RFC 3339, e.g. 2027-06-30T00:00:00Z): tokend serve warns 30, 7 and 1 days before")
}

// catalogFields sets the connection's parameters and client secret expiry from their flags
// and checks them against the catalog entry (connection.CheckProvider), before anything is
// read or stored.
func (f *createFlags) catalogFields(w io.Writer) error {
	for _, kv := range f.params {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return fmt.Errorf("--param %q: give NAME=VALUE, e.g. --param subdomain=acme", authconn.Sanitize(kv, 80))
		}
		if _, dup := f.c.Params[k]; dup {
			return fmt.Errorf("--param %s is given twice", authconn.Sanitize(k, 64))
		}
		if f.c.Params == nil {
			f.c.Params = map[string]string{}
		}
		f.c.Params[k] = v
	}
	at, err := connection.ParseSecretExpiry(f.expiresAt)
	if err != nil {
		return errors.New("--client-secret-expires-at: " + err.Error())
	}
	f.c.ClientSecretExpiresAt = at
	if warn := connection.SecretExpiryWarning(f.c.Name, at, time.Now()); warn != "" {
		fmt.Fprintln(w, "Warning: "+warn)
	}
	if err := connection.CheckProvider(&f.c); err != nil {
		return fmt.Errorf("%w (`tokend create --help` and docs/providers.md list the providers and their parameters)", err)
	}
	return nil
}

// errSecretArgument refuses --client-secret.
var errSecretArgument = errors.New("--client-secret is refused: a secret given as a command-line argument is visible to other users of this machine (ps, /proc) and is kept in your shell history. " +
	"Put it in a file only you can read and pass --client-secret-file FILE, or pipe it in with --client-secret-stdin. " +
	"Remove the command from your shell history, and rotate the secret at the provider if others could have seen it")

// check reports missing and conflicting flags.
func (f *createFlags) check(cmd *cobra.Command) error {
	if cmd.Flags().Changed("client-secret") {
		return errSecretArgument
	}
	var missing []string
	for _, name := range []string{"name", "provider-url", "client-id"} {
		if !cmd.Flags().Changed(name) {
			missing = append(missing, "--"+name)
		}
	}
	keyAuth := f.c.ClientAuth == authconn.ClientAuthPrivateKeyJWT
	switch {
	case keyAuth && f.keyFile == "":
		missing = append(missing, "--client-assertion-key-file (private_key_jwt signs with the client's private key)")
	case !keyAuth && f.secretFile == "" && !f.secretStdin:
		missing = append(missing, "--client-secret-file or --client-secret-stdin")
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing %s (see `tokend create --help`)", strings.Join(missing, ", "))
	}
	switch {
	case f.secretFile != "" && f.secretStdin:
		return errors.New("give the client secret once: either --client-secret-file or --client-secret-stdin")
	case keyAuth && (f.secretFile != "" || f.secretStdin):
		return errors.New("--client-auth private_key_jwt authenticates with the client assertion key: drop --client-secret-file/--client-secret-stdin")
	case !keyAuth && f.keyFile != "":
		return errors.New("--client-assertion-key-file is for --client-auth private_key_jwt: add that, or give a client secret instead")
	}
	return nil
}

// secret reads the client secret or the client assertion key.
func (f *createFlags) secret(cmd *cobra.Command) (connection.Secret, error) {
	if f.keyFile != "" {
		pemKey, err := secretfile.Read(cmd.ErrOrStderr(), f.keyFile, maxSecretSize)
		if err != nil {
			return connection.Secret{}, err
		}
		return connection.Secret{AssertionKey: &store.ClientAssertionKey{PEM: pemKey}}, nil
	}
	var secret string
	var err error
	if f.secretFile != "" {
		secret, err = secretfile.Read(cmd.ErrOrStderr(), f.secretFile, maxSecretSize)
		if err == nil && strings.ContainsAny(secret, "\r\n") {
			err = fmt.Errorf("the client secret in %s spans several lines: put only the secret in it", f.secretFile)
		}
	} else {
		secret, err = readSecretStdin(cmd)
	}
	if err == nil {
		err = checkSecretText(secret, f.secretFile)
	}
	return connection.Secret{ClientSecret: secret}, err
}

// checkSecretText refuses a client secret that authconn.ValidateClientSecret refuses (not
// UTF-8, control characters, too long: it would not be stored byte for byte, or not
// safely), saying where it was read from (file; standard input when empty).
func checkSecretText(secret, file string) error {
	err := authconn.ValidateClientSecret(secret)
	if err == nil {
		return nil
	}
	if file == "" {
		file = "standard input"
	}
	return fmt.Errorf("%w (read from %s; see docs/tokend.md, \"Input rules\")", err, file)
}

func runCreate(g *globalFlags, cmd *cobra.Command, f *createFlags) error {
	if err := f.check(cmd); err != nil {
		return err
	}
	if err := f.catalogFields(cmd.ErrOrStderr()); err != nil {
		return err
	}
	c := &f.c
	c.Scopes = splitScopes(f.scopes)
	if c.GrantType == authconn.GrantAuthorizationCode {
		c.GrantType = "" // the default is not stored
	}
	if err := f.setHostOverrides(); err != nil {
		return err
	}
	secret, err := f.secret(cmd)
	if err != nil {
		return err
	}
	if err := c.Validate(); err != nil {
		return err
	}
	st, vc, err := g.openStore(cmd.Context())
	if err != nil {
		return err
	}
	defer vc.Close()
	if err := pinEndpoints(cmd.Context(), st, c); err != nil {
		return err
	}
	if err := connection.Create(cmd.Context(), st, c, secret); err != nil {
		return err
	}
	w := cmd.ErrOrStderr()
	fmt.Fprintf(w, "Created connection %q.\n", c.Name)
	checkEndpoints(cmd.Context(), w, c)
	if secret.AssertionKey != nil {
		if err := printJWKS(cmd, c, secret.AssertionKey.PEM); err != nil {
			return err
		}
	}
	if c.UsesClientCredentials() {
		fmt.Fprintf(w, "It uses the client credentials grant: nothing to authorize, `tokend serve` obtains its tokens on first use.\n")
		return nil
	}
	fmt.Fprintf(w, "Next: register %s as a redirect URI for client %s at the provider, then run `tokend authorize %s` (or `tokend authorize %s --device` without a browser).\n",
		authorize.RedirectURI(authorize.DefaultPort), c.ClientID, c.Name, c.Name)
	return nil
}

// readSecretStdin reads a one-line client secret from standard input, with a prompt on a
// terminal.
func readSecretStdin(cmd *cobra.Command) (string, error) {
	in := cmd.InOrStdin()
	if f, ok := in.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			fmt.Fprintln(cmd.ErrOrStderr(), "Paste the client secret, then press Enter and Ctrl-D:")
		}
	}
	s, err := secretfile.ReadFrom(in, "standard input", maxSecretSize)
	if err == nil && strings.ContainsAny(s, "\r\n") {
		err = errors.New("the client secret on standard input spans several lines: give only the secret")
	}
	return s, err
}

// pinEndpoints discovers the endpoints of the new connection c and pins them in c (see
// oauth.Client.Pin). An existing name is reported first, without asking the provider.
func pinEndpoints(ctx context.Context, st *store.Store, c *authconn.Connection) error {
	if _, err := st.GetConnection(ctx, c.Name); err == nil {
		return fmt.Errorf("connection %q already exists: choose another name, or remove it first with `tokend delete %s`", c.Name, c.Name)
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	return (&oauth.Client{}).Pin(ctx, c)
}

// checkEndpoints resolves the new connection's endpoints (pinned, or a preset's, or the
// connection's own: no request) and reports them.
func checkEndpoints(ctx context.Context, w io.Writer, c *authconn.Connection) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	p, err := (&oauth.Client{}).Resolve(ctx, c)
	if err != nil {
		fmt.Fprintf(w, "Warning: the provider's endpoints could not be found yet (%v). authorize needs them: fix --issuer-url / --provider-url, or set --auth-url and --token-url.\n", err)
		return
	}
	rev := p.RevocationURL
	if rev == "" {
		rev = "none (revoke will only remove the tokens from Vault)"
	}
	fmt.Fprintf(w, "Provider: %s (%s); authorization endpoint %s, token endpoint %s, revocation endpoint %s.\n", p.Name(), p.Source, p.AuthURL, p.TokenURL, rev)
	if c.Discovered != nil {
		fmt.Fprintf(w, "These discovered endpoints are pinned: a later change of the provider's discovery document is reported, not followed; delete and create the connection to take a new one.\n")
	}
}

// printJWKS prints the public JSON Web Key Set of a private_key_jwt client's key to stdout:
// what to register for the client at the provider.
func printJWKS(cmd *cobra.Command, c *authconn.Connection, pemKey string) error {
	creds, err := oauth.KeyCredentials(c.ClientID, pemKey, c.AssertionKeyID)
	if err != nil {
		return err
	}
	b, err := creds.PublicJWKSet()
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "Register this public key (kid %s, %s) for client %s at the provider (stdout: its JWK Set):\n", creds.KeyID, creds.Alg, c.ClientID)
	fmt.Fprintln(cmd.OutOrStdout(), string(b))
	return nil
}
