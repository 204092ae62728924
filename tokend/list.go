package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
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
		Long: `list shows every connection in Vault: name, type, provider (its catalog entry), whether it
is authorized, when its access token expires, when its client secret expires (when recorded:
"in N days", "expired"), the connection's metadata (the non-secret values its provider's
entry keeps, such as QuickBooks' realmId) and API base URL, and the last refresh error. It
reads only the connections' configuration and the token records' non-secret status, never a
secret or a token.

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
	fmt.Fprintln(tw, "NAME\tTYPE\tPROVIDER\tAUTHORIZED\tEXPIRES AT\tCLIENT SECRET\tMETADATA\tAPI BASE URL\tLAST ERROR")
	for _, e := range entries {
		exp := "-"
		if e.ExpiresAt != nil {
			exp = e.ExpiresAt.Format(time.RFC3339)
		}
		secret := "-"
		if e.ClientSecretExpiresAt != nil {
			secret = e.ClientSecretExpiry + " (" + e.ClientSecretExpiresAt.Format(time.DateOnly) + ")"
		}
		last := "-"
		if e.LastError != "" {
			last = oneLine(e.LastError, 80)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", cell(e.Name, 128), cell(e.Type, 64), cell(e.Provider, 64), authorizedWord(e.Status), exp,
			secret, metadataCell(e.Metadata), cell(e.APIBaseURL, 200), last)
	}
	return tw.Flush()
}

// authorizedWord is the AUTHORIZED column of status.
func authorizedWord(status string) string {
	switch authconn.Status(status) {
	case authconn.StatusAuthorized:
		return "yes"
	case authconn.StatusNeedsReauthorization:
		return "reauthorize"
	case authconn.StatusFailed:
		return "failed"
	}
	return "no"
}

// metadataCell is a connection's metadata as one cell: key=value pairs sorted by key, each
// made safe for a terminal and a table; "-" when there is none.
func metadataCell(md map[string]string) string {
	if len(md) == 0 {
		return "-"
	}
	pairs := make([]string, 0, len(md))
	for _, k := range slices.Sorted(maps.Keys(md)) {
		pairs = append(pairs, cell(k, 64)+"="+cell(md[k], 200))
	}
	return strings.Join(pairs, ",")
}

// cell is s as one cell of the table: oneLine (a tab, which would shift the columns,
// becomes a space), "-" when empty.
func cell(s string, n int) string {
	s = strings.TrimSpace(oneLine(s, n))
	if s == "" {
		return "-"
	}
	return s
}

// oneLine is s as one line of a terminal: authconn.Sanitize (control characters, terminal
// escape sequences and invalid UTF-8 become spaces), cut to n bytes.
func oneLine(s string, n int) string { return authconn.Sanitize(s, n) }
