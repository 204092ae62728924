# Client secrets come in as ephemeral variables (Terraform 1.10+, OpenTofu 1.11+), e.g.
# TF_VAR_google_client_secrets='{"dev":"...","prod":"..."}' in CI: with client_secret_wo they
# are written to Vault and never stored in the plan or the state.
variable "google_client_secrets" {
  description = "Google OAuth client secret per environment."
  type        = map(string)
  sensitive   = true
  ephemeral   = true
}

variable "ms365_client_secret" {
  type      = string
  sensitive = true
  ephemeral = true
}

variable "quickbooks_client_secret" {
  type      = string
  sensitive = true
  ephemeral = true
}

# Google: one connection per environment, named after provider and environment
# (google-oauth-dev, google-oauth-prod), each with its own OAuth client.
locals {
  google_clients = {
    dev  = "DEV_CLIENT_ID.apps.googleusercontent.com"
    prod = "PROD_CLIENT_ID.apps.googleusercontent.com"
  }
}

resource "tailor_authconnection" "google" {
  for_each = local.google_clients

  name         = "google-oauth-${each.key}"
  type         = "TYPE_OAUTH2"
  provider_url = "https://accounts.google.com" # endpoints come from its OpenID discovery document
  issuer_url   = "https://accounts.google.com"
  client_id    = each.value
  scopes       = ["openid", "email", "https://www.googleapis.com/auth/admin.directory.user.readonly"]

  client_secret_wo         = var.google_client_secrets[each.key]
  client_secret_wo_version = 1 # increment to rotate the secret; tokens are kept
}

# Microsoft 365 / Azure AD (Entra ID). Replace YOUR_TENANT_ID with the tenant ID, or use
# "common" for multi-tenant applications.
resource "tailor_authconnection" "ms365" {
  name         = "ms365-oauth-prod"
  type         = "TYPE_OAUTH2"
  provider_url = "https://login.microsoftonline.com/YOUR_TENANT_ID"
  issuer_url   = "https://login.microsoftonline.com/YOUR_TENANT_ID/v2.0"
  auth_url     = "https://login.microsoftonline.com/YOUR_TENANT_ID/oauth2/v2.0/authorize"
  token_url    = "https://login.microsoftonline.com/YOUR_TENANT_ID/oauth2/v2.0/token"
  client_id    = "YOUR_AZURE_APP_CLIENT_ID"

  # Microsoft issues a refresh token only when offline_access is requested: without it the
  # connection stops working when the first access token expires (about an hour).
  scopes = ["offline_access", "https://graph.microsoft.com/.default"]

  client_secret_wo         = var.ms365_client_secret
  client_secret_wo_version = 1
}

# QuickBooks Online (Intuit). Intuit's discovery document is not under provider_url, so
# the endpoints are given explicitly.
resource "tailor_authconnection" "quickbooks" {
  name           = "quickbooks-oauth-prod"
  type           = "TYPE_OAUTH2"
  provider_url   = "https://appcenter.intuit.com/connect/oauth2"
  issuer_url     = "https://oauth.platform.intuit.com/op/v1"
  auth_url       = "https://appcenter.intuit.com/connect/oauth2"
  token_url      = "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer"
  revocation_url = "https://developer.api.intuit.com/v2/oauth2/tokens/revoke"
  client_id      = "YOUR_QUICKBOOKS_CLIENT_ID"
  scopes         = ["com.intuit.quickbooks.accounting", "openid", "profile", "email"]

  client_secret_wo         = var.quickbooks_client_secret
  client_secret_wo_version = 1
}

# After apply, authorize each connection once: tokend authorize google-oauth-prod
output "authorized" {
  value = {
    google     = { for k, c in tailor_authconnection.google : k => c.authorized }
    ms365      = tailor_authconnection.ms365.authorized
    quickbooks = tailor_authconnection.quickbooks.authorized
  }
}

# What the provider returned with the tokens is readable once the connection is authorized:
# QuickBooks' company (realmId) goes into every API path. Null until then.
output "quickbooks_company" {
  value = {
    realm_id     = try(tailor_authconnection.quickbooks.metadata["realmId"], null)
    api_base_url = tailor_authconnection.quickbooks.api_base_url
  }
}
