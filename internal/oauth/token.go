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

	"github.com/authconnection/terraform-provider-tailor/internal/store"
)

// ParseTokenResponse decodes the JSON body of a successful token response into a token
// record, with the fields x/oauth2 does not name kept in Extra (without access_token and
// refresh_token) and QuickBooks' refresh-token expiry fields applied. now is the time the
// response was received; fallback is the lifetime used when expires_in is missing or not
// positive.
func ParseTokenResponse(body []byte, now time.Time, fallback time.Duration) (*store.TokenSet, error) {
	var raw map[string]any
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, errors.New("the token response is not a JSON object")
	}
	ts := &store.TokenSet{Status: store.StatusAuthorized, Extra: map[string]any{}}
	str := func(k string) string { s, _ := raw[k].(string); return s }
	ts.AccessToken = str("access_token")
	ts.RefreshToken = str("refresh_token")
	ts.TokenType = str("token_type")
	ts.Scope = str("scope")
	if ts.AccessToken == "" {
		return nil, errors.New("the token response has no access_token")
	}
	if secs, ok := seconds(raw["expires_in"]); ok {
		ts.Expiry = now.Add(time.Duration(secs) * time.Second).UTC()
	} else {
		ts.Expiry = now.Add(fallback).UTC()
		ts.ExpiryGuessed = true
	}
	if secs, ok := seconds(raw["x_refresh_token_expires_in"]); ok {
		ts.RefreshTokenExpiry = now.Add(time.Duration(secs) * time.Second).UTC()
	}
	if secs, ok := seconds(raw["x_refresh_token_lifetime_expires_in"]); ok {
		ts.RefreshTokenHardExpiry = now.Add(time.Duration(secs) * time.Second).UTC()
	}
	for k, v := range raw {
		switch k {
		case "access_token", "refresh_token", "token_type", "scope", "expires_in":
			continue
		}
		ts.Extra[k] = v
	}
	if len(ts.Extra) == 0 {
		ts.Extra = nil
	}
	return ts, nil
}

// maxSeconds bounds lifetimes read from responses (10 years) so that absurd values cannot
// overflow time arithmetic.
const maxSeconds = 10 * 365 * 24 * 3600

// seconds reads a JSON number or numeric string (some providers send "3600") as a lifetime in
// seconds between 1 and maxSeconds.
func seconds(v any) (int64, bool) {
	var n int64
	switch x := v.(type) {
	case float64:
		if x < 1 || x > maxSeconds {
			return 0, false
		}
		n = int64(x)
	case string:
		var err error
		if n, err = strconv.ParseInt(strings.TrimSpace(x), 10, 64); err != nil {
			return 0, false
		}
	default:
		return 0, false
	}
	return n, n >= 1 && n <= maxSeconds
}

// tokenSet builds the record from x/oauth2's token and the raw body of the response.
func (c *Client) tokenSet(tok *oauth2.Token, body []byte) (*store.TokenSet, error) {
	now := c.now()
	if len(body) > 0 {
		if ts, err := ParseTokenResponse(body, now, c.fallbackLifetime()); err == nil {
			return ts, nil
		}
	}
	// Form-encoded responses (old GitHub style): x/oauth2 parsed them; keep what it has.
	ts := &store.TokenSet{Status: store.StatusAuthorized, AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, TokenType: tok.TokenType, Expiry: tok.Expiry.UTC()}
	if ts.AccessToken == "" {
		return nil, errors.New("the token response has no access_token")
	}
	if tok.Expiry.IsZero() {
		ts.Expiry = now.Add(c.fallbackLifetime()).UTC()
		ts.ExpiryGuessed = true
	}
	return ts, nil
}

// Refresh exchanges old's refresh token for a new token set and returns the record to
// store: the new access token and expiry, the rotated refresh token or (when the provider
// sends none) the old one, the authorization metadata of old (scopes, callback extras,
// authorized-at) and status authorized. It asks for the authorized scopes when the provider
// needs that (Microsoft). old is not modified.
//
// The caller must persist the result before it uses the new access token, and must make
// sure no other refresh of the same connection runs at the same time: providers that rotate
// refresh tokens (Hydra, QuickBooks) revoke the whole chain when an old one is used twice.
func (c *Client) Refresh(ctx context.Context, p *Provider, creds Credentials, old *store.TokenSet) (*store.TokenSet, error) {
	if old.RefreshToken == "" {
		return nil, &Error{Op: "refresh", Kind: KindInvalidGrant, Code: "no_refresh_token", Description: "no refresh token is stored for this connection"}
	}
	cfg := p.Config(creds, "", old.Scopes)
	tc := p.tokenCall("refresh_token", old.Scopes)
	src := cfg.TokenSource(c.withTokenCall(ctx, tc), &oauth2.Token{RefreshToken: old.RefreshToken, Expiry: time.Unix(1, 0)})
	tok, err := src.Token()
	if err != nil {
		return nil, classify("refresh", err)
	}
	ts, err := c.tokenSet(tok, tc.body)
	if err != nil {
		return nil, &Error{Op: "refresh", Kind: KindRejected, Err: err}
	}
	if ts.RefreshToken == "" {
		ts.RefreshToken = old.RefreshToken
		if ts.RefreshTokenExpiry.IsZero() {
			ts.RefreshTokenExpiry = old.RefreshTokenExpiry
		}
	}
	if ts.RefreshTokenHardExpiry.IsZero() {
		ts.RefreshTokenHardExpiry = old.RefreshTokenHardExpiry
	}
	if ts.Scope == "" {
		ts.Scope = old.Scope
	}
	if ts.TokenType == "" {
		ts.TokenType = old.TokenType
	}
	if _, ok := ts.Extra["id_token"]; !ok && old.Extra != nil {
		if idt, ok := old.Extra["id_token"]; ok {
			if ts.Extra == nil {
				ts.Extra = map[string]any{}
			}
			ts.Extra["id_token"] = idt
		}
	}
	ts.Scopes = old.Scopes
	ts.CallbackExtras = old.CallbackExtras
	ts.AuthorizedAt = old.AuthorizedAt
	ts.RefreshedAt = c.now().UTC()
	ts.Version = old.Version
	return ts, nil
}

// checkIDToken compares the claims of an ID token received from the token endpoint with the
// request: nonce, audience and (when known) issuer. Over a direct TLS connection to the token
// endpoint, OIDC Core 3.1.3.7 allows TLS server validation in place of the signature check.
func checkIDToken(idToken, nonce, clientID, issuer string) error {
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
	// Google's ID tokens carry iss "https://accounts.google.com" or "accounts.google.com".
	if issuer == "https://accounts.google.com" && claims.Iss == "accounts.google.com" {
		return nil
	}
	if issuer != "" && !strings.Contains(issuer, "{") && strings.TrimSuffix(claims.Iss, "/") != strings.TrimSuffix(issuer, "/") && !strings.Contains(issuer, "/common/") && !strings.Contains(issuer, "/organizations/") && !strings.Contains(issuer, "/consumers/") {
		return fmt.Errorf("the id_token issuer %q is not %q", claims.Iss, issuer)
	}
	return nil
}
