package oauth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// Token is a successful token-endpoint answer as the provider sent it. It only describes the
// protocol exchange: keeping it, and merging it with what was kept before (a refresh that
// returns no refresh token keeps the old one), is the caller's job.
type Token struct {
	AccessToken string
	TokenType   string
	// RefreshToken is empty when the provider sent none.
	RefreshToken string
	// Scope is the granted scope, when the provider said.
	Scope string
	// ExpiresIn is the access token's lifetime (expires_in); 0 when the provider gave none.
	ExpiresIn time.Duration
	// RefreshExpiresIn and RefreshHardExpiresIn are the refresh token's rolling lifetime and
	// the chain's absolute one, when the provider gives them (fields named by its preset).
	RefreshExpiresIn, RefreshHardExpiresIn time.Duration
	// ReceivedAt is when the answer arrived.
	ReceivedAt time.Time
	// Extra holds every other field of the answer (id_token, x_* fields, ...).
	Extra map[string]any
	// ExpiresInAssumed: the answer had no expires_in and ExpiresIn is the entry's fallback
	// lifetime (token_response.default_lifetime).
	ExpiresInAssumed bool
	// ValidAfterRefresh: the provider keeps this access token valid until it expires after
	// the next refresh (the preset's KeepsPreviousAccessToken).
	ValidAfterRefresh bool
}

// String hides the tokens.
func (t *Token) String() string { return fmt.Sprintf("Token(expires_in=%s)", t.ExpiresIn) }

// GoString hides the tokens.
func (t *Token) GoString() string { return t.String() }

// ParseTokenResponse decodes the JSON body of a successful token response received at
// receivedAt, for a provider with preset p (Generic when nil): the fields x/oauth2 does not
// name are kept in Extra (without access_token and refresh_token), and the preset's
// refresh-token lifetime fields are read. The entry's token_response rules apply: tokens at
// nested paths, errors in a 2xx answer, the fallback lifetime.
func ParseTokenResponse(body []byte, receivedAt time.Time, p *Preset) (*Token, error) {
	if p == nil {
		p = Generic
	}
	body, failed := normalizeAnswer(body, p.TokenResponse)
	if failed {
		return nil, errors.New("the token response reports an error")
	}
	var raw map[string]any
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, errors.New("the token response is not a JSON object")
	}
	str := func(k string) string { s, _ := raw[k].(string); return s }
	t := &Token{AccessToken: str("access_token"), RefreshToken: str("refresh_token"), TokenType: str("token_type"),
		Scope: str("scope"), ReceivedAt: receivedAt, Extra: map[string]any{}}
	if t.AccessToken == "" {
		return nil, errors.New("the token response has no access_token")
	}
	t.ExpiresIn = lifetime(raw["expires_in"])
	if t.ExpiresIn == 0 && p.TokenResponse.DefaultLifetime > 0 {
		t.ExpiresIn, t.ExpiresInAssumed = time.Duration(p.TokenResponse.DefaultLifetime)*time.Second, true
	}
	for _, f := range p.TokenResponse.RefreshExpiryFields {
		if d := lifetime(raw[f]); d > 0 {
			t.RefreshExpiresIn = d
			break
		}
	}
	if f := p.TokenResponse.RefreshHardExpiryField; f != "" {
		t.RefreshHardExpiresIn = lifetime(raw[f])
	}
	for k, v := range raw {
		switch k {
		case "access_token", "refresh_token", "token_type", "scope", "expires_in":
			continue
		}
		t.Extra[k] = v
	}
	if len(t.Extra) == 0 {
		t.Extra = nil
	}
	return t, nil
}

// maxSeconds bounds lifetimes read from responses (10 years) so that absurd values cannot
// overflow time arithmetic.
const maxSeconds = 10 * 365 * 24 * 3600

// lifetime reads a JSON number or numeric string (some providers send "3600") as a lifetime
// in seconds between 1 and maxSeconds; anything else is 0.
func lifetime(v any) time.Duration {
	var n int64
	switch x := v.(type) {
	case float64:
		if x < 1 || x > maxSeconds {
			return 0
		}
		n = int64(x)
	case string:
		var err error
		if n, err = strconv.ParseInt(strings.TrimSpace(x), 10, 64); err != nil {
			return 0
		}
	default:
		return 0
	}
	if n < 1 || n > maxSeconds {
		return 0
	}
	return time.Duration(n) * time.Second
}

// token builds the Token from x/oauth2's token and the raw body of the answer.
func (c *Client) token(p *Provider, tok *oauth2.Token, body []byte) (*Token, error) {
	t, err := c.parseToken(p, tok, body)
	if t != nil {
		t.ValidAfterRefresh = p.KeepsPreviousAccessToken()
	}
	return t, err
}

func (c *Client) parseToken(p *Provider, tok *oauth2.Token, body []byte) (*Token, error) {
	now := c.now()
	if len(body) > 0 {
		if t, err := ParseTokenResponse(body, now, p.preset()); err == nil {
			return t, nil
		}
	}
	// Form-encoded responses (GitHub without Accept: application/json): x/oauth2 parsed them.
	t := &Token{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, TokenType: tok.TokenType, ReceivedAt: now}
	if t.AccessToken == "" {
		return nil, errors.New("the token response has no access_token")
	}
	if !tok.Expiry.IsZero() {
		t.ExpiresIn = tok.Expiry.Sub(now).Round(time.Second)
	} else if d := p.preset().TokenResponse.DefaultLifetime; d > 0 {
		t.ExpiresIn, t.ExpiresInAssumed = time.Duration(d)*time.Second, true
	}
	return t, nil
}

// Refresh exchanges refreshToken for a new token at the provider's refresh endpoint (its
// token endpoint unless the entry names another), asking
// for scopes when the provider needs that (Microsoft).
//
// The caller must persist the result before it uses the new access token, and must make
// sure no other refresh of the same connection runs at the same time: providers that rotate
// refresh tokens (Hydra, QuickBooks) revoke the whole chain when an old one is used twice.
func (c *Client) Refresh(ctx context.Context, p *Provider, creds Credentials, refreshToken string, scopes []string) (*Token, error) {
	if refreshToken == "" {
		return nil, &Error{Op: "refresh", Kind: KindInvalidGrant, Code: "no_refresh_token", Description: "no refresh token is stored for this connection"}
	}
	ctx = p.allow(ctx)
	cfg := p.Config(creds, "", scopes)
	cfg.Endpoint.TokenURL = p.refreshURL()
	tc, err := c.tokenCall(p, "refresh_token", scopes, creds)
	if err != nil {
		return nil, err
	}
	src := cfg.TokenSource(c.withTokenCall(ctx, tc), &oauth2.Token{RefreshToken: refreshToken, Expiry: time.Unix(1, 0)})
	tok, err := src.Token()
	if err != nil {
		return nil, classify("refresh", err, p.preset())
	}
	t, err := c.token(p, tok, tc.body)
	if err != nil {
		return nil, &Error{Op: "refresh", Kind: KindRejected, Err: err}
	}
	return t, nil
}

// checkIDToken compares the claims of an ID token received from the token endpoint with the
// request: nonce, audience and (when known) issuer. Over a direct TLS connection to the token
// endpoint, OIDC Core 3.1.3.7 allows TLS server validation in place of the signature check.
func checkIDToken(idToken, nonce, clientID string, p *Provider) error {
	parts := strings.Split(idToken, ".")
	if len(parts) != 3 {
		return errors.New("the id_token is not a JWT")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return errors.New("the id_token payload is not base64url")
	}
	var claims struct {
		Iss   string          `json:"iss"`
		Aud   json.RawMessage `json:"aud"`
		Nonce string          `json:"nonce"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return errors.New("the id_token payload is not JSON")
	}
	if nonce != "" && claims.Nonce != nonce {
		return errors.New("the id_token nonce does not match the request (possible replay): authorize again")
	}
	var auds []string
	var one string
	if json.Unmarshal(claims.Aud, &one) == nil {
		auds = []string{one}
	} else {
		_ = json.Unmarshal(claims.Aud, &auds)
	}
	found := false
	for _, a := range auds {
		found = found || a == clientID
	}
	if !found {
		return fmt.Errorf("the id_token audience does not contain client_id %q", clientID)
	}
	if !p.IssuerMatches(claims.Iss) {
		return fmt.Errorf("the id_token issuer %q is not %q", claims.Iss, p.Issuer)
	}
	return nil
}
