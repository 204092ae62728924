// Package authorize runs the OAuth2 authorization-code flow for one tailor connection: it
// reads the connection and its client secret from Vault, finds the provider's endpoints,
// sends the user's browser to the provider, checks the callback (state, RFC 9207 iss),
// exchanges the code (with the PKCE verifier) and stores the token set in Vault with
// check-and-set.
//
// Begin and Attempt.Complete are the flow's two halves, for any redirect target; Run is the
// local flow of `tokend authorize`, with a callback server on the loopback interface. Run
// talks to the person who authorizes through a UI (TextUI for a terminal). Nothing here
// prints or logs a secret: messages carry connection names, URLs without codes, and OAuth2
// error codes only.
package authorize

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/audit"
	"github.com/authconnection/terraform-provider-tailor/internal/oauth"
)

// DefaultPort is the port of the callback server when Options.Port is zero.
const DefaultPort = 8080

// DefaultTimeout is how long Run waits for the callback when Options.Timeout is zero.
const DefaultTimeout = 5 * time.Minute

// CallbackPath is the path of the redirect URI.
const CallbackPath = "/callback"

// DefaultScopes are requested when neither the options nor the connection name scopes.
var DefaultScopes = []string{"openid", "profile", "email"}

// RedirectURI returns the redirect URI for port, http://localhost:<port>/callback: the URI to
// register at the provider.
func RedirectURI(port int) string { return fmt.Sprintf("http://localhost:%d%s", port, CallbackPath) }

// Options configures Run.
type Options struct {
	// Name is the connection to authorize.
	Name string
	// Scopes to request; the connection's scopes when empty, else DefaultScopes. Scopes a
	// provider needs for a refresh token (Microsoft, OIDC offline_access) are added.
	Scopes []string
	// Port of the callback server on 127.0.0.1 (and [::1] when available); DefaultPort when 0.
	Port int
	// Timeout bounds the wait for the callback; DefaultTimeout when 0.
	Timeout time.Duration
	// UI shows the authorization URL and the progress; a TextUI on os.Stdout and os.Stderr
	// that prints the URL when nil.
	UI UI
	// OAuth performs the provider requests; a zero oauth.Client when nil.
	OAuth *oauth.Client
	// FallbackLifetime is the access-token lifetime assumed when the provider sends no
	// expires_in (tokens.DefaultFallbackLifetime when zero).
	FallbackLifetime time.Duration
	// NewAccount: the operator accepts another account than the connection's recorded one
	// (tokend authorize --new-account).
	NewAccount bool
	// Audit takes the record of the authorization (connection.authorized, or
	// connection.reauthorized when it replaced tokens), made by Caller; audit.Nop when nil.
	Audit  audit.Recorder
	Caller audit.Caller
}

func (o *Options) defaults() error {
	if o.Port == 0 {
		o.Port = DefaultPort
	}
	if o.Port < 1 || o.Port > 65535 {
		return fmt.Errorf("invalid --port %d: use a port between 1024 and 65535 (default %d)", o.Port, DefaultPort)
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.UI == nil {
		o.UI = &TextUI{Out: os.Stdout, Err: os.Stderr}
	}
	if o.OAuth == nil {
		o.OAuth = &oauth.Client{}
	}
	return nil
}

// Run authorizes connection opts.Name through a callback server on the loopback interface
// and stores its tokens in st.
func Run(ctx context.Context, st Store, opts Options) (res *Result, err error) {
	defer func() { recordAuthorization(ctx, opts.Audit, opts.Caller, opts.Name, res, err) }()
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	a, err := Begin(ctx, st, Request{Name: opts.Name, Scopes: opts.Scopes, RedirectURI: RedirectURI(opts.Port),
		OAuth: opts.OAuth, FallbackLifetime: opts.FallbackLifetime, NewAccount: opts.NewAccount})
	if err != nil {
		return nil, err
	}
	srv, err := listen(opts.Port)
	if err != nil {
		return nil, err
	}
	defer srv.close()
	srv.serve()
	if err := opts.UI.Prompt(a.Prompt(opts.Timeout)); err != nil {
		return nil, err
	}
	return a.await(ctx, srv, opts)
}

// await answers the callback server's requests until one completes the attempt (or fails
// it), ctx ends or the timeout passes.
func (a *Attempt) await(ctx context.Context, srv *callbackServer, opts Options) (*Result, error) {
	timer := time.NewTimer(opts.Timeout)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("authorization of %q cancelled before the callback arrived: %w", a.Name, ctx.Err())
		case <-timer.C:
			return nil, &TimeoutError{Timeout: opts.Timeout, RedirectURI: a.Request.RedirectURL}
		case req := <-srv.requests:
			if isStray(req.query) {
				req.reply <- page{status: http.StatusBadRequest, title: "Waiting for the provider",
					message: "This address receives the provider's redirect after you approve the request; it was opened without one. Use the authorization URL that tokend printed or opened."}
				continue
			}
			if req.query.Get("code") != "" {
				opts.UI.Exchanging()
			}
			res, err := a.Complete(ctx, req.query)
			if err != nil {
				req.reply <- page{status: http.StatusBadRequest, title: "Authorization failed", message: err.Error()}
				return nil, err
			}
			req.reply <- page{status: http.StatusOK, title: "Authorization complete", message: res.Message()}
			opts.UI.Done(res)
			return res, nil
		}
	}
}

// isStray reports whether a request to the callback path carries no authorization response
// at all (a user opening the address by hand, a browser preconnect): it is answered and
// ignored rather than failing the flow.
func isStray(q url.Values) bool {
	return q.Get("state") == "" && q.Get("code") == "" && q.Get("error") == ""
}
