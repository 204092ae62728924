// Package client is a Go client for `tokend serve`: it fetches a connection's access token,
// reads its non-secret view (Connection) and sends API calls through the proxy (ProxyTransport).
//
//	c := client.New("https://tokend.internal:8787", os.Getenv("TAILOR_TOKEND_API_KEY"))
//	tok, err := c.Token(ctx, "google-oauth")
//	if client.IsNotAuthorized(err) { ... run `tokend authorize google-oauth` ... }
package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/wire"
)

// Client talks to one tokend.
type Client struct {
	baseURL string
	apiKey  string
	// HTTP is the client used for requests (a client with a 35 s timeout by default).
	HTTP *http.Client
}

// New returns a client for the tokend at baseURL (e.g. http://127.0.0.1:8787) that
// authenticates with apiKey (empty for a tokend started with --insecure-no-auth).
func New(baseURL, apiKey string) *Client {
	return &Client{baseURL: strings.TrimRight(baseURL, "/"), apiKey: apiKey, HTTP: &http.Client{Timeout: 35 * time.Second}}
}

// Token is a connection's access token, the body of tokend's token answer (wire.Token).
// Its String method hides the token.
type Token = wire.Token

// Error codes tokend returns (Error.Code). They are the protocol, defined once in
// internal/wire, which tokend's API (internal/api) answers with.
const (
	CodeNotFound             = wire.CodeNotFound             // 404: no such connection
	CodeInvalidName          = wire.CodeInvalidName          // 400: not a valid connection name
	CodeInvalidRequest       = wire.CodeInvalidRequest       // 400: a malformed admin API request
	CodeNotAuthorized        = wire.CodeNotAuthorized        // 409: never authorized, or revoked
	CodeNeedsReauthorization = wire.CodeNeedsReauthorization // 409: the provider refused the refresh token
	CodeUnavailable          = wire.CodeUnavailable          // 503: no valid token right now; see RetryAfter
	CodeUnauthenticated      = wire.CodeUnauthenticated      // 401: no, unknown or revoked API key
	CodeForbidden            = wire.CodeForbidden            // 403: the key may not use the connection
	CodeInternal             = wire.CodeInternal             // 500
	CodeVaultUnreachable     = wire.CodeVaultUnreachable     // not answered by tokend today; see wire.CodeVaultUnreachable
	CodeRateLimited          = wire.CodeRateLimited          // 429: too many failed API keys from one address; see RetryAfter
	CodeHostNotAllowed       = wire.CodeHostNotAllowed       // 403 (proxy): host or path not allowed for the connection
	CodeUpstreamUnreachable  = wire.CodeUpstreamUnreachable  // 502 (proxy): the connection's API could not be reached
	CodeNoAPIBaseURL         = wire.CodeNoAPIBaseURL         // 409 (proxy): the connection has no API base URL
	// CodeUnreachable is the code of an Error for a tokend that could not be reached (Status
	// 0). The client makes it up; tokend never sends it.
	CodeUnreachable = "unreachable"
)

// Error is an error answer of tokend, or a failure to reach it (Status 0, Code "unreachable").
type Error struct {
	Status     int
	Code       string
	Message    string
	RetryAfter time.Duration
	Err        error
}

func (e *Error) Error() string {
	if e.Status == 0 {
		return "tokend unreachable: " + e.Message
	}
	return fmt.Sprintf("tokend: %s (%d): %s", e.Code, e.Status, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

func code(err error) (string, int) {
	var e *Error
	if errors.As(err, &e) {
		return e.Code, e.Status
	}
	return "", -1
}

// IsNotFound reports a connection that does not exist (404).
func IsNotFound(err error) bool { c, s := code(err); return s == 404 || c == CodeNotFound }

// IsNotAuthorized reports a connection that must be authorized (again) with `tokend
// authorize NAME` (409).
func IsNotAuthorized(err error) bool { _, s := code(err); return s == 409 }

// IsUnavailable reports a temporary failure (503 or tokend unreachable): retry later.
func IsUnavailable(err error) bool { _, s := code(err); return s == 503 || s == 0 }

// IsInvalidName reports a name that no connection can have (400).
func IsInvalidName(err error) bool { c, _ := code(err); return c == CodeInvalidName }

// IsAuth reports a refused API key (401) or a key not allowed for the connection (403).
func IsAuth(err error) bool { _, s := code(err); return s == 401 || s == 403 }

// Token returns a valid access token for the connection name.
func (c *Client) Token(ctx context.Context, name string) (*Token, error) {
	var t Token
	if err := c.getJSON(ctx, "/v1/connections/"+url.PathEscape(name)+"/token", &t); err != nil {
		return nil, err
	}
	if t.AccessToken == "" {
		return nil, &Error{Status: http.StatusOK, Code: "bad_response", Message: "tokend's answer has no access_token"}
	}
	return &t, nil
}

// Connection is a connection's non-secret view (GET /v1/connections/{name}): what a caller
// that uses the proxy needs to build its paths, such as QuickBooks' Metadata["realmId"]. It
// never holds a token.
type Connection = wire.Connection

// Connection returns the connection name's non-secret view; any permission of the key on
// name may read it (a proxy-only key too).
func (c *Client) Connection(ctx context.Context, name string) (*Connection, error) {
	var v Connection
	if err := c.getJSON(ctx, "/v1/connections/"+url.PathEscape(name), &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// getJSON sends GET path with the API key and decodes a 200 answer into v; any other answer
// is an *Error with tokend's code, message and Retry-After.
func (c *Client) getJSON(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.baseURL+path, nil)
	if err != nil {
		return err
	}
	if c.apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.apiKey)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return &Error{Code: CodeUnreachable, Message: err.Error(), Err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return &Error{Code: CodeUnreachable, Message: err.Error(), Err: err}
	}
	if resp.StatusCode != http.StatusOK {
		return answerError(resp, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return &Error{Status: resp.StatusCode, Code: "bad_response", Message: "tokend's answer is not the JSON expected"}
	}
	return nil
}

// answerError is the *Error of tokend's non-200 answer.
func answerError(resp *http.Response, body []byte) *Error {
	e := &Error{Status: resp.StatusCode}
	var eb wire.Error
	if json.Unmarshal(body, &eb) == nil && eb.Error != "" {
		e.Code, e.Message = eb.Error, eb.Message
	} else {
		e.Code, e.Message = "http_"+strconv.Itoa(resp.StatusCode), http.StatusText(resp.StatusCode)
	}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
		e.RetryAfter = time.Duration(s) * time.Second
	}
	return e
}
