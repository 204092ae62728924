# The demo's Terraform configuration: `make demo` runs `tofu apply` on it, with the local
# Hydra's address and client in TF_VAR_provider_url and TF_VAR_client_id, and the client
# secret in TF_VAR_client_secret.
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

# The seed's function asks for "google-oauth"; here it points at the local Hydra.
resource "tailor_authconnection" "google" {
  name         = "google-oauth"
  type         = "TYPE_OAUTH2"
  provider_url = var.provider_url
  issuer_url   = var.provider_url
  client_id    = var.client_id
  scopes       = ["openid", "offline_access", "email", "profile"]

  client_secret_wo         = var.client_secret # write-only: sent to Vault, never stored
  client_secret_wo_version = 1
}

output "authorized" {
  value = tailor_authconnection.google.authorized
}
