# The demo's second configuration: `make demo` runs `tofu apply` on it once tokend serves.
# The ephemeral tailor_authconnection_token asks tokend (TAILOR_TOKEND_URL and
# TAILOR_TOKEND_API_KEY) for a token of service-api; a local-exec provisioner uses it to call
# Hydra's introspection through the demo's helper. The token is in no plan and no state.
terraform {
  required_providers {
    tailor = {
      source = "registry.terraform.io/authconnection/tailor"
    }
  }
}

provider "tailor" {} # tokend from TAILOR_TOKEND_URL and TAILOR_TOKEND_API_KEY

variable "check_command" {
  type        = string
  description = "A command that reads TOKEN from its environment and says whom it belongs to."
}

ephemeral "tailor_authconnection_token" "service" {
  name = "service-api"
}

resource "terraform_data" "call_api" {
  provisioner "local-exec" {
    command = var.check_command
    environment = {
      TOKEN = ephemeral.tailor_authconnection_token.service.access_token
    }
  }
}
