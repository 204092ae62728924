// Command tokend is the tailor token daemon and operator CLI: it authorizes connections once
// (tokend authorize), serves always-valid access tokens to functions (tokend serve), and
// manages connections and API keys. Connections, client secrets and tokens live in Vault.
//
// Each command lives in its own file as a constructor (newServeCmd, newCreateCmd, ...) that
// newRootCmdWith calls by name with the global flags; the work itself is done by packages
// under internal/. The package holds no mutable state of its own (TestNoPackageState).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// version is set with -ldflags "-X main.version=...".
var version = "dev"

// newRootCmd returns tokend's command tree; authorize opens the system browser.
func newRootCmd() *cobra.Command { return newRootCmdWith(nil) }

// newRootCmdWith returns tokend's command tree: the global flags and every subcommand.
// openBrowser opens authorization URLs for `tokend authorize` (nil: the system browser).
func newRootCmdWith(openBrowser func(url string) error) *cobra.Command {
	root := &cobra.Command{
		Use:   "tokend",
		Short: "OAuth2 connections for functions, with secrets and tokens kept in Vault",
		Long: `tokend authorizes OAuth2 connections declared with the tailor Terraform provider (or with
'tokend create'), keeps their tokens in HashiCorp Vault, and serves always-valid access
tokens to functions over HTTP (tokend serve).

Vault is reached with VAULT_ADDR and VAULT_TOKEN (or AppRole: VAULT_ROLE_ID and
VAULT_SECRET_ID_FILE), like the Vault CLI.`,
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	g := &globalFlags{}
	g.register(root)
	root.AddCommand(
		newAuthorizeCmd(g, openBrowser),
		newCreateCmd(g),
		newDeleteCmd(g),
		newKeysCmd(g),
		newLinksCmd(g),
		newListCmd(g),
		newRevokeCmd(g),
		newServeCmd(g),
		newWebhooksCmd(g),
	)
	return root
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		var ee *exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		os.Exit(1)
	}
}

// exitError carries a specific exit code.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }
