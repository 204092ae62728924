# Read a connection by name: its configuration and token status, never the secret or tokens.
data "tailor_authconnection" "google" {
  name = "google-oauth-prod"
}

output "google_needs_authorization" {
  value = !data.tailor_authconnection.google.authorized
}

# Values the provider returned with the tokens (null until authorized), e.g. for the
# company of a QuickBooks connection.
data "tailor_authconnection" "quickbooks" {
  name = "quickbooks-oauth-prod"
}

output "quickbooks_realm_id" {
  value = try(data.tailor_authconnection.quickbooks.metadata["realmId"], null)
}
