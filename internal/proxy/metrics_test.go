package proxy

import (
	"context"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/broker"
	"github.com/authconnection/terraform-provider-tailor/internal/egress"
	"github.com/authconnection/terraform-provider-tailor/internal/oauth"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv"
)

// measured is a bed whose proxy registers its metrics on reg.
type measured struct {
	*bed
	reg *prometheus.Registry
}

func newMeasured(t *testing.T, upstream http.Handler) *measured {
	t.Helper()
	m := &measured{bed: newBed(t, upstream, ""), reg: prometheus.NewRegistry()}
	m.restart(nil)
	return m
}

// restart serves a new proxy on m's registry, with transport (the default when nil).
func (m *measured) restart(transport http.RoundTripper) {
	m.server = m.serve(New(Options{Tokens: m.tokens, Connections: fakeConns{"conn": {Connection: *m.conn, Version: 1}},
		OAuth: &oauth.Client{}, Backoffs: m.backoffs, Recorder: m.rec, Registerer: m.reg, Transport: transport}))
}

// call sends a call and waits for its audit record (the n-th), so its metrics are counted.
func (m *measured) call(n int, method, path string, body io.Reader, h http.Header) *http.Response {
	m.t.Helper()
	resp := m.do(method, path, body, h)
	readAll(m.t, resp)
	m.rec.nth(m.t, n)
	return resp
}

// value is the value of the counter name{label=value} in m's registry.
func (m *measured) value(name, label, value string) float64 {
	m.t.Helper()
	mfs, err := m.reg.Gather()
	if err != nil {
		m.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, s := range mf.GetMetric() {
			for _, l := range s.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return s.GetCounter().GetValue()
				}
			}
		}
	}
	m.t.Fatalf("no series %s{%s=%q}", name, label, value)
	return 0
}

// outcomes are the non-zero counts of tokend_proxy_requests_total.
func (m *measured) outcomes() map[string]float64 {
	out := map[string]float64{}
	for _, o := range outcomeLabels {
		if v := m.value("tokend_proxy_requests_total", "outcome", o); v != 0 {
			out[o] = v
		}
	}
	return out
}

func (m *measured) wantOutcomes(want map[string]float64) {
	m.t.Helper()
	got := m.outcomes()
	if len(got) != len(want) {
		m.t.Fatalf("tokend_proxy_requests_total %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			m.t.Fatalf("tokend_proxy_requests_total %v, want %v", got, want)
		}
	}
}

// TestMetricsCountUpstreamStatusClasses: the upstream's answers are counted by class, with
// their body bytes both ways, and every series exists at zero before the first call.
func TestMetricsCountUpstreamStatusClasses(t *testing.T) {
	m := newMeasured(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		switch r.URL.Path {
		case "/unchanged":
			w.WriteHeader(http.StatusNotModified)
		case "/missing":
			http.NotFound(w, r)
		case "/broken":
			w.WriteHeader(http.StatusInternalServerError)
		default:
			_, _ = io.WriteString(w, "hello")
		}
	}))
	if n, err := testutil.GatherAndCount(m.reg, "tokend_proxy_requests_total"); err != nil || n != len(outcomeLabels) {
		t.Fatalf("before any call: %d series of tokend_proxy_requests_total (%v), want %d at zero", n, err, len(outcomeLabels))
	}
	m.call(1, "POST", "/items", strings.NewReader("abc"), nil)
	m.call(2, "GET", "/unchanged", nil, nil)
	m.call(3, "GET", "/missing", nil, nil)
	m.call(4, "GET", "/broken", nil, nil)
	m.wantOutcomes(map[string]float64{"2xx": 1, "3xx": 1, "4xx": 1, "5xx": 1})
	if in := m.value("tokend_proxy_upstream_bytes_total", "direction", "in"); in != 3 {
		t.Fatalf("bytes in %v, want the 3 of the request body", in)
	}
	var out int64
	for i := 1; i <= 4; i++ {
		out += m.rec.nth(t, i).BytesOut
	}
	if got := m.value("tokend_proxy_upstream_bytes_total", "direction", "out"); got != float64(out) || out < 5 {
		t.Fatalf("bytes out %v, want %d as the audit records", got, out)
	}
	if n := histogramCount(t, m.reg); n != 4 {
		t.Fatalf("duration histogram has %d observations, want 4", n)
	}
}

// TestMetricsCountRetryAfterUnauthorized: a 401 answered by a refresh and a retry counts
// one retry and the retried call's outcome; a 401 that cannot be retried counts none.
func TestMetricsCountRetryAfterUnauthorized(t *testing.T) {
	m := newMeasured(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if r.Header.Get("Authorization") != "Bearer tok-two" {
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	m.tokens.next = token("tok-two")
	if resp := m.call(1, "GET", "/x", nil, nil); resp.StatusCode != 200 || resp.Header.Get(HeaderAttempts) != "2" {
		t.Fatalf("answer %d, attempts %q", resp.StatusCode, resp.Header.Get(HeaderAttempts))
	}
	if r := m.value("tokend_proxy_retries_total", "reason", "unauthorized"); r != 1 {
		t.Fatalf("retries %v, want 1", r)
	}
	m.wantOutcomes(map[string]float64{"2xx": 1})

	m.tokens.tok = token("tok-three") // refused; the refresh finds nothing newer
	resp := m.call(2, "PUT", "/blob", strings.NewReader(strings.Repeat("x", 100<<10)), nil)
	if resp.StatusCode != 401 || m.value("tokend_proxy_retries_total", "reason", "unauthorized") != 1 {
		t.Fatalf("a streamed body's 401: answer %d, retries %v, want no retry", resp.StatusCode, m.value("tokend_proxy_retries_total", "reason", "unauthorized"))
	}
	m.wantOutcomes(map[string]float64{"2xx": 1, "4xx": 1})
}

// TestMetricsCountRememberedRetryAfter: the upstream's 429 is a 4xx; the calls tokend then
// holds are rate_limited, without reaching the upstream.
func TestMetricsCountRememberedRetryAfter(t *testing.T) {
	m := newMeasured(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "30")
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	m.call(1, "GET", "/x", nil, nil)
	m.call(2, "GET", "/x", nil, nil)
	m.call(3, "GET", "/x", nil, nil)
	m.wantOutcomes(map[string]float64{"4xx": 1, "rate_limited": 2})
}

// TestMetricsCountTokendsOwnAnswers: tokend's refusals and failures are counted by code:
// a host not allowed, an unreachable upstream, one that does not answer in time, a
// connection without a usable token, and a caller that leaves first.
func TestMetricsCountTokendsOwnAnswers(t *testing.T) {
	release := make(chan struct{})
	m := newMeasured(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release) })
	n := 0
	next := func() int { n++; return n }

	m.call(next(), "GET", "/x", nil, http.Header{HeaderHost: {"other.example.com"}})
	m.wantOutcomes(map[string]float64{"host_not_allowed": 1})

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", m.server.URL+"/v1/connections/conn/proxy/slow", nil)
	if _, err := http.DefaultClient.Do(req); err == nil {
		t.Fatal("the caller's call ended without its deadline")
	}
	m.rec.nth(t, next())
	m.wantOutcomes(map[string]float64{"host_not_allowed": 1, OutcomeCanceled: 1})

	m.restart(&http.Transport{ResponseHeaderTimeout: 50 * time.Millisecond})
	if resp := m.call(next(), "GET", "/slow", nil, nil); resp.StatusCode != http.StatusGatewayTimeout {
		t.Fatalf("slow upstream: %d, want 504", resp.StatusCode)
	}
	m.wantOutcomes(map[string]float64{"host_not_allowed": 1, OutcomeCanceled: 1, OutcomeUpstreamTimeout: 1})

	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	m.conn.ProxyBaseURL = gone.URL
	m.restart(nil)
	m.call(next(), "GET", "/x", nil, nil)
	m.wantOutcomes(map[string]float64{"host_not_allowed": 1, OutcomeUpstreamTimeout: 1, OutcomeCanceled: 1, "upstream_unreachable": 1})

	m.server = m.serve(New(Options{Tokens: refusingTokens{}, Connections: fakeConns{"conn": {Connection: *m.conn, Version: 1}},
		OAuth: &oauth.Client{}, Recorder: m.rec, Registerer: m.reg}))
	m.call(next(), "GET", "/x", nil, nil)
	m.wantOutcomes(map[string]float64{"host_not_allowed": 1, OutcomeUpstreamTimeout: 1, OutcomeCanceled: 1, "upstream_unreachable": 1,
		"needs_reauthorization": 1})
	if n := histogramCount(t, m.reg); n != 5 {
		t.Fatalf("duration histogram has %d observations, want 5 (two proxies share the registry's)", n)
	}
}

// refusingTokens has no usable token: the connection needs re-authorization.
type refusingTokens struct{}

func (refusingTokens) Token(context.Context, string) (*broker.Token, error) {
	return nil, &broker.NotAuthorizedError{Name: "conn", Status: authconn.StatusNeedsReauthorization}
}

func (refusingTokens) Refresh(context.Context, string, *broker.Token) (*broker.Token, error) {
	return nil, &broker.NotAuthorizedError{Name: "conn", Status: authconn.StatusNeedsReauthorization}
}

// TestMetricsDurationIsTimeToHeaders: the duration histogram measures the time to the
// answer's headers, not the body's streaming. The proxy's clock moves only when the upstream
// says so: 50ms before its headers, and 400ms more once the proxy reads the answer's body
// (so after it noted the headers' arrival), before the body is written.
func TestMetricsDurationIsTimeToHeaders(t *testing.T) {
	clock := testenv.NewClock(time.Now())
	bodyRead := make(chan struct{})
	m := &measured{bed: newBed(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		clock.Advance(50 * time.Millisecond)
		w.WriteHeader(http.StatusOK)
		http.NewResponseController(w).Flush()
		select {
		case <-bodyRead:
		case <-r.Context().Done(): // the proxy gave up: the test fails on its duration
			return
		}
		clock.Advance(400 * time.Millisecond)
		_, _ = io.WriteString(w, "late body")
	}), ""), reg: prometheus.NewRegistry()}
	m.server = m.serve(New(Options{Tokens: m.tokens, Connections: fakeConns{"conn": {Connection: *m.conn, Version: 1}},
		OAuth: &oauth.Client{}, Backoffs: m.backoffs, Recorder: m.rec, Registerer: m.reg, Now: clock.Now,
		Transport: signalBodyRead{next: egress.NewTransport(), read: bodyRead, once: &sync.Once{}}}))
	m.call(1, "GET", "/x", nil, nil)
	if sum := histogramSum(t, m.reg); math.Abs(sum-0.05) > 1e-9 {
		t.Fatalf("duration %.3fs, want the 50ms to the headers, not the 450ms to the body's end", sum)
	}
}

// signalBodyRead is a transport that closes read once an answer's body is first read.
type signalBodyRead struct {
	next http.RoundTripper
	read chan struct{}
	once *sync.Once
}

func (s signalBodyRead) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := s.next.RoundTrip(req)
	if err == nil {
		resp.Body = readSignal{ReadCloser: resp.Body, s: s}
	}
	return resp, err
}

// readSignal is an answer's body that signals its first read.
type readSignal struct {
	io.ReadCloser
	s signalBodyRead
}

func (r readSignal) Read(b []byte) (int, error) {
	r.s.once.Do(func() { close(r.s.read) })
	return r.ReadCloser.Read(b)
}

// TestMetricsCountUpgrades: a WebSocket handshake answered 101 is counted as 101.
func TestMetricsCountUpgrades(t *testing.T) {
	m := newMeasured(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if conn, _ := switchToWebSocket(t, w); conn != nil {
			conn.Close()
		}
	}))
	m.call(1, "GET", "/ws", nil, http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}})
	m.wantOutcomes(map[string]float64{"101": 1})
}

func histogramCount(t *testing.T, reg *prometheus.Registry) uint64 {
	t.Helper()
	return histogram(t, reg).GetSampleCount()
}

func histogramSum(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	return histogram(t, reg).GetSampleSum()
}

func histogram(t *testing.T, reg *prometheus.Registry) interface {
	GetSampleCount() uint64
	GetSampleSum() float64
} {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "tokend_proxy_request_duration_seconds" && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetHistogram()
		}
	}
	t.Fatal("no tokend_proxy_request_duration_seconds")
	return nil
}
