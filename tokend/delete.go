package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/authconnection/terraform-provider-tailor/internal/connection"
	"github.com/authconnection/terraform-provider-tailor/internal/oauth"
)

func newDeleteCmd(g *globalFlags) *cobra.Command {
	var force, ifForbidden bool
	cmd := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a connection: revoke its tokens, then remove its configuration, secret and tokens from Vault",
		Long: `delete revokes the connection's tokens at the provider (as 'tokend revoke' does), then
removes everything tailor keeps in Vault for it: configuration, client secret (all
versions), tokens and refresh lease.

When revocation fails, nothing is deleted and the command fails; --force deletes anyway.
When Vault refuses (403) what revocation needs (read the tokens and client secret, take
the refresh lease), nothing is deleted either; --if-forbidden deletes without revoking,
as a Terraform destroy with the least-privilege role does.
Connections managed with the Terraform provider should be removed there (terraform
destroy, or removing the resource) instead.`,
		Example: `  tokend delete google-oauth-dev
  tokend delete old-connection --force`,
		Args: oneConnectionName,
		RunE: func(cmd *cobra.Command, args []string) error {
			del := func(ctx context.Context, st connection.Store, oc *oauth.Client, name string, o connection.Options) (connection.Result, error) {
				o.DeleteIfForbidden = ifForbidden
				return connection.Delete(ctx, st, oc, name, o)
			}
			res, err := revokeOrDelete(g, cmd, del, args[0], force)
			if err != nil {
				return err
			}
			if !res.Found && res.Forbidden == nil {
				return fmt.Errorf("connection %q does not exist in Vault (any leftover records were removed): `tokend list` shows the existing connections", res.Name)
			}
			if res.Forbidden != nil {
				w, _ := res.Warning()
				fmt.Fprintf(cmd.ErrOrStderr(), "Warning: %s. %s\n", w.Summary, w.Detail)
			}
			reportRevoke(cmd.ErrOrStderr(), res)
			fmt.Fprintf(cmd.ErrOrStderr(), "Deleted connection %q from Vault.\n", res.Name)
			return nil
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "delete even when revocation at the provider fails")
	cmd.Flags().BoolVar(&ifForbidden, "if-forbidden", false, "delete without revoking when Vault refuses (403) the reads and the lease revocation needs")
	return cmd
}
