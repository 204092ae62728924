package main

import (
	"context"
	"log/slog"

	"github.com/authconnection/terraform-provider-tailor/internal/api"
	"github.com/authconnection/terraform-provider-tailor/internal/audit"
	"github.com/authconnection/terraform-provider-tailor/internal/connect"
	"github.com/authconnection/terraform-provider-tailor/internal/connection"
	"github.com/authconnection/terraform-provider-tailor/internal/console"
	"github.com/authconnection/terraform-provider-tailor/internal/oauth"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
)

// hosted is what --public-url adds to tokend serve: the connect pages and the hosted
// callback (internal/connect), the status page (internal/console) and the admin API of
// connect links (api.Options.Links); api.Server.Routes lists their routes.
type hosted struct {
	connect *connect.Service
	console *console.Console
}

// newHosted wires them on st; the status page signs administrators in with keys; both
// record into rec.
func newHosted(ctx context.Context, st *store.Store, f serveFlags, keys *api.KeyCache, rec audit.Recorder, log *slog.Logger) (*hosted, error) {
	oc := &oauth.Client{}
	cs, err := connect.New(connect.Options{Store: st, OAuth: oc, PublicURL: f.publicURL, FallbackLifetime: f.fallbackLifetime, Audit: rec, Logger: log})
	if err != nil {
		return nil, err
	}
	key, err := st.SessionKey(ctx)
	if err != nil {
		return nil, err
	}
	con, err := console.New(console.Options{
		Overview: func(ctx context.Context) ([]connection.Summary, error) { return connection.Overview(ctx, st) },
		Connect:  cs,
		Revoke: func(ctx context.Context, name string) error {
			_, err := connection.Revoke(ctx, st, oc, name, connection.Options{})
			return err
		},
		Keys:         func(ctx context.Context) ([]console.KeySummary, error) { return keySummaries(ctx, st) },
		VerifyAdmin:  keys.VerifyAdmin,
		KeyActive:    keys.AdminKeyActive,
		SessionEpoch: st.SessionEpoch,
		EndSessions: func(ctx context.Context, id string, epoch int) error {
			_, err := st.EndSessions(ctx, id, epoch)
			return err
		},
		SessionKey: key,
		Audit:      rec,
		Logger:     log,
	})
	if err != nil {
		return nil, err
	}
	log.Info("hosted authorize enabled: register each connection's redirect URI at its provider", "redirect_uri", cs.RedirectURI()+"/{name}",
		"status_page", cs.URL(console.Path))
	return &hosted{connect: cs, console: con}, nil
}
