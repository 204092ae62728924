package main

import (
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// overheadTargets are the paths to the local API: (a) direct, (b) the bare ReverseProxy,
// (b') the same with 64 idle connections per host, (c) tokend's proxy with a proxy-only key.
// Every request carries an Authorization header: the token on the direct path, the API key
// elsewhere (which the bare proxies overwrite).
func overheadTargets(b *proxyBed) []benchTarget {
	key := http.Header{"Authorization": {"Bearer " + b.proxyKey}}
	return []benchTarget{
		{"(a) direct to the local API", b.up.URL + "/v1/items", http.Header{"Authorization": {"Bearer " + b.token}}, 0},
		{"(b) bare `httputil.ReverseProxy`", b.bare.URL + "/v1/items", key, b.bare.pid()},
		{"(b') bare `httputil.ReverseProxy`, `MaxIdleConnsPerHost` 64", b.bareIdle.URL + "/v1/items", key, b.bareIdle.pid()},
		{"(c) **tokend** `/v1/connections/bench-api/proxy/v1/items`", proxyURL(b.plain, "/v1/items"), key, b.plain.cmd.Process.Pid},
	}
}

// roundResult is one target's closed-loop round, with the CPU its proxy process and the
// local API spent per request, and the connections the local API accepted.
type roundResult struct {
	loadResult
	cpu, upCPU time.Duration
	conns      int
}

func (r roundResult) rps() float64 { return float64(r.n) / r.dur.Seconds() }

// perRequest is the CPU time of process pid between cpu0 and now, per request.
func perRequest(pid int, cpu0 time.Duration, n int) time.Duration {
	if pid == 0 || n == 0 {
		return 0
	}
	return (cpuTime(pid) - cpu0) / time.Duration(n)
}

// cpuCell formats a CPU time per request ("-" when not measured).
func cpuCell(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f µs", float64(d)/float64(time.Microsecond))
}

// closedRounds runs cfg.rounds interleaved closed-loop rounds of every target (after a
// one-second warm-up each) and returns the results by target, then round; up (nil: none)
// is the local API behind the targets, whose CPU and connections are counted.
func closedRounds(targets []benchTarget, up *benchHelper, cfg proxyBenchConfig) [][]roundResult {
	for _, tg := range targets {
		_, _ = load(tg.url, tg.h, cfg.conc, time.Second)
	}
	upPID, conns := 0, func() int { return 0 }
	if up != nil {
		upPID, conns = up.pid(), func() int { return acceptedConns(up) }
	}
	res := make([][]roundResult, len(targets))
	for r := range cfg.rounds {
		for _, i := range interleaved(r, len(targets)) {
			tg := targets[i]
			cpu0, up0, c0 := cpuTime(tg.pid), cpuTime(upPID), conns()
			s, errs := load(tg.url, tg.h, cfg.conc, cfg.round)
			lr := summarize(tg.name, s, errs, cfg.round)
			res[i] = append(res[i], roundResult{lr, perRequest(tg.pid, cpu0, lr.n), perRequest(upPID, up0, lr.n), conns() - c0})
		}
	}
	return res
}

// benchProxyOverhead measures the proxy against the bare ReverseProxy and the direct call:
// closed loop at saturation, then open loop at cfg.rates.
func benchProxyOverhead(t *testing.T, out func(string, ...any), b *proxyBed, cfg proxyBenchConfig) {
	targets := overheadTargets(b)
	out("")
	out("#### Proxy overhead")
	out("")
	out("A GET of a %d-byte JSON answer from a local API (a Go `net/http` server in its own process; it checks the `Authorization` header on every request). Closed loop: %d keep-alive clients for every target, %d rounds of %s per target, interleaved (the order reverses every round), after a 1 s warm-up each. CPU per request is the serving process's user+system time (10 ms ticks) over the requests of the round. tokend's proxy sends through `internal/egress`'s transport, a clone of `net/http`'s default transport with 512 idle connections, 64 per host, and copies answers through 128 KiB buffers; (b) is an `httputil.ReverseProxy` in its own process whose `Rewrite` calls `SetURL` and sets `Authorization: Bearer <token>`, with `net/http`'s default transport cloned (100 idle connections, 2 per host) and `FlushInterval: -1` as tokend's: what a bare ReverseProxy gets by default; (b') is (b) with `MaxIdleConnsPerHost: 64`, the like-for-like comparison. tokend runs the end-to-end tests' flags with `--log-level info`, as in `TestBenchTokend`.",
		len(itemsBody), cfg.conc, cfg.rounds, cfg.round)
	out("")
	out("| round | target | requests/s | p50 | p99 | p99.9 | errors | proxy CPU per request | local API CPU per request | connections the local API accepted |")
	out("|---|---|---|---|---|---|---|---|---|---|")
	res := closedRounds(targets, b.up, cfg)
	for r := range cfg.rounds {
		for i, tg := range targets {
			x := res[i][r]
			out("| %d | %s | %.0f | %s | %s | %s | %d | %s | %s | %d |", r+1, tg.name, x.rps(), us(x.p50), us(x.p99), us(x.p999), x.errs, cpuCell(x.cpu), cpuCell(x.upCPU), x.conns)
		}
	}
	if closedSummary(out, targets, res) < 0.9 || os.Getenv("TOKEND_BENCH_PROFILE") != "" {
		profileProcess(t, out, "tokend's proxy (c)", targets[3], cfg, "tokend's packages, the ReverseProxy and new upstream connections", func(sym string) bool {
			return strings.Contains(sym, modulePath) || strings.Contains(sym, "httputil.") || strings.Contains(sym, "dialConn")
		})
	}
	openRounds(t, out, targets, b.up.pid(), cfg)
}

// closedSummary writes the medians over the rounds and the ratios the issue asks for, and
// returns tokend's throughput over the bare ReverseProxy's.
func closedSummary(out func(string, ...any), targets []benchTarget, res [][]roundResult) float64 {
	med := func(i int, f func(roundResult) float64) float64 {
		var xs []float64
		for _, x := range res[i] {
			xs = append(xs, f(x))
		}
		return median(xs)
	}
	rps := func(i int) float64 { return med(i, roundResult.rps) }
	lat := func(i int, f func(roundResult) time.Duration) string {
		return us(time.Duration(med(i, func(x roundResult) float64 { return float64(f(x)) })))
	}
	out("")
	out("| target (median of the rounds) | requests/s | of (b) | of (a) | p50 | p99 | proxy CPU per request |")
	out("|---|---|---|---|---|---|---|")
	for i, tg := range targets {
		cpu := time.Duration(med(i, func(x roundResult) float64 { return float64(x.cpu) }))
		out("| %s | %.0f | %.1f%% | %.1f%% | %s | %s | %s |", tg.name, rps(i), 100*rps(i)/rps(1), 100*rps(i)/rps(0),
			lat(i, func(x roundResult) time.Duration { return x.p50 }), lat(i, func(x roundResult) time.Duration { return x.p99 }), cpuCell(cpu))
	}
	c := len(targets) - 1
	out("")
	out("Throughput at saturation, tokend (c) / bare ReverseProxy (b): **%.1f%%** (issue: at least 90%%: %s); (c) / direct (a): %.1f%%; (c) / (b'): %.1f%%.",
		100*rps(c)/rps(1), verdict(rps(c)/rps(1), 0.9, true), 100*rps(c)/rps(0), 100*rps(c)/rps(2))
	return rps(c) / rps(1)
}

// openRounds measures every target but (b') at each fixed rate with vegeta (attack),
// cfg.rounds interleaved rounds of cfg.round, and writes each target's medians and tokend's
// ratios to the bare ReverseProxy.
func openRounds(t *testing.T, out func(string, ...any), all []benchTarget, upPID int, cfg proxyBenchConfig) {
	targets := []benchTarget{all[0], all[1], all[3]}
	out("")
	out("Open loop (vegeta, keep-alive, at most 1,024 workers, 5 s timeout), %d interleaved rounds of %s per rate and target; latencies are the median over the rounds of each round's percentile (their range in parentheses).", cfg.rounds, cfg.round)
	out("")
	out("| rate asked | target | rate achieved | success | p50 | p99 | proxy CPU per request | local API CPU per request |")
	out("|---|---|---|---|---|---|---|---|")
	var ratios []string
	for _, rate := range cfg.rates {
		p50, p99 := make([][]float64, len(targets)), make([][]float64, len(targets))
		achieved, success, cpu, upCPU := make([][]float64, len(targets)), make([]float64, len(targets)), make([][]float64, len(targets)), make([][]float64, len(targets))
		for i := range success {
			success[i] = 1
		}
		for r := range cfg.rounds {
			for _, i := range interleaved(r, len(targets)) {
				cpu0, up0 := cpuTime(targets[i].pid), cpuTime(upPID)
				m := attack(targets[i], rate, cfg.round)
				n := int(m.Requests)
				p50[i], p99[i] = append(p50[i], float64(m.Latencies.P50)), append(p99[i], float64(m.Latencies.P99))
				achieved[i] = append(achieved[i], m.Throughput)
				success[i] = min(success[i], m.Success)
				cpu[i] = append(cpu[i], float64(perRequest(targets[i].pid, cpu0, n)))
				upCPU[i] = append(upCPU[i], float64(perRequest(upPID, up0, n)))
				t.Logf("open loop %d/s round %d %s: %.0f/s p50 %s p99 %s", rate, r+1, targets[i].name, m.Throughput, ms(m.Latencies.P50), ms(m.Latencies.P99))
			}
		}
		for i, tg := range targets {
			out("| %d/s | %s | %.0f/s | %.2f%% (lowest) | %s %s | %s %s | %s | %s |", rate, tg.name, median(achieved[i]), 100*success[i],
				msf(median(p50[i])), spread(p50[i]), msf(median(p99[i])), spread(p99[i]), cpuCell(time.Duration(median(cpu[i]))), cpuCell(time.Duration(median(upCPU[i]))))
		}
		r50, r99 := median(p50[2])/median(p50[1]), median(p99[2])/median(p99[1])
		line := fmt.Sprintf("at %d/s, tokend (c) / bare (b): p50 **%.2f** (%s), p99 **%.2f** (%s); (c) / direct (a): p50 %.2f, p99 %.2f",
			rate, r50, verdict(r50, 1.2, false), r99, verdict(r99, 1.2, false), median(p50[2])/median(p50[0]), median(p99[2])/median(p99[0]))
		if lo := min(median(achieved[1]), median(achieved[2])); lo < 0.95*float64(rate) {
			line += fmt.Sprintf(". A proxy achieved only %.0f/s: saturated, so these latencies are its queue's, not its overhead's", lo)
		}
		ratios = append(ratios, line)
	}
	out("")
	for _, r := range ratios {
		out("- %s.", r)
	}
	out("")
	out("(issue: p50 and p99 at 1,000 and 5,000 req/s within 1.2 of the bare ReverseProxy's.)")
}

// msf formats nanoseconds as milliseconds.
func msf(ns float64) string { return ms(time.Duration(ns)) }

// spread is "(min–max)" of latencies in nanoseconds, in milliseconds.
func spread(ns []float64) string {
	if len(ns) < 2 {
		return ""
	}
	return fmt.Sprintf("(%.2f–%.2f)", slices.Min(ns)/1e6, slices.Max(ns)/1e6)
}
