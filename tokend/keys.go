package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/authconnection/terraform-provider-tailor/internal/apikey"
	"github.com/authconnection/terraform-provider-tailor/internal/audit"
	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
)

func newKeysCmd(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Manage the API keys that callers of tokend serve present",
		Long: `API keys look like tk_<id>_<secret>. Vault stores only the key's id, a SHA-256 hash of its
secret part, and the connection names or patterns (google-*) it may fetch tokens for.
tokend serve caches key records for --key-cache-ttl (30s), so a revoked key stops working
within that time.`,
	}
	cmd.AddCommand(newKeysCreateCmd(g), newKeysListCmd(g), newKeysRevokeCmd(g))
	return cmd
}

func newKeysCreateCmd(g *globalFlags) *cobra.Command {
	var conns, desc string
	var admin bool
	cmd := &cobra.Command{
		Use:   "create --connections 'google-*,ms365-oauth' [--admin] [--description TEXT]",
		Short: "Create an API key and print it once",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var patterns []string
			if conns != "" || !admin {
				p, err := apikey.ParsePatterns(conns)
				if err != nil {
					return err
				}
				patterns = p
			}
			if err := authconn.ValidateDescription("--description", desc); err != nil {
				return err
			}
			st, vc, err := g.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer vc.Close()
			k, err := apikey.Generate()
			if err != nil {
				return err
			}
			rec := &store.APIKey{ID: k.ID, Hash: k.Hash, Connections: patterns, Admin: admin, Description: desc}
			err = st.CreateAPIKey(cmd.Context(), rec)
			recordKey(cmd.Context(), g, audit.KeyCreated, k.ID, err)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), k.Plain)
			if admin {
				fmt.Fprintf(cmd.ErrOrStderr(), "Created admin API key %s (status page and admin API; tokens of %q). It is shown only now.\n", k.ID, strings.Join(patterns, ","))
			} else {
				fmt.Fprintf(cmd.ErrOrStderr(), "Created API key %s for %s. It is shown only now: store it as TAILOR_TOKEND_API_KEY in the function's secrets.\n", k.ID, strings.Join(patterns, ","))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&conns, "connections", "", "comma-separated connection names or glob patterns the key may fetch tokens for (required unless --admin)")
	cmd.Flags().BoolVar(&admin, "admin", false, "an admin key: signs in to the status page (/ui) and uses the admin API (connect links)")
	cmd.Flags().StringVar(&desc, "description", "", "what the key is for")
	return cmd
}

// recordKey records a key change by the operator: action on key id, ended with err.
func recordKey(ctx context.Context, g *globalFlags, action audit.Action, id string, err error) {
	rec, caller := g.audit()
	r := audit.Record{Caller: caller, Subject: id, Action: action, Outcome: audit.Success}
	if err != nil {
		r.Outcome, r.Reason = audit.Failure, "failed"
	}
	rec.Record(ctx, r)
}

func newKeysListCmd(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List API keys (ids, patterns, descriptions; never secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, vc, err := g.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer vc.Close()
			keys, err := st.ListAPIKeys(cmd.Context())
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tCONNECTIONS\tCREATED\tDESCRIPTION")
			for _, k := range keys {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", k.ID, strings.Join(k.Connections, ","), k.CreatedAt.UTC().Format(time.RFC3339), oneLine(k.Description, 60))
			}
			return w.Flush()
		},
	}
}

func newKeysRevokeCmd(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke ID",
		Short: "Delete an API key (tokend serve stops accepting it within --key-cache-ttl)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := args[0]
			if kid, _, err := apikey.Parse(id); err == nil {
				id = kid // a whole key was given
			}
			st, vc, err := g.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer vc.Close()
			err = st.DeleteAPIKey(cmd.Context(), id)
			recordKey(cmd.Context(), g, audit.KeyRevoked, id, err)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Revoked API key %s.\n", id)
			return nil
		},
	}
}
