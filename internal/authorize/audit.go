package authorize

import (
	"context"
	"errors"

	"github.com/authconnection/terraform-provider-tailor/internal/audit"
	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
)

// recordAuthorization records an authorization of connection name by caller that ended
// with res or err: connection.reauthorized when it replaced a token record, else
// connection.authorized. The reason of a failure is a short code, never the provider's text.
func recordAuthorization(ctx context.Context, rec audit.Recorder, caller audit.Caller, name string, res *Result, err error) {
	r := audit.Record{Caller: caller, Connection: name, Action: audit.ConnectionAuthorized, Outcome: audit.Success}
	if res != nil && res.Replaced {
		r.Action = audit.ConnectionReauthorized
	}
	if err != nil {
		r.Outcome, r.Reason = audit.Failure, authorizationFailure(err)
	}
	if authconn.ValidateName(name) != nil {
		r.Connection = ""
	}
	audit.OrNop(rec).Record(ctx, r)
}

// authorizationFailure is the reason code of a failed authorization.
func authorizationFailure(err error) string {
	var cb *CallbackError
	var mismatch *AccountMismatchError
	var timeout *TimeoutError
	switch {
	case errors.As(err, &cb):
		return "callback_error"
	case errors.As(err, &mismatch):
		return "account_mismatch"
	case errors.As(err, &timeout):
		return "timeout"
	case errors.Is(err, ErrWrongCallback):
		return "wrong_callback"
	case errors.Is(err, ErrAuthorizationExpired):
		return "expired"
	}
	return "failed"
}

// hostedCaller is who completed hosted flow p: a connect link's holder, or the status
// page's administrator (Reconnect).
func hostedCaller(p *authconn.PendingAuthorization) audit.Caller {
	if p.LinkID != "" {
		return audit.Caller{Kind: audit.CallerLink, ID: p.LinkID}
	}
	return audit.Caller{Kind: audit.CallerAdminSession}
}
