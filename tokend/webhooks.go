package main

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/authconnection/terraform-provider-tailor/internal/apikey"
	"github.com/authconnection/terraform-provider-tailor/internal/audit"
	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/events"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
)

func newWebhooksCmd(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "webhooks", Short: "Add, list and remove webhooks: signed events when connections change",
		Long: `webhooks tells receivers when connections change, signed per the Standard Webhooks
specification (webhook-id, webhook-timestamp, webhook-signature with HMAC-SHA256): every
tokend serve replica delivers them from an outbox in Vault, at least once, each transition
once across replicas. Events: ` + eventList() + `. See docs/hosted.md.`}
	var evs, desc string
	var withLink bool
	add := &cobra.Command{Use: "add URL --events connection.needs_reauthorization,...", Short: "Add a webhook and print its signing secret once",
		Args: cobra.ExactArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
			return runWebhookAdd(g, cmd, args[0], evs, desc, withLink)
		}}
	add.Flags().StringVar(&evs, "events", "", "comma-separated event types, or \"all\": "+eventList())
	add.Flags().StringVar(&desc, "description", "", "what the receiver is")
	add.Flags().BoolVar(&withLink, "include-reconnect-link", false, "send a live connect link (reconnect_url, valid 7 days, usable once) with needs_reauthorization events: "+
		"whoever reads this receiver can then authorize the connection (with its current account only); without it, the status page URL is sent")
	_ = add.MarkFlagRequired("events")
	list := &cobra.Command{Use: "list", Short: "List webhooks (never their secrets)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runWebhookList(g, cmd) }}
	remove := &cobra.Command{Use: "remove ID", Short: "Remove a webhook (its pending deliveries are dropped)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return runWebhookRemove(g, cmd, args[0]) }}
	cmd.AddCommand(add, list, remove)
	return cmd
}

func eventList() string {
	var s []string
	for _, e := range authconn.EventTypes {
		s = append(s, string(e))
	}
	return strings.Join(s, ", ")
}

// parseEvents checks a comma-separated list of event types ("all" for every one).
func parseEvents(list string) ([]authconn.EventType, error) {
	if strings.TrimSpace(list) == "all" {
		return authconn.EventTypes, nil
	}
	var out []authconn.EventType
	for _, e := range strings.Split(list, ",") {
		e = strings.TrimSpace(e)
		if !authconn.ValidEventType(e) && !audit.IsEventType(e) {
			return nil, fmt.Errorf("unknown event %q: use %s, audit.<action> (with serve --audit-webhooks), or all", e, eventList())
		}
		out = append(out, authconn.EventType(e))
	}
	return out, nil
}

// checkReceiver accepts https URLs, and http on loopback (for tests and local receivers).
func checkReceiver(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && authconn.IsLoopbackHost(u.Hostname()))) {
		return fmt.Errorf("invalid webhook URL %q: use https://... (http only on localhost)", raw)
	}
	return nil
}

func runWebhookAdd(g *globalFlags, cmd *cobra.Command, raw, evs, desc string, withLink bool) error {
	if err := checkReceiver(raw); err != nil {
		return err
	}
	if err := authconn.ValidateDescription("--description", desc); err != nil {
		return err
	}
	types, err := parseEvents(evs)
	if err != nil {
		return err
	}
	st, vc, err := g.openStore(cmd.Context())
	if err != nil {
		return err
	}
	defer vc.Close()
	k, err := apikey.Generate() // only its random id is used
	if err != nil {
		return err
	}
	w := &store.Webhook{ID: "wh_" + k.ID, URL: raw, Events: types, Secret: events.NewSecret(), Description: desc, CreatedAt: time.Now().UTC(),
		IncludeReconnectLink: withLink}
	if err := st.CreateWebhook(cmd.Context(), w); err != nil {
		return err
	}
	fmt.Fprintln(cmd.OutOrStdout(), w.Secret)
	fmt.Fprintf(cmd.ErrOrStderr(), "Added webhook %s for %s. Its signing secret is shown only now: give it to the receiver, which verifies webhook-signature with it (any Standard Webhooks library).\n", w.ID, eventsString(types))
	return nil
}

func eventsString(t []authconn.EventType) string {
	s := make([]string, len(t))
	for i, e := range t {
		s[i] = string(e)
	}
	return strings.Join(s, ",")
}

func runWebhookList(g *globalFlags, cmd *cobra.Command) error {
	st, vc, err := g.openStore(cmd.Context())
	if err != nil {
		return err
	}
	defer vc.Close()
	hooks, err := st.ListWebhooks(cmd.Context())
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tURL\tEVENTS\tDESCRIPTION")
	for _, h := range hooks {
		shown := "(not a URL)"
		if u, err := url.Parse(h.URL); err == nil {
			shown = u.Scheme + "://" + u.Host + u.Path // a query may hold the receiver's token
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", h.ID, oneLine(shown, 0), oneLine(eventsString(h.Events), 0), oneLine(h.Description, 40))
	}
	return tw.Flush()
}

func runWebhookRemove(g *globalFlags, cmd *cobra.Command, id string) error {
	st, vc, err := g.openStore(cmd.Context())
	if err != nil {
		return err
	}
	defer vc.Close()
	if err := st.DeleteWebhook(cmd.Context(), id); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no webhook %q: `tokend webhooks list` shows them", id)
		}
		return err
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "Webhook %s removed.\n", id)
	return nil
}
