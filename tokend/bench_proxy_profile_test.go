package main

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// profileProcess records a CPU profile of tg's serving process with perf (call graphs by
// frame pointer) during one more closed-loop round against it, and writes into the report
// the profile's first symbols by their own time, then the symbols that match (what) with
// their callees.
func profileProcess(t *testing.T, out func(string, ...any), name string, tg benchTarget, cfg proxyBenchConfig, what string, match func(string) bool) {
	perf, err := exec.LookPath("perf")
	if err != nil {
		out("\nNo `perf` on this machine: no profile of %s.", name)
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
	self, samples := perfReport(perf, data, "--no-children", "--fields", "overhead,sym")
	var matched []string
	incl, _ := perfReport(perf, data, "--children", "--fields", "overhead_children,overhead,sym")
	for _, l := range incl {
		if match(l) {
			matched = append(matched, l)
		}
	}
	out("")
	out("CPU profile of %s during one more round of %s (`perf record -F 999 -g -p PID`; %s), `perf report --no-children --fields overhead,sym`, the first 25 symbols:", name, cfg.round, samples)
	out("")
	out("```\n%s\n```", shortSymbols(self[:min(25, len(self))]))
	out("")
	out("%s, with their callees (`perf report --children --fields overhead_children,overhead,sym`, at 0.1%% or more):", what)
	out("")
	out("```\n%s\n```", shortSymbols(matched[:min(20, len(matched))]))
}

// modulePath is this module's import path, which symbols of its packages begin with.
const modulePath = "github.com/authconnection/terraform-provider-tailor/"

// shortSymbols is lines, one a line, without modulePath.
func shortSymbols(lines []string) string {
	return strings.ReplaceAll(strings.Join(lines, "\n"), modulePath, "")
}

// perfReport is the lines of `perf report` of data with args (call graphs folded), without
// comments and blank lines, of symbols at 0.1% or more, and its "Samples: ..." line.
func perfReport(perf, data string, args ...string) ([]string, string) {
	b, err := exec.Command(perf, append([]string{"report", "-i", data, "--stdio", "-g", "none", "--percent-limit", "0.1"}, args...)...).Output()
	if err != nil {
		return []string{"perf report failed: " + err.Error()}, ""
	}
	var lines []string
	samples := "samples: ?"
	for l := range strings.Lines(string(b)) {
		l = strings.TrimSpace(l)
		if s, ok := strings.CutPrefix(l, "# Samples: "); ok {
			samples = "samples: " + strings.Join(strings.Fields(s), " ")
		}
		if l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, strings.Join(strings.Fields(l), " "))
		}
	}
	return lines, samples
}
