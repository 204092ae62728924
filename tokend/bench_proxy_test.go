package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/testenv"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv/tailortest"
)

// proxyBenchConfig is how long and how big TestBenchProxy measures; each has an environment
// knob for short development runs.
type proxyBenchConfig struct {
	conc         int           // closed-loop clients, the same for every target
	round        time.Duration // one round of one target (TOKEND_BENCH_SECONDS, default 5)
	rounds       int           // interleaved rounds of the overhead (TOKEND_BENCH_ROUNDS, default 3)
	auditRounds  int           // interleaved rounds of audit off and on (TOKEND_BENCH_AUDIT_ROUNDS, default 5)
	streamBytes  int64         // size of each transfer (TOKEND_BENCH_STREAM_MB MiB, default 1024)
	streamRounds int           // interleaved rounds of the transfers (TOKEND_BENCH_STREAM_ROUNDS, default 2)
	rates        []int         // open-loop rates (TOKEND_BENCH_RATES, default 1000,5000)
}

func newProxyBenchConfig(t *testing.T) proxyBenchConfig {
	c := proxyBenchConfig{conc: 16, round: time.Duration(envInt(t, "TOKEND_BENCH_SECONDS", 5)) * time.Second,
		rounds: envInt(t, "TOKEND_BENCH_ROUNDS", 3), auditRounds: envInt(t, "TOKEND_BENCH_AUDIT_ROUNDS", 5),
		streamBytes: int64(envInt(t, "TOKEND_BENCH_STREAM_MB", 1024)) << 20, streamRounds: envInt(t, "TOKEND_BENCH_STREAM_ROUNDS", 2),
		rates: []int{1000, 5000}}
	if os.Getenv("TOKEND_BENCH_RATES") != "" {
		c.rates = openLoopRates()
	}
	return c
}

// proxyBed is what TestBenchProxy measures: one local API (its own process), the bare
// reverse proxies in front of it (their own processes), and four `tokend serve` processes
// on one Vault, each serving one part alone: plain (the proxy's overhead), stream (the
// transfers, for a clean RSS), unaudited and audited (--audit-log FILE) for the token route.
type proxyBed struct {
	token              string // the connection's access token: the direct path sends it
	up, bare, bareIdle *benchHelper
	plain, stream      *tokendProc
	unaudited, audited *tokendProc
	proxyKey, tokenKey string
	auditLog           string
}

// proxyURL is tokend p's proxy URL of the benchmark's connection for path.
func proxyURL(p *tokendProc, path string) string {
	return p.URL + "/v1/connections/bench-api/proxy" + path
}

// newProxyBed starts the bed: connection bench-api (proxy_base_url: the local API, an
// operator-typed loopback origin) and bench-token (the token route, with QuickBooks'
// metadata as in TestBenchTokend), both authorized at Hydra.
func newProxyBed(t *testing.T) *proxyBed {
	env := tailortest.Start(t, testenv.HydraOptions{AccessTokenTTL: time.Hour})
	upAddr, bareAddr, idleAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	_, ts := addProxied(t, env, "bench-api", "http://"+upAddr)
	env.AddConnection(t, "bench-token")
	env.Authorize(t, "bench-token")
	withMetadata(t, env, "bench-token")
	b := &proxyBed{token: ts.AccessToken, auditLog: filepath.Join(t.TempDir(), "audit.jsonl")}
	b.up = startBenchHelper(t, "upstream|"+upAddr, upAddr, b.token, "/v1/items")
	b.bare = startBenchHelper(t, "reverseproxy|"+bareAddr+"|"+b.up.URL+"|0", bareAddr, b.token, "/v1/items")
	b.bareIdle = startBenchHelper(t, "reverseproxy|"+idleAddr+"|"+b.up.URL+"|64", idleAddr, b.token, "/v1/items")
	bed := newTokendBed(t, env)
	b.proxyKey = bed.createKey(t, "--connections", "bench-*", "--allow", "proxy")
	b.tokenKey = bed.createKey(t, "--connections", "bench-*")
	info := withFlags("--log-level", "info")
	b.plain = bed.serve(t, "bench-plain", info)
	b.stream = bed.serve(t, "bench-stream", info)
	b.unaudited = bed.serve(t, "bench-unaudited", info)
	b.audited = bed.serve(t, "bench-audited", info, withFlags("--audit-log", b.auditLog))
	for _, p := range []*tokendProc{b.plain, b.stream} {
		if resp, body := get(t, proxyURL(p, "/v1/items"), b.proxyKey); resp.StatusCode != 200 || !bytes.Equal(body, itemsBody) {
			t.Fatalf("through the proxy: %d %v %s", resp.StatusCode, resp.Header, body)
		}
	}
	for _, p := range []*tokendProc{b.unaudited, b.audited} {
		if resp, body := get(t, p.URL+"/v1/connections/bench-token/token", b.tokenKey); resp.StatusCode != 200 {
			t.Fatalf("token: %d %s", resp.StatusCode, body)
		}
	}
	return b
}

// TestBenchProxy measures what issue 21 asks of the proxy and the audit trail
// (docs/benchmarks.md, "2026-12-06: the proxy and the audit trail"): the proxy's overhead
// against a bare httputil.ReverseProxy and the direct call, 1 GiB transfers through it in
// constant memory, and the cached token route with the audit stream on. It runs only with
// TOKEND_BENCH=1 (scripts/bench-proxy.sh), writes a Markdown report to $TOKEND_BENCH_OUT
// (default: the test log), and asserts nothing about time.
func TestBenchProxy(t *testing.T) {
	if os.Getenv("TOKEND_BENCH") == "" {
		t.Skip("set TOKEND_BENCH=1 (scripts/bench-proxy.sh) to run the benchmarks")
	}
	cfg := newProxyBenchConfig(t)
	var report strings.Builder
	out := func(format string, args ...any) { fmt.Fprintf(&report, format+"\n", args...) }
	load0 := loadAvg()
	start := time.Now()
	b := newProxyBed(t)
	out("%s, %d CPUs (%s), %s, load average at start %s. The load generator (this test), the local API, the bare reverse proxies, four `tokend serve` processes, Vault and Hydra share these CPUs.",
		start.UTC().Format("2006-01-02 15:04 UTC"), runtime.NumCPU(), cpuModel(), runtime.Version(), load0)
	benchProxyOverhead(t, out, b, cfg)
	benchStreaming(t, out, b, cfg)
	benchAudit(t, out, b, cfg)
	out("")
	out("Whole run: %s; load average at the end %s.", time.Since(start).Round(time.Second), loadAvg())
	t.Logf("\n%s", report.String())
	if dst := os.Getenv("TOKEND_BENCH_OUT"); dst != "" {
		if err := os.WriteFile(dst, []byte(report.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// loadAvg is the 1, 5 and 15 minute load averages.
func loadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " / ")
}

// interleaved is the order of round r over n targets: forward in even rounds, backward in
// odd ones, so that machine noise and warmth fall on all of them alike.
func interleaved(r, n int) []int {
	o := make([]int, n)
	for i := range o {
		o[i] = i
	}
	if r%2 == 1 {
		slices.Reverse(o)
	}
	return o
}

// median is the median of xs (the mean of the middle two for an even count).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(xs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// verdict says whether got meets the bound the issue asks (at least or at most want).
func verdict(got, want float64, atLeast bool) string {
	if (atLeast && got >= want) || (!atLeast && got <= want) {
		return "met"
	}
	return "**not met**"
}
