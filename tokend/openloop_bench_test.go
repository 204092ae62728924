package main

import (
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// benchTarget is one HTTP endpoint the benchmark loads.
type benchTarget struct {
	name, url string
	h         http.Header
	pid       int // the serving process, for its CPU time (0: not measured)
}

// openLoopRates are the fixed request rates of the open-loop runs
// (TOKEND_BENCH_RATES=comma-separated to change them).
func openLoopRates() []int {
	rates := []int{1000, 2000, 5000, 10000, 20000, 40000}
	if s := os.Getenv("TOKEND_BENCH_RATES"); s != "" {
		rates = nil
		for _, f := range strings.Split(s, ",") {
			if r, err := strconv.Atoi(strings.TrimSpace(f)); err == nil && r > 0 {
				rates = append(rates, r)
			}
		}
	}
	return rates
}

// openLoop measures each target at fixed request rates with vegeta (an open loop: requests
// are sent on schedule whether or not earlier ones have been answered, so a slow answer
// delays nobody's start and the latencies show coordinated omission's hidden tail). Rates
// above a target's capacity show as an achieved rate below the one asked for, and latencies
// that grow with the queue.
func openLoop(out func(string, ...any), targets []benchTarget, d time.Duration) {
	out("")
	out("Open loop (vegeta %s, keep-alive, at most 1,024 workers, 5 s timeout), %s per rate and target, in the same run:", "v12.13.0", d)
	out("")
	out("| target | rate asked | rate achieved | success | p50 | p99 | p99.9 | max | server CPU per request |")
	out("|---|---|---|---|---|---|---|---|---|")
	for _, tg := range targets {
		for _, rate := range openLoopRates() {
			cpu0 := cpuTime(tg.pid)
			m := attack(tg, rate, d)
			perReq := "-"
			if tg.pid != 0 && m.Requests > 0 {
				perReq = fmt.Sprintf("%.1f µs", float64(cpuTime(tg.pid)-cpu0)/float64(time.Microsecond)/float64(m.Requests))
			}
			out("| %s | %d/s | %.0f/s | %.2f%% | %s | %s | %s | %s | %s |", tg.name, rate, m.Throughput, 100*m.Success,
				ms(m.Latencies.P50), ms(m.Latencies.P99), ms(m.Latencies.Quantile(0.999)), ms(m.Latencies.Max), perReq)
			if m.Success < 0.5 {
				break // saturated well past its capacity: higher rates only queue more
			}
		}
	}
}

// attack sends GETs to tg at rate per second for d and returns vegeta's metrics.
func attack(tg benchTarget, rate int, d time.Duration) *vegeta.Metrics {
	at := vegeta.NewAttacker(vegeta.KeepAlive(true), vegeta.Workers(32), vegeta.MaxWorkers(1024),
		vegeta.Connections(1024), vegeta.Timeout(5*time.Second))
	targeter := vegeta.NewStaticTargeter(vegeta.Target{Method: http.MethodGet, URL: tg.url, Header: tg.h})
	var m vegeta.Metrics
	for res := range at.Attack(targeter, vegeta.Rate{Freq: rate, Per: time.Second}, d, tg.name) {
		m.Add(res)
	}
	m.Close()
	return &m
}

// cpuTime returns the user plus system CPU time process pid has used (from /proc; clock
// ticks of 10 ms), or 0.
func cpuTime(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The fields after the command name (in parentheses, which may hold spaces): utime and
	// stime are the 12th and 13th of them.
	_, rest, _ := strings.Cut(string(b), ") ")
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }
