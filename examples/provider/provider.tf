terraform {
  required_providers {
    tailor = {
      source = "authconnection/tailor"
    }
  }
}

# In CI, give Vault's address and token in the environment (VAULT_ADDR, VAULT_TOKEN,
# VAULT_NAMESPACE), so that no credential is written in the configuration.
provider "tailor" {
  # vault_address = "https://vault.example.com:8200"  # or VAULT_ADDR
  # ca_cert_file  = "/etc/ssl/vault-ca.pem"           # or VAULT_CACERT

  # Where the connections live; tokend must use the same mount and prefix.
  mount       = "secret" # a KV version 2 secrets engine
  path_prefix = "tailor"
}
