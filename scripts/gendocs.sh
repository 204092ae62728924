#!/usr/bin/env bash
# gendocs.sh regenerates docs/ (index.md, resources/, data-sources/) from the provider's schema
# descriptions, templates/ and examples/ with tfplugindocs, offline and deterministically, so that
# `make generate && git diff --exit-code -- docs/` detects stale docs. It also checks that the
# examples are formatted and valid against the provider's schema.
#
# tfplugindocs normally builds the provider and downloads Terraform to read the schema. Here the
# schema comes from OpenTofu instead: the provider is built into a temporary directory, OpenTofu
# loads it through a dev_overrides CLI configuration, `tofu providers schema -json` writes the
# schema, and `tfplugindocs generate --providers-schema` renders from that file.
#
# Tools: bin/tfplugindocs is built from the pinned tools/docs module when missing or out of date;
# tofu is found as the tests find it (scripts/findtool: $TAILOR_TOFU, bin/tofu, tofu on PATH).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

log() { printf 'gendocs: %s\n' "$*" >&2; }

# tfplugindocs, pinned by tools/docs/go.mod.
stamp=$(cat tools/docs/go.mod tools/docs/go.sum | sha256sum | cut -c1-16)
if [ ! -x bin/tfplugindocs ] || [ "$(cat bin/.tfplugindocs.stamp 2>/dev/null)" != "$stamp" ]; then
	log "building bin/tfplugindocs (tools/docs)"
	mkdir -p bin
	(cd tools/docs && go build -buildvcs=false -trimpath -o "$root/bin/tfplugindocs.tmp" github.com/hashicorp/terraform-plugin-docs/cmd/tfplugindocs)
	mv bin/tfplugindocs.tmp bin/tfplugindocs
	echo "$stamp" > bin/.tfplugindocs.stamp
fi

tofu=$(go run ./scripts/findtool tofu | cut -f2)
if [ -z "$tofu" ]; then
	log "tofu not found: run scripts/tools.sh tofu, put tofu 1.11+ on PATH or set TAILOR_TOFU"; exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

log "building the provider"
mkdir -p "$tmp/plugins" "$tmp/schema"
go build -buildvcs=false -trimpath -o "$tmp/plugins/terraform-provider-tailor" .

# The address tfplugindocs looks for in the schema JSON: registry.terraform.io/hashicorp/<name>.
addr=registry.terraform.io/hashicorp/tailor
cat > "$tmp/tofurc" <<EOF
provider_installation {
  dev_overrides {
    "$addr" = "$tmp/plugins"
    # the examples' source "authconnection/tailor", as OpenTofu and Terraform resolve it
    "registry.opentofu.org/authconnection/tailor" = "$tmp/plugins"
    "registry.terraform.io/authconnection/tailor" = "$tmp/plugins"
  }
  direct {}
}
EOF
export TF_CLI_CONFIG_FILE=$tmp/tofurc CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1
unset TF_LOG TF_LOG_PATH

required_providers() {
	printf 'terraform {\n  required_providers {\n    tailor = {\n      source = "%s"\n    }\n  }\n}\n' "$addr"
}
required_providers > "$tmp/schema/main.tf"
log "reading the schema with $("$tofu" version | head -n1)"
"$tofu" -chdir="$tmp/schema" providers schema -json > "$tmp/schema.json" 2> "$tmp/schema.err" || {
	cat "$tmp/schema.err" >&2; exit 1; }

log "checking examples/"
"$tofu" fmt -check -diff -recursive examples
for dir in examples/provider examples/provider/*/ examples/resources/* examples/data-sources/* examples/demo examples/demo/*/; do
	[ -d "$dir" ] || continue
	dir=${dir%/}
	v="$tmp/validate/$dir"
	mkdir -p "$v"
	# import.sh and import blocks are fragments of the resource example, validated with it.
	find "$dir" -maxdepth 1 -name '*.tf' ! -name 'import-*.tf' -exec cp {} "$v/" \;
	grep -qs required_providers "$v"/*.tf || required_providers > "$v/versions.tf"
	# Pull in the resource definitions that import blocks point at.
	if ls "$dir"/import-*.tf >/dev/null 2>&1; then
		for f in "$dir"/import-*.tf; do mkdir -p "$v.$(basename "$f" .tf)"; cp "$v"/*.tf "$f" "$v.$(basename "$f" .tf)/"; done
	fi
	for d in "$v" "$v".import-*; do
		[ -d "$d" ] || continue
		if ! "$tofu" -chdir="$d" validate -no-color > "$tmp/validate.out" 2>&1; then
			log "invalid example in $dir ($(basename "$d")):"; cat "$tmp/validate.out" >&2; exit 1
		fi
	done
done

log "generating docs/"
bin/tfplugindocs generate --provider-name tailor --providers-schema "$tmp/schema.json" \
	--website-temp-dir "$tmp/website" >"$tmp/tfplugindocs.out" 2>&1 || { cat "$tmp/tfplugindocs.out" >&2; exit 1; }
bin/tfplugindocs validate --provider-name tailor >"$tmp/validate.out" 2>&1 || { cat "$tmp/validate.out" >&2; exit 1; }
log "docs/ regenerated from the schema, templates/ and examples/"
