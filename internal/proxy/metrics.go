package proxy

import (
	"errors"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/authconnection/terraform-provider-tailor/internal/wire"
)

// Outcomes of tokend_proxy_requests_total that are not an upstream status class: the
// caller went away before an answer, and the upstream did not answer in time (a 504
// upstream_unreachable).
const (
	OutcomeCanceled        = "canceled"
	OutcomeUpstreamTimeout = "upstream_timeout"
)

// outcomeLabels are the outcomes of tokend_proxy_requests_total, created at zero so that
// rates and alerts see them before the first call: the upstream's status classes, then
// tokend's own answers by code.
var outcomeLabels = []string{
	"101", "1xx", "2xx", "3xx", "4xx", "5xx",
	wire.CodeInvalidRequest, wire.CodeNotFound, wire.CodeNotAuthorized, wire.CodeNeedsReauthorization,
	wire.CodeNoAPIBaseURL, wire.CodeHostNotAllowed, wire.CodeRateLimited, wire.CodeUpstreamUnreachable,
	OutcomeUpstreamTimeout, wire.CodeUnavailable, OutcomeCanceled,
}

// metrics are the proxy's Prometheus metrics. They carry no connection, key, host or path
// label (the audit trail's counter has key × connection): every label set is bounded. The
// children are looked up once, so a call allocates nothing for its metrics.
type metrics struct {
	requests *prometheus.CounterVec
	outcomes map[string]prometheus.Counter
	duration prometheus.Histogram
	retries  prometheus.Counter // tokend_proxy_retries_total{reason="unauthorized"}
	bytesIn  prometheus.Counter // tokend_proxy_upstream_bytes_total{direction="in"}
	bytesOut prometheus.Counter // tokend_proxy_upstream_bytes_total{direction="out"}
}

// newMetrics makes the proxy's metrics and registers them on reg (none when nil). A
// collector that reg already holds (another Proxy on the same registry) is shared.
func newMetrics(reg prometheus.Registerer) *metrics {
	retries := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tokend_proxy_retries_total",
		Help: "Proxied calls sent upstream a second time, by reason: unauthorized (a 401, after a forced refresh of the token).",
	}, []string{"reason"})
	bytes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tokend_proxy_upstream_bytes_total",
		Help: "Body bytes of proxied calls, added when a call ends: in, the callers' request bodies sent upstream; out, the upstreams' answer bodies sent to the callers (as bytes_in and bytes_out of the audit records).",
	}, []string{"direction"})
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tokend_proxy_requests_total",
			Help: "Proxied calls by outcome: the upstream's status class (101, 1xx, 2xx, 3xx, 4xx, 5xx), or tokend's own answer by error code (rate_limited, upstream_unreachable, upstream_timeout, host_not_allowed, not_authorized, needs_reauthorization, no_api_base_url, not_found, unavailable, invalid_request), or canceled (the caller left first). Calls refused by the API key check are in tokend_api_refusals_total{route=\"proxy\"}.",
		}, []string{"outcome"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tokend_proxy_request_duration_seconds",
			Help:    "Time from a proxied call's arrival to its answer's headers (the upstream's, after any retry, or tokend's own answer): the part tokend controls, not the streaming of the body.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
	}
	m.requests = register(reg, m.requests)
	m.duration = register(reg, m.duration)
	retries, bytes = register(reg, retries), register(reg, bytes)
	m.outcomes = make(map[string]prometheus.Counter, len(outcomeLabels))
	for _, o := range outcomeLabels {
		m.outcomes[o] = m.requests.WithLabelValues(o)
	}
	m.retries = retries.WithLabelValues("unauthorized")
	m.bytesIn, m.bytesOut = bytes.WithLabelValues("in"), bytes.WithLabelValues("out")
	return m
}

// register registers c on reg and returns it, or the collector reg already holds under
// its names.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if reg == nil {
		return c
	}
	err := reg.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if old, ok := are.ExistingCollector.(C); ok {
			return old
		}
	}
	if err != nil {
		panic(err) // a name taken by another kind of metric: a programming error
	}
	return c
}

// observe counts call c, answered with e (nil: the upstream's answer) after start.
func (p *Proxy) observe(r *http.Request, c *call, cw *countingWriter, start time.Time, e *Error) {
	m := p.metrics
	o := outcome(c.status, e, r.Context().Err() != nil)
	if k, ok := m.outcomes[o]; ok {
		k.Inc()
	} else {
		m.requests.WithLabelValues(o).Inc()
	}
	end := c.headersAt
	if end.IsZero() {
		end = p.o.Now()
	}
	m.duration.Observe(end.Sub(start).Seconds())
	m.bytesIn.Add(float64(c.bytesIn.Load()))
	if e == nil {
		m.bytesOut.Add(float64(cw.n))
	}
}

// outcome is the outcome label of a call: tokend's own answer e by its code, else the
// upstream's status class. gone says the caller left before the answer.
func outcome(status int, e *Error, gone bool) string {
	switch {
	case e == nil && status == http.StatusSwitchingProtocols:
		return "101"
	case e == nil:
		return statusClass(status)
	case e.Code == wire.CodeUpstreamUnreachable && gone:
		return OutcomeCanceled
	case e.Code == wire.CodeUpstreamUnreachable && e.Status == http.StatusGatewayTimeout:
		return OutcomeUpstreamTimeout
	default:
		return e.Code
	}
}

// statusClass is the class of an upstream status, as a constant (no allocation).
func statusClass(status int) string {
	switch status / 100 {
	case 1:
		return "1xx"
	case 2:
		return "2xx"
	case 3:
		return "3xx"
	case 4:
		return "4xx"
	default:
		return "5xx"
	}
}
