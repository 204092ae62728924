package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/authconnection/terraform-provider-tailor/internal/connection"
	"github.com/authconnection/terraform-provider-tailor/internal/oauth"
)

func newRevokeCmd(g *globalFlags) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "revoke NAME",
		Short: "End a connection's authorization: revoke its tokens at the provider and remove them from Vault",
		Long: `revoke revokes the connection's refresh token and access token at the provider's RFC 7009
revocation endpoint (when the provider has one), then removes the tokens from Vault. The
connection and its client secret stay: run 'tokend authorize NAME' to authorize it again.

When the provider cannot be reached or refuses, the tokens are kept in Vault and the
command fails, so you can try again; --force removes them from Vault anyway.
Providers without a revocation endpoint (Microsoft): the tokens are removed from Vault and
the grant can be ended in the provider's console.`,
		Example: `  tokend revoke google-oauth
  tokend revoke ms365-oauth --force`,
		Args: oneConnectionName,
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := revokeOrDelete(g, cmd, connection.Revoke, args[0], force)
			if err != nil {
				return err
			}
			reportRevoke(cmd.ErrOrStderr(), res)
			fmt.Fprintf(cmd.ErrOrStderr(), "Connection %q is kept; run `tokend authorize %s` to authorize it again.\n", res.Name, res.Name)
			return nil
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "remove the tokens from Vault even when revocation at the provider fails")
	return cmd
}

// revokeOrDelete opens the store and runs op (connection.Revoke or connection.Delete) on
// connection name, with --force as force.
func revokeOrDelete(g *globalFlags, cmd *cobra.Command, op func(context.Context, connection.Store, *oauth.Client, string, connection.Options) (connection.Result, error),
	name string, force bool) (connection.Result, error) {
	st, vc, err := g.openStore(cmd.Context())
	if err != nil {
		return connection.Result{Name: name}, err
	}
	defer vc.Close()
	rec, caller := g.audit()
	return op(cmd.Context(), st, &oauth.Client{}, name, connection.Options{Force: force, Audit: rec, Caller: caller})
}

func reportRevoke(w io.Writer, res connection.Result) {
	switch {
	case len(res.Revoked) > 0:
		fmt.Fprintf(w, "Revoked at the provider: %s.\n", strings.Join(res.Revoked, ", "))
	case res.RevokeSkipped != "":
		fmt.Fprintf(w, "Nothing revoked at the provider: %s.\n", res.RevokeSkipped)
	}
	if res.RevokeError != nil {
		fmt.Fprintf(w, "Warning: revocation at the provider failed (%v); the tokens were removed from Vault anyway (--force) and stay valid at the provider until they expire.\n", res.RevokeError)
	}
	for _, warn := range res.Warnings {
		fmt.Fprintf(w, "Warning: %s\n", warn)
	}
	if res.TokensDeleted && res.HadTokens {
		fmt.Fprintf(w, "Removed the tokens of %q from Vault.\n", res.Name)
	}
}
