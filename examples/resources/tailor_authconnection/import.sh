# Import a connection by its name. The client secret is not imported: the first apply
# writes client_secret_wo to Vault (a new secret version; the tokens are kept).
terraform import tailor_authconnection.quickbooks quickbooks-oauth-prod
