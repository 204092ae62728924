# The demo's Terraform configuration: `make demo` runs `tofu apply` on it, with the local
# Hydra's address in TF_VAR_provider_url, its three clients in TF_VAR_client_id,
# TF_VAR_service_client_id and TF_VAR_hosted_client_id, their secrets in
# TF_VAR_client_secret, TF_VAR_service_client_secret and TF_VAR_hosted_client_secret, and
# the demo's stand-in for www.googleapis.com (in front of Hydra's userinfo) in
# TF_VAR_google_api_url.
terraform {
  required_providers {
    tailor = {
      source = "registry.terraform.io/authconnection/tailor"
    }
  }
}

provider "tailor" {} # Vault from VAULT_ADDR and VAULT_TOKEN

variable "provider_url" {
  type        = string
  description = "The OAuth2 provider: the demo's Ory Hydra on loopback."
}

variable "client_id" {
  type        = string
  description = "The OAuth2 client the demo registered at Hydra."
}

variable "client_secret" {
  type        = string
  description = "The client's secret. Ephemeral: it is in no plan file and no state."
  sensitive   = true
  ephemeral   = true
}

variable "google_api_url" {
  type        = string
  description = "Where tokend's proxy sends google-oauth's API calls: https://www.googleapis.com for Google; here the demo's stand-in, which answers /oauth2/v2/userinfo with Hydra's /userinfo."
}

# The seed's function asks for "google-oauth"; here it points at the local Hydra.
resource "tailor_authconnection" "google" {
  name           = "google-oauth"
  type           = "TYPE_OAUTH2"
  provider_url   = var.provider_url
  issuer_url     = var.provider_url
  client_id      = var.client_id
  scopes         = ["openid", "offline_access", "email", "profile"]
  proxy_base_url = var.google_api_url # the API behind /v1/connections/google-oauth/proxy/...

  client_secret_wo         = var.client_secret # write-only: sent to Vault, never stored
  client_secret_wo_version = 1
}

variable "service_client_id" {
  type        = string
  description = "A second Hydra client, allowed only the client credentials grant."
}

variable "service_client_secret" {
  type      = string
  sensitive = true
  ephemeral = true
}

# A machine-to-machine connection: no one authorizes it; tokend requests its tokens.
resource "tailor_authconnection" "service" {
  name         = "service-api"
  type         = "TYPE_OAUTH2"
  grant_type   = "client_credentials"
  provider_url = var.provider_url
  issuer_url   = var.provider_url
  client_id    = var.service_client_id
  scopes       = ["read"]

  client_secret_wo         = var.service_client_secret
  client_secret_wo_version = 1
}

variable "hosted_client_id" {
  type        = string
  description = "A third Hydra client, whose redirect URI is tokend's public URL (hosted authorize)."
}

variable "hosted_client_secret" {
  type      = string
  sensitive = true
  ephemeral = true
}

# Authorized by whoever opens a connect link (the company's admin), not by the operator.
resource "tailor_authconnection" "partner" {
  name         = "partner-oauth"
  type         = "TYPE_OAUTH2"
  provider_url = var.provider_url
  issuer_url   = var.provider_url
  client_id    = var.hosted_client_id
  scopes       = ["openid", "offline_access", "email"]

  client_secret_wo         = var.hosted_client_secret
  client_secret_wo_version = 1
}

output "authorized" {
  value = tailor_authconnection.google.authorized
}
