# The provider gets the token from a running tokend; the API key comes from
# TAILOR_TOKEND_API_KEY (tokend keys create --connections 'github-*').
provider "tailor" {
  tokend_url = "https://tokend.internal:8787"
}

# A valid access token during this run only: never stored in the plan or the state.
ephemeral "tailor_authconnection_token" "github" {
  name = "github-app-prod"
}

# Another provider configured with it (provider configuration may use ephemeral values).
provider "github" {
  owner = "example-org"
  token = ephemeral.tailor_authconnection_token.github.access_token
}
