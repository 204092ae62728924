#!/usr/bin/env bash
# bench-tofu.sh measures, on this machine and in one run, `tofu apply` (create) and a no-op
# `tofu plan` of N tailor_authconnection resources beside the same for N terraform_data
# resources (OpenTofu's built-in no-op resource, the floor), against a fresh Vault dev server,
# and counts the Vault writes the no-op plan of the connections makes (it must be 0).
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
  }
  direct {}
}
EOF
export TF_CLI_CONFIG_FILE=$tmp/tofurc

mkdir -p "$tmp/tailor" "$tmp/data"
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

load=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)
log "tofu apply: $N terraform_data"
data_apply=$(apply "$tmp/data")
log "tofu apply: $N tailor_authconnection"
before=$(audit_lines)
tailor_apply=$(apply "$tmp/tailor")
sleep 0.2
apply_writes=$(tail -n +"$((before + 1))" "$tmp/audit.log" | grep '"type":"request"' | grep -cE '"operation":"(create|update|delete)"' || true)

data_plans=() tailor_plans=() writes=() reads=()
for i in $(seq 1 "$PLANS"); do
	log "no-op plan $i/$PLANS"
	data_plans+=("$(noop_plan "$tmp/data")")
	before=$(audit_lines)
	tailor_plans+=("$(noop_plan "$tmp/tailor")")
	sleep 0.2 # let the audit device flush
	new=$(tail -n +"$((before + 1))" "$tmp/audit.log" | grep '"type":"request"' || true)
	writes+=("$(printf '%s\n' "$new" | grep -cE '"operation":"(create|update|delete)"' || true)")
	reads+=("$(printf '%s\n' "$new" | grep -cE '"operation":"(read|list)"' || true)")
done

stored=$("$vault" kv list -format=json secret/bench/connections | grep -c '"bench-' || true)
if [ "$stored" != "$N" ]; then log "expected $N connections in Vault, found $stored"; exit 1; fi

total_writes=0
for w in "${writes[@]}"; do total_writes=$((total_writes + w)); done

cpu=$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || echo unknown)
cat <<EOF
## Terraform provider: apply and no-op plan of $N connections

Command: \`scripts/bench-tofu.sh\` (N=$N, $PLANS no-op plans each), $(date -u +%Y-%m-%d), on $(nproc) cores ($cpu),
$("$tofu" version | head -n1), $("$vault" version | head -n1 | cut -d, -f1) dev server with a file audit device, default
parallelism (10), load average $load at the start. The provider is built fresh and loaded through \`dev_overrides\`; each connection has a
write-only client secret.

| | $N \`terraform_data\` | $N \`tailor_authconnection\` |
|---|---|---|
| \`tofu apply\` (create) | ${data_apply} s | ${tailor_apply} s |
| no-op \`tofu plan\`, median of $PLANS | $(echo "${data_plans[*]}" | median) s | $(echo "${tailor_plans[*]}" | median) s |
| no-op \`tofu plan\`, each run | ${data_plans[*]} | ${tailor_plans[*]} |
| Vault writes during the apply (config + secret per connection) | - | ${apply_writes} |
| Vault writes during each no-op plan | - | ${writes[*]} |
| Vault reads during each no-op plan | - | ${reads[*]} |

Vault writes are audit-log requests with operation create, update or delete. A no-op plan reads each
connection's configuration and its token status metadata (2 reads per connection, plus the provider's
token check) and writes nothing.
EOF

if [ "$total_writes" != 0 ]; then log "FAIL: the no-op plans made $total_writes Vault writes"; exit 1; fi
