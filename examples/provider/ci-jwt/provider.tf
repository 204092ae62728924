# In CI, without a long-lived Vault token: log in with the CI system's OIDC token.
# GitHub Actions: a job with `permissions: id-token: write` requests the token for the
# audience the Vault role binds (see the workflow in the provider documentation) and puts it
# in VAULT_ID_TOKEN. GitLab CI: `id_tokens: { VAULT_ID_TOKEN: { aud: vault } }`.
provider "tailor" {
  vault_address = "https://vault.example.com:8200"

  auth_login_jwt {
    role    = "terraform-ci" # bound_audiences = vault, bound_subject = this repository's main branch
    jwt_env = "VAULT_ID_TOKEN"
  }
}
