package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/authconnection/terraform-provider-tailor/internal/connection"
)

func newDeleteCmd(g *globalFlags) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a connection: revoke its tokens, then remove its configuration, secret and tokens from Vault",
		Long: `delete revokes the connection's tokens at the provider (as 'tokend revoke' does), then
removes everything tailor keeps in Vault for it: configuration, client secret (all
versions), tokens and refresh lease.

When revocation fails, nothing is deleted and the command fails; --force deletes anyway.
Connections managed with the Terraform provider should be removed there (terraform
destroy, or removing the resource) instead.`,
		Example: `  tokend delete google-oauth-dev
  tokend delete old-connection --force`,
		Args: oneConnectionName,
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := revokeOrDelete(g, cmd, connection.Delete, args[0], force)
			if err != nil {
				return err
			}
			if !res.Found {
				return fmt.Errorf("connection %q does not exist in Vault (any leftover records were removed): `tokend list` shows the existing connections", res.Name)
			}
			reportRevoke(cmd.ErrOrStderr(), res)
			fmt.Fprintf(cmd.ErrOrStderr(), "Deleted connection %q from Vault.\n", res.Name)
			return nil
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "delete even when revocation at the provider fails")
	return cmd
}
