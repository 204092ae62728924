# A provider of the catalog (data.tailor_providers lists them) chosen by name, with its
# per-connection parameters: each is checked against the entry's pattern at plan time, so a
# value can never point the connection at another host or path.
variable "zendesk_client_secret" {
  type      = string
  sensitive = true
  ephemeral = true
}

# Zendesk: every endpoint is on the account's subdomain (acme.zendesk.com).
resource "tailor_authconnection" "zendesk" {
  name          = "zendesk-oauth"
  type          = "TYPE_OAUTH2"
  provider_name = "zendesk"
  params        = { subdomain = "acme" }
  provider_url  = "https://acme.zendesk.com"
  client_id     = "tailor"

  # Bump the version with a new secret, and when provider_name or params change. tokend
  # serve warns 30, 7 and 1 days before the secret expires.
  client_secret_wo         = var.zendesk_client_secret
  client_secret_wo_version = 1
  client_secret_expires_at = "2027-06-30T00:00:00Z"
}

# The entry's API base URL with the subdomain filled in (https://acme.zendesk.com/api/v2),
# once the connection is authorized: other resources can use it.
output "zendesk_api" {
  value = tailor_authconnection.zendesk.api_base_url
}
