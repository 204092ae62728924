package authconn

import "time"

// Discovered is what a provider's discovery document (OpenID Connect Discovery or RFC 8414)
// said when the connection was created or last updated. It is pinned: requests use these
// endpoints, and a later change of the provider's document is reported, never followed. To
// take a changed document, update the connection (a Terraform apply that changes it), or
// delete and create it again: both discover again. The JSON names are the metadata's own.
type Discovered struct {
	Issuer                      string   `json:"issuer,omitempty"`
	AuthorizationEndpoint       string   `json:"authorization_endpoint,omitempty"`
	TokenEndpoint               string   `json:"token_endpoint,omitempty"`
	RevocationEndpoint          string   `json:"revocation_endpoint,omitempty"`
	UserinfoEndpoint            string   `json:"userinfo_endpoint,omitempty"`
	DeviceAuthorizationEndpoint string   `json:"device_authorization_endpoint,omitempty"`
	ScopesSupported             []string `json:"scopes_supported,omitempty"`
	TokenEndpointAuthMethods    []string `json:"token_endpoint_auth_methods_supported,omitempty"`
	CodeChallengeMethods        []string `json:"code_challenge_methods_supported,omitempty"`
	IssParameterSupported       bool     `json:"authorization_response_iss_parameter_supported,omitempty"`
	// From is the discovery document's URL; At is when it was read.
	From string    `json:"from,omitempty"`
	At   time.Time `json:"at"`
}
