package main

import (
	"strconv"
	"strings"
	"testing"
)

// checkProxyMetrics reads /metrics of the tokend at base after
// TestBinaryProxyCallsHydraUserinfo's calls: the proxy's series count them (the 401 retried
// once, the call held by Retry-After as rate_limited), and the token-only key's refused
// proxy call is a refusal of the proxy route, not a token request.
func checkProxyMetrics(t *testing.T, base string) {
	t.Helper()
	_, body := get(t, base+"/metrics", "")
	text := string(body)
	for series, want := range map[string]func(float64) bool{
		`tokend_proxy_requests_total{outcome="2xx"}`:                  func(v float64) bool { return v >= 2 },
		`tokend_proxy_requests_total{outcome="4xx"}`:                  func(v float64) bool { return v == 1 },
		`tokend_proxy_requests_total{outcome="rate_limited"}`:         func(v float64) bool { return v == 1 },
		`tokend_proxy_retries_total{reason="unauthorized"}`:           func(v float64) bool { return v == 1 },
		`tokend_proxy_request_duration_seconds_count`:                 func(v float64) bool { return v >= 4 },
		`tokend_api_refusals_total{code="forbidden",route="proxy"}`:   func(v float64) bool { return v == 1 },
		`tokend_token_requests_total{outcome="forbidden"}`:            func(v float64) bool { return v == 0 },
		`tokend_proxy_upstream_bytes_total{direction="out"}`:          func(v float64) bool { return v > 0 },
		`tokend_proxy_requests_total{outcome="upstream_unreachable"}`: func(v float64) bool { return v == 0 },
	} {
		v, ok := metricSample(text, series)
		if !ok || !want(v) {
			t.Errorf("/metrics: %s = %v (present %v)", series, v, ok)
		}
	}
}

// metricSample is the value of series (name and labels as exposed) in the text format.
func metricSample(text, series string) (float64, bool) {
	for l := range strings.Lines(text) {
		if rest, ok := strings.CutPrefix(l, series+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return v, err == nil
		}
	}
	return 0, false
}
