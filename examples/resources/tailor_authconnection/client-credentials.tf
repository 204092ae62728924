# Machine-to-machine access (RFC 6749 4.4, the client credentials grant): no authorization;
# tokend obtains a token on first use and before each expiry, one request per expiry across
# all replicas.

variable "graph_app_secret" {
  type      = string
  sensitive = true
  ephemeral = true
}

# Microsoft Graph with application permissions: the scope of the client credentials grant is
# the resource's ".default".
resource "tailor_authconnection" "graph_app" {
  name         = "ms365-graph-app"
  type         = "TYPE_OAUTH2"
  grant_type   = "client_credentials"
  provider_url = "https://login.microsoftonline.com/YOUR_TENANT_ID"
  client_id    = "YOUR_AZURE_APP_CLIENT_ID"
  scopes       = ["https://graph.microsoft.com/.default"]

  client_secret_wo         = var.graph_app_secret
  client_secret_wo_version = 1
}

# private_key_jwt (RFC 7523): the client signs an assertion with its private key instead of
# sending a secret. Register the public key at the provider; the key goes to Vault through
# the write-only attribute and never into the plan or the state.
variable "api_client_key_pem" {
  type      = string
  sensitive = true
  ephemeral = true
}

resource "tailor_authconnection" "internal_api" {
  name         = "internal-api"
  type         = "TYPE_OAUTH2"
  grant_type   = "client_credentials"
  client_auth  = "private_key_jwt"
  provider_url = "https://sso.example.com/realms/main"
  client_id    = "billing-service"
  scopes       = ["billing.read"]
  audience     = "https://api.example.com"
  resources    = ["https://api.example.com/"]

  client_assertion_key_wo         = var.api_client_key_pem
  client_assertion_key_wo_version = 1
  client_assertion_key_id         = "billing-service-2026"
}
