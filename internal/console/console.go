// Package console is tokend's status page for administrators, at {public-url}/ui: every
// connection with its provider, grant, status, token expiry, last refresh, client secret
// expiry, metadata and API base URL, and last error, and the actions "Reconnect" (a new connect link, or authorize now) and "Revoke";
// and, read-only, every API key with its permissions per connection pattern.
//
// Sign-in: an administrator presents an admin API key (`tokend keys create --admin`),
// which is exchanged for a session of eight hours. The key is 256 random bits, stored
// hashed in Vault, revocable, and needs no identity provider beside Vault; the session is a
// cookie signed with a key that every replica reads from Vault (HttpOnly, SameSite=Strict;
// over https Secure and __Host-tokend_session, on plain http on loopback tokend_session for
// /ui), ended early when its API key is revoked or when a sign-out bumps the key's session
// epoch in Vault (every session of that key, on every replica, at once). Sign-in and every
// state change are POSTs that, when the browser sends an Origin, must come from the public
// URL's origin; state changes also carry the session's CSRF token. No token or secret is
// ever in a page, a URL or a log; the one exception is the connect link a Reconnect creates,
// which is shown once, in the answer to that action, because it is made to be handed on.
package console

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/audit"
	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/connect"
	"github.com/authconnection/terraform-provider-tailor/internal/connection"
	"github.com/authconnection/terraform-provider-tailor/internal/web"
)

// Path is the status page's path; its other routes are below it.
const Path = "/ui"

// Options configure the status page.
type Options struct {
	// Overview lists the connections (connection.Overview on the store).
	Overview func(ctx context.Context) ([]connection.Summary, error)
	// Connect creates connect links and starts authorizations.
	Connect *connect.Service
	// Revoke revokes a connection's tokens at the provider and in Vault.
	Revoke func(ctx context.Context, name string) error
	// VerifyAdmin checks a presented admin API key and returns its id; KeyActive reports
	// whether the admin key id still exists.
	VerifyAdmin func(ctx context.Context, key string) (string, error)
	KeyActive   func(ctx context.Context, id string) bool
	// Keys lists the API keys with their permissions, read-only (nil: the page lists none).
	Keys func(ctx context.Context) ([]KeySummary, error)
	// SessionEpoch returns the session epoch of admin key id (store.SessionEpoch): a session
	// holds only while it is the epoch it was signed in at. EndSessions bumps it from epoch
	// (store.EndSessions): sign-out, which ends every session of the key on every replica.
	SessionEpoch func(ctx context.Context, id string) (int, error)
	EndSessions  func(ctx context.Context, id string, epoch int) error
	// SessionKey signs sessions (the same on every replica: store.SessionKey).
	SessionKey []byte
	// SessionTTL is a session's lifetime [8h].
	SessionTTL time.Duration
	// Audit takes a record of every sign-in (refused ones too), sign-out, Reconnect,
	// Authorize now and Revoke; audit.Nop when nil.
	Audit  audit.Recorder
	Logger *slog.Logger
}

// Console serves the status page.
type Console struct {
	o        Options
	sessions *sessions
	origin   string
	log      *slog.Logger
}

// New returns the status page of o.
func New(o Options) (*Console, error) {
	if o.Connect == nil || o.Overview == nil || o.VerifyAdmin == nil || o.KeyActive == nil || o.SessionEpoch == nil || o.EndSessions == nil || len(o.SessionKey) < 32 {
		return nil, errors.New("console: Connect, Overview, VerifyAdmin, KeyActive, SessionEpoch, EndSessions and a 32-byte SessionKey are required")
	}
	if o.SessionTTL <= 0 {
		o.SessionTTL = 8 * time.Hour
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	u, _ := url.Parse(o.Connect.URL(""))
	return &Console{o: o, sessions: &sessions{key: o.SessionKey, ttl: o.SessionTTL, secure: o.Connect.Secure()},
		origin: u.Scheme + "://" + u.Host, log: o.Logger}, nil
}

// The state-changing routes below take a valid session, its CSRF token and a same-origin
// request (action).

// Logout serves POST /ui/logout: it ends every session of the signed-in admin key.
func (c *Console) Logout(w http.ResponseWriter, r *http.Request) { c.action(c.signOut)(w, r) }

// Reconnect serves POST /ui/connections/{name}/reconnect: a new connect link, shown once.
func (c *Console) Reconnect(w http.ResponseWriter, r *http.Request) {
	c.action(c.createReconnectLink)(w, r)
}

// AuthorizeNow serves POST /ui/connections/{name}/authorize: the administrator authorizes
// the connection at once.
func (c *Console) AuthorizeNow(w http.ResponseWriter, r *http.Request) {
	c.action(c.beginAuthorization)(w, r)
}

// Revoke serves POST /ui/connections/{name}/revoke: the connection's tokens are revoked
// at the provider and removed from Vault.
func (c *Console) Revoke(w http.ResponseWriter, r *http.Request) { c.action(c.revokeConnection)(w, r) }

// errUnavailable is a session that cannot be checked now: Vault did not answer the read of
// its key's session epoch. The page answers 503, not the sign-in form.
var errUnavailable = errors.New("the session cannot be checked right now")

// current returns the session of r when it is valid, its API key still exists and its key's
// session epoch is still the one it was signed in at (no sign-out since, on any replica).
// The epoch is read from Vault on every call; only requests with a validly signed cookie
// get that far.
func (c *Console) current(r *http.Request) (*session, error) {
	ss, err := c.sessions.check(r, time.Now())
	if err != nil {
		return nil, err
	}
	if !c.o.KeyActive(r.Context(), ss.keyID) {
		return nil, errors.New("the admin API key of this session was revoked")
	}
	epoch, err := c.o.SessionEpoch(r.Context(), ss.keyID)
	if err != nil {
		c.log.Warn("status page: cannot read the session epoch", "key_id", ss.keyID, "error", err)
		return nil, errUnavailable
	}
	if epoch != ss.epoch {
		return nil, fmt.Errorf("signed out (session epoch %d, now %d): %w", ss.epoch, epoch, errNoSession)
	}
	return ss, nil
}

// notSignedIn answers a request whose session does not hold (err from current): the
// sign-in form, or 503 when the session could not be checked.
func (c *Console) notSignedIn(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, errUnavailable) {
		w.Header().Set("Retry-After", "5")
		web.ShowMessage(w, http.StatusServiceUnavailable, web.Message{Title: "Try again shortly",
			Text: "The session cannot be checked right now (Vault is unreachable).", Next: "Reload this page in a few seconds."})
		return
	}
	http.Redirect(w, r, Path+"/login", http.StatusSeeOther)
}

// sameOrigin reports whether r came from the status page's own origin: no Origin header
// (a client that is not a browser), or the public URL's. Otherwise it answers 403.
func (c *Console) sameOrigin(w http.ResponseWriter, r *http.Request) bool {
	if o := r.Header.Get("Origin"); o != "" && o != c.origin {
		c.log.Warn("status page: refused a cross-origin request", "origin", authconn.Sanitize(o, 200), "path", r.URL.Path)
		web.ShowMessage(w, http.StatusForbidden, web.Message{Title: "Refused", Text: "This request came from another site."})
		return false
	}
	return true
}

// action wraps a state-changing handler: a valid session, its CSRF token, and a same-origin
// request.
func (c *Console) action(h func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
		ss, err := c.current(r)
		if err != nil {
			c.notSignedIn(w, r, err)
			return
		}
		if !c.sameOrigin(w, r) {
			return
		}
		if !c.sessions.checkCSRF(ss, r.PostFormValue("csrf")) {
			c.log.Warn("status page: refused a request without a valid CSRF token", "path", r.URL.Path)
			web.ShowMessage(w, http.StatusForbidden, web.Message{Title: "Refused", Text: "The form has expired or did not come from this page.",
				Next: "Reload the status page and try again."})
			return
		}
		h(w, r, ss)
	}
}
