package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/connection"
)

func newListCmd(g *globalFlags) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List connections with their authorization status",
		Long: `list shows every connection in Vault: name, type, provider, whether it is authorized,
when its access token expires, and the last refresh error. It reads only the connections'
configuration and the token records' non-secret status, never a secret or a token.

AUTHORIZED is "yes", "no" (run 'tokend authorize NAME'; a client-credentials connection
shows "no" until tokend serve got its first token), "reauthorize" (the provider refused the
refresh token; run 'tokend authorize NAME' again), or "failed" (the provider refused a
client-credentials token request: see LAST ERROR).`,
		Example: `  tokend list
  tokend list --json | jq -r '.[] | select(.authorized | not) | .name'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runList(g, cmd, asJSON) },
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array instead of a table")
	return cmd
}

func runList(g *globalFlags, cmd *cobra.Command, asJSON bool) error {
	ctx := cmd.Context()
	st, vc, err := g.openStore(ctx)
	if err != nil {
		return err
	}
	defer vc.Close()
	entries, err := connection.Overview(ctx, st)
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(entries)
	}
	if len(entries) == 0 {
		fmt.Fprintln(cmd.ErrOrStderr(), "No connections. Create one with `tokend create` or the Terraform provider.")
		return nil
	}
	return printTable(out, entries)
}

func printTable(out io.Writer, entries []connection.Summary) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tTYPE\tPROVIDER\tAUTHORIZED\tEXPIRES AT\tLAST ERROR")
	for _, e := range entries {
		auth := "no"
		switch authconn.Status(e.Status) {
		case authconn.StatusAuthorized:
			auth = "yes"
		case authconn.StatusNeedsReauthorization:
			auth = "reauthorize"
		case authconn.StatusFailed:
			auth = "failed"
		}
		exp := "-"
		if e.ExpiresAt != nil {
			exp = e.ExpiresAt.Format(time.RFC3339)
		}
		last := "-"
		if e.LastError != "" {
			last = oneLine(e.LastError, 80)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.Name, e.Type, e.Provider, auth, exp, last)
	}
	return tw.Flush()
}

// oneLine is s as one line of a terminal: authconn.Sanitize (control characters, terminal
// escape sequences and invalid UTF-8 become spaces), cut to n bytes.
func oneLine(s string, n int) string { return authconn.Sanitize(s, n) }
