import {
  to = tailor_authconnection.quickbooks
  identity = {
    name = "quickbooks-oauth-prod"
  }
}
