#!/usr/bin/env bash
# bench-tokend.sh runs the tokend benchmarks recorded in docs/benchmarks.md (## tokend):
# cached token GETs against a bare net/http handler and a direct Vault KV v2 read, p99
# during proactive refreshes, and memory with 10,000 connections. Real Vault, Hydra and a
# real `tokend serve` process; the load generators are tokend/bench_test.go (closed loop) and
# tokend/openloop_bench_test.go (vegeta at fixed rates; TOKEND_BENCH_RATES=1000,5000,... to change them).
# The Markdown report goes to $TOKEND_BENCH_OUT (default: a temporary file) and stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${TOKEND_BENCH_OUT:-$(mktemp -t bench-tokend.XXXXXX.md)}
log=$(mktemp -t bench-tokend.XXXXXX.log)
if ! TOKEND_BENCH=1 TOKEND_BENCH_OUT=$out go test -count=1 -timeout 15m -run '^TestBenchTokend$' -v ./tokend/ >"$log" 2>&1; then
	tail -n 80 "$log" >&2
	echo "bench-tokend: failed; full log in $log" >&2
	exit 1
fi
cat "$out"
