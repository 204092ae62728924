# A generic OpenID Connect provider (no catalog entry names its API) whose API is called
# through tokend's proxy (docs/proxy.md): functions send their requests to
# /v1/connections/acme-oidc/proxy/PATH with a proxy-only API key, and tokend adds the access
# token and forwards them to proxy_base_url + PATH. The function never holds the token.
variable "acme_client_secret" {
  type      = string
  sensitive = true
  ephemeral = true
}

resource "tailor_authconnection" "acme" {
  name         = "acme-oidc"
  type         = "TYPE_OAUTH2"
  provider_url = "https://id.acme.example" # endpoints from its discovery document
  client_id    = "tailor"
  scopes       = ["openid", "orders.read"]

  # The access token is sent to these, and only these: the base URL's host, and the hosts a
  # call may name with the Tailor-Proxy-Host header. Operator-typed, so the egress policy lets
  # them be reached even on internal addresses. Changing them moves where the token goes:
  # bump client_secret_wo_version in the same apply.
  proxy_base_url      = "https://api.acme.example/v2"
  proxy_allowed_hosts = ["uploads.acme.example"]

  client_secret_wo         = var.acme_client_secret
  client_secret_wo_version = 1
}
