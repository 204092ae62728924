package oauth

import (
	"maps"
	"net/http"
)

// values returns the provider's parameters with metadata over them: what templates are
// filled with.
func (p *Provider) values(metadata map[string]string) map[string]string {
	out := maps.Clone(p.Params)
	if out == nil {
		out = map[string]string{}
	}
	for k, v := range metadata {
		if v != "" {
			out[k] = v
		}
	}
	return out
}

// APIBaseURL returns the base URL of the provider's API, its template filled from the
// connection's parameters and metadata (Salesforce: the instance_url kept from the token
// response); "" when the entry names none. A value that does not match its parameter's
// pattern is an error (*catalog.ParamError). A host override of the connection applies.
func (p *Provider) APIBaseURL(metadata map[string]string) (string, error) {
	return p.entryURL(p.preset().API.BaseURL, p.values(metadata))
}

// APIHeaders returns the headers of a call to the provider's API with token: the entry's
// API headers (their {param} values filled from parameters and metadata) and the token as
// the API takes it (PresentToken).
func (p *Provider) APIHeaders(token string, metadata map[string]string) (http.Header, error) {
	extra, err := p.preset().FillValues(p.preset().API.Headers, p.values(metadata))
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	for k, v := range extra {
		h.Set(k, v)
	}
	p.PresentToken(h, token)
	return h, nil
}

// PresentToken puts token into h as the provider's API takes it: "Authorization: Bearer
// <token>" unless the entry names another header and prefix (Shopify:
// X-Shopify-Access-Token with no prefix).
func (p *Provider) PresentToken(h http.Header, token string) {
	api := p.preset().API
	prefix := api.TokenPrefix
	if api.TokenHeader == "" && prefix == "" {
		prefix = "Bearer "
	}
	p.presentWith(h, prefix, token)
}

// presentWith puts prefix and token into the API's token header (Authorization when the
// entry names none).
func (p *Provider) presentWith(h http.Header, prefix, token string) {
	name := p.preset().API.TokenHeader
	if name == "" {
		name = "Authorization"
	}
	h.Set(name, prefix+token)
}

// WithMetadata returns a copy of p whose endpoints are filled again with the connection's
// metadata over its parameters, for templates whose first alternatives use metadata
// (["{instance_url}/services/oauth2/token", "https://login.example.com/token"]): before the
// metadata is known the fallback applies. A provider without a catalog entry of its own (or
// without metadata) is returned as it is. The endpoints the connection names (auth_url,
// token_url, revocation_url) are kept: metadata, which a callback or a provider's answer
// supplies, never moves an endpoint an operator typed.
func (p *Provider) WithMetadata(metadata map[string]string) (*Provider, error) {
	pre := p.preset()
	if pre == Generic || len(metadata) == 0 || p.Source != "preset:"+pre.Name {
		return p, nil
	}
	e, err := p.entryEndpoints(p.values(metadata))
	if err != nil {
		return nil, &Error{Op: "resolve", Kind: KindRejected, Err: err}
	}
	extra, err := pre.fillSteps(p.values(metadata))
	if err != nil {
		return nil, &Error{Op: "resolve", Kind: KindRejected, Err: err}
	}
	q := *p
	q.Endpoints, q.extra = e, extra
	q.Endpoints.AuthStyle = p.AuthStyle // the connection's client_auth stays
	q.PKCE = p.PKCE
	q.keepOverrides() // an endpoint the operator typed never moves with metadata
	return &q, nil
}
