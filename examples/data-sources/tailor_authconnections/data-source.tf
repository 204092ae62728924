# List every connection with its token status.
data "tailor_authconnections" "all" {}

# Connections that must be authorized (again) with `tokend authorize NAME`.
output "unauthorized_connections" {
  value = [for c in data.tailor_authconnections.all.connections : c.name if !c.authorized]
}
