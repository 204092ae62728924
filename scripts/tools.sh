#!/usr/bin/env bash
# tools.sh builds the pinned test tools (Vault, OpenTofu, Ory Hydra) from the tools/*
# modules into bin/, and installs Debian's chromium and nodejs when they are missing.
#
# A tool is built only when no build with the same stamp (a hash of the tools module's
# go.mod, go.sum and build flags) exists in the tools cache (below), so a warm run, even in
# a fresh clone, takes seconds.
#
# Using a tool you already have: set TAILOR_VAULT, TAILOR_TOFU or TAILOR_HYDRA to its path,
# or put it on PATH. A binary on PATH is used (and nothing is built) when its version is at
# least the minimum below; internal/testenv resolves binaries in the same order:
# $TAILOR_<TOOL>, then bin/<tool>, then <tool> on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
mkdir -p bin

log() { printf 'tools: %s\n' "$*" >&2; }

# version_ge A B: true when version A >= B (dotted numbers).
version_ge() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]; }

# usable_on_path TOOL MINVERSION VERSIONCMD...: prints the path of a suitable binary.
usable_on_path() {
	local tool=$1 min=$2; shift 2
	local envvar="TAILOR_$(echo "$tool" | tr a-z A-Z)"
	if [ -n "${!envvar:-}" ]; then
		[ -x "${!envvar}" ] || { log "$envvar=${!envvar} is not an executable"; exit 1; }
		echo "${!envvar}"; return 0
	fi
	local p; p=$(command -v "$tool" 2>/dev/null) || return 1
	case "$p" in "$root"/bin/*) return 1;; esac
	local v; v=$("$p" "$@" 2>/dev/null | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -n1) || return 1
	[ -n "$v" ] && version_ge "$v" "$min" && { echo "$p"; return 0; }
	return 1
}

# Built tools are kept outside the checkout, in $TAILOR_TOOLS_CACHE (default
# ~/.cache/tailor-tools), one file per tool and stamp, and bin/<tool> links to them: a fresh
# clone on the same machine (every CI run) then finds them at once instead of rebuilding.
cache=${TAILOR_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tailor-tools}

# build TOOL PKG TAGS LDFLAGS CGO
build() {
	local tool=$1 pkg=$2 tags=$3 ldflags=$4 cgo=$5
	local stamp target
	stamp=$(cat "tools/$tool/go.mod" "tools/$tool/go.sum" | sha256sum | cut -c1-16)-$(printf '%s|%s|%s' "$tags" "$ldflags" "$cgo" | sha256sum | cut -c1-8)
	if [ -x "bin/$tool" ] && [ "$(cat "bin/.$tool.stamp" 2>/dev/null)" = "$stamp" ]; then
		log "$tool is up to date (bin/$tool)"; return 0
	fi
	target=$cache/$tool-$stamp
	if [ ! -x "$target" ]; then
		log "building $tool ($pkg); this takes minutes on a cold machine"
		local start=$SECONDS
		mkdir -p "$cache"
		(cd "tools/$tool" && CGO_ENABLED=$cgo go build -buildvcs=false -trimpath ${tags:+-tags "$tags"} -ldflags "$ldflags" -o "$target.tmp.$$" "$pkg")
		mv "$target.tmp.$$" "$target"
		log "built $tool in $((SECONDS - start))s ($target)"
	else
		log "$tool found in the tools cache ($target)"
	fi
	ln -sfn "$target" "bin/$tool"
	echo "$stamp" > "bin/.$tool.stamp"
}

want=${*:-vault tofu hydra chromium node}
for t in $want; do
	case $t in
	vault)
		if p=$(usable_on_path vault 1.15.0 version); then log "using vault at $p"; else
			build vault github.com/hashicorp/vault "" "-s -w" 0; fi ;;
	tofu)
		if p=$(usable_on_path tofu 1.11.0 version); then log "using tofu at $p"; else
			build tofu github.com/opentofu/opentofu/cmd/tofu "" "-s -w -X github.com/opentofu/opentofu/version.dev=no" 0; fi ;;
	hydra)
		if p=$(usable_on_path hydra 2.3.0 version); then log "using hydra at $p"; else
			build hydra github.com/ory/hydra/v2 "sqlite,sqlite_omit_load_extension" "-s -w" 1; fi ;;
	chromium)
		if [ -n "${TAILOR_CHROMIUM:-}" ] || command -v chromium >/dev/null 2>&1; then
			log "chromium is installed"
		elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
			log "installing Debian's chromium"
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
		else
			log "chromium is missing: install it (Debian: sudo apt-get install chromium) or set TAILOR_CHROMIUM"; exit 1
		fi ;;
	node)
		if command -v node >/dev/null 2>&1; then
			log "node $(node --version) is installed"
		elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
			log "installing Debian's nodejs"
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs >/dev/null
		else
			log "node is missing: install Node.js 20 or later (Debian: sudo apt-get install nodejs)"; exit 1
		fi ;;
	*) log "unknown tool $t"; exit 2 ;;
	esac
done
