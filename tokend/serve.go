package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"golang.org/x/net/netutil"

	"github.com/authconnection/terraform-provider-tailor/internal/api"
	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/authorize"
	"github.com/authconnection/terraform-provider-tailor/internal/broker"
	"github.com/authconnection/terraform-provider-tailor/internal/connect"
	"github.com/authconnection/terraform-provider-tailor/internal/connection"
	"github.com/authconnection/terraform-provider-tailor/internal/console"
	"github.com/authconnection/terraform-provider-tailor/internal/events"
	"github.com/authconnection/terraform-provider-tailor/internal/oauth"
	"github.com/authconnection/terraform-provider-tailor/internal/proxy"
	"github.com/authconnection/terraform-provider-tailor/internal/ratelimit"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
	"github.com/authconnection/terraform-provider-tailor/internal/tokens"
)

type serveFlags struct {
	listen           string
	tlsCert, tlsKey  string
	insecureNoAuth   bool
	replicaID        string
	leaseTTL         time.Duration
	leaseSafety      time.Duration
	minLead          time.Duration
	skew             time.Duration
	recheck          time.Duration
	changeInterval   time.Duration
	fallbackLifetime time.Duration
	keyCacheTTL      time.Duration
	backoffBase      time.Duration
	backoffMax       time.Duration
	requestTimeout   time.Duration
	noWarm           bool
	publicURL        string
	webhookInterval  time.Duration
	webhookClaimTTL  time.Duration
	webhookMaxAge    time.Duration
	readTimeout      time.Duration
	writeTimeout     time.Duration
	proxyMaxDuration time.Duration
	maxConnections   int
	metricsListen    string
	clientIPHeader   string
	rateLimit        float64
	rateBurst        int
	rateDelay        time.Duration
	auditLog         string // the global --audit-log
	auditWebhooks    bool
}

// maxHeaderBytes bounds a request's header (net/http's default is 1 MB): tokend's requests
// carry an API key or a cookie, a few hundred bytes.
const maxHeaderBytes = 64 << 10

// newServeCmd returns `tokend serve`.
func newServeCmd(g *globalFlags) *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve always-valid access tokens to functions over HTTP",
		Long: `serve answers GET /v1/connections/{name}/token with a valid access token of the connection,
refreshing tokens before they expire. Any number of replicas may share one Vault: a refresh
lease in Vault makes sure only one of them refreshes a connection at a time.

Callers authenticate with API keys (tokend keys create). --insecure-no-auth disables that
for a local demo and is refused unless --listen is a loopback address.

Endpoints: GET /v1/connections/{name}/token, GET /v1/connections, /healthz, /readyz, /metrics.
With --public-url also: /connect (connect links), /v1/callback/{name} (hosted authorize), /ui (the
status page, for admin API keys) and /v1/admin/... (connect links; docs/hosted.md).

Against anonymous load: slow requests are cut (--read-timeout, --write-timeout), headers are
capped at 64 KiB, connections at --max-connections, and each client address gets a rate
limit (--rate-limit, --rate-burst) on /v1/connect, /v1/callback, POST /ui/login and API
keys that fail. --metrics-listen moves /metrics to an address of its own.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runServe(cmd.Context(), g, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.listen, "listen", envOr("TOKEND_LISTEN", "127.0.0.1:8787"), "address to listen on ($TOKEND_LISTEN)")
	fl.StringVar(&f.tlsCert, "tls-cert", os.Getenv("TOKEND_TLS_CERT"), "PEM certificate (chain) for HTTPS ($TOKEND_TLS_CERT)")
	fl.StringVar(&f.tlsKey, "tls-key", os.Getenv("TOKEND_TLS_KEY"), "PEM private key for HTTPS ($TOKEND_TLS_KEY)")
	fl.BoolVar(&f.insecureNoAuth, "insecure-no-auth", false, "serve tokens without API keys (local demo only; refused unless --listen is loopback)")
	fl.StringVar(&f.replicaID, "replica-id", os.Getenv("TOKEND_REPLICA_ID"), "this replica's name in refresh leases (default: hostname-pid-random) ($TOKEND_REPLICA_ID)")
	fl.DurationVar(&f.leaseTTL, "lease-ttl", 60*time.Second, "lifetime of a refresh lease in Vault")
	fl.DurationVar(&f.leaseSafety, "lease-safety", 15*time.Second, "a refresh must end this long before its lease expires (also the tolerated clock skew between replicas)")
	fl.DurationVar(&f.minLead, "refresh-min-lead", 30*time.Second, "refresh at least this long before expiry (capped at a third of the token lifetime)")
	fl.DurationVar(&f.skew, "skew", time.Second, "clock difference tolerated between replicas: a cached token stops being served this long before any replica may refresh it")
	fl.DurationVar(&f.changeInterval, "change-interval", time.Second, "read the change log this often: changes made by any process (revoke, re-authorization, configuration, client secret, API keys) reach this replica within about this long, at one Vault read per interval")
	fl.DurationVar(&f.recheck, "recheck-interval", time.Hour, "re-read every cached record from Vault this often: a safety net behind the change log, for records written without it")
	fl.DurationVar(&f.fallbackLifetime, "fallback-lifetime", tokens.DefaultFallbackLifetime, "access-token lifetime assumed when a provider sends no expires_in")
	fl.DurationVar(&f.keyCacheTTL, "key-cache-ttl", 30*time.Second, "cache API key records this long (a revoked key works at most this long)")
	fl.DurationVar(&f.backoffBase, "backoff-base", time.Second, "wait after the first failed refresh attempt; doubles per failure up to --backoff-max (with jitter)")
	fl.DurationVar(&f.backoffMax, "backoff-max", 3*time.Minute, "longest wait between failed refresh attempts")
	fl.DurationVar(&f.requestTimeout, "request-timeout", 30*time.Second, "longest a token request waits for a refresh")
	fl.BoolVar(&f.noWarm, "no-warm", false, "do not load all connections at start (they load on first request)")
	fl.DurationVar(&f.webhookInterval, "webhook-interval", time.Second, "how often this replica looks for webhook deliveries that are due")
	fl.DurationVar(&f.webhookClaimTTL, "webhook-claim-ttl", 30*time.Second, "how long a replica's claim on a delivery lasts (another replica delivers again after it, if this one died)")
	fl.DurationVar(&f.webhookMaxAge, "webhook-max-age", 24*time.Hour, "how long a failing delivery is retried")
	fl.DurationVar(&f.readTimeout, "read-timeout", 30*time.Second, "longest time to read a whole request, body included (slow clients are cut)")
	fl.DurationVar(&f.writeTimeout, "write-timeout", 0, "longest time from the end of a request's header to the end of its answer (default: --request-timeout + 15s)")
	fl.DurationVar(&f.proxyMaxDuration, "proxy-max-duration", time.Hour, "longest a proxied call may last, its streamed body and answer included, in place of --read-timeout and --write-timeout (which would cut downloads and event streams); 0 for no bound")
	fl.IntVar(&f.maxConnections, "max-connections", 4096, "most connections served at once (more wait to be accepted)")
	fl.StringVar(&f.metricsListen, "metrics-listen", os.Getenv("TOKEND_METRICS_LISTEN"), "serve /metrics on this address only (e.g. 127.0.0.1:9787 or a cluster-internal address), not on --listen ($TOKEND_METRICS_LISTEN)")
	fl.StringVar(&f.clientIPHeader, "client-ip-header", os.Getenv("TOKEND_CLIENT_IP_HEADER"), "take the client address for rate limits from this header set by a trusted proxy (X-Forwarded-For: its last entry); only when every request comes through that proxy ($TOKEND_CLIENT_IP_HEADER)")
	fl.Float64Var(&f.rateLimit, "rate-limit", ratelimit.DefaultRate, "requests per second one client address may make, sustained, to /v1/connect, /v1/callback and POST /ui/login, and with API keys that fail")
	fl.IntVar(&f.rateBurst, "rate-burst", ratelimit.DefaultBurst, "requests one client address may make at once before --rate-limit applies")
	fl.DurationVar(&f.rateDelay, "rate-delay", ratelimit.DefaultDelay, "hold a request refused by the rate limit this long before its 429 (slows a flooding client down; 0: answer at once)")
	fl.StringVar(&f.publicURL, "public-url", os.Getenv("TOKEND_PUBLIC_URL"), "where browsers reach this tokend (https://tokend.example.com, also behind a TLS proxy): enables hosted authorize with the redirect URI {public-url}/v1/callback/{name}, connect links, the status page at /ui and the admin API ($TOKEND_PUBLIC_URL)")
	fl.BoolVar(&f.auditWebhooks, "audit-webhooks", false, "also send the audit trail to webhooks as audit.<action> events (every record but successful token reads and proxy calls; each is a Vault write)")
	return cmd
}

func defaultReplicaID() string {
	h, _ := os.Hostname()
	if h == "" {
		h = "tokend"
	}
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s-%d-%s", h, os.Getpid(), hex.EncodeToString(b))
}

// runServe serves until ctx ends: it opens the store, wires the daemon, starts its
// background loops and serves its routes.
func runServe(ctx context.Context, g *globalFlags, f serveFlags) error {
	log := slog.Default()
	f.auditLog = g.auditLog
	if err := f.check(log); err != nil {
		return err
	}
	st, vc, err := g.openStore(ctx)
	if err != nil {
		return err
	}
	defer vc.Close()
	lim, err := ratelimit.New(ratelimit.Options{Rate: f.rateLimit, Burst: f.rateBurst, ClientIPHeader: f.clientIPHeader, Delay: f.rateDelay})
	if err != nil {
		return err
	}
	d, err := f.newDaemon(ctx, st, vc.Health, lim, log)
	if err != nil {
		return err
	}
	ln, mln, err := f.listeners()
	if err != nil {
		return err
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	d.startBackground(runCtx, !f.noWarm, log)
	if f.insecureNoAuth {
		log.Warn("API keys are NOT checked (--insecure-no-auth): any local process can fetch tokens")
	}
	scheme := "http"
	if f.tlsCert != "" {
		scheme = "https"
	}
	log.Info("tokend serving", "url", scheme+"://"+ln.Addr().String(), "replica", f.replicaID, "vault", vc.Address(), "vault_auth", vc.Method(), "mount", st.Mount(), "prefix", st.Prefix())
	if mln != nil {
		log.Info("serving /metrics on its own listener only", "url", "http://"+mln.Addr().String()+"/metrics")
		go func() { _ = f.httpServer(metricsOnly(d.api.MetricsHandler()), log).Serve(mln) }()
		defer mln.Close()
	}
	err = f.serve(ctx, ln, limitPreAuth(d.api, lim), log)
	stop()
	d.broker.Close()
	d.audit.wait()
	return err
}

// check validates the flags and fills in defaults.
func (f *serveFlags) check(log *slog.Logger) error {
	host, _, err := net.SplitHostPort(f.listen)
	if err != nil {
		return fmt.Errorf("invalid --listen %q: use host:port, e.g. 127.0.0.1:8787", f.listen)
	}
	loopback := authconn.IsLoopbackHost(host)
	if f.insecureNoAuth && !loopback {
		return &exitError{code: 2, err: fmt.Errorf("--insecure-no-auth serves tokens to anyone who can connect, so it is allowed only on a loopback address (--listen 127.0.0.1:PORT), not %q", f.listen)}
	}
	if (f.tlsCert == "") != (f.tlsKey == "") {
		return &exitError{code: 2, err: errors.New("give both --tls-cert and --tls-key, or neither")}
	}
	if f.tlsCert == "" && !loopback {
		log.Warn("serving plain HTTP on a non-loopback address: API keys and tokens cross the network in clear text unless a TLS proxy is in front; use --tls-cert and --tls-key", "listen", f.listen)
	}
	if f.replicaID == "" {
		f.replicaID = defaultReplicaID()
	}
	return f.checkLimits()
}

// checkLimits validates the flags of timeouts and limits and fills in --write-timeout.
func (f *serveFlags) checkLimits() error {
	if f.writeTimeout == 0 {
		f.writeTimeout = f.requestTimeout + 15*time.Second
	}
	if f.writeTimeout <= f.requestTimeout {
		return &exitError{code: 2, err: fmt.Errorf("--write-timeout %s must be longer than --request-timeout %s (a token request may wait that long for a refresh)", f.writeTimeout, f.requestTimeout)}
	}
	if f.readTimeout <= 0 || f.maxConnections <= 0 || f.rateLimit <= 0 || f.rateBurst <= 0 || f.rateDelay < 0 || f.proxyMaxDuration < 0 {
		return &exitError{code: 2, err: errors.New("--read-timeout, --max-connections, --rate-limit and --rate-burst must be positive, --rate-delay and --proxy-max-duration not negative")}
	}
	if f.metricsListen != "" {
		if _, _, err := net.SplitHostPort(f.metricsListen); err != nil {
			return &exitError{code: 2, err: fmt.Errorf("invalid --metrics-listen %q: use host:port, e.g. 127.0.0.1:9787", f.metricsListen)}
		}
	}
	return nil
}

// daemon is what tokend serve runs: the broker (token cache, refresher, change follower),
// the HTTP API with every route (api.Server.Routes), the webhook deliverer and, with
// --public-url, the connect service (hosted flows, whose expired pending authorizations it
// sweeps).
type daemon struct {
	broker   *broker.Broker
	api      *api.Server
	webhooks *events.Deliverer
	connect  *connect.Service // nil without --public-url
	expiry   *connection.ExpiryWatcher
	audit    *serveAudit
}

// newDaemon wires the daemon on st, in dependency order: the API key cache and the metrics,
// the broker (which observes into the metrics and tells the key cache of key changes), the
// hosted pages, then the API server and the webhook deliverer.
func (f *serveFlags) newDaemon(ctx context.Context, st *store.Store, ready func() error, lim *ratelimit.Limiter, log *slog.Logger) (*daemon, error) {
	keys := api.NewKeyCache(st, f.keyCacheTTL, lim)
	metrics := api.NewMetrics(nil)
	trail, err := f.newAudit(st, metrics.Registry, keys, log)
	if err != nil {
		return nil, err
	}
	bo := f.brokerOptions(st, metrics, keys, log)
	bo.OnChange = func(c store.Change) { forgetChangedKeys(keys)(c); recordChange(trail.trail, c) }
	b, err := broker.New(bo)
	if err != nil {
		return nil, err
	}
	metrics.CollectExpiries(b.Expiries)
	metrics.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tokend_rate_limited_total",
		Help: "Requests answered 429 because their client address was out of pre-authentication requests or failed API keys."},
		func() float64 { return float64(lim.Refused()) }))
	o := f.apiOptions(b, keys, metrics, ready, lim, log)
	o.Audit = trail.trail
	o.Proxy = proxy.New(proxy.Options{Tokens: b, Connections: st, OAuth: &oauth.Client{}, Backoffs: st, Recorder: trail.trail,
		Registerer: metrics.Registry, Logger: log, MaxDuration: proxyMaxDuration(f.proxyMaxDuration)})
	do := events.Options{Store: st, ReplicaID: f.replicaID, Interval: f.webhookInterval, ClaimTTL: f.webhookClaimTTL,
		MaxAge: f.webhookMaxAge, Observe: metrics.WebhookDelivery, Logger: log}
	d := &daemon{broker: b, audit: trail, expiry: connection.NewExpiryWatcher(connection.ExpiryOptions{Store: st, Logger: log})}
	if f.publicURL != "" {
		h, err := newHosted(ctx, st, *f, keys, trail.trail, log)
		if err != nil {
			return nil, err
		}
		d.connect = h.connect
		o.Links, o.Connect, o.Console = h.connect, h.connect, h.console
		do.Links, do.StatusPageURL, do.ReconnectPrefix = h.connect, h.connect.URL(console.Path), h.connect.URL(connect.LandingPath)+"#"
	}
	if d.api, err = api.New(o); err != nil {
		return nil, err
	}
	d.webhooks = events.NewDeliverer(do)
	return d, nil
}

// brokerOptions configures the broker: it observes into metrics, and each API key change in
// the change log drops that key from keys.
func (f *serveFlags) brokerOptions(st *store.Store, metrics *api.Metrics, keys *api.KeyCache, log *slog.Logger) broker.Options {
	return broker.Options{
		Store: st, OAuth: &oauth.Client{}, FallbackLifetime: f.fallbackLifetime,
		ReplicaID: f.replicaID, LeaseTTL: f.leaseTTL, LeaseSafety: f.leaseSafety, MinLead: f.minLead, Skew: f.skew,
		RecheckInterval: f.recheck, BackoffBase: f.backoffBase, BackoffMax: f.backoffMax, Observer: metrics,
		Events: &events.Emitter{Store: st, Logger: log}, Logger: log,
		Changes: st, ChangeInterval: f.changeInterval, OnChange: forgetChangedKeys(keys),
	}
}

// forgetChangedKeys returns the broker's OnChange: a change of an API key drops it from keys.
func forgetChangedKeys(keys *api.KeyCache) func(store.Change) {
	return func(c store.Change) {
		if c.Kind == store.ChangeAPIKey {
			keys.Forget(c.Name)
		}
	}
}

// proxyMaxDuration is proxy.Options.MaxDuration of --proxy-max-duration (0: no bound).
func proxyMaxDuration(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// apiOptions configures the API server without the hosted pages.
func (f *serveFlags) apiOptions(b *broker.Broker, keys *api.KeyCache, metrics *api.Metrics, ready func() error, lim *ratelimit.Limiter, log *slog.Logger) api.Options {
	_, port, _ := net.SplitHostPort(f.listen)
	if port == "0" {
		port = "" // chosen by the system: any port of a loopback name
	}
	return api.Options{Broker: b, KeyCache: keys, NoAuth: f.insecureNoAuth, NoAuthPort: port, Metrics: metrics,
		RequestTimeout: f.requestTimeout, Ready: ready, FailLimit: lim, MetricsElsewhere: f.metricsListen != "", Logger: log}
}

// startBackground starts every loop tokend serve runs beside answering requests, until ctx
// ends: the broker's refresher, change follower and re-reads (broker.Run), the webhook
// deliveries, the client secrets' expiry notices, with --public-url the sweep of expired
// pending authorizations, and unless --no-warm the warm start.
func (d *daemon) startBackground(ctx context.Context, warmStart bool, log *slog.Logger) {
	d.audit.run(ctx)
	go d.broker.Run(ctx)
	go d.webhooks.Run(ctx)
	go d.expiry.Run(ctx)
	if d.connect != nil {
		go d.connect.Run(ctx)
	}
	if warmStart {
		go warm(ctx, d.broker, log)
	}
}

// warm loads every connection at start, so that background refreshes cover them.
func warm(ctx context.Context, b *broker.Broker, log *slog.Logger) {
	start := time.Now()
	n, err := b.Warm(ctx)
	if err != nil {
		log.Warn("could not load connections at start; they load on first request", "error", err)
		return
	}
	log.Info("cache warmed", "connections_with_tokens", n, "took", time.Since(start).Round(time.Millisecond))
}

// listeners opens --listen, capped at --max-connections, and --metrics-listen when given
// (else nil).
func (f *serveFlags) listeners() (net.Listener, net.Listener, error) {
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot listen on %s: %w (is another tokend running? choose another --listen port)", f.listen, err)
	}
	if f.metricsListen == "" {
		return netutil.LimitListener(ln, f.maxConnections), nil, nil
	}
	mln, err := net.Listen("tcp", f.metricsListen)
	if err != nil {
		ln.Close()
		return nil, nil, fmt.Errorf("cannot listen on --metrics-listen %s: %w (choose another port)", f.metricsListen, err)
	}
	return netutil.LimitListener(ln, f.maxConnections), netutil.LimitListener(mln, 64), nil
}

// httpServer returns the server of h with tokend's timeouts and limits: a slow client is
// cut after --read-timeout, an answer after --write-timeout, a header over 64 KiB gets 431.
func (f *serveFlags) httpServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: f.readTimeout, WriteTimeout: f.writeTimeout,
		IdleTimeout: 2 * time.Minute, MaxHeaderBytes: maxHeaderBytes, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
}

// metricsOnly serves h at GET /metrics and 404 elsewhere.
func metricsOnly(h http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	return mux
}

// limitPreAuth charges every request to the routes anyone may call and that cost Vault
// reads or writes before anyone is authenticated (a connect link, a callback's state, the
// status page's sign-in) to its client, and answers 429 when the client's bucket is empty.
// Failed API keys are charged by the API itself (api.Options.FailLimit); valid callers of
// the token endpoint are never charged.
func limitPreAuth(h http.Handler, lim *ratelimit.Limiter) http.Handler {
	return lim.Wrap(h, func(r *http.Request) bool {
		p := r.URL.Path
		return (r.Method == http.MethodPost && (p == connect.StartPath || p == console.Path+"/login")) ||
			p == authorize.HostedCallbackPath || strings.HasPrefix(p, authorize.HostedCallbackPath+"/")
	})
}

// serve serves HTTP(S) on ln until ctx ends (then shuts down gracefully) or serving fails.
func (f *serveFlags) serve(ctx context.Context, ln net.Listener, h http.Handler, log *slog.Logger) error {
	hs := f.httpServer(h, log)
	errc := make(chan error, 1)
	go func() {
		if f.tlsCert != "" {
			errc <- hs.ServeTLS(ln, f.tlsCert, f.tlsKey)
		} else {
			errc <- hs.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = hs.Shutdown(sctx)
	return nil
}
