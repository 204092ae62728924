package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
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
		profileAudited(t, out, b, targets[1], cfg)
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

// profileAudited records a CPU profile of the audited process with perf (call graphs by
// frame pointer) during one more round and writes its top lines into the report.
func profileAudited(t *testing.T, out func(string, ...any), b *proxyBed, tg benchTarget, cfg proxyBenchConfig) {
	perf, err := exec.LookPath("perf")
	if err != nil {
		out("\nNo `perf` on this machine: no profile of the audited process.")
		return
	}
	data := filepath.Join(t.TempDir(), "perf.data")
	rec := exec.Command(perf, "record", "-F", "999", "-g", "-o", data, "-p", fmt.Sprint(tg.pid), "--", "sleep", fmt.Sprint(int(cfg.round.Seconds())))
	var stderr bytes.Buffer
	rec.Stderr = &stderr
	if err := rec.Start(); err != nil {
		out("\n`perf record` did not start: %v", err)
		return
	}
	_, _ = load(tg.url, tg.h, cfg.conc, cfg.round)
	if err := rec.Wait(); err != nil {
		out("\n`perf record` failed: %v %s", err, strings.TrimSpace(stderr.String()))
		return
	}
	self := perfReport(perf, data, "--no-children", "--fields", "overhead,sym")
	incl := perfReport(perf, data, "--children", "--fields", "overhead_children,overhead,sym")
	var auditLines []string
	for _, l := range incl {
		if strings.Contains(l, "internal/audit") || strings.Contains(l, "os.(*File).Write") {
			auditLines = append(auditLines, l)
		}
	}
	out("")
	out("CPU profile of the audited process during one more round (`perf record -F 999 -g -p PID`), `perf report --no-children --fields overhead,sym`, the first 25 symbols:")
	out("")
	out("```\n%s\n```", strings.Join(self[:min(25, len(self))], "\n"))
	out("")
	out("The audit trail's functions and its file writes, with their callees (`perf report --children --fields overhead_children,overhead,sym`, at 0.1%% or more):")
	out("")
	out("```\n%s\n```", strings.Join(auditLines[:min(15, len(auditLines))], "\n"))
}

// perfReport is the lines of `perf report` of data with args (call graphs folded), without
// comments and blank lines, of symbols at 0.1% or more.
func perfReport(perf, data string, args ...string) []string {
	b, err := exec.Command(perf, append([]string{"report", "-i", data, "--stdio", "-g", "none", "--percent-limit", "0.1"}, args...)...).Output()
	if err != nil {
		return []string{"perf report failed: " + err.Error()}
	}
	var lines []string
	for l := range strings.Lines(string(b)) {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			l = strings.ReplaceAll(strings.Join(strings.Fields(l), " "), "github.com/authconnection/terraform-provider-tailor/", "")
			lines = append(lines, l)
		}
	}
	return lines
}
