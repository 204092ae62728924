import {
  to = tailor_authconnection.quickbooks
  id = "quickbooks-oauth-prod"
}
