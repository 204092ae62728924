package oauth

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/oauth2"

	"github.com/authconnection/terraform-provider-tailor/internal/catalog"
	"github.com/authconnection/terraform-provider-tailor/internal/egress"
)

// ErrorKind classifies a failed provider request.
type ErrorKind int

const (
	// KindTransient: network errors, timeouts, 408, 429 and 5xx. Retry with backoff.
	KindTransient ErrorKind = iota
	// KindInvalidGrant: the provider refused the refresh token or code (invalid_grant).
	// The connection must be authorized again.
	KindInvalidGrant
	// KindInvalidClient: the provider refused the client credentials (invalid_client,
	// unauthorized_client).
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
// It says what the provider answered, not what to do about it: that is for the caller, which
// knows who reads the message.
type Error struct {
	Op          string // "discovery", "exchange", "refresh", "revoke"
	Kind        ErrorKind
	Code        string // RFC 6749 error code, if any (a provider's own code is mapped by its preset)
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
	if e.Kind == KindTransient {
		b.WriteString(" (temporary: the provider could not be reached or had an error)")
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Permanent reports whether retrying the same request cannot succeed.
func (e *Error) Permanent() bool { return e.Kind != KindTransient }

// Answered reports whether the provider itself answered (an error response, a 5xx other than
// a gateway's 502 or 504, a 429 or a 408): it then did not act on the request. A request
// without an answer (timeout, connection lost, a gateway's 502/504) may have been carried out.
func (e *Error) Answered() bool {
	return e.StatusCode != 0 && e.StatusCode != http.StatusBadGateway && e.StatusCode != http.StatusGatewayTimeout
}

// IsInvalidGrant reports whether err is a provider's invalid_grant.
func IsInvalidGrant(err error) bool { return KindOf(err) == KindInvalidGrant }

// IsTransient reports whether err may go away by itself (network, 5xx, 429).
func IsTransient(err error) bool {
	var oe *Error
	return errors.As(err, &oe) && oe.Kind == KindTransient
}

// KindOf returns the kind of an *Error in err's chain; KindTransient for any other error.
func KindOf(err error) ErrorKind {
	var oe *Error
	if errors.As(err, &oe) {
		return oe.Kind
	}
	return KindTransient
}

// classify turns an error from x/oauth2 or net/http into an *Error. The preset names where
// the provider's error answers keep their code (token_response.error_field: HubSpot's
// "status", Notion's "code") and maps its own codes to RFC 6749 codes (error_codes).
func classify(op string, err error, p *Preset) *Error {
	if err == nil {
		return nil
	}
	var oe *Error
	if errors.As(err, &oe) {
		return oe
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		code := re.ErrorCode
		if code == "" {
			code = answerCode(re.Body, p.TokenResponse.ErrorField)
		}
		if std, ok := p.ErrorCodes[code]; ok {
			code = std
		}
		e := &Error{Op: op, Code: code, Description: truncate(re.ErrorDescription, 300)}
		if re.Response != nil {
			e.StatusCode = re.Response.StatusCode
		}
		e.Kind = kindOf(e.StatusCode, e.Code)
		return e
	}
	return transportError(op, err)
}

// answerCode returns the error code at field (a dotted path) of a JSON error answer, or "".
func answerCode(body []byte, field string) string {
	if field == "" || field == "error" {
		return ""
	}
	var doc any
	if json.Unmarshal(body, &doc) != nil {
		return ""
	}
	v, _ := catalog.Lookup(doc, field)
	s, _ := catalog.Scalar(v)
	return truncate(s, 64)
}

// transportError is the *Error of a request that got no usable answer: the egress policy's
// refusals (a redirect, an internal destination) are configuration errors that a retry will
// not fix; anything else (network, timeout) is transient.
func transportError(op string, err error) *Error {
	var re *egress.RedirectError
	if errors.As(err, &re) {
		return &Error{Op: op, Kind: KindRejected, StatusCode: re.Status, Err: re}
	}
	var be *egress.BlockedError
	if errors.As(err, &be) {
		return &Error{Op: op, Kind: KindRejected, Err: be}
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
	case "":
	default:
		if status/100 == 2 {
			return KindRejected // an error in a 200 answer (GitHub)
		}
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
