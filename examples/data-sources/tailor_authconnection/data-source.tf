# Read a connection by name: its configuration and token status, never the secret or tokens.
data "tailor_authconnection" "google" {
  name = "google-oauth-prod"
}

output "google_needs_authorization" {
  value = !data.tailor_authconnection.google.authorized
}
