package oauth

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strings"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
)

// maxAccountField bounds each field of an Account (values come from the provider).
const maxAccountField = 256

// Account returns who authorized, from the ID token of t (checked by Exchange: nonce,
// audience, issuer) and from the callback's extra values, as the provider's preset names
// them. It is nil when the provider said nothing about the account (no ID token, no realm).
func (p *Provider) Account(t *Token, extras map[string]string) *authconn.Account {
	keys := p.preset().AccountKeys
	var a authconn.Account
	if t != nil {
		if idt, ok := t.Extra["id_token"].(string); ok {
			if claims, err := idTokenClaims(idt); err == nil {
				sub := keys.SubjectClaim
				if sub == "" {
					sub = "sub"
				}
				a.Issuer, a.Subject = p.canonicalIssuer(claimString(claims, "iss")), claimString(claims, sub)
				if keys.TenantClaim != "" {
					a.Tenant = claimString(claims, keys.TenantClaim)
				}
			}
		}
	}
	if keys.RealmParam != "" {
		a.Realm = authconn.Sanitize(extras[keys.RealmParam], maxAccountField)
	}
	if a == (authconn.Account{}) {
		return nil
	}
	return &a
}

// canonicalIssuer is iss, or the provider's issuer when iss is one of the preset's other
// spellings of it (Google: "accounts.google.com"), so that one account compares equal
// whichever spelling an ID token carries.
func (p *Provider) canonicalIssuer(iss string) string {
	if p.Issuer != "" && slices.Contains(p.preset().IssuerAliases, strings.TrimSuffix(iss, "/")) {
		return p.Issuer
	}
	return iss
}

// idTokenClaims decodes the payload of a JWT (no signature check: the caller received it
// over TLS from the token endpoint, OIDC Core 3.1.3.7).
func idTokenClaims(idToken string) (map[string]any, error) {
	parts := strings.Split(idToken, ".")
	if len(parts) != 3 {
		return nil, errors.New("the id_token is not a JWT")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, errors.New("the id_token payload is not base64url")
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		return nil, errors.New("the id_token payload is not JSON")
	}
	return claims, nil
}

// claimString returns claim k of claims when it is a string, sanitized and bounded.
func claimString(claims map[string]any, k string) string {
	s, _ := claims[k].(string)
	return authconn.Sanitize(s, maxAccountField)
}
