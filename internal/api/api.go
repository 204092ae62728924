// Package api is the HTTP API of `tokend serve`: token requests for functions, connection
// status, health, readiness and Prometheus metrics, with bearer API keys for callers; and
// the route table of every route tokend serve answers (Server.Routes).
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/authconnection/terraform-provider-tailor/internal/apikey"
	"github.com/authconnection/terraform-provider-tailor/internal/audit"
	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/broker"
	"github.com/authconnection/terraform-provider-tailor/internal/wire"
)

// Options configures a Server.
type Options struct {
	Broker *broker.Broker
	// Keys reads API key records; required unless NoAuth.
	Keys KeyStore
	// KeyCacheTTL is how long API key records are cached [30s].
	KeyCacheTTL time.Duration
	// NoAuth serves every caller without an API key (the local demo only; tokend serve
	// allows it only on loopback).
	NoAuth bool
	// Metrics; NewMetrics(Broker.Expiries) when nil. Pass the same value as the broker's
	// Observer.
	Metrics *Metrics
	// RequestTimeout bounds how long a token request waits for a refresh [30s].
	RequestTimeout time.Duration
	// Ready, when set, is asked first by /readyz: tokend passes its Vault client's Health,
	// so a replica whose Vault token expired and that cannot log in again is not ready.
	Ready func() error
	// Links, when set, serves the admin API of connect links (admin API keys only).
	Links Links
	// Connect and Console, when set, serve the connect pages and the hosted callback
	// (*connect.Service), and the status page (*console.Console): see Routes.
	Connect ConnectPages
	Console StatusPages
	// Proxy, when set, serves /v1/connections/{name}/proxy/{path...} (docs/proxy.md).
	Proxy ProxyCalls
	// KeyCache, when set, checks API keys instead of a cache built from Keys, KeyCacheTTL
	// and FailLimit: tokend shares one with the status page's sign-in.
	KeyCache *KeyCache
	// FailLimit, when set, charges the client of every request whose API key is not a known
	// one before its record is read from Vault (a failed authentication, or a new key):
	// when the client's bucket is empty it gets 429 and no Vault read. Known keys are never
	// charged.
	FailLimit Limiter
	// NoAuthPort is the port tokend listens on with NoAuth: requests are then served only
	// when their Host is a loopback name (localhost, 127.0.0.0/8, [::1]) with this port,
	// and refused with 421 otherwise (DNS rebinding). Empty: any port of a loopback name.
	NoAuthPort string
	// MetricsElsewhere leaves /metrics off this server's routes (tokend serves
	// MetricsHandler on --metrics-listen instead).
	MetricsElsewhere bool
	// Audit takes a record of every token read and admin API request (audit.Nop when nil).
	Audit  audit.Recorder
	Logger *slog.Logger
}

// Server serves the API.
type Server struct {
	o       Options
	keys    *keyCache
	metrics *Metrics
	audit   audit.Recorder
	log     *slog.Logger
	mux     *http.ServeMux
	// notReady is the reason /readyz last answered 503 (nil: ready), logged when it changes.
	notReady atomic.Pointer[string]
}

// New returns a Server.
func New(o Options) (*Server, error) {
	if o.Broker == nil {
		return nil, errors.New("api: Broker is required")
	}
	if o.Keys == nil && o.KeyCache == nil && !o.NoAuth {
		return nil, errors.New("api: Keys is required unless NoAuth")
	}
	if o.KeyCacheTTL <= 0 {
		o.KeyCacheTTL = 30 * time.Second
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics(o.Broker.Expiries)
	}
	s := &Server{o: o, metrics: o.Metrics, audit: audit.OrNop(o.Audit), log: o.Logger}
	if o.KeyCache != nil {
		s.keys = o.KeyCache.c
	} else if o.Keys != nil {
		s.keys = newKeyCache(o.Keys, o.KeyCacheTTL, o.FailLimit)
	}
	s.mux = newMux(s.Routes())
	return s, nil
}

// KeyChanged drops the cached record of API key id (created, revoked or deleted
// elsewhere): the change log tells every replica within about a second, instead of the key
// cache's TTL.
func (s *Server) KeyChanged(id string) {
	if s.keys != nil {
		s.keys.forget(id)
	}
}

// ServeHTTP implements http.Handler. Every answer (the token's 200, errors, redirects, the
// pages registered here) carries X-Content-Type-Options: nosniff, set without allocating.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header()["X-Content-Type-Options"] = nosniff
	if s.o.NoAuth && !loopbackHost(r.Host, s.o.NoAuthPort) {
		s.log.Info("refused a request for a foreign Host (--insecure-no-auth serves loopback names only)", "host", r.Host, "remote", r.RemoteAddr)
		writeError(w, http.StatusMisdirectedRequest, wire.CodeForbidden, "with --insecure-no-auth tokend answers only requests for a loopback name (localhost, 127.0.0.1 or [::1]) with its port: a page that rebinds its DNS name to this machine cannot read tokens")
		return
	}
	s.mux.ServeHTTP(w, r)
}

// loopbackHost reports whether a request's Host is a loopback name with port (any port when
// port is empty; no port at all only for port 80).
func loopbackHost(hostport, port string) bool {
	host, p, err := net.SplitHostPort(hostport)
	if err != nil {
		host, p = strings.TrimSuffix(strings.TrimPrefix(hostport, "["), "]"), "80"
	}
	return authconn.IsLoopbackHost(host) && (port == "" || p == port)
}

// MetricsHandler serves the Prometheus metrics.
func (s *Server) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(s.metrics.Registry, promhttp.HandlerOpts{})
}

// Metrics returns the server's metrics.
func (s *Server) Metrics() *Metrics { return s.metrics }

// maxErrorMessage bounds the message of an error answer, in bytes.
const maxErrorMessage = 2048

func writeError(w http.ResponseWriter, status int, code, msg string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h["X-Content-Type-Options"] = nosniff
	w.WriteHeader(status)
	// A message may carry a provider's error_description: one line, no terminal escapes.
	_ = json.NewEncoder(w).Encode(wire.Error{Error: code, Message: authconn.Sanitize(msg, maxErrorMessage)})
}

// outcomes maps the error codes of the token endpoint to the outcome label of
// tokend_token_requests_total.
var outcomes = map[string]string{
	wire.CodeNotFound:             "not_found",
	wire.CodeInvalidName:          "bad_request",
	wire.CodeNotAuthorized:        "not_authorized",
	wire.CodeNeedsReauthorization: "not_authorized",
	wire.CodeUnavailable:          "unavailable",
	wire.CodeUnauthenticated:      "unauthenticated",
	wire.CodeForbidden:            "forbidden",
	wire.CodeInternal:             "error",
	wire.CodeRateLimited:          "rate_limited",
}

// writeCountedError counts a failed token request by the outcome of code
// (tokend_token_requests_total) and writes the error with writeError. The token route's
// only: other routes' refusals are counted by refuse.
func (s *Server) writeCountedError(w http.ResponseWriter, status int, code, msg string) {
	s.metrics.requests.WithLabelValues(outcomes[code]).Inc()
	writeError(w, status, code, msg)
}

// refuse writes the answer of a request of route rt that the caller check refused with
// code, and counts it in tokend_api_refusals_total{route,code}; on the token route also in
// tokend_token_requests_total, as every token request.
func (s *Server) refuse(w http.ResponseWriter, rt route, status int, code, msg string) {
	s.metrics.refusal(rt, code)
	if rt == routeToken {
		s.writeCountedError(w, status, code, msg)
		return
	}
	writeError(w, status, code, msg)
}

// authenticate returns the caller of a request of route rt, or writes a 401 (or 503 when
// Vault cannot be asked, 429 when its client is out of failed keys).
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request, rt route) (caller, bool) {
	if s.o.NoAuth {
		return caller{id: "insecure-no-auth", grants: apikey.GrantAll([]string{"*"}, apikey.Permissions)}, true
	}
	scheme, key, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || key == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="tokend"`)
		s.refuse(w, rt, http.StatusUnauthorized, wire.CodeUnauthenticated, "send an API key as `Authorization: Bearer tk_...` (create one with `tokend keys create`)")
		return caller{}, false
	}
	c, err := s.keys.authenticate(r.Context(), strings.TrimSpace(key), r)
	if err == nil {
		return c, true
	}
	s.refuseKey(w, r, rt, err)
	return caller{}, false
}

// refuseKey answers a request of route rt whose API key was not accepted: 429 when its
// client is out of failed attempts, 401 for an unknown key, 503 when Vault cannot be asked.
func (s *Server) refuseKey(w http.ResponseWriter, r *http.Request, rt route, err error) {
	var limited *RateLimitedError
	switch {
	case errors.As(err, &limited):
		secs := int((limited.Wait + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
		s.refuse(w, rt, http.StatusTooManyRequests, wire.CodeRateLimited, "too many failed API key checks from this address: try again after Retry-After seconds, with a valid key (`tokend keys create`)")
	case errors.Is(err, apikey.ErrMalformed) || errors.Is(err, errUnknownKey):
		w.Header().Set("WWW-Authenticate", `Bearer realm="tokend", error="invalid_token"`)
		s.log.Info("refused an unknown or malformed API key", "remote", r.RemoteAddr)
		s.refuse(w, rt, http.StatusUnauthorized, wire.CodeUnauthenticated, "the API key is unknown, revoked or malformed; create one with `tokend keys create`")
	default:
		s.log.Warn("cannot check an API key: Vault error", "error", err)
		w.Header().Set("Retry-After", "5")
		s.refuse(w, rt, http.StatusServiceUnavailable, wire.CodeUnavailable, "the API key cannot be checked right now (Vault is unreachable); try again shortly")
	}
}

// token serves GET /v1/connections/{name}/token.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	defer func() { s.metrics.duration.Observe(time.Since(start).Seconds()) }()
	name := r.PathValue("name")
	c, ok := s.authenticateFor(w, r, name, apikey.PermToken)
	if !ok {
		return // refused and recorded by authenticateFor
	}
	tok := s.o.Broker.Cached(name)
	if tok == nil {
		var err error
		if tok, err = s.slowToken(r.Context(), name); err != nil {
			s.auditToken(r, start, c, name, s.writeTokenError(w, name, err))
			return
		}
	}
	s.metrics.ok.Inc()
	s.auditToken(r, start, c, name, "")
	h := w.Header()
	// Shared, never modified values: no allocation per request.
	h["Content-Type"], h["Cache-Control"], h["Pragma"] = jsonType, noStore, noCache
	h["Content-Length"] = tok.Length
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(tok.JSON)
}

var (
	jsonType = []string{"application/json"}
	noStore  = []string{"no-store"}
	noCache  = []string{"no-cache"}
	nosniff  = []string{"nosniff"}
)

// slowToken asks the broker for a token that is not served from memory, within the request
// timeout.
func (s *Server) slowToken(ctx context.Context, name string) (*broker.Token, error) {
	ctx, cancel := context.WithTimeout(ctx, s.o.RequestTimeout)
	defer cancel()
	return s.o.Broker.Token(ctx, name)
}

// writeTokenError answers a token request that failed with err, and returns the error code
// it wrote.
func (s *Server) writeTokenError(w http.ResponseWriter, name string, err error) string {
	var na *broker.NotAuthorizedError
	var un *broker.UnavailableError
	switch {
	case errors.Is(err, broker.ErrNotFound):
		s.writeCountedError(w, http.StatusNotFound, wire.CodeNotFound, fmt.Sprintf("connection %q does not exist: create it with the tailor Terraform provider or `tokend create`", name))
		return wire.CodeNotFound
	case errors.As(err, &na):
		code := wire.CodeNotAuthorized
		if na.Status == authconn.StatusNeedsReauthorization {
			code = wire.CodeNeedsReauthorization
		}
		s.writeCountedError(w, http.StatusConflict, code, na.Error())
		return code
	case errors.As(err, &un):
		secs := int((un.RetryAfter + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
		s.writeCountedError(w, http.StatusServiceUnavailable, wire.CodeUnavailable, un.Error()+"; try again later")
		return wire.CodeUnavailable
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
		w.Header().Set("Retry-After", "1")
		s.writeCountedError(w, http.StatusServiceUnavailable, wire.CodeUnavailable, fmt.Sprintf("timed out waiting for a refresh of %q; try again", name))
		return wire.CodeUnavailable
	default:
		s.log.Error("token request failed", "connection", name, "error", err)
		s.writeCountedError(w, http.StatusInternalServerError, wire.CodeInternal, "internal error; see tokend's log")
		return wire.CodeInternal
	}
}

// list serves GET /v1/connections: the connections this key may use, without secrets.
func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	c, ok := s.authenticate(w, r, routeList)
	if !ok {
		return
	}
	st, err := s.o.Broker.Statuses(r.Context(), func(n string) bool { return apikey.Matches(c.grants, n) })
	if err != nil {
		s.log.Warn("listing connections failed", "error", err)
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, wire.CodeUnavailable, "cannot list connections: Vault is unreachable ("+err.Error()+")")
		return
	}
	out := wire.ConnectionList{Connections: make([]wire.Connection, 0, len(st))}
	for _, v := range st {
		out.Connections = append(out.Connections, connectionView(v))
	}
	writeJSON(w, http.StatusOK, out)
}

// connectionView is st as the API shows it (wire.Connection), with the provider's and the
// replica's error texts made one line without terminal escapes.
func connectionView(st broker.Status) wire.Connection {
	return wire.Connection{Name: st.Name, Status: string(st.Status), ExpiresAt: st.ExpiresAt,
		LastError: authconn.Sanitize(st.LastError, maxErrorMessage), LastErrorAt: st.LastErrorAt,
		Cached: st.Cached, RefreshFailures: st.RefreshFailures, NextAttemptAt: st.NextAttemptAt,
		LocalError: authconn.Sanitize(st.LocalError, maxErrorMessage), Metadata: st.Metadata, APIBaseURL: st.APIBaseURL}
}

// connection serves GET /v1/connections/{name}: the connection's element of GET
// /v1/connections, for a key with any permission on it. A name the key's patterns do not
// match gets 403 forbidden before any lookup, so the answer reveals nothing about it.
func (s *Server) connection(w http.ResponseWriter, r *http.Request) {
	c, ok := s.authenticate(w, r, routeConnection)
	if !ok {
		return
	}
	name := r.PathValue("name")
	if err := authconn.ValidateName(name); err != nil {
		writeError(w, http.StatusBadRequest, wire.CodeInvalidName, err.Error())
		return
	}
	if !apikey.Matches(c.grants, name) { // as the token route and the proxy: the key's patterns, before any lookup
		s.refuse(w, routeConnection, http.StatusForbidden, wire.CodeForbidden,
			fmt.Sprintf("this API key may not use %q; create a key with --connections including it", name))
		return
	}
	notFound := fmt.Sprintf("connection %q does not exist", name)
	st, err := s.o.Broker.Status(r.Context(), name)
	switch {
	case errors.Is(err, broker.ErrNotFound):
		writeError(w, http.StatusNotFound, wire.CodeNotFound, notFound)
		return
	case err != nil:
		s.log.Warn("reading a connection's status failed", "connection", name, "error", err)
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, wire.CodeUnavailable, "cannot read the connection's status: Vault is unreachable")
		return
	}
	writeJSON(w, http.StatusOK, connectionView(*st))
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
}

// readyz answers whether this replica can serve: {"status":"ready"}, or 503
// {"status":"not ready"}. Anyone may ask, so the reason (Vault's address, mount, error) goes
// to the log only.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	err := s.ready(r.Context())
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if err != nil {
		msg := err.Error()
		if old := s.notReady.Swap(&msg); old == nil || *old != msg {
			s.log.Warn("not ready: /readyz answers 503", "error", err)
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"status":"not ready"}` + "\n"))
		return
	}
	s.notReady.Store(nil)
	_, _ = w.Write([]byte(`{"status":"ready"}` + "\n"))
}

// ready asks the Vault client's health, then pings Vault.
func (s *Server) ready(ctx context.Context) error {
	if s.o.Ready != nil {
		if err := s.o.Ready(); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return s.o.Broker.Ping(ctx)
}
