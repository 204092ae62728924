package api

import (
	"net/http"

	"github.com/authconnection/terraform-provider-tailor/internal/wire"
)

// Auth names what a route's caller must present. The handler enforces it; Routes states it
// so that the whole surface of tokend serve can be read, and tested, in one place.
type Auth string

// The authentications of tokend serve's routes.
const (
	// AuthNone: anyone (health, metrics, pages that only show a form or a link's landing).
	AuthNone Auth = "none"
	// AuthAPIKey: a bearer API key whose connection patterns allow the request.
	AuthAPIKey Auth = "API key"
	// AuthAdminKey: a bearer admin API key, or one presented in the status page's sign-in.
	AuthAdminKey Auth = "admin API key"
	// AuthSession: a status-page session cookie (and, for changes, its CSRF token and the
	// public URL's Origin).
	AuthSession Auth = "session"
	// AuthLinkToken: a connect-link token, posted from the landing page.
	AuthLinkToken Auth = "link token"
	// AuthState: the state of a pending authorization that this tokend began.
	AuthState Auth = "authorization state"
)

// Route is one route of tokend serve: a net/http ServeMux pattern, who may call it, and
// what answers it.
type Route struct {
	Pattern string
	Auth    Auth
	Handler http.Handler
}

// ConnectPages are the connect-link pages and the hosted callback (*connect.Service).
type ConnectPages interface {
	Landing(w http.ResponseWriter, r *http.Request)
	Start(w http.ResponseWriter, r *http.Request)
	Callback(w http.ResponseWriter, r *http.Request)
}

// StatusPages are the status page's routes (*console.Console).
type StatusPages interface {
	Status(w http.ResponseWriter, r *http.Request)
	LoginForm(w http.ResponseWriter, r *http.Request)
	Login(w http.ResponseWriter, r *http.Request)
	Logout(w http.ResponseWriter, r *http.Request)
	Reconnect(w http.ResponseWriter, r *http.Request)
	AuthorizeNow(w http.ResponseWriter, r *http.Request)
	Revoke(w http.ResponseWriter, r *http.Request)
}

// ProxyCalls forwards a connection's API calls (*proxy.Proxy, wired by tokend serve): the
// caller's API key is checked here, for the proxy permission, before ServeAPIKey.
type ProxyCalls interface {
	ServeAPIKey(w http.ResponseWriter, r *http.Request, name, keyID string)
}

// Routes lists every route the server answers (anything else is 404): the API (the proxy, any
// method, answers 404 not_found without Options.Proxy), then with
// Options.Links the admin API, with Options.Connect the connect pages and the hosted
// callback, and with Options.Console the status page. docs/tokend.md lists the same routes
// (TestRoutesAreServedAndDocumented).
func (s *Server) Routes() []Route {
	f := func(h http.HandlerFunc) http.Handler { return h }
	rs := []Route{
		{"GET /v1/connections/{name}/token", AuthAPIKey, f(s.token)},
		{"GET /v1/connections", AuthAPIKey, f(s.list)},
		{"GET /v1/connections/{name}", AuthAPIKey, f(s.connection)},
		{"/v1/connections/{name}/proxy/{path...}", AuthAPIKey, f(s.proxy)},
		{"GET /healthz", AuthNone, f(s.healthz)},
		{"GET /readyz", AuthNone, f(s.readyz)},
	}
	if !s.o.MetricsElsewhere {
		rs = append(rs, Route{"GET /metrics", AuthNone, s.MetricsHandler()})
	}
	if s.o.Links != nil {
		rs = append(rs,
			Route{"POST /v1/admin/connections/{name}/links", AuthAdminKey, s.admin(s.createLink)},
			Route{"GET /v1/admin/links", AuthAdminKey, s.admin(s.listLinks)},
			Route{"DELETE /v1/admin/links/{id}", AuthAdminKey, s.admin(s.revokeLink)})
	}
	if c := s.o.Connect; c != nil {
		rs = append(rs,
			Route{"GET /connect", AuthNone, f(c.Landing)},
			Route{"POST /v1/connect", AuthLinkToken, f(c.Start)},
			Route{"GET /v1/callback", AuthState, f(c.Callback)}, // flows begun before per-connection paths
			Route{"GET /v1/callback/{name}", AuthState, f(c.Callback)})
	}
	if c := s.o.Console; c != nil { // literal patterns: Path is /ui
		rs = append(rs,
			Route{"GET /ui", AuthSession, f(c.Status)},
			Route{"GET /ui/login", AuthNone, f(c.LoginForm)},
			Route{"POST /ui/login", AuthAdminKey, f(c.Login)},
			Route{"POST /ui/logout", AuthSession, f(c.Logout)},
			Route{"POST /ui/connections/{name}/reconnect", AuthSession, f(c.Reconnect)},
			Route{"POST /ui/connections/{name}/authorize", AuthSession, f(c.AuthorizeNow)},
			Route{"POST /ui/connections/{name}/revoke", AuthSession, f(c.Revoke)})
	}
	return rs
}

// newMux serves routes, and 404 with a JSON error everywhere else.
func newMux(routes []Route) *http.ServeMux {
	mux := http.NewServeMux()
	for _, r := range routes {
		mux.Handle(r.Pattern, r.Handler)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, wire.CodeNotFound, "no such endpoint: use GET /v1/connections/{name}/token, GET /v1/connections, /healthz, /readyz or /metrics")
	})
	return mux
}
