package authconn

import (
	"fmt"
	"slices"
	"strings"
)

// EndpointOrigins returns the sorted, distinct origins (Origin) of the connection's URLs
// that decide where its client secret or assertion key is sent: provider_url and issuer_url
// (the preset or the discovery document found there names the endpoints), token_url and
// revocation_url. auth_url is left out: the browser, not tokend, goes there, and nothing
// secret is sent with it. A URL that is not an absolute http(s) URL is skipped (Validate
// refuses it anyway).
//
// A connection of a catalog entry also lists "provider:NAME" and, for each parameter,
// "param:NAME=VALUE": an entry's endpoints are templates, and a parameter (a subdomain, a
// shop) picks the host a secret goes to, so changing the entry or a parameter moves the
// secret's destination as much as changing a URL does. For the same reason each host
// override adds "host:HOST=ORIGIN", and the proxy's destinations, where the access token goes,
// add "proxy:URL" and "proxy-host:HOST" (nothing when unset, so older records keep their list).
func EndpointOrigins(c *Connection) []string {
	var out []string
	for _, raw := range []string{c.ProviderURL, c.IssuerURL, c.TokenURL, c.RevocationURL} {
		if raw == "" {
			continue
		}
		if o, err := Origin(raw); err == nil && !slices.Contains(out, o) {
			out = append(out, o)
		}
	}
	if c.Provider != "" {
		out = append(out, "provider:"+c.Provider)
	}
	for k, v := range c.Params {
		out = append(out, "param:"+k+"="+v)
	}
	for h, o := range c.HostOverrides {
		out = append(out, "host:"+h+"="+o)
	}
	if c.ProxyBaseURL != "" {
		out = append(out, "proxy:"+c.ProxyBaseURL)
	}
	for _, h := range c.ProxyAllowedHosts {
		out = append(out, "proxy-host:"+h)
	}
	slices.Sort(out)
	return out
}

// SameOrigins reports whether the origin lists a and b hold the same origins (in any order,
// duplicates ignored).
func SameOrigins(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

// EndpointMovedError reports that an endpoint a token chain is bound to (Issuance) has moved
// to another origin since the authorization: the token is not sent there. It is the reason a
// refresh marks the connection needs_reauthorization, and a revocation skips the provider.
type EndpointMovedError struct {
	// Endpoint is "token endpoint" or "revocation endpoint".
	Endpoint string
	// From is the origin recorded at authorization ("" when the record kept none and the
	// connection's configuration changed since), To the origin resolved now.
	From, To string
	// Token is what is not sent: "refresh token", "tokens".
	Token string
}

func (e *EndpointMovedError) Error() string {
	from := e.From
	if from == "" {
		from = "where it was at authorization (not recorded by the tokend version that authorized; the connection's endpoints changed since)"
	}
	return fmt.Sprintf("the %s moved from %s to %s since authorization; the %s is not sent there: authorize the connection again",
		e.Endpoint, from, Sanitize(e.To, 200), e.Token)
}

// CheckToken reports whether a refresh may send the refresh token to tokenURL, the token
// endpoint resolved now: its origin must be the recorded TokenOrigin. It returns an
// *EndpointMovedError otherwise.
func (i *Issuance) CheckToken(tokenURL string) error {
	o, err := Origin(tokenURL)
	if err != nil || o != i.TokenOrigin {
		return &EndpointMovedError{Endpoint: "token endpoint", From: i.TokenOrigin, To: originOrRaw(o, tokenURL), Token: "refresh token"}
	}
	return nil
}

// CheckRefresh reports whether a refresh may send the refresh token to refreshURL, the
// refresh endpoint resolved now: its origin must be the recorded RefreshOrigin, or the
// TokenOrigin when none was recorded. It returns an *EndpointMovedError otherwise.
func (i *Issuance) CheckRefresh(refreshURL string) error {
	if i.RefreshOrigin == "" {
		return i.CheckToken(refreshURL)
	}
	o, err := Origin(refreshURL)
	if err != nil || o != i.RefreshOrigin {
		return &EndpointMovedError{Endpoint: "refresh endpoint", From: i.RefreshOrigin, To: originOrRaw(o, refreshURL), Token: "refresh token"}
	}
	return nil
}

// CheckRevocation reports whether tokens may be sent to revocationURL, the revocation
// endpoint resolved now: its origin must be the recorded RevocationOrigin, or the recorded
// TokenOrigin (the server that issued the tokens). It returns an *EndpointMovedError
// otherwise.
func (i *Issuance) CheckRevocation(revocationURL string) error {
	o, err := Origin(revocationURL)
	if err == nil && (o == i.RevocationOrigin || o == i.TokenOrigin) {
		return nil
	}
	from := i.RevocationOrigin
	if from == "" {
		from = i.TokenOrigin
	}
	return &EndpointMovedError{Endpoint: "revocation endpoint", From: from, To: originOrRaw(o, revocationURL), Token: "tokens"}
}

func originOrRaw(o, raw string) string {
	if o != "" {
		return o
	}
	return strings.TrimSpace(raw)
}

// SecretMovedError reports a client secret or assertion key written for other endpoint
// origins than the connection's now: it is not sent until it is written again.
type SecretMovedError struct {
	// Name is the connection; What is "client secret" or "client assertion key".
	Name, What string
	// WrittenFor are the origins the credential was written for; Now the connection's.
	WrittenFor, Now []string
}

func (e *SecretMovedError) Error() string {
	attr, flag := "client_secret_wo_version", "--client-secret-file FILE"
	if e.What == "client assertion key" {
		attr, flag = "client_assertion_key_wo_version", "--client-assertion-key-file FILE"
	}
	written := strings.Join(e.WrittenFor, ", ")
	if written == "" {
		written = "the endpoints of an earlier configuration (not recorded by the version that wrote it, and no longer in the configuration's history)"
	}
	return fmt.Sprintf("the %s of %q was written for %s; the connection now points at %s: it is not sent there until it is written again "+
		"(Terraform: set it again and bump %s in the same apply; CLI: delete and re-create the connection with `tokend create ... %s`)",
		e.What, e.Name, written, Sanitize(strings.Join(e.Now, ", "), 400), attr, flag)
}
