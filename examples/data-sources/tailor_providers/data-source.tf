# The provider catalog: which entries provider_name may name, and the parameters each takes.
data "tailor_providers" "all" {}

output "provider_params" {
  value = { for p in data.tailor_providers.all.providers : p.name => [for q in p.params : "${q.name} (${q.pattern})"] }
}
