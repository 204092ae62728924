#!/usr/bin/env bash
# stress.sh runs the test suite again and again beside a CPU hog, to find tests that depend
# on timing: `scripts/stress.sh [COUNT] [HOGS] [PACKAGES...]` runs `go test -count=COUNT`
# (default 3) on each package (default: all), one package at a time, with HOGS busy loops
# (default 1) competing for the CPU, and keeps the log of every failing package in
# $TMPDIR/stress-<package>.log. CI does not run it; run it after changing a test that waits
# for something.
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-3}; hogs=${2:-1}; shift $(( $# > 2 ? 2 : $# ))
pkgs=${*:-$(go list ./...)}
export CI=true TF_ACC=1
pids=()
for _ in $(seq "$hogs"); do (while :; do :; done) & pids+=($!); done
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
failed=0
for p in $pkgs; do
	log=${TMPDIR:-/tmp}/stress-$(basename "$p").log
	start=$SECONDS
	if go test -count="$count" -timeout 60m "$p" >"$log" 2>&1; then
		printf 'stress: %-70s ok   (%ds)\n' "$p" $((SECONDS - start)); rm -f "$log"
	else
		failed=$((failed + 1))
		printf 'stress: %-70s FAIL (%ds): %s\n' "$p" $((SECONDS - start)) "$log"
		grep -E -- '^(--- FAIL|    --- FAIL)' "$log" | head -n 10 || true
	fi
done
echo "stress: $failed packages failed (count $count, $hogs CPU hogs)"
[ "$failed" -eq 0 ]
