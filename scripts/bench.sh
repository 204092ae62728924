#!/usr/bin/env bash
# bench.sh runs the benchmarks whose figures are recorded in docs/benchmarks.md:
# the Terraform apply/plan comparison (scripts/bench-tofu.sh), the tokend load tests
# (scripts/bench-tokend.sh) and the proxy and audit trail (scripts/bench-proxy.sh). Run on an
# otherwise idle machine; figures vary with load.
set -euo pipefail
cd "$(dirname "$0")/.."
for s in scripts/bench-tofu.sh scripts/bench-tokend.sh scripts/bench-proxy.sh; do
	if [ -x "$s" ]; then
		echo "== $s"
		"$s"
	fi
done
