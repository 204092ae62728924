package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/authconnection/terraform-provider-tailor/internal/api"
	"github.com/authconnection/terraform-provider-tailor/internal/apikey"
	"github.com/authconnection/terraform-provider-tailor/internal/audit"
	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/console"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
)

func newKeysCmd(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Manage the API keys that callers of tokend serve present",
		Long: `API keys look like tk_<id>_<secret>. Vault stores only the key's id, a SHA-256 hash of its
secret part, and what it may do per connection name or pattern (google-*): read tokens
(token), send requests through the proxy (proxy), or both; see keys create --help.
tokend serve caches key records for --key-cache-ttl (30s), so a revoked key stops working
within that time.`,
	}
	cmd.AddCommand(newKeysCreateCmd(g), newKeysListCmd(g), newKeysRevokeCmd(g))
	return cmd
}

func newKeysCreateCmd(g *globalFlags) *cobra.Command {
	var conns, allow, desc string
	var grantFlags []string
	var admin bool
	cmd := &cobra.Command{
		Use:   "create --connections 'google-*,ms365-oauth' [--allow token|proxy|token,proxy] [--grant PATTERN=PERMS]... [--admin] [--description TEXT]",
		Short: "Create an API key and print it once",
		Long: `Create an API key and print it once. What it may do is given per connection pattern:
--connections with --allow gives the same permissions on every pattern listed, each
--grant PATTERN=PERMS (repeatable) one more pattern with its own; the two may be combined
and grants add up. Permissions: token (read the access token, the default), proxy (send
requests through /v1/connections/NAME/proxy/..., never seeing the token), or token,proxy.

  tokend keys create --connections 'quickbooks-*' --allow proxy
  tokend keys create --grant 'quickbooks-*=proxy' --grant 'google-drive=token,proxy'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			grants, err := keyGrants(conns, allow, grantFlags, admin)
			if err != nil {
				return err
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
			rec := &store.APIKey{ID: k.ID, Hash: k.Hash, Admin: admin, Description: desc}
			rec.SetGrants(storeGrants(grants))
			err = st.CreateAPIKey(cmd.Context(), rec)
			recordKey(cmd.Context(), g, audit.KeyCreated, k.ID, err)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), k.Plain)
			if admin {
				fmt.Fprintf(cmd.ErrOrStderr(), "Created admin API key %s (status page and admin API; %s). It is shown only now.\n", k.ID, grantsText(grants))
			} else {
				fmt.Fprintf(cmd.ErrOrStderr(), "Created API key %s for %s. It is shown only now: store it as TAILOR_TOKEND_API_KEY in the function's secrets.\n", k.ID, grantsText(grants))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&conns, "connections", "", "comma-separated connection names or glob patterns the key may use (required unless --grant or --admin)")
	cmd.Flags().StringVar(&allow, "allow", string(apikey.PermToken), "what the key may do on the --connections patterns: token, proxy or token,proxy")
	cmd.Flags().StringArrayVar(&grantFlags, "grant", nil, "one more pattern with its own permissions, PATTERN=PERMS, e.g. 'quickbooks-*=proxy' (repeatable)")
	cmd.Flags().BoolVar(&admin, "admin", false, "an admin key: signs in to the status page (/ui) and uses the admin API (connect links)")
	cmd.Flags().StringVar(&desc, "description", "", "what the key is for")
	return cmd
}

// keyGrants turns the flags of keys create into the key's grants: allow on each pattern of
// conns, then each --grant. A key that is not an admin key needs at least one.
func keyGrants(conns, allow string, grantFlags []string, admin bool) ([]apikey.Grant, error) {
	perms, err := apikey.ParseAllow(allow)
	if err != nil {
		return nil, fmt.Errorf("--allow: %w", err)
	}
	var grants []apikey.Grant
	if conns != "" || (!admin && len(grantFlags) == 0) {
		patterns, err := apikey.ParsePatterns(conns)
		if err != nil {
			return nil, err
		}
		grants = apikey.GrantAll(patterns, perms)
	}
	for _, f := range grantFlags {
		gr, err := apikey.ParseGrant(f)
		if err != nil {
			return nil, fmt.Errorf("--grant: %w", err)
		}
		grants = append(grants, gr)
	}
	return grants, nil
}

// storeGrants is grants as the key record keeps them.
func storeGrants(grants []apikey.Grant) []store.KeyGrant {
	var out []store.KeyGrant
	for _, g := range grants {
		kg := store.KeyGrant{Pattern: g.Pattern}
		for _, p := range g.Allow {
			kg.Allow = append(kg.Allow, string(p))
		}
		out = append(out, kg)
	}
	return out
}

// grantsText shows grants as --grant takes them, separated by spaces ("no connections" for
// an admin key without any).
func grantsText(grants []apikey.Grant) string {
	if len(grants) == 0 {
		return "no connections"
	}
	s := make([]string, len(grants))
	for i, g := range grants {
		s[i] = g.String()
	}
	return strings.Join(s, " ")
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
		Short: "List API keys (ids, permissions per pattern, descriptions; never secrets)",
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
			fmt.Fprintln(w, "ID\tGRANTS\tADMIN\tCREATED\tDESCRIPTION")
			for _, k := range keys {
				fmt.Fprintf(w, "%s\t%s\t%v\t%s\t%s\n", k.ID, oneLine(grantsText(api.KeyGrants(k)), 200), k.Admin, k.CreatedAt.UTC().Format(time.RFC3339), oneLine(k.Description, 60))
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

// keySummaries lists the API keys of st for the status page: ids, permissions, no hash.
func keySummaries(ctx context.Context, st *store.Store) ([]console.KeySummary, error) {
	keys, err := st.ListAPIKeys(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]console.KeySummary, 0, len(keys))
	for _, k := range keys {
		var grants []string
		for _, g := range api.KeyGrants(k) {
			grants = append(grants, g.String())
		}
		out = append(out, console.KeySummary{ID: k.ID, Description: k.Description, Admin: k.Admin, Grants: grants, CreatedAt: k.CreatedAt})
	}
	return out, nil
}
