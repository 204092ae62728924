package authorize

import (
	"fmt"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/oauth"
)

// PortInUseError reports that the callback port is taken.
type PortInUseError struct {
	Port int
	Addr string
	Err  error
}

func (e *PortInUseError) Error() string {
	next := e.Port + 1
	if next > 65535 {
		next = 8081
	}
	return fmt.Sprintf("port %d is already in use on %s (another program, or another `tokend authorize`?): "+
		"stop that program, or pass --port with a free port, e.g. --port %d, and register %s as a redirect URI at the provider",
		e.Port, e.Addr, next, RedirectURI(next))
}

func (e *PortInUseError) Unwrap() error { return e.Err }

// TimeoutError reports that no callback arrived in time.
type TimeoutError struct {
	Timeout     time.Duration
	RedirectURI string
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("no authorization callback arrived within %s: finish the consent in the browser sooner, or pass a longer --timeout (e.g. --timeout 10m); "+
		"if the provider showed an error about the redirect URI, register %s at the provider and run authorize again", e.Timeout, e.RedirectURI)
}

// CallbackError is a refused or failed authorization response (access_denied, invalid_scope,
// state mismatch, iss mismatch, ...). Code says which.
type CallbackError struct {
	Name string
	Err  *oauth.CallbackError
}

// Code is the OAuth2 error code or "state_mismatch" / "iss_mismatch".
func (e *CallbackError) Code() string { return e.Err.Code }

func (e *CallbackError) Error() string {
	msg := fmt.Sprintf("authorizing %q: %v", e.Name, e.Err)
	switch e.Err.Code {
	case "access_denied", "invalid_scope", "state_mismatch", "iss_mismatch", "unauthorized_client":
		// oauth.CallbackError already names the next step.
	case "invalid_request":
		msg += " (check the connection's client_id and that the redirect URI is registered at the provider)"
	case "server_error", "temporarily_unavailable":
		msg += " (the provider had a temporary problem: run authorize again in a moment)"
	default:
		msg += " (run authorize again; if it keeps failing, check the app's settings at the provider)"
	}
	return msg
}

func (e *CallbackError) Unwrap() error { return e.Err }
