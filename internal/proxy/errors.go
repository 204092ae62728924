package proxy

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/broker"
	"github.com/authconnection/terraform-provider-tailor/internal/egress"
	"github.com/authconnection/terraform-provider-tailor/internal/wire"
)

// The headers of tokend's proxy. HeaderError is on every answer of tokend's own (never on
// the upstream's), HeaderAttempts on every answer, HeaderHost picks one of the connection's
// allowed hosts.
const (
	HeaderError    = "Tailor-Proxy-Error"
	HeaderAttempts = "Tailor-Proxy-Attempts"
	HeaderHost     = "Tailor-Proxy-Host"
)

// Error is an answer of tokend's own to a proxied call: Status, a wire error Code and a
// Message for the caller (no token, no query value).
type Error struct {
	Status     int
	Code       string
	Message    string
	RetryAfter time.Duration
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// WriteError writes e as tokend's JSON error answer with HeaderError and HeaderAttempts.
func WriteError(w http.ResponseWriter, e *Error, attempts int) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set(HeaderError, e.Code)
	h.Set(HeaderAttempts, strconv.Itoa(attempts))
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int((e.RetryAfter+time.Second-1)/time.Second)))
	}
	w.WriteHeader(e.Status)
	_ = json.NewEncoder(w).Encode(wire.Error{Error: e.Code, Message: authconn.Sanitize(e.Message, 2048)})
}

// tokenError turns a broker error into tokend's answer.
func tokenError(name string, err error) *Error {
	var na *broker.NotAuthorizedError
	var un *broker.UnavailableError
	switch {
	case errors.Is(err, broker.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Code: wire.CodeNotFound, Message: err.Error()}
	case errors.As(err, &na) && na.Status == authconn.StatusNeedsReauthorization:
		return &Error{Status: http.StatusConflict, Code: wire.CodeNeedsReauthorization, Message: na.Error()}
	case errors.As(err, &na):
		return &Error{Status: http.StatusConflict, Code: wire.CodeNotAuthorized, Message: na.Error()}
	case errors.As(err, &un):
		return &Error{Status: http.StatusServiceUnavailable, Code: wire.CodeUnavailable, RetryAfter: max(un.RetryAfter, time.Second),
			Message: fmt.Sprintf("no valid access token for %q right now; try again after Retry-After seconds", name)}
	default:
		return &Error{Status: http.StatusServiceUnavailable, Code: wire.CodeUnavailable, RetryAfter: 5 * time.Second,
			Message: fmt.Sprintf("the token of %q cannot be had right now; try again shortly", name)}
	}
}

// transportError turns a failed call into tokend's answer. The message names the host only:
// net/http's errors carry the whole URL, query included.
func transportError(host string, err error) *Error {
	var e *Error
	var blocked *egress.BlockedError
	switch {
	case errors.As(err, &e):
		return e
	case errors.As(err, &blocked):
		return &Error{Status: http.StatusForbidden, Code: wire.CodeHostNotAllowed,
			Message: fmt.Sprintf("%s resolves to a %s address, which the proxy reaches only when an operator typed it (proxy_base_url or proxy_allowed_hosts)", host, blocked.Reason)}
	case errors.Is(err, http.ErrBodyReadAfterClose), isTimeout(err):
		return &Error{Status: http.StatusGatewayTimeout, Code: wire.CodeUpstreamUnreachable, Message: host + " did not answer in time"}
	default:
		return &Error{Status: http.StatusBadGateway, Code: wire.CodeUpstreamUnreachable, Message: host + " could not be reached"}
	}
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}
