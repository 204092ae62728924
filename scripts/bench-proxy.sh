#!/usr/bin/env bash
# bench-proxy.sh runs the benchmarks of the proxy and the audit trail recorded in
# docs/benchmarks.md ("2026-12-06: the proxy and the audit trail (issue 21)"): tokend's
# proxy against a bare httputil.ReverseProxy and the direct call (closed loop at saturation,
# open loop at 1,000 and 5,000 req/s), 1 GiB downloads and uploads through it with its RSS,
# and the cached token route with --audit-log on and off. Real Vault, Hydra and `tokend serve`
# processes; the local API and the bare proxies are the test binary re-executed
# (tokend/bench_proxy_helpers_test.go). Rounds are interleaved. Knobs for a quick run:
# TOKEND_BENCH_SECONDS (per round, 5), TOKEND_BENCH_ROUNDS (3), TOKEND_BENCH_AUDIT_ROUNDS (5),
# TOKEND_BENCH_STREAM_MB (1024), TOKEND_BENCH_STREAM_ROUNDS (2), TOKEND_BENCH_RATES (1000,5000),
# TOKEND_BENCH_PROFILE=1 (profile the audited process with perf even above 95%).
# The Markdown report goes to $TOKEND_BENCH_OUT (default: a temporary file) and stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${TOKEND_BENCH_OUT:-$(mktemp -t bench-proxy.XXXXXX.md)}
log=$(mktemp -t bench-proxy.XXXXXX.log)
if ! TOKEND_BENCH=1 TOKEND_BENCH_OUT=$out go test -count=1 -timeout 15m -run '^TestBenchProxy$' -v ./tokend/ >"$log" 2>&1; then
	tail -n 80 "$log" >&2
	echo "bench-proxy: failed; full log in $log" >&2
	exit 1
fi
cat "$out"
