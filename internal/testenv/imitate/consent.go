package imitate

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// authRules are how a provider's authorization endpoint checks a request, as documented.
type authRules struct {
	// host and path are the authorization endpoint's.
	host, path string
	// scopeSeps holds each separator the provider documents between scopes.
	scopeSeps string
	// scopes are the scopes the provider knows; any other is invalid_scope.
	scopes []string
	// required are parameters that must be present besides client_id, redirect_uri and
	// response_type (which always must).
	required []string
	// fixed are parameters that must carry exactly this value when present, or always
	// when also in required.
	fixed map[string]string
	pkce  pkceMode
	// anyResponseType: the provider documents no response_type and ignores it.
	anyResponseType bool
}

// pkceMode is what a provider documents about PKCE (RFC 7636).
type pkceMode int

const (
	// pkceOptional: a code_challenge is kept, and its verifier checked at the token endpoint.
	pkceOptional pkceMode = iota
	// pkceRequired: an authorization request without code_challenge is refused.
	pkceRequired
	// pkceIgnored: the provider does not implement PKCE; the challenge is dropped and no
	// verifier is checked.
	pkceIgnored
)

// ConsentError is a refused authorization request. When Redirected, the provider sends the
// user back to the redirect URI with Query (error, error_description, state); otherwise it
// shows its own error page and the client never hears of it.
type ConsentError struct {
	Redirected bool
	Query      url.Values
	// Reason says what was wrong, for test messages.
	Reason string
}

func (e *ConsentError) Error() string {
	if e.Redirected {
		return fmt.Sprintf("imitate: authorization refused with %s: %s", e.Query.Get("error"), e.Reason)
	}
	return "imitate: authorization refused on the provider's page: " + e.Reason
}

// Consent is the user consenting, in a browser, to the authorization URL a client built:
// the imitation checks it as the provider does and returns the query the provider redirects
// back with (code, state and the provider's callback extras), or a *ConsentError.
func (im *Imitation) Consent(authURL string) (url.Values, error) {
	u, err := url.Parse(authURL)
	if err != nil {
		return nil, &ConsentError{Reason: "the authorization URL does not parse"}
	}
	a := im.p.auth
	if u.Scheme != "https" || u.Host != a.host || u.Path != a.path {
		return nil, &ConsentError{Reason: fmt.Sprintf("%s://%s%s is not %s's authorization endpoint https://%s%s",
			u.Scheme, u.Host, u.Path, im.Name, a.host, a.path)}
	}
	q := u.Query()
	g, cerr := im.checkAuthorization(q)
	if cerr != nil {
		return nil, cerr
	}
	extra := url.Values{}
	if im.p.consent != nil {
		if extra, cerr = im.p.consent(im, g, q); cerr != nil {
			return nil, cerr
		}
	}
	out := url.Values{"code": {im.issueCode(g)}}
	if s := q.Get("state"); s != "" {
		out.Set("state", s)
	}
	for k, v := range extra {
		out[k] = v
	}
	if im.p.sign != nil {
		out.Set(im.p.sign(im, out))
	}
	return out, nil
}

// checkAuthorization checks q against the provider's rules and makes the grant it asks for.
func (im *Imitation) checkAuthorization(q url.Values) (*grant, *ConsentError) {
	a := im.p.auth
	if q.Get("client_id") != im.Want.ClientID {
		return nil, &ConsentError{Reason: "unknown client_id"}
	}
	if q.Get("redirect_uri") != im.Want.RedirectURI {
		return nil, &ConsentError{Reason: "redirect_uri is not the registered one"}
	}
	if rt := q.Get("response_type"); rt != "code" && !a.anyResponseType {
		return nil, redirectError(q, "unsupported_response_type", "response_type must be code, not "+rt)
	}
	for _, k := range a.required {
		if q.Get(k) == "" {
			return nil, redirectError(q, "invalid_request", "missing parameter "+k)
		}
	}
	for k, v := range a.fixed {
		if got, ok := q[k]; ok && (len(got) != 1 || got[0] != v) {
			return nil, redirectError(q, "invalid_request", fmt.Sprintf("%s must be %q", k, v))
		}
	}
	scopes, bad := a.splitScopes(q.Get("scope"))
	if bad != "" {
		return nil, redirectError(q, "invalid_scope", fmt.Sprintf("unknown scope %q", bad))
	}
	g := &grant{clientID: q.Get("client_id"), redirectURI: q.Get("redirect_uri"), scopes: scopes, nonce: q.Get("nonce"),
		extra: map[string]string{}}
	if cerr := a.checkPKCE(q, g); cerr != nil {
		return nil, cerr
	}
	im.mu.Lock()
	deny := im.deny
	im.mu.Unlock()
	if deny {
		return nil, redirectError(q, "access_denied", "the user refused")
	}
	return g, nil
}

// splitScopes splits scope at the documented separators; bad is the first unknown scope.
func (a authRules) splitScopes(scope string) (scopes []string, bad string) {
	if scope == "" {
		return nil, ""
	}
	for s := range strings.FieldsFuncSeq(scope, func(r rune) bool { return strings.ContainsRune(a.scopeSeps, r) }) {
		if !slices.Contains(a.scopes, s) {
			return nil, s
		}
		scopes = append(scopes, s)
	}
	return scopes, ""
}

// checkPKCE keeps the code challenge in g as the provider's PKCE support documents.
func (a authRules) checkPKCE(q url.Values, g *grant) *ConsentError {
	challenge, method := q.Get("code_challenge"), q.Get("code_challenge_method")
	switch {
	case a.pkce == pkceIgnored:
		return nil
	case challenge == "" && a.pkce == pkceRequired:
		return redirectError(q, "invalid_request", "code_challenge is required")
	case challenge == "":
		return nil
	case method == "":
		method = "plain"
	case method != "S256" && method != "plain":
		return redirectError(q, "invalid_request", "unsupported code_challenge_method")
	}
	g.challenge, g.method = challenge, method
	return nil
}

// verifies says whether verifier answers the grant's code challenge.
func (g *grant) verifies(verifier string) bool {
	if g.challenge == "" {
		return true
	}
	if g.method == "S256" {
		sum := sha256.Sum256([]byte(verifier))
		return base64.RawURLEncoding.EncodeToString(sum[:]) == g.challenge
	}
	return verifier == g.challenge
}

// redirectError is an error the provider sends back to the redirect URI.
func redirectError(q url.Values, code, desc string) *ConsentError {
	out := url.Values{"error": {code}, "error_description": {desc}}
	if s := q.Get("state"); s != "" {
		out.Set("state", s)
	}
	return &ConsentError{Redirected: true, Query: out, Reason: desc}
}
