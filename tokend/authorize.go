package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/pkg/browser"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/authorize"
)

// newAuthorizeCmd returns `tokend authorize`; openBrowser opens the authorization URL (nil:
// the system browser; tests drive a headless one).
func newAuthorizeCmd(g *globalFlags, openBrowser func(url string) error) *cobra.Command {
	var (
		scopes    string
		port      int
		noBrowser bool
		device    bool
		timeout   time.Duration
		newAcct   bool
		lf        linkFlags
	)
	cmd := &cobra.Command{
		Use:   "authorize NAME",
		Short: "Authorize a connection in the browser and store its tokens in Vault",
		Long: `authorize runs the OAuth2 authorization-code flow for connection NAME once, as an
operator: it starts a callback server on 127.0.0.1 (and [::1]) at --port, opens the
provider's consent page in your browser, and stores the tokens it receives in Vault.
tokend serve then keeps the access token fresh with the refresh token.

Register this redirect URI for the connection's client at the provider first:

    http://localhost:<port>/callback        (default: http://localhost:8080/callback)

Endpoints come from the connection's auth_url/token_url/revocation_url, else the built-in
presets (Google, Microsoft, QuickBooks), else OIDC discovery from issuer_url or provider_url.
The request uses state, PKCE (S256) and a nonce, and checks the RFC 9207 iss parameter.
Google gets access_type=offline and prompt=consent, Microsoft offline_access, so that a
refresh token is issued; a warning says so when none came back.

Scopes default to the connection's scopes, else openid,profile,email.

With --no-browser the URL is printed to stdout as a single line (all other messages go to
stderr); open it in any browser that can reach localhost:<port> on this machine.

With --device (RFC 8628 device authorization grant, when the provider has a
device_authorization_endpoint: Google, Microsoft, GitHub, many OIDC providers) no browser or
port is needed here: tokend prints a verification URL and a code (stdout: the URL, then the
code), the user approves on any other device, and tokend polls until then.
With --link (and tokend serve running with --public-url) nothing is authorized here: tokend
prints a connect link, {public-url}/connect#tl_..., for whoever can grant consent; it works
once, until --expires, for this connection and these scopes only (tokend links list|revoke).
Authorizing again replaces the stored tokens, but only with the same account: the first
authorization records who authorized (the ID token's issuer and subject, Microsoft's tenant,
QuickBooks' company), and a later one by another account is refused, unless --new-account
(also with --link: the link may then authorize another account).
See docs/authorize.md and docs/hosted.md.`,
		Example: `  # Google (register http://localhost:8080/callback in Google Cloud Console)
  tokend authorize google-oauth --scopes https://www.googleapis.com/auth/admin.directory.user.readonly

  # Microsoft 365 on another port
  tokend authorize ms365-oauth --scopes https://graph.microsoft.com/User.Read --port 8085

  # On a remote shell: print the URL instead of opening a browser
  tokend authorize quickbooks-oauth --scopes com.intuit.quickbooks.accounting --no-browser

  # On a server without a browser: the device flow
  tokend authorize ms365-oauth --device

  # Let the QuickBooks company's admin connect it, from anywhere (hosted authorize)
  tokend authorize quickbooks-oauth --link --expires 48h --public-url https://tokend.example.com`,
		Args: oneConnectionName,
		RunE: func(cmd *cobra.Command, args []string) error {
			if lf.link {
				lf.newAccount = newAcct
				return runLink(g, cmd, args[0], splitScopes(scopes), lf)
			}
			return runAuthorize(g, cmd, args[0], authorize.Options{Scopes: splitScopes(scopes), Port: port, Timeout: timeout, NewAccount: newAcct}, openBrowser, noBrowser, device)
		},
	}
	f := cmd.Flags()
	f.StringVar(&scopes, "scopes", "", "comma-separated scopes to request (default: the connection's scopes, else openid,profile,email)")
	f.IntVar(&port, "port", authorize.DefaultPort, "port of the local callback server; the redirect URI is http://localhost:<port>/callback")
	f.BoolVar(&noBrowser, "no-browser", false, "print the authorization URL to stdout instead of opening a browser")
	f.DurationVar(&timeout, "timeout", authorize.DefaultTimeout, "how long to wait for the browser to come back (or the device to be approved)")
	f.BoolVar(&device, "device", false, "use the device flow (RFC 8628): print a URL and a code to approve on any other device; no browser or callback port here")
	f.BoolVar(&newAcct, "new-account", false, "allow another account than the one that authorized the connection before (the connection then belongs to the new one); with --link: the link allows it")
	lf.register(f)
	return cmd
}

// runAuthorize authorizes connection name in this process (a browser, or the device flow).
func runAuthorize(g *globalFlags, cmd *cobra.Command, name string, opts authorize.Options, openBrowser func(string) error, noBrowser, device bool) error {
	st, vc, err := g.openStore(cmd.Context())
	if err != nil {
		return err
	}
	defer vc.Close()
	open := openBrowser
	if open == nil {
		open = systemBrowser(cmd.ErrOrStderr())
	}
	opts.Name = name
	opts.Audit, opts.Caller = g.audit()
	opts.UI = &authorize.TextUI{Out: cmd.OutOrStdout(), Err: cmd.ErrOrStderr(), NoBrowser: noBrowser, Open: open}
	run := authorize.Run
	if device {
		run = authorize.RunDevice
	}
	res, err := run(cmd.Context(), st, opts)
	if err != nil {
		return err
	}
	w := cmd.ErrOrStderr()
	verb := "authorized"
	if res.Replaced {
		verb = "authorized again (the earlier tokens were replaced)"
	}
	fmt.Fprintf(w, "Connection %q %s: provider %s, access token expires at %s, refresh token: %s.\n",
		res.Name, verb, res.Provider, res.Expiry.Format(time.RFC3339), yesOrNo(res.HasRefreshToken))
	if !res.RefreshTokenExpiry.IsZero() {
		fmt.Fprintf(w, "The refresh token expires at %s.\n", res.RefreshTokenExpiry.Format(time.RFC3339))
	}
	if v, ok := res.CallbackExtras["realmId"]; ok {
		fmt.Fprintf(w, "QuickBooks company (realmId): %s\n", v)
	}
	if res.Account != nil {
		note := ""
		if res.AccountChanged {
			note = " (a new account: it replaced the connection's earlier one, as --new-account allowed)"
		}
		fmt.Fprintf(w, "The connection belongs to %s%s.\n", authconn.Sanitize(res.Account.String(), 300), note)
	}
	return nil
}

// systemBrowser opens the system browser, sending the opener's own output to stderr so that
// stdout keeps only what tokend prints.
func systemBrowser(stderr io.Writer) func(string) error {
	return func(u string) error {
		browser.Stdout = stderr
		browser.Stderr = stderr
		return browser.OpenURL(u)
	}
}

// splitScopes splits a --scopes value at commas and white space.
func splitScopes(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' })
}

func yesOrNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// oneConnectionName is the positional-arguments check of commands on one connection:
// exactly one argument, its name.
func oneConnectionName(cmd *cobra.Command, args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("%s needs exactly one argument, the connection name (see `tokend list`); got %d", cmd.Name(), len(args))
	}
	return nil
}
