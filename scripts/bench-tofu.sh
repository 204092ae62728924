#!/usr/bin/env bash
# bench-tofu.sh measures, on this machine and in one run, `tofu apply` (create) and a no-op
# `tofu plan` of N tailor_authconnection resources beside the same for N terraform_data
# resources (OpenTofu's built-in no-op resource, the floor), against a fresh Vault dev server,
# and counts the Vault writes the no-op plan of the connections makes (it must be 0).
#
# With TAILOR_VAULT_PROVIDER set to a terraform-provider-vault binary, the same run also
# applies and plans 2*N vault_kv_secret_v2 (a configuration and a write-only client secret per
# connection: what a user would otherwise write with HashiCorp's Vault provider), the real
# alternative. That provider is not served by the Go module proxy here, so this script does
# not build it; docs/benchmarks.md says how the measured binary was built.
#
# Writes are counted with a file audit device on the dev Vault: entries of type "request"
# whose operation is create, update or delete, between the start and the end of the plan.
#
#   scripts/bench-tofu.sh            # N=100, 3 no-op plans each
#   N=500 PLANS=5 scripts/bench-tofu.sh
#
# It prints a Markdown section for docs/benchmarks.md. It exits non-zero when the no-op plan
# is not empty or makes any Vault write.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
N=${N:-100}
PLANS=${PLANS:-3}

log() { printf 'bench-tofu: %s\n' "$*" >&2; }

find_tool() { # NAME: $TAILOR_<NAME>, bin/<name>, then PATH
	local var="TAILOR_$(echo "$1" | tr a-z A-Z)"
	if [ -n "${!var:-}" ]; then echo "${!var}"; return; fi
	if [ -x "bin/$1" ]; then echo "$root/bin/$1"; return; fi
	command -v "$1" 2>/dev/null || { log "$1 not found: run scripts/tools.sh $1 or set $var"; exit 1; }
}
tofu=$(find_tool tofu)
vault=$(find_tool vault)
vault_provider=${TAILOR_VAULT_PROVIDER:-}
if [ -n "$vault_provider" ] && [ ! -x "$vault_provider" ]; then log "TAILOR_VAULT_PROVIDER=$vault_provider is not an executable"; exit 1; fi

tmp=$(mktemp -d)
vault_pid=
cleanup() {
	if [ -n "$vault_pid" ]; then kill "$vault_pid" 2>/dev/null || true; wait "$vault_pid" 2>/dev/null || true; fi
	rm -rf "$tmp"
}
trap cleanup EXIT

# A clean environment: nothing of the caller's Vault or OpenTofu settings.
unset VAULT_ADDR VAULT_TOKEN VAULT_NAMESPACE VAULT_CACERT VAULT_CAPATH VAULT_SKIP_VERIFY TF_LOG TF_LOG_PATH
export CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1

log "building the provider"
mkdir -p "$tmp/plugins" "$tmp/home"
go build -buildvcs=false -trimpath -o "$tmp/plugins/terraform-provider-tailor" .

# Vault dev server on a free port, root token in the environment (not in argv).
token=root-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
for _ in 1 2 3 4 5 6 7 8 9 10; do
	port=$((20000 + RANDOM % 30000))
	(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || break
done
export VAULT_ADDR=http://127.0.0.1:$port
HOME=$tmp/home VAULT_DEV_ROOT_TOKEN_ID=$token "$vault" server -dev -dev-listen-address="127.0.0.1:$port" \
	-dev-no-store-token >"$tmp/vault.log" 2>&1 &
vault_pid=$!
for i in $(seq 1 200); do
	VAULT_TOKEN=$token "$vault" read secret/config >/dev/null 2>&1 && break
	if [ "$i" = 200 ]; then log "vault did not start:"; tail -n 30 "$tmp/vault.log" >&2; exit 1; fi
	sleep 0.1
done
export VAULT_TOKEN=$token
"$vault" audit enable file file_path="$tmp/audit.log" >/dev/null

# OpenTofu loads the freshly built provider through dev_overrides (no registry, no init).
cat >"$tmp/tofurc" <<EOF
provider_installation {
  dev_overrides {
    "registry.terraform.io/hashicorp/tailor" = "$tmp/plugins"
    "registry.terraform.io/hashicorp/vault"  = "$tmp/vplugins"
  }
  direct {}
}
EOF
export TF_CLI_CONFIG_FILE=$tmp/tofurc

mkdir -p "$tmp/tailor" "$tmp/data" "$tmp/vplugins"
if [ -n "$vault_provider" ]; then
	cp "$vault_provider" "$tmp/vplugins/terraform-provider-vault"
	mkdir -p "$tmp/vault"
	# The provider's defaults (VAULT_ADDR and VAULT_TOKEN from the environment, a child token
	# per run), as a user would start.
	cat >"$tmp/vault/main.tf" <<EOF
terraform {
  required_providers {
    vault = { source = "registry.terraform.io/hashicorp/vault" }
  }
}
provider "vault" {}
resource "vault_kv_secret_v2" "config" {
  count = $N
  mount = "secret"
  name  = format("benchv/connections/bench-%04d/config", count.index)
  data_json = jsonencode({
    name         = format("bench-%04d", count.index)
    type         = "TYPE_OAUTH2"
    provider_url = "https://accounts.google.com"
    client_id    = "client-\${count.index}.apps.googleusercontent.com"
    scopes       = ["openid", "email"]
  })
}
resource "vault_kv_secret_v2" "secret" {
  count                = $N
  mount                = "secret"
  name                 = format("benchv/connections/bench-%04d/client-secret", count.index)
  data_json_wo         = jsonencode({ value = "bench-secret-\${count.index}" })
  data_json_wo_version = 1
}
EOF
fi
cat >"$tmp/tailor/main.tf" <<EOF
terraform {
  required_providers {
    tailor = { source = "registry.terraform.io/hashicorp/tailor" }
  }
}
provider "tailor" {
  path_prefix = "bench"
}
resource "tailor_authconnection" "c" {
  count                    = $N
  name                     = format("bench-%04d", count.index)
  type                     = "TYPE_OAUTH2"
  provider_url             = "https://accounts.google.com"
  client_id                = "client-\${count.index}.apps.googleusercontent.com"
  scopes                   = ["openid", "email"]
  client_secret_wo         = "bench-secret-\${count.index}"
  client_secret_wo_version = 1
}
EOF
cat >"$tmp/data/main.tf" <<EOF
resource "terraform_data" "c" {
  count = $N
  input = {
    name         = format("bench-%04d", count.index)
    type         = "TYPE_OAUTH2"
    provider_url = "https://accounts.google.com"
    client_id    = "client-\${count.index}.apps.googleusercontent.com"
    scopes       = ["openid", "email"]
  }
}
EOF

now() { date +%s%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b - a) / 1e9 }'; }
median() { tr ' ' '\n' | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# apply DIR: create everything; prints seconds.
apply() {
	local t0 t1
	t0=$(now)
	"$tofu" -chdir="$1" apply -auto-approve -no-color -input=false >"$tmp/$(basename "$1").apply.log" 2>&1 ||
		{ cat "$tmp/$(basename "$1").apply.log" >&2; exit 1; }
	t1=$(now)
	secs "$t0" "$t1"
}

# noop_plan DIR: a plan that must be empty (-detailed-exitcode 0); prints seconds.
noop_plan() {
	local t0 t1 rc=0
	t0=$(now)
	"$tofu" -chdir="$1" plan -detailed-exitcode -no-color -input=false >"$tmp/plan.log" 2>&1 || rc=$?
	t1=$(now)
	if [ "$rc" != 0 ]; then
		log "the no-op plan of $(basename "$1") is not empty or failed (exit $rc):"; tail -n 40 "$tmp/plan.log" >&2; exit 1
	fi
	secs "$t0" "$t1"
}

audit_lines() { wc -l <"$tmp/audit.log" | tr -d ' '; }

# audited OPS FROM: the audit-log requests after line FROM whose operation matches OPS.
audited() { tail -n +"$(($2 + 1))" "$tmp/audit.log" | grep '"type":"request"' | grep -cE "\"operation\":\"($1)\"" || true; }

targets=(data tailor)
[ -n "$vault_provider" ] && targets+=(vault)
declare -A applied apply_writes plans writes reads
load=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)
for t in "${targets[@]}"; do
	log "tofu apply: $t"
	before=$(audit_lines)
	applied[$t]=$(apply "$tmp/$t")
	sleep 0.2 # let the audit device flush
	apply_writes[$t]=$(audited 'create|update|delete' "$before")
done
for i in $(seq 1 "$PLANS"); do
	log "no-op plan $i/$PLANS"
	for t in "${targets[@]}"; do
		before=$(audit_lines)
		plans[$t]="${plans[$t]:-} $(noop_plan "$tmp/$t")"
		sleep 0.2
		writes[$t]="${writes[$t]:-} $(audited 'create|update|delete' "$before")"
		reads[$t]="${reads[$t]:-} $(audited 'read|list' "$before")"
	done
done

# PROFILE=DIR: afterwards, destroy and apply again, then plan, each provider's configuration
# under `perf record` (CPU samples of tofu and the provider process, with call graphs), into
# DIR/<target>.<apply|plan>.perf. Read with:
#   perf report -i DIR/tailor.apply.perf --comm terraform-provi --children --sort sym
if [ -n "${PROFILE:-}" ]; then
	command -v perf >/dev/null || { log "PROFILE needs perf (Debian package linux-perf)"; exit 1; }
	mkdir -p "$PROFILE"
	for t in "${targets[@]}"; do
		[ "$t" = data ] && continue
		log "profile: destroy, then apply and a no-op plan of $t with provider trace logs and perf"
		"$tofu" -chdir="$tmp/$t" destroy -auto-approve -no-color -input=false >/dev/null 2>&1
		for op in apply plan; do
			args=(-auto-approve)
			[ "$op" = plan ] && args=(-detailed-exitcode)
			perf record -q -e cpu-clock -F 999 -g -o "$PROFILE/$t.$op.perf" -- \
				"$tofu" -chdir="$tmp/$t" "$op" "${args[@]}" -no-color -input=false >/dev/null 2>&1 || true
		done
	done
fi

stored=$("$vault" kv list -format=json secret/bench/connections | grep -c '"bench-' || true)
if [ "$stored" != "$N" ]; then log "expected $N connections in Vault, found $stored"; exit 1; fi
if [ -n "$vault_provider" ]; then
	stored=$("$vault" kv list -format=json secret/benchv/connections | grep -c '"bench-' || true)
	if [ "$stored" != "$N" ]; then log "expected $N Vault-provider connections in Vault, found $stored"; exit 1; fi
fi

total_writes=0
for w in ${writes[tailor]}; do total_writes=$((total_writes + w)); done

# row LABEL FIELD...: a table row with one cell per target.
cell() { # TARGET WHAT
	case $2 in
	apply) echo "${applied[$1]} s" ;;
	median) echo "$(echo "${plans[$1]}" | median) s" ;;
	each) echo "${plans[$1]# }" ;;
	apply_writes) [ "$1" = data ] && echo - || echo "${apply_writes[$1]}" ;;
	writes) [ "$1" = data ] && echo - || echo "${writes[$1]# }" ;;
	reads) [ "$1" = data ] && echo - || echo "${reads[$1]# }" ;;
	esac
}
row() {
	local line="| $1 |"
	for t in "${targets[@]}"; do line+=" $(cell "$t" "$2") |"; done
	echo "$line"
}
declare -A heading=([data]="$N \`terraform_data\`" [tailor]="$N \`tailor_authconnection\`" [vault]="$((2 * N)) \`vault_kv_secret_v2\` (terraform-provider-vault)")

cpu=$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || echo unknown)
cat <<EOF
## Terraform provider: apply and no-op plan of $N connections

Command: \`scripts/bench-tofu.sh\` (N=$N, $PLANS no-op plans each$([ -n "$vault_provider" ] && echo ", TAILOR_VAULT_PROVIDER set")), $(date -u +%Y-%m-%d), on $(nproc) cores ($cpu),
$("$tofu" version | head -n1), $("$vault" version | head -n1 | cut -d, -f1) dev server with a file audit device, default
parallelism (10), load average $load at the start. The providers are loaded through \`dev_overrides\`; each connection has a
write-only client secret.

EOF
line="| |" sep="|---|"
for t in "${targets[@]}"; do line+=" ${heading[$t]} |"; sep+="---|"; done
echo "$line"
echo "$sep"
row '`tofu apply` (create)' apply
row "no-op \`tofu plan\`, median of $PLANS" median
row 'no-op `tofu plan`, each run' each
row 'Vault writes during the apply' apply_writes
row 'Vault writes during each no-op plan' writes
row 'Vault reads during each no-op plan' reads
cat <<EOF

Vault writes are audit-log requests with operation create, update or delete; reads are read or list.
EOF

if [ "$total_writes" != 0 ]; then log "FAIL: the no-op plans made $total_writes Vault writes"; exit 1; fi
