package oauth

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/oauth2"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/catalog"
)

// locationHost is the host of a redirect's Location, or "none".
func locationHost(resp *http.Response) string {
	if u, err := resp.Location(); err == nil && u.Host != "" {
		return u.Host
	}
	return "none"
}

// ErrNoRevocationEndpoint is returned by Revoke when the provider has no RFC 7009 endpoint
// (Microsoft, for one).
var ErrNoRevocationEndpoint = fmt.Errorf("the provider has no token revocation endpoint (set revocation_url if it has one)")

// Revoke revokes token at the provider's RFC 7009 endpoint. hint is "refresh_token" or
// "access_token". Revoking a refresh token also ends its access tokens at most providers.
// Per RFC 7009, an already invalid token is not an error (the server answers 200).
func (c *Client) Revoke(ctx context.Context, p *Provider, creds Credentials, token, hint string) error {
	if p.RevocationURL == "" {
		return ErrNoRevocationEndpoint
	}
	ctx = p.allow(ctx)
	if p.preset().RevocationKind() == catalog.RevokeCall {
		return c.revokeCall(ctx, p, token)
	}
	form := url.Values{"token": {token}}
	if hint != "" {
		form.Set("token_type_hint", hint)
	}
	for k, v := range p.extra.Revoke {
		form.Set(k, v)
	}
	style := p.AuthStyle
	if style == oauth2.AuthStyleAutoDetect {
		style = oauth2.AuthStyleInHeader
	}
	err := c.revoke(ctx, p, creds, form, style)
	if oe, ok := err.(*Error); ok && oe.Kind == KindInvalidClient && p.AuthStyle == oauth2.AuthStyleAutoDetect {
		err = c.revoke(ctx, p, creds, form, oauth2.AuthStyleInParams)
	}
	return err
}

func (c *Client) revoke(ctx context.Context, p *Provider, creds Credentials, form url.Values, style oauth2.AuthStyle) error {
	f := url.Values{}
	for k, v := range form {
		f[k] = v
	}
	if style == oauth2.AuthStyleInParams {
		f.Set("client_id", creds.ClientID)
		if creds.ClientSecret != "" {
			f.Set("client_secret", creds.ClientSecret)
		}
	}
	body, ctype := f.Encode(), "application/x-www-form-urlencoded"
	if p.preset().RevocationKind() == catalog.RevokeJSON {
		// Intuit: {"token": "..."} with the client in the Authorization header.
		b, err := json.Marshal(map[string]string{"token": form.Get("token")})
		if err != nil {
			return &Error{Op: "revoke", Kind: KindRejected, Err: err}
		}
		body, ctype, style = string(b), "application/json", oauth2.AuthStyleInHeader
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.RevocationURL, strings.NewReader(body))
	if err != nil {
		return &Error{Op: "revoke", Kind: KindRejected, Err: err}
	}
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("Accept", "application/json")
	if style == oauth2.AuthStyleInHeader {
		// RFC 6749 2.3.1: form-urlencode id and secret before basic auth.
		req.SetBasicAuth(url.QueryEscape(creds.ClientID), url.QueryEscape(creds.ClientSecret))
	}
	for k, v := range p.preset().TokenHeaders {
		req.Header.Set(k, v)
	}
	return c.sendRevoke(req, p)
}

// sendRevoke sends a revocation request and reads the answer: only a 2xx of the registered
// endpoint (whose answer, under the entry's token_response rules, reports no error) counts
// as revoked, and so does an answer that the token is already invalid.
func (c *Client) sendRevoke(req *http.Request, p *Provider) error {
	resp, err := c.http().Do(req)
	if err != nil {
		return transportError("revoke", err)
	}
	defer resp.Body.Close()
	respBody, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	status := resp.StatusCode
	if status/100 == 2 {
		if b, failed := normalizeAnswer(respBody, p.preset().TokenResponse); failed {
			respBody, status = b, http.StatusBadRequest
		}
	}
	if resp.Request != nil && resp.Request.URL.String() != req.URL.String() {
		// An HTTP client that follows redirects (not the egress policy's): the answer is not
		// the registered endpoint's, so the token may still be valid.
		return &Error{Op: "revoke", Kind: KindRejected, StatusCode: resp.StatusCode,
			Err: fmt.Errorf("the answer came from %s after a redirect, not from the revocation endpoint: configure the final URL as revocation_url", authconn.Sanitize(resp.Request.URL.Host, 100))}
	}
	if status/100 == 2 {
		return nil // only a 2xx of the registered endpoint counts as revoked
	}
	if resp.StatusCode/100 == 3 {
		return &Error{Op: "revoke", Kind: KindRejected, StatusCode: resp.StatusCode,
			Err: fmt.Errorf("the revocation endpoint redirected (to host %s): configure the final URL as revocation_url", authconn.Sanitize(locationHost(resp), 100))}
	}
	var e struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	_ = json.Unmarshal(respBody, &e)
	if std, ok := p.preset().ErrorCodes[e.Error]; ok {
		e.Error = std
	}
	if e.Error == "invalid_token" || e.Error == "invalid_grant" {
		return nil // already invalid: the goal is reached
	}
	return &Error{Op: "revoke", Kind: kindOf(status, e.Error), StatusCode: resp.StatusCode, Code: e.Error, Description: truncate(e.Description, 300)}
}

// RevokesWithAccessToken reports whether the provider's revocation is a call of its API
// (catalog.RevokeCall: Slack's auth.revoke, Dropbox's /2/auth/token/revoke) that takes the
// access token as the API does and ends the whole grant; such a call must never be given
// the refresh token.
func (p *Provider) RevokesWithAccessToken() bool {
	return p.RevocationURL != "" && p.preset().RevocationKind() == catalog.RevokeCall
}

// revokeCall revokes token with the entry's provider-specific call (RevokeCall): its method
// to the revocation URL, the token presented as the API takes it, the extra revoke
// parameters in the query (GET, DELETE) or as a form.
func (c *Client) revokeCall(ctx context.Context, p *Provider, token string) error {
	method := p.preset().Revocation.Method
	if method == "" {
		method = http.MethodPost
	}
	form := url.Values{}
	for k, v := range p.extra.Revoke {
		form.Set(k, v)
	}
	target, body := p.RevocationURL, ""
	if method == http.MethodGet || method == http.MethodDelete {
		target = withParams(target, form)
	} else {
		body = form.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, target, strings.NewReader(body))
	if err != nil {
		return &Error{Op: "revoke", Kind: KindRejected, Err: err}
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Accept", "application/json")
	p.PresentToken(req.Header, token)
	return c.sendRevoke(req, p)
}
