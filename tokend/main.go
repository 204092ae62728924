// Command tokend is the tailor token daemon and operator CLI: it authorizes connections once
// (tokend authorize), serves always-valid access tokens to functions (tokend serve), and
// manages connections and API keys. Connections, client secrets and tokens live in Vault.
//
// Each command lives in its own file and registers itself with addCommand in an init
// function; the work itself is done by packages under internal/.
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

var commands []func() *cobra.Command

// addCommand registers a subcommand constructor; called from init functions.
func addCommand(f func() *cobra.Command) { commands = append(commands, f) }

func newRootCmd() *cobra.Command {
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
	globals.register(root)
	for _, f := range commands {
		root.AddCommand(f())
	}
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
