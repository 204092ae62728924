# A provider of the catalog (data.tailor_providers lists them) chosen by name, with its
# per-connection parameters: each is checked against the entry's pattern at plan time, so a
# value can never point the connection at another host or path.
variable "salesforce_client_secret" {
  type      = string
  sensitive = true
  ephemeral = true
}

resource "tailor_authconnection" "salesforce" {
  name          = "salesforce-oauth-prod"
  type          = "TYPE_OAUTH2"
  provider_name = "salesforce"
  params        = { hostname = "acme.my.salesforce.com" } # the org's My Domain login host
  provider_url  = "https://acme.my.salesforce.com"
  client_id     = "YOUR_CONNECTED_APP_CONSUMER_KEY"

  # Bump the version with a new secret, and when provider_name or params change. tokend
  # serve warns 30, 7 and 1 days before the secret expires.
  client_secret_wo         = var.salesforce_client_secret
  client_secret_wo_version = 1
  client_secret_expires_at = "2027-06-30T00:00:00Z"
}

# The org's API origin comes back from the token response (instance_url): other resources
# can use it once the connection is authorized.
output "salesforce_api" {
  value = tailor_authconnection.salesforce.api_base_url
}
