// Package oauth does the OAuth2 work for tailor connections on top of golang.org/x/oauth2:
// endpoint discovery (OpenID Connect Discovery and RFC 8414), provider presets (Google,
// Microsoft, QuickBooks/Intuit), the authorization-code flow with PKCE, state, nonce and the
// RFC 9207 iss check, refresh, and RFC 7009 revocation.
//
// It is the only package that talks to OAuth2 providers; the Terraform provider and tokend
// both use it. Tokens it returns are store.TokenSet values, merged with the previous record
// the way a token broker must: a response without a refresh token keeps the old one, and a
// response without expires_in gets a fallback lifetime.
package oauth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// DefaultFallbackLifetime is the access-token lifetime assumed when a provider sends no
// expires_in.
const DefaultFallbackLifetime = time.Hour

// Client performs OAuth2 requests. The zero value is usable.
type Client struct {
	// HTTP is the client used for provider requests; a client with a 30 s timeout when nil.
	HTTP *http.Client
	// FallbackLifetime is the access-token lifetime assumed when the provider sends no
	// expires_in; DefaultFallbackLifetime when zero.
	FallbackLifetime time.Duration
	// Now returns the current time; time.Now when nil.
	Now func() time.Time
}

var defaultHTTP = &http.Client{Timeout: 30 * time.Second}

func (c *Client) http() *http.Client {
	if c != nil && c.HTTP != nil {
		return c.HTTP
	}
	return defaultHTTP
}

func (c *Client) now() time.Time {
	if c != nil && c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Client) fallbackLifetime() time.Duration {
	if c != nil && c.FallbackLifetime > 0 {
		return c.FallbackLifetime
	}
	return DefaultFallbackLifetime
}

// Credentials are a connection's OAuth2 client credentials.
type Credentials struct {
	ClientID     string
	ClientSecret string
}

// String hides the secret.
func (c Credentials) String() string { return fmt.Sprintf("Credentials(client_id=%s)", c.ClientID) }

// GoString hides the secret.
func (c Credentials) GoString() string { return c.String() }

// ErrorKind classifies a failed provider request.
type ErrorKind int

const (
	// KindTransient: network errors, timeouts, 408, 429 and 5xx. Retry with backoff.
	KindTransient ErrorKind = iota
	// KindInvalidGrant: the provider refused the refresh token or code (invalid_grant).
	// The connection must be authorized again.
	KindInvalidGrant
	// KindInvalidClient: the provider refused the client credentials (invalid_client,
	// unauthorized_client). Fix the client id or secret.
	KindInvalidClient
	// KindRejected: any other refusal (invalid_request, invalid_scope, ...). Retrying the same
	// request will not help.
	KindRejected
)

func (k ErrorKind) String() string {
	switch k {
	case KindTransient:
		return "transient"
	case KindInvalidGrant:
		return "invalid_grant"
	case KindInvalidClient:
		return "invalid_client"
	default:
		return "rejected"
	}
}

// Error is a failed request to a provider. Its message never contains tokens or secrets: it
// carries the OAuth2 error code, the provider's description (truncated) and the HTTP status.
type Error struct {
	Op          string // "discovery", "exchange", "refresh", "revoke"
	Kind        ErrorKind
	Code        string // RFC 6749 error code, if any
	Description string
	StatusCode  int // HTTP status, 0 for network errors
	Err         error
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s failed", e.Op)
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.StatusCode)
	}
	if e.Code != "" {
		fmt.Fprintf(&b, ": %s", e.Code)
	}
	if e.Description != "" {
		fmt.Fprintf(&b, ": %s", e.Description)
	}
	if e.Code == "" && e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	if hint := e.hint(); hint != "" {
		b.WriteString(" (" + hint + ")")
	}
	return b.String()
}

func (e *Error) hint() string {
	switch e.Kind {
	case KindInvalidGrant:
		if e.Op == "refresh" {
			return "the provider no longer accepts the refresh token: run `tokend authorize NAME` again"
		}
		return "the authorization code was refused: it may have expired or been used; authorize again"
	case KindInvalidClient:
		return "the provider refused the client credentials: check client_id and the client secret (set with the Terraform provider or `tokend create`), and that the app is enabled at the provider"
	case KindTransient:
		if e.Op == "refresh" {
			return "temporary: the provider could not be reached or had an error; it will be retried"
		}
		return "temporary: the provider could not be reached or had an error; try again later"
	}
	if e.Code == "invalid_scope" {
		return "check that the requested scopes are enabled for the app at the provider"
	}
	return ""
}

func (e *Error) Unwrap() error { return e.Err }

// Permanent reports whether retrying the same request cannot succeed.
func (e *Error) Permanent() bool { return e.Kind != KindTransient }

// IsInvalidGrant reports whether err is a provider's invalid_grant.
func IsInvalidGrant(err error) bool {
	var oe *Error
	return errors.As(err, &oe) && oe.Kind == KindInvalidGrant
}

// IsTransient reports whether err may go away by itself (network, 5xx, 429).
func IsTransient(err error) bool {
	var oe *Error
	if errors.As(err, &oe) {
		return oe.Kind == KindTransient
	}
	return false
}

// classify turns an error from x/oauth2 or net/http into an *Error.
func classify(op string, err error) *Error {
	if err == nil {
		return nil
	}
	var oe *Error
	if errors.As(err, &oe) {
		return oe
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		e := &Error{Op: op, Code: re.ErrorCode, Description: truncate(re.ErrorDescription, 300)}
		if re.Response != nil {
			e.StatusCode = re.Response.StatusCode
		}
		e.Kind = kindOf(e.StatusCode, e.Code)
		return e
	}
	return &Error{Op: op, Kind: KindTransient, Err: scrubURLError(err)}
}

func kindOf(status int, code string) ErrorKind {
	switch code {
	case "invalid_grant":
		return KindInvalidGrant
	case "invalid_client", "unauthorized_client":
		return KindInvalidClient
	case "temporarily_unavailable", "server_error", "slow_down":
		return KindTransient
	}
	if status == 0 || status >= 500 || status == http.StatusTooManyRequests || status == http.StatusRequestTimeout {
		return KindTransient
	}
	if status == http.StatusUnauthorized {
		return KindInvalidClient
	}
	return KindRejected
}

// scrubURLError drops query strings from *url.Error messages, which may carry codes.
func scrubURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		u := ue.URL
		if i := strings.IndexAny(u, "?#"); i >= 0 {
			u = u[:i]
		}
		var ne net.Error
		if errors.As(ue.Err, &ne) && ne.Timeout() {
			return fmt.Errorf("%s %s: timeout", ue.Op, u)
		}
		return fmt.Errorf("%s %s: %v", ue.Op, u, ue.Err)
	}
	return err
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// tokenCall decorates one token-endpoint request made by x/oauth2: it adds the provider's
// extra headers and form values and keeps a copy of the raw response body, so the caller can
// keep every field of the response (x/oauth2 exposes only named ones).
//
// It also guards the grant: x/oauth2 retries a failed request with the other client
// authentication style when the style is unknown (AuthStyleAutoDetect: endpoint overrides,
// or metadata offering both basic and post), after any failure. That second request presents
// the same code or refresh token again, and its answer hides the first one (an invalid_grant
// comes back as invalid_client). tokenCall lets a second request through only when the first
// failed client authentication (401, invalid_client, unauthorized_client), which providers
// check before the grant; otherwise it answers with the first response without sending.
type tokenCall struct {
	base    http.RoundTripper
	headers map[string]string
	form    url.Values // added to the request body when the grant matches formFor
	formFor string     // grant_type the extra form values apply to
	body    []byte

	sent  int         // requests sent
	first *firstReply // the first answer, replayed to a retry that may not go out
}

type firstReply struct {
	err        error
	status     int
	header     http.Header
	body       []byte
	authFailed bool
}

func (f *firstReply) response(req *http.Request) (*http.Response, error) {
	if f.err != nil {
		return nil, f.err
	}
	return &http.Response{StatusCode: f.status, Status: fmt.Sprintf("%d %s", f.status, http.StatusText(f.status)),
		Header: f.header.Clone(), Body: io.NopCloser(bytes.NewReader(f.body)), ContentLength: int64(len(f.body)),
		Request: req, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}, nil
}

// clientAuthFailed reports whether a token-endpoint answer is a client authentication
// failure, after which retrying with the other authentication style is safe.
func clientAuthFailed(status int, body []byte) bool {
	if status == http.StatusUnauthorized {
		return true
	}
	var e struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(body, &e)
	return e.Error == "invalid_client" || e.Error == "unauthorized_client"
}

func (t *tokenCall) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.first != nil && !t.first.authFailed {
		if req.Body != nil {
			req.Body.Close()
		}
		return t.first.response(req)
	}
	req = req.Clone(req.Context())
	for k, v := range t.headers {
		req.Header.Set(k, v)
	}
	if len(t.form) > 0 && req.Body != nil {
		raw, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		vals, err := url.ParseQuery(string(raw))
		if err == nil && vals.Get("grant_type") == t.formFor {
			for k, vs := range t.form {
				if vals.Get(k) == "" {
					vals[k] = vs
				}
			}
			raw = []byte(vals.Encode())
		}
		req.Body = io.NopCloser(bytes.NewReader(raw))
		req.ContentLength = int64(len(raw))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil }
	}
	t.sent++
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		if t.first == nil {
			t.first = &firstReply{err: err}
		}
		return nil, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if err != nil {
		if t.first == nil {
			t.first = &firstReply{err: err}
		}
		return nil, err
	}
	if t.first == nil {
		t.first = &firstReply{status: resp.StatusCode, header: resp.Header.Clone(), body: body,
			authFailed: resp.StatusCode/100 != 2 && clientAuthFailed(resp.StatusCode, body)}
	}
	t.body = body
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

// withTokenCall returns a context for x/oauth2 whose HTTP client sends through tc.
func (c *Client) withTokenCall(ctx context.Context, tc *tokenCall) context.Context {
	hc := c.http()
	tc.base = hc.Transport
	if tc.base == nil {
		tc.base = http.DefaultTransport
	}
	return context.WithValue(ctx, oauth2.HTTPClient, &http.Client{Transport: tc, Timeout: hc.Timeout, CheckRedirect: hc.CheckRedirect})
}
