#!/usr/bin/env bash
# bench.sh runs the benchmarks whose figures are recorded in docs/benchmarks.md:
# the Terraform apply/plan comparison (scripts/bench-tofu.sh) and the tokend load tests
# (scripts/bench-tokend.sh). Run on an otherwise idle machine; figures vary with load.
set -euo pipefail
cd "$(dirname "$0")/.."
for s in scripts/bench-tofu.sh scripts/bench-tokend.sh; do
	if [ -x "$s" ]; then
		echo "== $s"
		"$s"
	fi
done
