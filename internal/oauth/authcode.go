package oauth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"slices"

	"golang.org/x/oauth2"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/catalog"
)

// AuthRequest is one authorization-code attempt: the URL to open and the values the
// callback is checked against. It holds the PKCE verifier: keep it in memory only.
type AuthRequest struct {
	URL         string
	RedirectURL string
	State       string
	Nonce       string
	Scopes      []string

	verifier string
	provider *Provider
	config   *oauth2.Config
	creds    Credentials
}

// String hides the verifier.
func (a *AuthRequest) String() string { return "AuthRequest(" + a.RedirectURL + ")" }

// PendingAuth is what a callback of an AuthRequest is checked and exchanged with, for
// keeping an authorization in progress outside the process that began it (tokend keeps it
// in Vault, so that the callback may land on another replica). Verifier is the PKCE
// verifier: a secret.
type PendingAuth struct {
	State       string   `json:"state"`
	Nonce       string   `json:"nonce,omitempty"`
	Verifier    string   `json:"verifier,omitempty"`
	RedirectURL string   `json:"redirect_url"`
	Scopes      []string `json:"scopes"`
}

// String hides the state, nonce and verifier.
func (p PendingAuth) String() string { return "PendingAuth(" + p.RedirectURL + ")" }

// Pending returns what ResumeAuthRequest needs to rebuild a.
func (a *AuthRequest) Pending() PendingAuth {
	return PendingAuth{State: a.State, Nonce: a.Nonce, Verifier: a.verifier, RedirectURL: a.RedirectURL, Scopes: slices.Clone(a.Scopes)}
}

// ResumeAuthRequest rebuilds an AuthRequest of p from its pending form, with creds (read
// again where the callback arrives). Its URL is empty: the user has already been sent.
func (p *Provider) ResumeAuthRequest(creds Credentials, pa PendingAuth) *AuthRequest {
	return &AuthRequest{RedirectURL: pa.RedirectURL, State: pa.State, Nonce: pa.Nonce, Scopes: pa.Scopes, verifier: pa.Verifier,
		provider: p, config: p.Config(creds, pa.RedirectURL, pa.Scopes), creds: creds}
}

// randomString returns n random bytes, base64url-encoded without padding.
func randomString(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// NewAuthRequest prepares an authorization request: 32 random bytes of state, a PKCE S256
// verifier (unless the provider is known to reject PKCE), a nonce when openid is requested,
// and the preset's extra authorize parameters (Google: access_type=offline, prompt=consent).
func (p *Provider) NewAuthRequest(creds Credentials, redirectURL string, scopes []string) *AuthRequest {
	scopes = p.Scopes(scopes)
	a := &AuthRequest{
		RedirectURL: redirectURL,
		State:       randomString(32),
		Scopes:      scopes,
		provider:    p,
		config:      p.Config(creds, redirectURL, scopes),
		creds:       creds,
	}
	var opts []oauth2.AuthCodeOption
	if p.PKCE {
		a.verifier = oauth2.GenerateVerifier()
		opts = append(opts, oauth2.S256ChallengeOption(a.verifier))
	}
	if slices.Contains(scopes, "openid") {
		a.Nonce = randomString(16)
		opts = append(opts, oauth2.SetAuthURLParam("nonce", a.Nonce))
	}
	for k, v := range p.extra.Authorize {
		opts = append(opts, oauth2.SetAuthURLParam(k, v))
	}

	a.URL = withParams(a.config.AuthCodeURL(a.State, opts...), p.requestParams())
	return a
}

// CallbackError is an error response on the authorization callback (RFC 6749 4.1.2.1), or
// a callback that failed a check (state, iss).
type CallbackError struct {
	Code        string // access_denied, invalid_scope, ..., or "state_mismatch", "iss_mismatch"
	Description string
}

// MaxProviderDescription bounds how much of a provider's error_description is shown.
const MaxProviderDescription = 100

// explainedCodes are the callback error codes whose meaning tokend says itself: the
// provider's error_description (anyone holding a state can craft one, on tokend's own
// origin) is not shown for them.
var explainedCodes = map[string]bool{"access_denied": true, "invalid_scope": true, "unauthorized_client": true,
	"server_error": true, "temporarily_unavailable": true}

// Error says what failed. A provider's error_description is shown only for codes tokend does
// not explain itself, sanitized, cut to MaxProviderDescription bytes and marked as the
// provider's words; the code is sanitized too (it comes from the query).
func (e *CallbackError) Error() string {
	msg := "authorization failed: " + authconn.Sanitize(e.Code, 64)
	switch {
	case e.Description == "" || explainedCodes[e.Code]:
	case e.Code == "state_mismatch" || e.Code == "iss_mismatch": // tokend's own words (iss quoted)
		msg += ": " + authconn.Sanitize(e.Description, 300)
	default:
		msg += fmt.Sprintf(" (the provider said: %q)", authconn.Sanitize(e.Description, MaxProviderDescription))
	}
	switch e.Code {
	case "access_denied":
		msg += " (consent was refused at the provider; run authorize again and approve the request)"
	case "invalid_scope":
		msg += " (a requested scope is not enabled for this app: fix --scopes or the app's settings at the provider)"
	case "state_mismatch":
		msg += " (the callback does not belong to this authorization attempt; this can be a CSRF attempt or a stale browser tab: run authorize again)"
	case "iss_mismatch":
		msg += " (the response came from an unexpected issuer, a possible mix-up attack: check issuer_url)"
	case "unauthorized_client":
		msg += " (the app may not use the authorization-code grant, or the redirect URI is not registered)"
	}
	return msg
}

// ErrNoCode is returned for a callback without a code or an error.
var ErrNoCode = errors.New("the callback has neither a code nor an error: open the authorization URL again")

// Callback is a checked authorization response.
type Callback struct {
	Code string
	// Extras are the other query values (QuickBooks realmId), without code, state and iss.
	Extras map[string]string
}

// String hides the code.
func (c *Callback) String() string { return "Callback(code=redacted)" }

// ParseCallback checks the query of a request to the redirect URI: state in constant time,
// the RFC 9207 iss parameter (required when the provider advertises it, and compared
// whenever present), and error responses.
func (a *AuthRequest) ParseCallback(q url.Values) (*Callback, error) {
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(a.State)) != 1 {
		return nil, &CallbackError{Code: "state_mismatch", Description: "the state parameter is missing or wrong"}
	}
	if iss := q.Get("iss"); iss != "" || a.provider.IssParameter {
		if !issuerMatches(a.provider, iss) {
			return nil, &CallbackError{Code: "iss_mismatch", Description: fmt.Sprintf("expected iss %q, got %q", a.provider.Issuer, iss)}
		}
	}
	if e := q.Get("error"); e != "" {
		return nil, &CallbackError{Code: e, Description: q.Get("error_description")}
	}
	code := q.Get("code")
	if code == "" {
		return nil, ErrNoCode
	}
	cb := &Callback{Code: code, Extras: map[string]string{}}
	for k, v := range q {
		switch k {
		case "code", "state", "iss", "scope", "session_state", "authuser", "prompt", "hd":
			continue
		}
		if len(v) > 0 && len(k) <= 64 {
			cb.Extras[k] = truncate(v[0], 512)
		}
	}
	return cb, nil
}

// issuerMatches reports whether iss (from the callback) names the provider's issuer. An
// unknown issuer (endpoints given as overrides without issuer_url) cannot be compared and
// matches, unless the provider advertised the iss parameter.
func issuerMatches(p *Provider, iss string) bool {
	if p.Issuer == "" {
		return !p.IssParameter
	}
	return p.IssuerMatches(iss)
}

// Exchange trades the callback's code for tokens at the token endpoint, with the PKCE
// verifier, and checks the ID token when one comes back (nonce, audience, issuer).
func (c *Client) Exchange(ctx context.Context, a *AuthRequest, cb *Callback) (*Token, error) {
	p, cfg, err := a.withCallback(cb)
	if err != nil {
		return nil, err
	}
	ctx = p.allow(ctx)
	tc, err := c.tokenCall(p, "authorization_code", a.Scopes, a.creds)
	if err != nil {
		return nil, err
	}
	var opts []oauth2.AuthCodeOption
	if a.verifier != "" {
		opts = append(opts, oauth2.VerifierOption(a.verifier))
	}
	tok, err := cfg.Exchange(c.withTokenCall(ctx, tc), cb.Code, opts...)
	if err != nil {
		return nil, classify("exchange", err, p.preset())
	}
	t, err := c.token(p, tok, tc.body)
	if err != nil {
		return nil, &Error{Op: "exchange", Kind: KindRejected, Err: err}
	}
	if idt, ok := t.Extra["id_token"].(string); ok {
		if err := checkIDToken(idt, a.Nonce, a.config.ClientID, p); err != nil {
			return nil, &Error{Op: "exchange", Kind: KindRejected, Code: "invalid_id_token", Description: err.Error()}
		}
	}
	return t, nil
}

// withCallback returns the provider and configuration of the code exchange: the request's,
// with the endpoints filled again when the callback carries metadata the token endpoint's
// template uses (Zoho's accounts-server names the data center whose token endpoint takes the
// code). Otherwise the request's endpoints, connection overrides included, stay.
func (a *AuthRequest) withCallback(cb *Callback) (*Provider, *oauth2.Config, error) {
	md := a.provider.rawMetadata(cb, nil)
	if !slices.ContainsFunc(a.provider.preset().URLs.Token, func(alt string) bool {
		return slices.ContainsFunc(catalog.Placeholders(alt), func(n string) bool { return md[n] != "" })
	}) {
		return a.provider, a.config, nil
	}
	p, err := a.provider.WithMetadata(md)
	if err != nil || p.TokenURL == a.provider.TokenURL {
		return a.provider, a.config, err
	}
	cfg := *a.config
	cfg.Endpoint.TokenURL = p.TokenURL
	return p, &cfg, nil
}

// withParams adds the values v (audience, resource indicators: possibly several) to the
// query of the URL raw.
func withParams(raw string, v url.Values) string {
	if len(v) == 0 {
		return raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	q := u.Query()
	for k, vs := range v {
		q[k] = append(q[k], vs...)
	}
	u.RawQuery = q.Encode()
	return u.String()
}
