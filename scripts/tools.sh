#!/usr/bin/env bash
# tools.sh makes the test tools available: the pinned Vault, OpenTofu, Ory Hydra and Helm from
# the tools/* modules, staticcheck (make lint), and the device-flow provider of tools/oidc,
# built into bin/, and Debian's
# chromium and nodejs.
#
# Where a tool is found is decided in one place, internal/testenv.FindTool (asked through
# scripts/findtool, which the tests, the demo and gendocs.sh use too): $TAILOR_<TOOL>, then
# bin/<tool>, then the tool on PATH at a minimum version (vault 1.15, tofu 1.11, hydra 2.3,
# helm 4.3, node 20). This script builds or installs a tool only when that lookup finds nothing.
#
# A build is kept in the tools cache (below), one file per tool and stamp (a hash of the tools
# module's go.mod, go.sum and build flags), and bin/<tool> links to it: a fresh clone on the
# same machine (every CI run) finds it at once. A bin/<tool> whose stamp is out of date is
# removed first, so the lookup does not accept it.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bin

log() { printf 'tools: %s\n' "$*" >&2; }

cache=${TAILOR_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tailor-tools}

# The pinned builds: package, build tags, ldflags, CGO_ENABLED.
# oidc is the test bed's device-flow provider: our small program on github.com/zitadel/oidc.
declare -A pkg=([vault]=github.com/hashicorp/vault [tofu]=github.com/opentofu/opentofu/cmd/tofu [hydra]=github.com/ory/hydra/v2
	[oidc]=github.com/authconnection/terraform-provider-tailor/tools/oidc [helm]=helm.sh/helm/v4/cmd/helm
	[staticcheck]=honnef.co/go/tools/cmd/staticcheck)
declare -A tags=([vault]="" [tofu]="" [hydra]="sqlite,sqlite_omit_load_extension" [oidc]="" [helm]="" [staticcheck]="")
declare -A ldflags=([vault]="-s -w" [tofu]="-s -w -X github.com/opentofu/opentofu/version.dev=no" [hydra]="-s -w" [oidc]="-s -w"
	[helm]="-s -w -X helm.sh/helm/v4/internal/version.version=v4.3.2" [staticcheck]="-s -w")
declare -A cgo=([vault]=0 [tofu]=0 [hydra]=1 [oidc]=0 [helm]=0 [staticcheck]=0)
declare -A debian=([chromium]=chromium [node]=nodejs)

stamp() {
	local t=$1
	echo "$(cat "tools/$t"/go.mod "tools/$t"/go.sum "tools/$t"/*.go 2>/dev/null | sha256sum | cut -c1-16)-$(printf '%s|%s|%s' "${tags[$t]}" "${ldflags[$t]}" "${cgo[$t]}" | sha256sum | cut -c1-8)"
}

# build TOOL: builds the pinned tool into the cache (unless there) and links bin/TOOL to it.
build() {
	local t=$1 s target
	s=$(stamp "$t")
	target=$cache/$t-$s
	if [ ! -x "$target" ]; then
		log "building $t (${pkg[$t]}); this takes minutes on a cold machine"
		local start=$SECONDS
		mkdir -p "$cache"
		(cd "tools/$t" && CGO_ENABLED=${cgo[$t]} go build -buildvcs=false -trimpath ${tags[$t]:+-tags "${tags[$t]}"} -ldflags "${ldflags[$t]}" -o "$target.tmp.$$" "${pkg[$t]}")
		mv "$target.tmp.$$" "$target"
		log "built $t in $((SECONDS - start))s ($target)"
	else
		log "$t found in the tools cache ($target)"
	fi
	ln -sfn "$target" "bin/$t"
	echo "$s" > "bin/.$t.stamp"
}

# install TOOL: installs the tool's Debian package (as root).
install() {
	local t=$1
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		log "installing Debian's ${debian[$t]}"
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${debian[$t]}" >/dev/null
	else
		log "$t is missing: install Debian's ${debian[$t]} (sudo apt-get install ${debian[$t]}) or set TAILOR_$(echo "$t" | tr a-z A-Z)"
		exit 1
	fi
}

want=${*:-vault tofu hydra oidc helm staticcheck chromium node}
for t in $want; do
	if [ -n "${pkg[$t]:-}" ] && [ -e "bin/$t" ] && [ "$(cat "bin/.$t.stamp" 2>/dev/null)" != "$(stamp "$t")" ]; then
		log "bin/$t is out of date; rebuilding"
		rm -f "bin/$t" "bin/.$t.stamp"
	fi
done
go run ./scripts/findtool $want > bin/.tools.found
while IFS=$'\t' read -r t p; do
	if [ -n "$p" ]; then log "$t: $p"; continue; fi
	if [ -n "${pkg[$t]:-}" ]; then build "$t"
	elif [ -n "${debian[$t]:-}" ]; then install "$t"
	else log "unknown tool $t"; exit 2
	fi
done < bin/.tools.found
rm -f bin/.tools.found
