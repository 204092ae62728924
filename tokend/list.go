package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/oauth"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
)

func init() { addCommand(newListCmd) }

// listEntry is one row of `tokend list`; it holds no secret.
type listEntry struct {
	Name               string     `json:"name"`
	Type               string     `json:"type"`
	Provider           string     `json:"provider"`
	ProviderURL        string     `json:"provider_url"`
	ClientID           string     `json:"client_id"`
	Status             string     `json:"status"`
	Authorized         bool       `json:"authorized"`
	ExpiresAt          *time.Time `json:"expires_at"`
	RefreshTokenExpiry *time.Time `json:"refresh_token_expires_at,omitempty"`
	LastError          string     `json:"last_error,omitempty"`
	LastErrorAt        *time.Time `json:"last_error_at,omitempty"`
}

func newListCmd() *cobra.Command {
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
		RunE: func(cmd *cobra.Command, _ []string) error { return runList(cmd, asJSON) },
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array instead of a table")
	return cmd
}

func runList(cmd *cobra.Command, asJSON bool) error {
	ctx := cmd.Context()
	st, vc, err := globals.openStore(ctx)
	if err != nil {
		return err
	}
	defer vc.Close()
	entries, err := listEntries(ctx, st)
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

// listEntries reads every connection's configuration and token status (never a secret).
func listEntries(ctx context.Context, st *store.Store) ([]listEntry, error) {
	names, err := st.ListConnections(ctx)
	if err != nil {
		return nil, err
	}
	entries := make([]listEntry, 0, len(names))
	for _, n := range names {
		c, err := st.GetConnection(ctx, n)
		if errors.Is(err, store.ErrNotFound) {
			continue // deleted meanwhile, or only leftovers
		}
		if err != nil {
			return nil, err
		}
		ts, err := st.GetTokenStatus(ctx, n)
		if err != nil {
			return nil, err
		}
		e := listEntry{Name: n, Type: c.Type, Provider: providerName(&c.Connection), ProviderURL: c.ProviderURL, ClientID: c.ClientID,
			Status: string(ts.Status), Authorized: ts.Status == authconn.StatusAuthorized, LastError: ts.LastError}
		e.ExpiresAt, e.RefreshTokenExpiry, e.LastErrorAt = timePtr(ts.Expiry), timePtr(ts.RefreshTokenExpiry), timePtr(ts.LastErrorAt)
		entries = append(entries, e)
	}
	return entries, nil
}

func printTable(out io.Writer, entries []listEntry) error {
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

// providerName names the provider without network access: the preset, "custom" when both
// endpoints are set explicitly, else "oidc" (found by discovery).
func providerName(c *authconn.Connection) string {
	if p, _ := oauth.PresetFor(c.ProviderURL, c.IssuerURL); p != oauth.Generic {
		return p.Name
	}
	if c.AuthURL != "" && c.TokenURL != "" {
		return "custom"
	}
	return oauth.Generic.Name
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func oneLine(s string, n int) string {
	r := []rune(s)
	for i, c := range r {
		if c == '\n' || c == '\r' || c == '\t' {
			r[i] = ' '
		}
	}
	if len(r) > n {
		return string(r[:n-3]) + "..."
	}
	return string(r)
}
