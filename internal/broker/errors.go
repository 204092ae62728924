package broker

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/oauth"
)

// ErrNotFound is returned for a connection that does not exist in Vault.
var ErrNotFound = errors.New("connection not found")

// NotAuthorizedError is returned for a connection without usable tokens: never authorized,
// revoked, or refused by the provider (needs re-authorization).
type NotAuthorizedError struct {
	Name      string
	Status    authconn.Status
	LastError string
}

func (e *NotAuthorizedError) Error() string {
	switch e.Status {
	case authconn.StatusNeedsReauthorization:
		msg := fmt.Sprintf("connection %q needs to be authorized again: the provider no longer accepts its refresh token", e.Name)
		if strings.Contains(e.LastError, "moved from") {
			msg = fmt.Sprintf("connection %q needs to be authorized again: its refresh token is bound to the endpoint that issued it", e.Name)
		}
		if e.LastError != "" {
			msg += " (" + e.LastError + ")"
		}
		return msg + fmt.Sprintf("; run `tokend authorize %s`", e.Name)
	default:
		return fmt.Sprintf("connection %q is not authorized yet: run `tokend authorize %s`", e.Name, e.Name)
	}
}

// UnavailableError is returned when no valid token is left and a new one cannot be obtained
// now (provider or Vault unreachable). RetryAfter says when to try again.
type UnavailableError struct {
	Name       string
	RetryAfter time.Duration
	Err        error
}

func (e *UnavailableError) Error() string {
	msg := fmt.Sprintf("no valid access token for %q right now", e.Name)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *UnavailableError) Unwrap() error { return e.Err }

// adviceError is a refresh failure with the next step for whoever reads tokend's status and
// logs: the oauth package says what the provider answered, this says what to do about it.
type adviceError struct {
	err  error
	next string
}

func (e *adviceError) Error() string { return e.err.Error() + " (" + e.next + ")" }

func (e *adviceError) Unwrap() error { return e.err }

// withAdvice adds the next step to a failed refresh of connection name.
func withAdvice(name string, err error) error {
	var oe *oauth.Error
	if !errors.As(err, &oe) {
		return err
	}
	var next string
	switch {
	case oe.Kind == oauth.KindInvalidGrant:
		next = fmt.Sprintf("the provider no longer accepts the refresh token: authorize the connection again with `tokend authorize %s`", name)
	case oe.Kind == oauth.KindInvalidClient:
		next = "the provider refused the client credentials: check client_id and the client secret or client assertion key (set with the Terraform provider or `tokend create`), and that the app is enabled at the provider"
	case oe.Code == "unauthorized_client":
		next = "the provider does not allow this client the grant: enable it for the app at the provider"
	case oe.Kind == oauth.KindTransient:
		next = "retried with backoff"
	case oe.Code == "invalid_scope":
		next = "check that the requested scopes are enabled for the app at the provider"
	default:
		return err
	}
	return &adviceError{err: err, next: next}
}
