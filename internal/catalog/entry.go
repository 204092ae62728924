// Package catalog holds what tailor knows about OAuth2 providers, as data: one JSON entry per
// provider (providers/*.json, embedded), the loader that validates them against the rules of
// entry.schema.json, the {param} templating of their URLs with per-parameter patterns, and the
// dotted paths that find values in JSON answers. It knows no protocol: internal/oauth honours
// the entries. Standard library only.
package catalog

// Entry is one provider of the catalog: its endpoints and its quirks. Every field is
// documented field by field in entry.schema.json and docs/catalog.md.
type Entry struct {
	// Name identifies the entry ("google", "oidc"); it is the file name without .json.
	Name string `json:"name"`
	// DisplayName is the provider's name for people.
	DisplayName string `json:"display_name,omitempty"`
	// Docs are the provider documentation pages the entry was written from.
	Docs []string `json:"docs,omitempty"`
	// Checked is the date (YYYY-MM-DD) the entry was last compared with the docs.
	Checked string `json:"checked,omitempty"`
	// GrantTypes are the grants the entry is for; GrantAuthorizationCode and
	// GrantRefreshToken when empty.
	GrantTypes []string `json:"grant_types,omitempty"`
	// Hosts are the provider_url / issuer_url hosts that select the entry.
	Hosts []string `json:"hosts,omitempty"`
	// Params are the per-connection parameters (and metadata values) its templates use.
	Params []Param `json:"params,omitempty"`
	// URLs are the entry's endpoint templates (its "endpoints" in JSON).
	URLs Endpoints `json:"endpoints"`
	// Tenant, when set, takes the tenant parameter from the first path segment of provider_url.
	Tenant *TenantRule `json:"tenant,omitempty"`
	// IssuerAliases are other spellings of the issuer that ID tokens and callbacks may carry.
	IssuerAliases []string `json:"issuer_aliases,omitempty"`
	// IssParameter: the provider sends iss on the authorization response (RFC 9207).
	IssParameter bool `json:"iss_parameter,omitempty"`
	// ClientAuth is how the client authenticates at the token endpoint: ClientAuthBasic,
	// ClientAuthPost, ClientAuthNone, ClientAuthPrivateKeyJWT, or empty (from the metadata).
	ClientAuth string `json:"client_auth,omitempty"`
	// PKCE is false for providers that reject PKCE; absent means on.
	PKCE *bool `json:"pkce,omitempty"`
	// ScopeSeparator joins scopes in requests; a space when empty.
	ScopeSeparator string `json:"scope_separator,omitempty"`
	// DefaultScopes are requested when the connection names none.
	DefaultScopes []string `json:"default_scopes,omitempty"`
	// RequiredScopes are always requested (Microsoft: offline_access).
	RequiredScopes []string `json:"required_scopes,omitempty"`
	// OfflineAccessIfListed requests offline_access when the provider's metadata lists it.
	OfflineAccessIfListed bool `json:"offline_access_if_listed,omitempty"`
	// RefreshWithScopes sends the authorized scopes with every refresh.
	RefreshWithScopes bool `json:"refresh_with_scopes,omitempty"`
	// ExtraParams are added to the requests of each step.
	ExtraParams StepParams `json:"extra_params,omitzero"`
	// TokenHeaders are sent with every token and revocation request.
	TokenHeaders map[string]string `json:"token_headers,omitempty"`
	// TokenBody is how token requests are encoded: BodyForm (when empty) or BodyJSON.
	TokenBody string `json:"token_body,omitempty"`
	// TokenQuery names token-request parameters also sent in the token URL's query (ClickUp
	// wants client_id there). Never a secret: the loader refuses secret-looking names.
	TokenQuery []string `json:"token_query,omitempty"`
	// TokenResponse says where tokens, lifetimes and errors are in the token answer.
	TokenResponse TokenResponse `json:"token_response,omitzero"`
	// ErrorCodes maps the provider's own token-endpoint error codes to RFC 6749 codes.
	ErrorCodes map[string]string `json:"error_codes,omitempty"`
	// Metadata names the non-secret values kept with the connection.
	Metadata Metadata `json:"metadata,omitzero"`
	// API says where the provider's API is and how it takes the access token.
	API API `json:"api,omitzero"`
	// Revocation says how tokens are revoked.
	Revocation Revocation `json:"revocation,omitzero"`
	// KeepsPreviousAccessToken: the previous access token stays valid until it expires after
	// a refresh. False (the safe assumption) when unknown.
	KeepsPreviousAccessToken bool `json:"keeps_previous_access_token,omitempty"`
	// AccountKeys name where the provider says which account authorized.
	AccountKeys AccountKeys `json:"account_keys,omitzero"`
	// NoRefreshTokenAdvice says what to change at the provider when it issues no refresh token.
	NoRefreshTokenAdvice string `json:"no_refresh_token_advice"`
	// RedirectNotes says where the redirect URI is registered at the provider.
	RedirectNotes string `json:"redirect_notes"`
	// ConsentNotes says what the user sees or must choose at consent, when worth saying.
	ConsentNotes string `json:"consent_notes,omitempty"`
}

// Grant types (Entry.GrantTypes).
const (
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
	GrantDeviceCode        = "urn:ietf:params:oauth:grant-type:device_code"
)

// Grants returns the entry's grant types: its own, else the authorization code grant with
// refresh.
func (e *Entry) Grants() []string {
	if len(e.GrantTypes) == 0 {
		return []string{GrantAuthorizationCode, GrantRefreshToken}
	}
	return e.GrantTypes
}

// Client authentication methods (Entry.ClientAuth).
const (
	ClientAuthBasic         = "client_secret_basic"
	ClientAuthPost          = "client_secret_post"
	ClientAuthNone          = "none"
	ClientAuthPrivateKeyJWT = "private_key_jwt"
)

// Token request encodings (Entry.TokenBody).
const (
	BodyForm = "form"
	BodyJSON = "json"
)

// Revocation kinds (Revocation.Kind).
const (
	// RevokeRFC7009 posts token and token_type_hint as a form to the revocation endpoint.
	RevokeRFC7009 = "rfc7009"
	// RevokeJSON posts {"token": ...} as JSON to the revocation endpoint.
	RevokeJSON = "json"
	// RevokeCall makes a provider-specific call (Method, the revocation URL) that presents
	// the token as the API takes it.
	RevokeCall = "call"
	// RevokeNone: the provider cannot revoke tokens.
	RevokeNone = "none"
)

// Pick rules of a metadata call (MetadataCall.Pick).
const (
	PickFirst = "first"
	PickOnly  = "only"
	PickMatch = "match"
)

// PKCEOn reports whether the entry lets PKCE be used (it is on unless the entry says false).
func (e *Entry) PKCEOn() bool { return e.PKCE == nil || *e.PKCE }

// Separator returns the scope separator: a space unless the entry names another.
func (e *Entry) Separator() string {
	if e.ScopeSeparator == "" {
		return " "
	}
	return e.ScopeSeparator
}

// RevocationKind returns the entry's revocation kind: its own, else RevokeRFC7009 when it has
// a revocation endpoint, else RevokeNone.
func (e *Entry) RevocationKind() string {
	switch {
	case e.Revocation.Kind != "":
		return e.Revocation.Kind
	case len(e.URLs.Revocation) > 0:
		return RevokeRFC7009
	}
	return RevokeNone
}

// Param is a per-connection parameter of an entry, or a metadata value its templates use.
type Param struct {
	// Name is the placeholder name: {name} in templates.
	Name string `json:"name"`
	// Description says what the value is and where to find it.
	Description string `json:"description"`
	// Pattern is an anchored regular expression (^...$) every value must match.
	Pattern string `json:"pattern"`
	// Default is the value when the connection gives none; empty: no default.
	Default string `json:"default,omitempty"`
	// Where lists the URL parts the placeholder may appear in: PartOrigin, PartHost,
	// PartPath, PartQuery.
	Where []string `json:"where"`
}

// URL parts a placeholder may appear in (Param.Where).
const (
	// PartOrigin: the whole scheme://host[:port] ("{instance_url}/services/data").
	PartOrigin = "origin"
	// PartHost: one or more DNS labels of the host ("https://{subdomain}.zendesk.com").
	PartHost = "host"
	// PartPath: one path segment, or part of one ("/{tenant}/oauth2").
	PartPath = "path"
	// PartQuery: a query value, or an extra parameter's value.
	PartQuery = "query"
)

// Endpoints are an entry's endpoint templates. Each is a Template: alternatives tried in order.
type Endpoints struct {
	Issuer              Template `json:"issuer,omitempty"`
	Authorize           Template `json:"authorize,omitempty"`
	Token               Template `json:"token,omitempty"`
	Refresh             Template `json:"refresh,omitempty"`
	Revocation          Template `json:"revocation,omitempty"`
	Userinfo            Template `json:"userinfo,omitempty"`
	DeviceAuthorization Template `json:"device_authorization,omitempty"`
}

// TenantRule describes a provider whose endpoints depend on a tenant taken from provider_url.
type TenantRule struct {
	// Param is the parameter the tenant fills ("tenant" when empty).
	Param string `json:"param,omitempty"`
	// Default is the tenant when provider_url names none.
	Default string `json:"default"`
	// NotTenants are first path segments that are not tenants ("oauth2", "v2.0").
	NotTenants []string `json:"not_tenants,omitempty"`
	// Shared are the tenants of multi-tenant apps ("common"): ID tokens then carry the user's
	// own tenant in the issuer.
	Shared []string `json:"shared,omitempty"`
}

// StepParams are extra parameters per step; values may hold {param} placeholders (PartQuery).
type StepParams struct {
	Authorize map[string]string `json:"authorize,omitempty"`
	Token     map[string]string `json:"token,omitempty"`
	Refresh   map[string]string `json:"refresh,omitempty"`
	Revoke    map[string]string `json:"revoke,omitempty"`
}

// TokenResponse says where a token answer keeps its values. Paths are dotted ("a.b.c").
type TokenResponse struct {
	// OKField names a boolean field that is false on errors in a 200 answer (Slack's "ok").
	OKField string `json:"ok_field,omitempty"`
	// ErrorField names the error code field ("error" when empty).
	ErrorField string `json:"error_field,omitempty"`
	// AccessTokenPath, RefreshTokenPath and ExpiresInPath find values that are not at the
	// top level (Slack: "authed_user.access_token").
	AccessTokenPath  string `json:"access_token_path,omitempty"`
	RefreshTokenPath string `json:"refresh_token_path,omitempty"`
	ExpiresInPath    string `json:"expires_in_path,omitempty"`
	// DefaultLifetime is the access token's lifetime in seconds when the answer has no
	// expires_in (Salesforce); 0: unknown.
	DefaultLifetime int `json:"default_lifetime,omitempty"`
	// RefreshExpiryFields give the refresh token's rolling lifetime, tried in order.
	RefreshExpiryFields []string `json:"refresh_expiry_fields,omitempty"`
	// RefreshHardExpiryField gives the refresh-token chain's absolute lifetime.
	RefreshHardExpiryField string `json:"refresh_hard_expiry_field,omitempty"`
}

// Metadata names the values kept as connection metadata. They are non-secret by declaration:
// the loader refuses names and paths that look like secrets (IsSecretName).
type Metadata struct {
	// Callback values come from the authorization callback's query (From: the parameter).
	Callback []Value `json:"callback,omitempty"`
	// Token values come from the token answer (From: a dotted path).
	Token []Value `json:"token,omitempty"`
	// Call is one API call made after connecting.
	Call *MetadataCall `json:"call,omitempty"`
}

// Value is one metadata value: its Name, and From where it is read.
type Value struct {
	Name string `json:"name"`
	From string `json:"from"`
}

// MetadataCall is an API call made with the new access token after connecting.
type MetadataCall struct {
	// URL is the call's template (params and metadata known so far).
	URL Template `json:"url"`
	// Method is GET when empty.
	Method string `json:"method,omitempty"`
	// Headers are sent with the call.
	Headers map[string]string `json:"headers,omitempty"`
	// Body is a JSON body sent with the call (a GraphQL query); no placeholders.
	Body string `json:"body,omitempty"`
	// TokenPrefix, when set, goes before the token in place of the API's prefix: the call
	// takes the token differently from the API (Mailchimp's metadata endpoint: "OAuth ").
	TokenPrefix string `json:"token_prefix,omitempty"`
	// Items is the dotted path to the list of items in the answer; empty: the answer itself
	// (a list, or one object).
	Items string `json:"items,omitempty"`
	// Pick chooses the item: PickFirst, PickOnly (several is an error), PickMatch.
	Pick string `json:"pick"`
	// MatchField and MatchParam: with PickMatch, the item whose MatchField equals the
	// value of the parameter MatchParam.
	MatchField string `json:"match_field,omitempty"`
	MatchParam string `json:"match_param,omitempty"`
	// Values are read from the picked item (From: a dotted path).
	Values []Value `json:"values"`
}

// API says where the provider's API is and how it takes the access token.
type API struct {
	// BaseURL is the API base URL template.
	BaseURL Template `json:"base_url,omitempty"`
	// TokenHeader carries the access token: "Authorization" when empty.
	TokenHeader string `json:"token_header,omitempty"`
	// TokenPrefix goes before the token: "Bearer " when both fields are empty.
	TokenPrefix string `json:"token_prefix,omitempty"`
	// Headers are sent with every API call (a version header, the tenant: {param} allowed).
	Headers map[string]string `json:"headers,omitempty"`
}

// Revocation says how tokens are revoked; the URL is Endpoints.Revocation.
type Revocation struct {
	// Kind is RevokeRFC7009, RevokeJSON, RevokeCall or RevokeNone; see Entry.RevocationKind.
	Kind string `json:"kind,omitempty"`
	// Method is the HTTP method of a RevokeCall (POST when empty).
	Method string `json:"method,omitempty"`
}

// AccountKeys name where a provider says which account authorized a connection.
type AccountKeys struct {
	// SubjectClaim is the ID token claim that identifies the user ("sub" when empty).
	SubjectClaim string `json:"subject_claim,omitempty"`
	// TenantClaim is the ID token claim of the user's tenant ("tid").
	TenantClaim string `json:"tenant_claim,omitempty"`
	// RealmParam is the callback value of the company the user picked ("realmId").
	RealmParam string `json:"realm_param,omitempty"`
}
