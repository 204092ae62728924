package main

import (
	"errors"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/connect"
	"github.com/authconnection/terraform-provider-tailor/internal/oauth"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
)

// linkFlags are authorize's flags for connect links.
type linkFlags struct {
	link        bool
	expires     time.Duration
	publicURL   string
	description string
	newAccount  bool // authorize's --new-account
}

func (lf *linkFlags) register(f *pflag.FlagSet) {
	f.BoolVar(&lf.link, "link", false, "print a connect link for someone else to authorize with, instead of authorizing here (needs tokend serve --public-url)")
	f.DurationVar(&lf.expires, "expires", connect.DefaultLinkTTL, "with --link: how long the link works (at most 720h)")
	f.StringVar(&lf.publicURL, "public-url", os.Getenv("TOKEND_PUBLIC_URL"), "with --link: tokend serve's --public-url ($TOKEND_PUBLIC_URL)")
	f.StringVar(&lf.description, "description", "", "with --link: who the link is for")
}

// connectService opens the store and the connect service of publicURL.
func connectService(g *globalFlags, cmd *cobra.Command, publicURL string) (*connect.Service, func(), error) {
	if publicURL == "" {
		return nil, nil, errors.New("connect links need tokend serve's public URL: pass --public-url https://tokend.example.com or set TOKEND_PUBLIC_URL")
	}
	st, vc, err := g.openStore(cmd.Context())
	if err != nil {
		return nil, nil, err
	}
	cs, err := connect.New(connect.Options{Store: st, OAuth: &oauth.Client{}, PublicURL: publicURL})
	if err != nil {
		vc.Close()
		return nil, nil, err
	}
	return cs, vc.Close, nil
}

// runLink creates a connect link and prints it (stdout: the link only).
func runLink(g *globalFlags, cmd *cobra.Command, name string, scopes []string, lf linkFlags) error {
	if err := authconn.ValidateDescription("--description", lf.description); err != nil {
		return err
	}
	cs, done, err := connectService(g, cmd, lf.publicURL)
	if err != nil {
		return err
	}
	defer done()
	u, l, err := cs.CreateLinkWith(cmd.Context(), connect.LinkOptions{Name: name, Scopes: scopes, TTL: lf.expires, Description: lf.description,
		NewAccount: lf.newAccount})
	if err != nil {
		return err
	}
	fmt.Fprintln(cmd.OutOrStdout(), u)
	fmt.Fprintf(cmd.ErrOrStderr(), "Connect link %s for %q, valid once until %s. It is shown only now: send it to the person who can grant consent.\n"+
		"The provider must have %s registered as a redirect URI. Revoke it with `tokend links revoke %s`.\n",
		l.ID, name, l.ExpiresAt.Format(time.RFC3339), cs.RedirectURIFor(name), l.ID)
	if l.NewAccount {
		fmt.Fprintf(cmd.ErrOrStderr(), "Whoever uses it may authorize %q with another account than its current one.\n", name)
	}
	return nil
}

func newLinksCmd(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "links", Short: "List and revoke connect links (tokend authorize NAME --link creates them)"}
	list := &cobra.Command{Use: "list", Short: "List connect links: id, connection, state, expiry (never the token)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runLinksList(g, cmd) }}
	revoke := &cobra.Command{Use: "revoke ID", Short: "Revoke a connect link", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return runLinksRevoke(g, cmd, args[0]) }}
	cmd.AddCommand(list, revoke)
	return cmd
}

func runLinksList(g *globalFlags, cmd *cobra.Command) error {
	st, vc, err := g.openStore(cmd.Context())
	if err != nil {
		return err
	}
	defer vc.Close()
	links, err := st.ListLinks(cmd.Context())
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tCONNECTION\tSTATE\tEXPIRES AT\tDESCRIPTION")
	for _, l := range links {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", l.ID, l.Connection, l.State(time.Now()), l.ExpiresAt.Format(time.RFC3339), oneLine(l.Description, 40))
	}
	return tw.Flush()
}

func runLinksRevoke(g *globalFlags, cmd *cobra.Command, id string) error {
	st, vc, err := g.openStore(cmd.Context())
	if err != nil {
		return err
	}
	defer vc.Close()
	cs, err := connect.New(connect.Options{Store: st, PublicURL: "http://127.0.0.1"}) // revoking needs no public URL
	if err != nil {
		return err
	}
	if err := cs.RevokeLink(cmd.Context(), id); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no connect link %q: `tokend links list` shows them", id)
		}
		return err
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "Connect link %s revoked.\n", id)
	return nil
}
