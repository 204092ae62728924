#!/usr/bin/env bash
# fuzz.sh runs every Go fuzz target in the repository for a short time each
# (default 10s; `scripts/fuzz.sh 5m` for a long run). It finds targets by their
# `func FuzzXxx(f *testing.F)` declarations, so new targets are picked up by themselves.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${1:-10s}
n=0; failed=0
while IFS=: read -r file _ decl; do
	name=$(sed -E 's/^func (Fuzz[A-Za-z0-9_]*).*/\1/' <<<"$decl")
	pkg=./$(dirname "$file")
	n=$((n + 1))
	if go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$pkg" >/tmp/fuzz-$$.log 2>&1; then
		printf 'fuzz: %-32s %-28s ok (%s)\n' "$name" "$pkg" "$(grep -oE 'execs: [0-9]+' /tmp/fuzz-$$.log | tail -n1)"
	else
		failed=$((failed + 1))
		printf 'fuzz: %-32s %-28s FAILED\n' "$name" "$pkg"
		tail -n 30 /tmp/fuzz-$$.log
	fi
done < <(grep -rnE '^func Fuzz[A-Za-z0-9_]*\(f \*testing\.F\)' --include='*_test.go' . | sed 's|^\./||' | sort)
rm -f /tmp/fuzz-$$.log
echo "$((n - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
