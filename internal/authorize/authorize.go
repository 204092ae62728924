// Package authorize runs the interactive OAuth2 authorization-code flow for one tailor
// connection: it reads the connection and its client secret from Vault, finds the
// provider's endpoints, starts a callback server on the loopback interface, sends the user's
// browser to the provider, checks the callback (state, RFC 9207 iss), exchanges the code
// (with the PKCE verifier) and stores the token set in Vault with check-and-set.
//
// `tokend authorize` is a thin wrapper around Run. Nothing here prints or logs a secret:
// messages carry connection names, URLs without codes, and OAuth2 error codes only.
package authorize

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pkg/browser"

	"github.com/authconnection/terraform-provider-tailor/internal/oauth"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
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
	// NoBrowser prints the authorization URL to Stdout instead of opening a browser.
	NoBrowser bool
	// Open opens a URL in the user's browser; the system browser (github.com/pkg/browser)
	// when nil. Tests drive a headless browser through it. It should not block until the
	// flow ends.
	Open func(url string) error
	// Stdout receives the authorization URL as one line, when NoBrowser is set or the
	// browser could not be opened. os.Stdout when nil.
	Stdout io.Writer
	// Stderr receives progress messages and warnings. os.Stderr when nil.
	Stderr io.Writer
	// OAuth performs the provider requests; a zero oauth.Client when nil.
	OAuth *oauth.Client
}

// Result describes a completed authorization. It holds no token.
type Result struct {
	Name string
	// Provider is the preset name ("google", "microsoft", "quickbooks"), "oidc" for a
	// discovered provider, or "custom".
	Provider string
	// RedirectURI is the redirect URI that was used.
	RedirectURI string
	// Scopes are the scopes that were requested.
	Scopes []string
	// GrantedScope is the scope the provider reported in the token response, if any.
	GrantedScope string
	// Expiry is when the access token expires.
	Expiry time.Time
	// HasRefreshToken reports whether the stored record has a refresh token.
	HasRefreshToken bool
	// KeptRefreshToken: the provider sent no refresh token and the one from the earlier
	// authorization was kept.
	KeptRefreshToken bool
	// RefreshTokenExpiry is when the refresh token expires, when the provider says.
	RefreshTokenExpiry time.Time
	// CallbackExtras are the extra values of the callback (QuickBooks realmId).
	CallbackExtras map[string]string
	// Replaced reports whether an earlier token record was replaced.
	Replaced bool
	// Version is the KV v2 version of the stored token record.
	Version int
	// Warnings are things the operator should act on (no refresh token, ...).
	Warnings []string
}

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

// Run authorizes connection opts.Name and stores its tokens in st.
func Run(ctx context.Context, st *store.Store, opts Options) (*Result, error) {
	if opts.Port == 0 {
		opts.Port = DefaultPort
	}
	if opts.Port < 1 || opts.Port > 65535 {
		return nil, fmt.Errorf("invalid --port %d: use a port between 1024 and 65535 (default %d)", opts.Port, DefaultPort)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Stdout == nil {
		opts.Stdout = os.Stdout
	}
	if opts.Stderr == nil {
		opts.Stderr = os.Stderr
	}
	if opts.OAuth == nil {
		opts.OAuth = &oauth.Client{}
	}
	if opts.Open == nil {
		opts.Open = openSystemBrowser(opts.Stderr)
	}
	name := opts.Name

	conn, err := st.GetConnection(ctx, name)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("connection %q does not exist in Vault: create it first with `tokend create --name %s ...` or the Terraform provider (resource tailor_authconnection); `tokend list` shows the existing connections", name, name)
		}
		return nil, fmt.Errorf("reading connection %q: %w", name, err)
	}
	secret, err := st.GetClientSecret(ctx, name)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("connection %q has no client secret in Vault: set it with the Terraform provider (client_secret_wo), or delete and re-create the connection with `tokend create ... --client-secret-file FILE`", name)
		}
		return nil, fmt.Errorf("reading the client secret of %q: %w", name, err)
	}
	prov, err := opts.OAuth.Resolve(ctx, conn)
	if err != nil {
		return nil, fmt.Errorf("finding the OAuth2 endpoints of %q: %w", name, err)
	}
	if prov.AuthURL == "" || prov.TokenURL == "" {
		return nil, fmt.Errorf("connection %q has no authorization or token endpoint: set auth_url and token_url on the connection", name)
	}

	scopes := opts.Scopes
	if len(scopes) == 0 {
		scopes = conn.Scopes
	}
	if len(scopes) == 0 {
		scopes = DefaultScopes
	}
	for _, s := range scopes {
		if err := store.ValidateScope(s); err != nil {
			return nil, err
		}
	}

	redirect := RedirectURI(opts.Port)
	srv, err := listen(opts.Port)
	if err != nil {
		return nil, err
	}
	defer srv.close()

	creds := oauth.Credentials{ClientID: conn.ClientID, ClientSecret: secret.Value}
	ar := prov.NewAuthRequest(creds, redirect, scopes)
	res := &Result{Name: name, Provider: prov.Name(), RedirectURI: redirect, Scopes: ar.Scopes}

	say := func(format string, a ...any) { fmt.Fprintf(opts.Stderr, format+"\n", a...) }
	say("Authorizing connection %q at %s (%s), scopes: %s", name, hostOf(prov.AuthURL), res.Provider, strings.Join(ar.Scopes, " "))
	say("Redirect URI (must be registered for client %s at the provider): %s", conn.ClientID, redirect)
	if prov.Preset != nil && prov.Preset.Notes != "" {
		say("  %s", prov.Preset.Notes)
	}
	srv.serve()

	if opts.NoBrowser {
		say("Open this URL in a browser, sign in and approve the request:")
		fmt.Fprintln(opts.Stdout, ar.URL)
	} else if err := opts.Open(ar.URL); err != nil {
		say("Could not open a browser (%v); open this URL yourself:", err)
		fmt.Fprintln(opts.Stdout, ar.URL)
	} else {
		say("Opened the browser; if nothing appears, run again with --no-browser and open the printed URL.")
	}
	say("Waiting up to %s for the provider to redirect to %s (Ctrl-C to cancel)...", opts.Timeout, redirect)

	timer := time.NewTimer(opts.Timeout)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("authorization of %q cancelled before the callback arrived: %w", name, ctx.Err())
		case <-timer.C:
			return nil, &TimeoutError{Timeout: opts.Timeout, RedirectURI: redirect}
		case req := <-srv.requests:
			if isStray(req.query) {
				req.reply <- page{status: http.StatusBadRequest, title: "Waiting for the provider",
					message: "This address receives the provider's redirect after you approve the request; it was opened without one. Use the authorization URL that tokend printed or opened."}
				continue
			}
			if req.query.Get("code") != "" {
				say("Received the callback; exchanging the code for tokens...")
			}
			err := complete(ctx, st, opts, ar, prov, req.query, res)
			if err != nil {
				req.reply <- page{status: http.StatusBadRequest, title: "Authorization failed", message: err.Error()}
				return nil, err
			}
			msg := fmt.Sprintf("Connection %q is authorized and its tokens are stored in Vault. You can close this window.", name)
			for _, w := range res.Warnings {
				msg += " Warning: " + w
			}
			req.reply <- page{status: http.StatusOK, title: "Authorization complete", message: msg}
			for _, w := range res.Warnings {
				say("Warning: %s", w)
			}
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

// complete checks the callback, exchanges the code and stores the tokens.
func complete(ctx context.Context, st *store.Store, opts Options, ar *oauth.AuthRequest, prov *oauth.Provider, q url.Values, res *Result) error {
	name := opts.Name
	cb, err := ar.ParseCallback(q)
	if err != nil {
		var ce *oauth.CallbackError
		if errors.As(err, &ce) {
			return &CallbackError{Name: name, Err: ce}
		}
		return fmt.Errorf("authorizing %q: %w", name, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	ts, err := opts.OAuth.Exchange(ctx, ar, cb)
	if err != nil {
		return exchangeError(name, err)
	}
	res.GrantedScope = ts.Scope
	res.CallbackExtras = ts.CallbackExtras
	if err := storeTokens(ctx, st, name, ts, res); err != nil {
		return err
	}
	res.Expiry = ts.Expiry
	res.RefreshTokenExpiry = ts.RefreshTokenExpiry
	res.HasRefreshToken = ts.RefreshToken != ""
	res.Version = ts.Version
	if res.KeptRefreshToken {
		res.Warnings = append(res.Warnings, fmt.Sprintf("the provider returned no new refresh token; the refresh token of the earlier authorization was kept. %s", noRefreshAdvice(prov, ar.Scopes)))
	} else if !res.HasRefreshToken {
		res.Warnings = append(res.Warnings, fmt.Sprintf("the provider returned no refresh token: connection %q works only until its access token expires at %s and cannot be refreshed. %s",
			name, ts.Expiry.Format(time.RFC3339), noRefreshAdvice(prov, ar.Scopes)))
	}
	return nil
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

func exchangeError(name string, err error) error {
	var oe *oauth.Error
	if errors.As(err, &oe) {
		switch oe.Kind {
		case oauth.KindInvalidClient:
			return fmt.Errorf("exchanging the authorization code of %q: %w; next: check the connection's client_id and its client secret in Vault (set it again with the Terraform provider), and that the app is enabled at the provider", name, err)
		case oauth.KindInvalidGrant:
			return fmt.Errorf("exchanging the authorization code of %q: %w; next: check that the redirect URI registered at the provider is exactly the one printed above, then run authorize again", name, err)
		}
	}
	return fmt.Errorf("exchanging the authorization code of %q: %w", name, err)
}

// storeTokens writes ts as the token record of name, replacing an existing record (read
// first, so check-and-set replaces exactly the version seen). A record written by someone
// else in between (a refresh of the old chain) is replaced on a retry: this authorization is
// newer.
func storeTokens(ctx context.Context, st *store.Store, name string, ts *store.TokenSet, res *Result) error {
	noRT := ts.RefreshToken == ""
	for attempt := 1; ; attempt++ {
		ts.Version = 0
		old, err := st.GetTokens(ctx, name)
		switch {
		case err == nil:
			ts.Version = old.Version
			res.Replaced = true
			if noRT && old.RefreshToken != "" && old.Status == store.StatusAuthorized {
				ts.RefreshToken = old.RefreshToken
				ts.RefreshTokenExpiry = old.RefreshTokenExpiry
				ts.RefreshTokenHardExpiry = old.RefreshTokenHardExpiry
				res.KeptRefreshToken = true
			} else if noRT {
				ts.RefreshToken, res.KeptRefreshToken = "", false
			}
		case errors.Is(err, store.ErrNotFound):
			res.Replaced = false
			if noRT {
				ts.RefreshToken, res.KeptRefreshToken = "", false
			}
		default:
			return fmt.Errorf("the provider issued tokens for %q but reading the existing token record failed, so nothing was stored: %w; run authorize again when Vault is reachable", name, err)
		}
		before := ts.Version
		err = st.PutTokens(ctx, name, ts)
		if err == nil {
			return nil
		}
		if ts.Version != before {
			// The tokens are stored; only the status summary failed.
			res.Warnings = append(res.Warnings, err.Error())
			return nil
		}
		if errors.Is(err, store.ErrConflict) && attempt < 5 {
			continue
		}
		return fmt.Errorf("storing the tokens of %q in Vault failed, so the authorization is lost: %w; run authorize again", name, err)
	}
}

// noRefreshAdvice says what to change so that the provider issues a refresh token.
func noRefreshAdvice(p *oauth.Provider, scopes []string) string {
	switch p.Name() {
	case "google":
		return "Google issues a refresh token only on consent with access_type=offline and prompt=consent (both were sent): remove the app's access at https://myaccount.google.com/permissions, check that the OAuth client is a \"Web application\", and run authorize again."
	case "microsoft":
		return "Microsoft issues a refresh token only for the offline_access scope (it was requested): check that offline_access is allowed in the app registration's API permissions and granted by an admin if required, then run authorize again."
	case "quickbooks":
		return "QuickBooks always issues a refresh token for the authorization-code grant: check the app's keys (development vs production) and run authorize again."
	}
	for _, s := range scopes {
		if s == "offline_access" {
			return "offline_access was requested: check that the client is allowed the refresh_token grant at the provider, then run authorize again."
		}
	}
	return "Most OpenID Connect providers issue one only for the offline_access scope: add it with --scopes (e.g. --scopes " + strings.Join(append(append([]string{}, scopes...), "offline_access"), ",") + ") or to the connection's scopes, and check that the client is allowed the refresh_token grant."
}

func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return raw
	}
	return u.Scheme + "://" + u.Host
}

// openSystemBrowser opens the system browser, sending the opener's own output to stderr so
// that stdout keeps only what tokend prints.
func openSystemBrowser(stderr io.Writer) func(string) error {
	return func(u string) error {
		browser.Stdout = stderr
		browser.Stderr = stderr
		return browser.OpenURL(u)
	}
}

// callbackServer is the loopback HTTP server that receives the redirect.
type callbackServer struct {
	port      int
	listeners []net.Listener
	http      *http.Server
	requests  chan callbackRequest
	done      chan struct{}
}

type callbackRequest struct {
	query url.Values
	reply chan page
}

// listen binds 127.0.0.1:port and, when the host has IPv6 loopback, [::1]:port: browsers
// resolve localhost to either.
func listen(port int) (*callbackServer, error) {
	s := &callbackServer{port: port, requests: make(chan callbackRequest), done: make(chan struct{})}
	addr4 := fmt.Sprintf("127.0.0.1:%d", port)
	l4, err := net.Listen("tcp4", addr4)
	if err != nil {
		return nil, listenError(port, addr4, err)
	}
	s.listeners = append(s.listeners, l4)
	addr6 := fmt.Sprintf("[::1]:%d", port)
	if l6, err := net.Listen("tcp6", addr6); err == nil {
		s.listeners = append(s.listeners, l6)
	} else if errors.Is(err, syscall.EADDRINUSE) {
		l4.Close()
		return nil, listenError(port, addr6, err)
	} // else: no IPv6 loopback on this host; 127.0.0.1 is enough.
	// Exact path match, no http.ServeMux: the mux answers unclean paths (//callback,
	// /./callback) with a redirect that repeats the query, that is the code and the state.
	route := func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != CallbackPath {
			http.Error(w, "tokend authorize: this server answers only "+CallbackPath, http.StatusNotFound)
			return
		}
		s.handle(w, r)
	}
	s.http = &http.Server{Handler: http.HandlerFunc(route), ReadHeaderTimeout: 10 * time.Second}
	return s, nil
}

func listenError(port int, addr string, err error) error {
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return &PortInUseError{Port: port, Addr: addr, Err: err}
	case errors.Is(err, syscall.EACCES):
		return fmt.Errorf("cannot listen on %s: permission denied: pass --port with a port above 1023, e.g. --port %d, and register %s at the provider", addr, DefaultPort, RedirectURI(DefaultPort))
	}
	return fmt.Errorf("cannot start the callback server on %s: %w; pass --port with another port", addr, err)
}

func (s *callbackServer) serve() {
	for _, l := range s.listeners {
		go s.http.Serve(l) //nolint:errcheck // ends with ErrServerClosed
	}
}

// close stops accepting callbacks and gives the last page a moment to reach the browser.
func (s *callbackServer) close() {
	close(s.done)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if s.http != nil {
		_ = s.http.Shutdown(ctx)
	}
	for _, l := range s.listeners {
		l.Close()
	}
}

func (s *callbackServer) handle(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if !s.loopbackHost(r.Host) {
		// A page of another site reaching this port by DNS rebinding: ignore it, so it
		// cannot end the attempt with a forged callback.
		http.Error(w, "tokend authorize: this server answers only for localhost", http.StatusMisdirectedRequest)
		return
	}
	req := callbackRequest{query: r.URL.Query(), reply: make(chan page, 1)}
	select {
	case s.requests <- req:
	case <-s.done:
		writePage(w, page{status: http.StatusGone, title: "Already finished", message: "This authorization attempt has already finished; see the terminal where tokend runs."})
		return
	case <-r.Context().Done():
		return
	}
	select {
	case p := <-req.reply:
		writePage(w, p)
	case <-r.Context().Done():
	}
}

// loopbackHost reports whether the Host header names this server on a loopback name.
func (s *callbackServer) loopbackHost(host string) bool {
	h, p, err := net.SplitHostPort(host)
	if err != nil || p != strconv.Itoa(s.port) {
		return false
	}
	return store.IsLoopbackHost(h)
}
