// Package console is tokend's status page for administrators, at {public-url}/ui: every
// connection with its provider, grant, status, token expiry, last refresh and last error,
// and the actions "Reconnect" (a new connect link, or authorize now) and "Revoke".
//
// Sign-in: an administrator presents an admin API key (`tokend keys create --admin`),
// which is exchanged for a session of eight hours. The key is 256 random bits, stored
// hashed in Vault, revocable, and needs no identity provider beside Vault; the session is a
// cookie signed with a key that every replica reads from Vault (HttpOnly, SameSite=Strict,
// Secure unless the public URL is plain http on loopback), ended early when its API key is
// revoked. Every state change is a POST that carries the session's CSRF token and, when the
// browser sends one, an Origin of the public URL. No token or secret is ever in a page, a
// URL or a log; the one exception is the connect link a Reconnect creates, which is shown
// once, in the answer to that action, because it is made to be handed on.
package console

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"time"

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
	// SessionKey signs sessions (the same on every replica: store.SessionKey).
	SessionKey []byte
	// SessionTTL is a session's lifetime [8h].
	SessionTTL time.Duration
	Logger     *slog.Logger
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
	if o.Connect == nil || o.Overview == nil || o.VerifyAdmin == nil || o.KeyActive == nil || len(o.SessionKey) < 32 {
		return nil, errors.New("console: Connect, Overview, VerifyAdmin, KeyActive and a 32-byte SessionKey are required")
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

// Register adds the status page's routes to mux.
func (c *Console) Register(mux *http.ServeMux) {
	// Literal patterns (Path is /ui), so that tokend's access sweep can enumerate them.
	mux.HandleFunc("GET /ui", c.status)
	mux.HandleFunc("GET /ui/login", c.loginForm)
	mux.HandleFunc("POST /ui/login", c.login)
	mux.HandleFunc("POST /ui/logout", c.action(c.logout))
	mux.HandleFunc("POST /ui/connections/{name}/reconnect", c.action(c.reconnect))
	mux.HandleFunc("POST /ui/connections/{name}/authorize", c.action(c.authorizeNow))
	mux.HandleFunc("POST /ui/connections/{name}/revoke", c.action(c.revoke))
}

// current returns the session of r when it is valid and its API key still exists.
func (c *Console) current(r *http.Request) (*session, error) {
	ss, err := c.sessions.check(r, time.Now())
	if err != nil {
		return nil, err
	}
	if !c.o.KeyActive(r.Context(), ss.keyID) {
		return nil, errors.New("the admin API key of this session was revoked")
	}
	return ss, nil
}

// action wraps a state-changing handler: a valid session, its CSRF token, and a same-origin
// request.
func (c *Console) action(h func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
		ss, err := c.current(r)
		if err != nil {
			http.Redirect(w, r, Path+"/login", http.StatusSeeOther)
			return
		}
		if o := r.Header.Get("Origin"); o != "" && o != c.origin {
			c.log.Warn("status page: refused a cross-origin request", "origin", o, "path", r.URL.Path)
			web.ShowMessage(w, http.StatusForbidden, web.Message{Title: "Refused", Text: "This request came from another site."})
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
