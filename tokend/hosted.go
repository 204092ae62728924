package main

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/api"
	"github.com/authconnection/terraform-provider-tailor/internal/connect"
	"github.com/authconnection/terraform-provider-tailor/internal/connection"
	"github.com/authconnection/terraform-provider-tailor/internal/console"
	"github.com/authconnection/terraform-provider-tailor/internal/oauth"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
)

// hosted is what --public-url adds to tokend serve: the connect pages and the hosted
// callback (internal/connect), the status page (internal/console) and the admin API of
// connect links.
type hosted struct {
	connect *connect.Service
	console *console.Console
}

// newHosted wires them on st; srv is set once the API server exists (the status page signs
// administrators in with its API keys).
func newHosted(ctx context.Context, st *store.Store, f serveFlags, srv func() *api.Server, log *slog.Logger) (*hosted, error) {
	oc := &oauth.Client{}
	cs, err := connect.New(connect.Options{Store: st, OAuth: oc, PublicURL: f.publicURL, FallbackLifetime: f.fallbackLifetime, Logger: log})
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
		VerifyAdmin:  func(ctx context.Context, k string) (string, error) { return srv().VerifyAdmin(ctx, k) },
		KeyActive:    func(ctx context.Context, id string) bool { return srv().AdminKeyActive(ctx, id) },
		SessionEpoch: st.SessionEpoch,
		EndSessions: func(ctx context.Context, id string, epoch int) error {
			_, err := st.EndSessions(ctx, id, epoch)
			return err
		},
		SessionKey: key,
		Logger:     log,
	})
	if err != nil {
		return nil, err
	}
	log.Info("hosted authorize enabled: register each connection's redirect URI at its provider", "redirect_uri", cs.RedirectURI()+"/{name}",
		"status_page", cs.URL(console.Path))
	return &hosted{connect: cs, console: con}, nil
}

// register adds the pages to the API server's mux.
func (h *hosted) register(mux *http.ServeMux) {
	h.connect.Register(mux)
	h.console.Register(mux)
}

// sweepPending removes expired pending authorizations every ten minutes, until ctx ends.
func sweepPending(ctx context.Context, st *store.Store, log *slog.Logger) {
	t := time.NewTicker(10 * time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n, err := st.SweepPending(ctx, time.Now()); err != nil {
			log.Debug("sweeping expired pending authorizations failed", "error", err)
		} else if n > 0 {
			log.Info("removed expired pending authorizations", "count", n)
		}
	}
}
