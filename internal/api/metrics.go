package api

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/authconnection/terraform-provider-tailor/internal/broker"
	"github.com/authconnection/terraform-provider-tailor/internal/wire"
)

// Metrics are tokend's Prometheus metrics. They carry connection names but never tokens.
type Metrics struct {
	Registry  *prometheus.Registry
	requests  *prometheus.CounterVec
	ok        prometheus.Counter // requests{outcome="ok"}, looked up once
	duration  prometheus.Histogram
	cacheHits prometheus.Counter
	cacheMiss prometheus.Counter
	refreshes *prometheus.CounterVec
	webhooks  *prometheus.CounterVec
	refusals  *prometheus.CounterVec
	refused   map[refusal]prometheus.Counter // refusals' children, looked up once
}

// route names a route of the API in tokend_api_refusals_total.
type route string

// The routes of tokend_api_refusals_total: the token, list, connection and proxy routes of
// API keys, and the admin API.
const (
	routeToken      route = "token"
	routeList       route = "list"
	routeConnection route = "connection"
	routeProxy      route = "proxy"
	routeAdmin      route = "admin"
)

// refusal is a series of tokend_api_refusals_total.
type refusal struct {
	route route
	code  string
}

// refusalCodes are the codes of the caller check's refusals (authenticate, authenticateFor,
// admin).
var refusalCodes = []string{wire.CodeUnauthenticated, wire.CodeForbidden, wire.CodeInvalidName, wire.CodeRateLimited, wire.CodeUnavailable}

// NewMetrics registers tokend's metrics (and the Go and process collectors) in a new
// registry. expiries returns the cached tokens' expiry times for the per-connection gauge.
func NewMetrics(expiries func() []broker.Expiry) *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tokend_token_requests_total",
			Help: "Token requests by outcome: ok, not_found, not_authorized, unavailable, unauthenticated, forbidden, bad_request, error.",
		}, []string{"outcome"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tokend_token_request_duration_seconds",
			Help:    "Time to answer token requests, including waits for refreshes.",
			Buckets: []float64{.0001, .0005, .001, .005, .01, .05, .1, .5, 1, 5, 30},
		}),
		cacheHits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tokend_cache_hits_total", Help: "Token requests answered from memory.",
		}),
		cacheMiss: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tokend_cache_misses_total", Help: "Token requests that had to read Vault or wait for a refresh.",
		}),
		refreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tokend_refreshes_total",
			Help: "Refresh attempts by outcome: success, invalid_grant, invalid_client, transient, rejected, store_error (calls to the provider or Vault failures on the refresh path), other_replica (another replica refreshed), superseded.",
		}, []string{"connection", "outcome"}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tokend_webhook_deliveries_total",
			Help: "Webhook delivery attempts by outcome: delivered, failed (retried), gave_up, dropped (webhook removed).",
		}, []string{"outcome"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tokend_api_refusals_total",
			Help: "Requests refused by the caller check, by route (token, list, connection, proxy, admin) and code: unauthenticated, forbidden, invalid_name, rate_limited, unavailable (the key could not be checked). The token route's are also in tokend_token_requests_total.",
		}, []string{"route", "code"}),
	}
	m.Registry.MustRegister(m.requests, m.duration, m.cacheHits, m.cacheMiss, m.refreshes, m.webhooks, m.refusals,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if expiries != nil {
		m.Registry.MustRegister(&expiryCollector{f: expiries})
	}
	m.ok = m.requests.WithLabelValues("ok")
	for _, o := range []string{"not_found", "not_authorized", "unavailable", "unauthenticated", "forbidden", "bad_request"} {
		m.requests.WithLabelValues(o)
	}
	m.refused = map[refusal]prometheus.Counter{}
	for _, rt := range []route{routeToken, routeList, routeConnection, routeProxy, routeAdmin} {
		for _, code := range refusalCodes {
			m.refused[refusal{rt, code}] = m.refusals.WithLabelValues(string(rt), code)
		}
	}
	return m
}

// refusal counts a request of route rt refused with code in tokend_api_refusals_total.
func (m *Metrics) refusal(rt route, code string) {
	c, ok := m.refused[refusal{rt, code}]
	if !ok {
		c = m.refusals.WithLabelValues(string(rt), code)
	}
	c.Inc()
}

// CollectExpiries adds the per-connection expiry gauge, read from expiries at every scrape
// (Broker.Expiries), to metrics made by NewMetrics(nil): tokend makes the metrics before
// the broker that observes into them.
func (m *Metrics) CollectExpiries(expiries func() []broker.Expiry) {
	m.Registry.MustRegister(&expiryCollector{f: expiries})
}

// WebhookDelivery counts a webhook delivery attempt by outcome (events.Options.Observe).
func (m *Metrics) WebhookDelivery(outcome string) { m.webhooks.WithLabelValues(outcome).Inc() }

// CacheHit implements broker.Observer.
func (m *Metrics) CacheHit(string) { m.cacheHits.Inc() }

// CacheMiss implements broker.Observer.
func (m *Metrics) CacheMiss(string) { m.cacheMiss.Inc() }

// Refresh implements broker.Observer.
func (m *Metrics) Refresh(name, outcome string) { m.refreshes.WithLabelValues(name, outcome).Inc() }

var expiryDesc = prometheus.NewDesc("tokend_token_expiry_seconds",
	"Seconds until the cached access token of a connection expires (negative: expired).", []string{"connection"}, nil)

type expiryCollector struct{ f func() []broker.Expiry }

func (c *expiryCollector) Describe(ch chan<- *prometheus.Desc) { ch <- expiryDesc }

func (c *expiryCollector) Collect(ch chan<- prometheus.Metric) {
	now := time.Now()
	for _, e := range c.f() {
		ch <- prometheus.MustNewConstMetric(expiryDesc, prometheus.GaugeValue, e.ExpiresAt.Sub(now).Seconds(), e.Name)
	}
}
