package oauth

import "github.com/authconnection/terraform-provider-tailor/internal/authconn"

// Issuance returns where tokens obtained from p come from, for the token record
// (authconn.TokenSet.IssuedBy): the origins of its token, refresh (when its entry names one
// elsewhere) and revocation endpoints and its issuer. A refresh or revocation later sends the tokens only to those origins. An endpoint
// that is not an absolute http(s) URL leaves its origin empty, which matches nothing.
func (p *Provider) Issuance() *authconn.Issuance {
	in := &authconn.Issuance{Issuer: p.Issuer}
	if o, err := authconn.Origin(p.TokenURL); err == nil {
		in.TokenOrigin = o
	}
	if o, err := authconn.Origin(p.RefreshURL); err == nil && p.RefreshURL != "" && o != in.TokenOrigin {
		in.RefreshOrigin = o
	}
	if p.RevocationURL != "" {
		if o, err := authconn.Origin(p.RevocationURL); err == nil {
			in.RevocationOrigin = o
		}
	}
	return in
}

// RefreshEndpoint returns where Client.Refresh sends the refresh token: the entry's refresh
// endpoint, else the token endpoint (check it with authconn.Issuance.CheckRefresh).
func (p *Provider) RefreshEndpoint() string { return p.refreshURL() }
