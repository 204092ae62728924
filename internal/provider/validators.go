package provider

import (
	"context"
	"fmt"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/schema/validator"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/connection"
)

// The validators below call the domain model's own checks, so that Terraform rejects at plan time
// exactly what the store (and the tokend CLI) rejects, with the same message.

var (
	_ validator.String = storeStringValidator{}
)

// storeStringValidator runs check on known, non-null string values and reports its error
// as an attribute error with the given summary.
type storeStringValidator struct {
	summary     string
	description string
	check       func(attr, v string) error
}

func (v storeStringValidator) Description(_ context.Context) string { return v.description }

func (v storeStringValidator) MarkdownDescription(ctx context.Context) string {
	return v.Description(ctx)
}

func (v storeStringValidator) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	if err := v.check(attrName(req), req.ConfigValue.ValueString()); err != nil {
		resp.Diagnostics.AddAttributeError(req.Path, v.summary, err.Error())
	}
}

// attrName returns the attribute name of the validated value, for messages ("provider_url").
func attrName(req validator.StringRequest) string {
	steps := req.Path.Steps()
	for i := len(steps) - 1; i >= 0; i-- {
		if s := steps[i].String(); s != "" && s[0] != '[' {
			return s
		}
	}
	return req.Path.String()
}

// connectionName accepts the names authconn.ValidateName accepts.
func connectionName() validator.String {
	return storeStringValidator{
		summary:     "Invalid connection name",
		description: "value must be a connection name: " + authconn.NameRule,
		check:       func(_, v string) error { return authconn.ValidateName(v) },
	}
}

// connectionType accepts the types authconn.ValidateType accepts.
func connectionType() validator.String {
	return storeStringValidator{
		summary:     "Invalid connection type",
		description: "value must be one of: " + strings.Join(authconn.Types, ", "),
		check:       func(_, v string) error { return authconn.ValidateType(v) },
	}
}

// endpointURL accepts the URLs authconn.ValidateURL accepts: https, or http for loopback hosts.
func endpointURL() validator.String {
	return storeStringValidator{
		summary:     "Invalid URL",
		description: "value must be an absolute https URL (plain http only for localhost and loopback addresses)",
		check:       authconn.ValidateURL,
	}
}

// clientID accepts the client ids authconn.ValidateClientID accepts: not blank, at most
// authconn.MaxClientIDLen bytes, without control characters.
func clientID() validator.String {
	return storeStringValidator{
		summary:     "Invalid client_id",
		description: fmt.Sprintf("value must not be blank, at most %d bytes, without control characters", authconn.MaxClientIDLen),
		check:       func(_, v string) error { return authconn.ValidateClientID(v) },
	}
}

// scope accepts a single OAuth2 scope (authconn.ValidateScope: no spaces, commas or control
// characters, at most authconn.MaxScopeLen bytes).
func scope() validator.String {
	return storeStringValidator{
		summary:     "Invalid scope",
		description: fmt.Sprintf("each scope must be non-empty, at most %d bytes, and contain no spaces, commas or control characters", authconn.MaxScopeLen),
		check:       func(_, v string) error { return authconn.ValidateScope(v) },
	}
}

// clientSecret accepts the client secrets authconn.ValidateClientSecret accepts: not blank,
// at most authconn.MaxClientSecretLen bytes, without control characters (Terraform strings
// are UTF-8). Its message never contains the value.
func clientSecret() validator.String {
	return storeStringValidator{
		summary:     "Invalid client secret",
		description: fmt.Sprintf("value must not be blank, at most %d bytes, without control characters", authconn.MaxClientSecretLen),
		check:       func(_, v string) error { return authconn.ValidateClientSecret(v) },
	}
}

// grantType accepts the grant types authconn.ValidateGrantType accepts.
func grantType() validator.String {
	return storeStringValidator{
		summary:     "Invalid grant_type",
		description: "value must be one of: " + strings.Join(authconn.GrantTypes, ", "),
		check:       func(_, v string) error { return authconn.ValidateGrantType(v) },
	}
}

// clientAuth accepts the client authentication methods authconn.ValidateClientAuth accepts.
func clientAuth() validator.String {
	return storeStringValidator{
		summary:     "Invalid client_auth",
		description: "value must be one of: " + strings.Join(authconn.ClientAuthMethods, ", "),
		check:       func(_, v string) error { return authconn.ValidateClientAuth(v) },
	}
}

// proxyBaseURL accepts the proxy base URLs authconn.ValidateProxyBaseURL accepts: https, or
// http for loopback hosts, without a query.
func proxyBaseURL() validator.String {
	return storeStringValidator{
		summary:     "Invalid proxy_base_url",
		description: "value must be an absolute https URL (plain http only for localhost and loopback addresses) without a query",
		check:       func(_, v string) error { return authconn.ValidateProxyBaseURL(v) },
	}
}

// proxyHost accepts the hosts authconn.ValidateProxyHost accepts: a lowercase hostname or IP
// address with an optional port, nothing else.
func proxyHost() validator.String {
	return storeStringValidator{
		summary:     "Invalid proxy_allowed_hosts entry",
		description: "each entry must be a lowercase hostname or IP address with an optional port, e.g. uploads.example.com or 127.0.0.1:8443",
		check:       func(_, v string) error { return authconn.ValidateProxyHost(v) },
	}
}

// resourceURI accepts an RFC 8707 resource indicator.
func resourceURI() validator.String {
	return storeStringValidator{
		summary:     "Invalid resource",
		description: "each resource must be an absolute URI without a fragment",
		check:       func(_, v string) error { return authconn.ValidateResource(v) },
	}
}

// assertionKey accepts a PEM private key that private_key_jwt can sign with. Its message
// never contains the value.
func assertionKey() validator.String {
	return storeStringValidator{
		summary:     "Invalid client assertion key",
		description: "value must be an RSA (2048 bits or more) or P-256 private key in PEM",
		check: func(_, v string) error {
			_, _, err := authconn.ParseAssertionKey(v)
			return err
		},
	}
}

// catalogProvider accepts the names of the catalog's entries (connection.EntryOf); the error
// lists them.
func catalogProvider() validator.String {
	return storeStringValidator{
		summary:     "Unknown provider",
		description: "value must name a catalog entry: " + strings.Join(connection.ProviderNames(), ", "),
		check: func(_, v string) error {
			_, err := connection.EntryOf(&authconn.Connection{Provider: v})
			return err
		},
	}
}

// secretExpiry accepts an RFC 3339 timestamp (connection.ParseSecretExpiry).
func secretExpiry() validator.String {
	return storeStringValidator{
		summary:     "Invalid client_secret_expires_at",
		description: "value must be an RFC 3339 timestamp, e.g. 2027-06-30T00:00:00Z",
		check: func(_, v string) error {
			_, err := connection.ParseSecretExpiry(v)
			return err
		},
	}
}
