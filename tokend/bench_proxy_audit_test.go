package main

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// benchAudit measures the cached token route of two fresh `tokend serve` processes on the
// same Vault, one without and one with --audit-log FILE, in cfg.auditRounds interleaved
// rounds; below the 95% it profiles the audited process with perf.
func benchAudit(t *testing.T, out func(string, ...any), b *proxyBed, cfg proxyBenchConfig) {
	h := http.Header{"Authorization": {"Bearer " + b.tokenKey}}
	targets := []benchTarget{
		{"audit off", b.unaudited.URL + "/v1/connections/bench-token/token", h, b.unaudited.cmd.Process.Pid},
		{"audit on (`--audit-log FILE`)", b.audited.URL + "/v1/connections/bench-token/token", h, b.audited.cmd.Process.Pid},
	}
	ac := cfg
	ac.rounds = cfg.auditRounds
	res := closedRounds(targets, nil, ac)
	out("")
	out("#### Audit on")
	out("")
	out("Cached `GET /v1/connections/bench-token/token` (a token key; the answer carries QuickBooks' metadata as in `TestBenchTokend`), closed loop of %d keep-alive clients, %d interleaved rounds of %s per process after a 1 s warm-up each. Both processes started at the same time with the same flags but `--audit-log FILE`, a file on local disk: tokend's audit trail and its Prometheus counters run in both, so the difference measured is the JSON-lines stream.",
		cfg.conc, ac.rounds, ac.round)
	out("")
	out("| round | audit off: requests/s | p50 | p99 | CPU per request | audit on: requests/s | p50 | p99 | CPU per request | on / off |")
	out("|---|---|---|---|---|---|---|---|---|---|")
	var off, on, offCPU, onCPU []float64
	for r := range ac.rounds {
		x, y := res[0][r], res[1][r]
		off, on = append(off, x.rps()), append(on, y.rps())
		offCPU, onCPU = append(offCPU, float64(x.cpu)), append(onCPU, float64(y.cpu))
		out("| %d | %.0f | %s | %s | %s | %.0f | %s | %s | %s | %.1f%% |", r+1, x.rps(), us(x.p50), us(x.p99), cpuCell(x.cpu),
			y.rps(), us(y.p50), us(y.p99), cpuCell(y.cpu), 100*y.rps()/x.rps())
	}
	ratio := median(on) / median(off)
	out("")
	out("Medians: audit off %.0f req/s, audit on %.0f req/s: **%.1f%%** (issue: at least 95%%: %s). CPU per request, medians: audit off %s, audit on %s (%+.1f%%).",
		median(off), median(on), 100*ratio, verdict(ratio, 0.95, true), cpuCell(time.Duration(median(offCPU))), cpuCell(time.Duration(median(onCPU))),
		100*(median(onCPU)/median(offCPU)-1))
	var served int
	for _, x := range res[1] {
		served += x.n
	}
	time.Sleep(time.Second) // the trail writes every few milliseconds
	lines, size := countLines(t, b.auditLog)
	out("The audit file holds %d records (%.1f MiB) for the %d answered requests of the rounds plus the warm-up and the checks; `tokend_audit_dropped_total` %s.",
		lines, float64(size)/(1<<20), served, metricValue(b.audited.URL, "tokend_audit_dropped_total"))
	if ratio < 0.95 || os.Getenv("TOKEND_BENCH_PROFILE") != "" {
		profileProcess(t, out, "the audited process", targets[1], cfg, "The audit trail's functions and its file writes", func(sym string) bool {
			return strings.Contains(sym, modulePath+"internal/audit.") || strings.Contains(sym, "os.(*File).Write")
		})
	}
}

// countLines returns the number of lines and bytes of the file at path.
func countLines(t *testing.T, path string) (int, int64) {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	var lines int
	var size int64
	for {
		n, err := f.Read(buf)
		lines += bytes.Count(buf[:n], []byte{'\n'})
		size += int64(n)
		if err == io.EOF {
			return lines, size
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// metricValue is the value of the unlabelled metric name at base/metrics, or "?".
func metricValue(base, name string) string {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return "?"
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return v
		}
	}
	return "?"
}
