package audit

import "github.com/prometheus/client_golang/prometheus"

// Other is the key and connection label of records beyond Counters' series bound.
const Other = "_other"

// Counters are the audit trail's Prometheus metrics:
// tokend_audit_records_total{key, connection, action, outcome}, where key is the API key's
// id (or the caller's kind for callers without one) and connection the connection's name;
// tokend_audit_dropped_total; tokend_audit_write_errors_total{sink}.
//
// Cardinality is bounded: actions and outcomes are this package's constants, and at most
// MaxSeries distinct (key, connection) pairs get their own series; later pairs are counted
// under key and connection "_other"; so are the connections of records refused as
// not_found or invalid_name (a caller may name connections that do not exist).
// Only the Trail's goroutine counts records, so the hot path touches no counter.
type Counters struct {
	records     *prometheus.CounterVec
	dropped     prometheus.Counter
	writeErrors *prometheus.CounterVec
	maxSeries   int
	seen        map[[2]string]struct{}
	// byLabels caches the counter of each label set, so counting a record is one map
	// lookup without the CounterVec's hashing and lock.
	byLabels map[labels]prometheus.Counter
}

type labels struct {
	key, connection string
	action          Action
	outcome         Outcome
}

// DefaultMaxSeries is NewCounters' bound of (key, connection) pairs when given 0.
const DefaultMaxSeries = 2000

// NewCounters registers the audit metrics in reg.
func NewCounters(reg prometheus.Registerer, maxSeries int) *Counters {
	if maxSeries <= 0 {
		maxSeries = DefaultMaxSeries
	}
	c := &Counters{
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tokend_audit_records_total",
			Help: "Audit records by API key id (or caller kind), connection, action and outcome; pairs beyond the series bound are counted as _other.",
		}, []string{"key", "connection", "action", "outcome"}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tokend_audit_dropped_total",
			Help: "Audit records dropped because the audit queue stayed full.",
		}),
		writeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tokend_audit_write_errors_total",
			Help: "Audit records a sink failed to write (jsonl, webhooks).",
		}, []string{"sink"}),
		maxSeries: maxSeries,
		seen:      map[[2]string]struct{}{},
		byLabels:  map[labels]prometheus.Counter{},
	}
	reg.MustRegister(c.records, c.dropped, c.writeErrors)
	return c
}

func (c *Counters) count(r *Record) {
	key := r.Caller.ID
	if r.Caller.Kind != CallerAPIKey || key == "" {
		key = string(r.Caller.Kind)
	}
	l := labels{key, r.Connection, r.Action, r.Outcome}
	if r.Outcome != Success && (r.Reason == "not_found" || r.Reason == "invalid_name") {
		l.connection = Other // a name the caller made up
	}
	if ctr, ok := c.byLabels[l]; ok {
		ctr.Inc()
		return
	}
	series := l
	pair := [2]string{l.key, l.connection}
	if _, ok := c.seen[pair]; !ok {
		if len(c.seen) >= c.maxSeries {
			series.key, series.connection = Other, Other
		} else {
			c.seen[pair] = struct{}{}
		}
	}
	ctr := c.records.WithLabelValues(series.key, series.connection, string(series.action), string(series.outcome))
	if len(c.byLabels) < 4*c.maxSeries*len(allOutcomes) { // bounded even for made-up pairs
		c.byLabels[l] = ctr
	}
	ctr.Inc()
}

var allOutcomes = []Outcome{Success, Denied, Failure}
