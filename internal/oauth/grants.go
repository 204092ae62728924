package oauth

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/authconnection/terraform-provider-tailor/internal/catalog"
)

// ClientCredentials asks the token endpoint for a token of the application itself, with the
// client credentials grant (RFC 6749 4.4), for scopes and the connection's audience and
// RFC 8707 resources. It comes without a refresh token: ask again before it expires.
func (c *Client) ClientCredentials(ctx context.Context, p *Provider, creds Credentials, scopes []string) (*Token, error) {
	ctx = p.allow(ctx)
	tc, err := c.tokenCall(p, "client_credentials", scopes, creds)
	if err != nil {
		return nil, err
	}
	cfg := p.Config(creds, "", scopes)
	cc := &clientcredentials.Config{ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, TokenURL: p.TokenURL,
		Scopes: cfg.Scopes, AuthStyle: cfg.Endpoint.AuthStyle}
	tok, err := cc.Token(c.withTokenCall(ctx, tc))
	if err != nil {
		return nil, classify("client credentials", err, p.preset())
	}
	t, err := c.token(p, tok, tc.body)
	if err != nil {
		return nil, &Error{Op: "client credentials", Kind: KindRejected, Err: err}
	}
	return t, nil
}

// DeviceAuthorization is a started device authorization (RFC 8628): show VerificationURI
// and UserCode (or VerificationURIComplete) to the user, then call Client.DeviceToken.
type DeviceAuthorization struct {
	UserCode                string
	VerificationURI         string
	VerificationURIComplete string
	Expiry                  time.Time
	// Interval is how often the token endpoint may be polled.
	Interval time.Duration
	Scopes   []string

	response *oauth2.DeviceAuthResponse
	provider *Provider
	creds    Credentials
}

// String hides the device code.
func (d *DeviceAuthorization) String() string {
	return "DeviceAuthorization(" + d.VerificationURI + ")"
}

// ErrNoDeviceEndpoint is returned by DeviceAuth when the provider has no device
// authorization endpoint.
var ErrNoDeviceEndpoint = errors.New("the provider has no device authorization endpoint (device_authorization_endpoint in its metadata)")

// DeviceAuth starts the device authorization grant (RFC 8628 3.1) for scopes: the client
// authenticates as at the token endpoint, and the answer says where the user goes.
func (c *Client) DeviceAuth(ctx context.Context, p *Provider, creds Credentials, scopes []string) (*DeviceAuthorization, error) {
	if p.DeviceAuthURL == "" {
		return nil, ErrNoDeviceEndpoint
	}
	ctx = p.allow(ctx)
	scopes = p.Scopes(scopes)
	cfg := p.deviceConfig(creds, scopes)
	dc := &deviceCall{base: c.transport(), p: p, creds: creds, style: cfg.Endpoint.AuthStyle, now: c.now}
	var opts []oauth2.AuthCodeOption
	for k, vs := range p.requestParams() {
		opts = append(opts, oauth2.SetAuthURLParam(k, strings.Join(vs, " ")))
	}
	da, err := cfg.DeviceAuth(c.withTransport(ctx, dc), opts...)
	if err != nil {
		return nil, classify("device authorization", err, p.preset())
	}
	d := &DeviceAuthorization{UserCode: da.UserCode, VerificationURI: da.VerificationURI,
		VerificationURIComplete: da.VerificationURIComplete, Expiry: da.Expiry, Interval: time.Duration(da.Interval) * time.Second,
		Scopes: scopes, response: da, provider: p, creds: creds}
	if d.Interval <= 0 {
		d.Interval = 5 * time.Second // RFC 8628 3.2
	}
	return d, nil
}

// DeviceToken polls the token endpoint at the server's interval until the user approves
// (a token), denies (access_denied), the device code expires (expired_token) or ctx ends.
// authorization_pending waits and slow_down adds 5 seconds to the interval (RFC 8628 3.5).
func (c *Client) DeviceToken(ctx context.Context, d *DeviceAuthorization) (*Token, error) {
	p := d.provider
	ctx = p.allow(ctx)
	cfg := p.deviceConfig(d.creds, d.Scopes)
	dc := &deviceCall{base: c.transport(), p: p, creds: d.creds, style: cfg.Endpoint.AuthStyle, now: c.now}
	ctx = c.withTransport(ctx, dc)
	tok, err := cfg.DeviceAccessToken(ctx, d.response)
	if err != nil {
		// x/oauth2 stops polling at the code's expiry with the context's deadline error.
		if errors.Is(err, context.DeadlineExceeded) && !d.Expiry.IsZero() && !time.Now().Before(d.Expiry) {
			return nil, &Error{Op: "device token", Kind: KindRejected, Code: "expired_token", Description: "the device code expired before the user approved"}
		}
		return nil, classify("device token", err, p.preset())
	}
	t, err := c.token(p, tok, dc.body)
	if err != nil {
		return nil, &Error{Op: "device token", Kind: KindRejected, Err: err}
	}
	return t, nil
}

// deviceConfig is Config for the device grant: the client authentication style must be
// definite, since x/oauth2 polls through one HTTP client (automatic detection would probe
// both styles on every poll).
func (p *Provider) deviceConfig(creds Credentials, scopes []string) *oauth2.Config {
	cfg := p.Config(creds, "", scopes)
	if cfg.Endpoint.AuthStyle == oauth2.AuthStyleAutoDetect {
		cfg.Endpoint.AuthStyle = oauth2.AuthStyleInHeader // RFC 6749 2.3.1: every server supports basic
	}
	return cfg
}

// deviceCall decorates the requests of the device grant: the preset's headers everywhere;
// on the device authorization request, which x/oauth2 sends with the client id only, the
// client's authentication (basic, secret in the body, or a client assertion); on token
// polls, a fresh client assertion for a private_key_jwt client. It keeps the body of the last
// answer.
type deviceCall struct {
	base  http.RoundTripper
	p     *Provider
	creds Credentials
	style oauth2.AuthStyle
	now   func() time.Time
	body  []byte
}

func (d *deviceCall) RoundTrip(req *http.Request) (*http.Response, error) {
	// x/oauth2 sends the device authorization request without the caller's context.
	req = req.WithContext(d.p.allow(req.Context()))
	pre := d.p.preset()
	tc := &tokenCall{base: d.base, headers: pre.TokenHeaders, form: url.Values{}, json: pre.TokenBody == catalog.BodyJSON, answer: pre.TokenResponse}
	isDeviceAuth := req.URL.String() == d.p.DeviceAuthURL
	if d.creds.Key != nil {
		a, err := d.creds.assertion(d.p.TokenURL, d.now())
		if err != nil {
			return nil, err
		}
		tc.form.Set("client_assertion_type", assertionType)
		tc.form.Set("client_assertion", a)
	} else if isDeviceAuth && d.style == oauth2.AuthStyleInParams && d.creds.ClientSecret != "" {
		tc.form.Set("client_secret", d.creds.ClientSecret)
	} else if isDeviceAuth && d.creds.ClientSecret != "" {
		req = req.Clone(req.Context())
		req.Header.Del("Authorization")
		req.SetBasicAuth(url.QueryEscape(d.creds.ClientID), url.QueryEscape(d.creds.ClientSecret))
	}
	resp, err := tc.RoundTrip(req)
	d.body = tc.body
	return resp, err
}

// transport is the round tripper of the client's HTTP client.
func (c *Client) transport() http.RoundTripper {
	if t := c.http().Transport; t != nil {
		return t
	}
	return http.DefaultTransport
}

// withTransport returns a context for x/oauth2 whose HTTP client sends through rt.
func (c *Client) withTransport(ctx context.Context, rt http.RoundTripper) context.Context {
	hc := c.http()
	return context.WithValue(ctx, oauth2.HTTPClient, &http.Client{Transport: rt, Timeout: hc.Timeout, CheckRedirect: hc.CheckRedirect})
}
