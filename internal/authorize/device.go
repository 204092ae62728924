package authorize

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/connection"
	"github.com/authconnection/terraform-provider-tailor/internal/oauth"
	"github.com/authconnection/terraform-provider-tailor/internal/tokens"
)

// RunDevice authorizes connection opts.Name with the device authorization grant (RFC 8628),
// for a machine without a browser: the UI shows the verification URI and the user code, the
// user approves on any device, and RunDevice polls the token endpoint at the server's
// interval (slow_down adds 5 seconds) until the approval, a denial or the expiry of the
// code, then stores the tokens as Run does. opts.Port is not used.
func RunDevice(ctx context.Context, st Store, opts Options) (res *Result, err error) {
	defer func() { recordAuthorization(ctx, opts.Audit, opts.Caller, opts.Name, res, err) }()
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	r := Request{Name: opts.Name, Scopes: opts.Scopes, OAuth: opts.OAuth}
	c, err := prepare(ctx, st, &r)
	if err != nil {
		return nil, err
	}
	da, err := opts.OAuth.DeviceAuth(ctx, c.prov, c.creds, c.scopes)
	if err != nil {
		return nil, deviceError(opts.Name, err)
	}
	wait := min(opts.Timeout, time.Until(da.Expiry))
	if da.Expiry.IsZero() {
		wait = opts.Timeout
	}
	p := Prompt{Name: opts.Name, URL: da.VerificationURI, CompleteURL: da.VerificationURIComplete, UserCode: da.UserCode, Device: true,
		Provider: c.prov.Name(), AuthHost: hostOf(c.prov.DeviceAuthURL), Scopes: da.Scopes, ClientID: c.conn.ClientID, Timeout: wait}
	if err := opts.UI.Prompt(p); err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	tok, err := opts.OAuth.DeviceToken(pctx, da)
	if err != nil {
		return nil, deviceError(opts.Name, err)
	}
	opts.UI.Exchanging()
	ts := tokens.Authorized(tok, da.Scopes, nil, opts.FallbackLifetime)
	ts.IssuedBy = c.prov.Issuance() // refreshes and revocations go only there
	res = &Result{Name: opts.Name, Provider: c.prov.Name(), Scopes: da.Scopes, GrantedScope: ts.Scope, Device: true}
	res.noteMetadata(ts, captureMetadata(ctx, opts.OAuth, c.prov, connection.FillsWithMetadata(&c.conn.Connection), nil, tok, ts))
	ts.Account = c.prov.Account(tok, accountValues(nil, ts.Metadata))
	if err := storeAuthorization(ctx, st, opts.Name, ts, res, opts.NewAccount); err != nil {
		return nil, err
	}
	res.finish(ts, c.prov.Preset.NoRefreshTokenAdvice)
	opts.UI.Done(res)
	return res, nil
}

// deviceError says what to do about a failed device authorization.
func deviceError(name string, err error) error {
	var oe *oauth.Error
	switch {
	case errors.Is(err, oauth.ErrNoDeviceEndpoint):
		return fmt.Errorf("authorizing %q with the device flow: %w; use the browser flow (without --device), or set up a provider or app that supports the device authorization grant", name, err)
	case errors.As(err, &oe) && oe.Code == "access_denied":
		return fmt.Errorf("authorizing %q: %w (the request was denied on the device page: run authorize --device again and approve it)", name, err)
	case errors.As(err, &oe) && oe.Code == "expired_token":
		return fmt.Errorf("authorizing %q: %w (the code expired before it was approved: run authorize --device again and enter the new code sooner)", name, err)
	case oauth.KindOf(err) == oauth.KindInvalidClient:
		return fmt.Errorf("authorizing %q with the device flow: %w; check the connection's client_id and its credentials, and that the app may use the device authorization grant", name, err)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("authorizing %q: nobody approved the device in time; run authorize --device again (a longer --timeout waits longer, up to the code's lifetime)", name)
	}
	return fmt.Errorf("authorizing %q with the device flow: %w", name, err)
}
