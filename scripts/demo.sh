#!/usr/bin/env bash
# demo.sh (make demo) shows the whole job on loopback: a Vault dev server, Ory Hydra as the
# OAuth2 provider, `tofu apply` creating the connection google-oauth with the tailor
# provider, `tokend authorize` through headless Chromium, `tokend serve`, and the seed's
# function example (functions/js/examples/basic-usage.mjs, unchanged) fetching a token and
# calling Hydra's userinfo endpoint with it; then the QuickBooks connection of the catalog
# against an imitation on loopback (host overrides), whose function calls companyinfo with
# the realmId and api_base_url of the token answer; both functions again through tokend's
# proxy with a proxy-only key (basic-usage-proxy.mjs, quickbooks-companyinfo-proxy.mjs: no
# token in the function) and the audit trail of that key; and Xero's tenant learnt after
# connecting. See examples/demo/.
#
#   scripts/demo.sh                    # headless Chromium does the consent
#   DEMO_BROWSER=user scripts/demo.sh  # your own browser opens the consent page
#   scripts/demo.sh -keep              # leave the servers running until Ctrl-C
#
# Needs vault, hydra, tofu, chromium and node 20+, found as the tests find them (make tools).
set -euo pipefail
cd "$(dirname "$0")/.."
unset VAULT_ADDR VAULT_TOKEN VAULT_NAMESPACE TF_LOG
echo "building tokend and terraform-provider-tailor into bin/" >&2
go build -buildvcs=false -trimpath -o bin/tokend ./tokend
go build -buildvcs=false -trimpath -o bin/terraform-provider-tailor .
browser=${DEMO_BROWSER:-headless}
exec go run ./examples/demo -browser "$browser" "$@"
