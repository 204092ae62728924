package api

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/authconnection/terraform-provider-tailor/internal/broker"
)

// stubPages answers every connect and status-page route with 200: the routing is under
// test here, the pages in internal/connect and internal/console.
type stubPages struct{}

func (stubPages) ok(w http.ResponseWriter)                              { w.WriteHeader(http.StatusOK) }
func (p stubPages) Landing(w http.ResponseWriter, _ *http.Request)      { p.ok(w) }
func (p stubPages) Start(w http.ResponseWriter, _ *http.Request)        { p.ok(w) }
func (p stubPages) Callback(w http.ResponseWriter, _ *http.Request)     { p.ok(w) }
func (p stubPages) Status(w http.ResponseWriter, _ *http.Request)       { p.ok(w) }
func (p stubPages) LoginForm(w http.ResponseWriter, _ *http.Request)    { p.ok(w) }
func (p stubPages) Login(w http.ResponseWriter, _ *http.Request)        { p.ok(w) }
func (p stubPages) Logout(w http.ResponseWriter, _ *http.Request)       { p.ok(w) }
func (p stubPages) Reconnect(w http.ResponseWriter, _ *http.Request)    { p.ok(w) }
func (p stubPages) AuthorizeNow(w http.ResponseWriter, _ *http.Request) { p.ok(w) }
func (p stubPages) Revoke(w http.ResponseWriter, _ *http.Request)       { p.ok(w) }

// fullServer is a server with every optional route: the admin API, the connect pages and
// the status page (tokend serve with --public-url).
func fullServer(t *testing.T) *Server {
	t.Helper()
	s, err := New(Options{Broker: &broker.Broker{}, KeyCache: NewKeyCache(nil, 0, nil), Links: &recordingLinks{},
		Connect: stubPages{}, Console: stubPages{}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// requestFor returns a request that pattern matches: its method and path, with every
// {wildcard} replaced by a name.
func requestFor(pattern string) *http.Request {
	method, path, ok := strings.Cut(pattern, " ")
	if !ok { // a pattern for any method
		method, path = http.MethodGet, pattern
	}
	path = regexp.MustCompile(`\{[a-z]+(\.\.\.)?\}`).ReplaceAllString(path, "c1")
	return httptest.NewRequest(method, path, nil)
}

// TestRoutesAreServedAndDocumented: Routes is exactly what the server's mux serves (each
// listed pattern is the one a request for it reaches; a path not listed reaches the 404
// fallback), every route that claims an API key or an admin key refuses a request without
// one, and docs/tokend.md's table "Routes" lists the same patterns with the same
// authentication, in the same order.
func TestRoutesAreServedAndDocumented(t *testing.T) {
	s := fullServer(t)
	routes := s.Routes()
	for _, r := range routes {
		if _, got := s.mux.Handler(requestFor(r.Pattern)); got != r.Pattern {
			t.Errorf("invariant «a listed route is served»: a request for %q reaches %q", r.Pattern, got)
		}
		if (r.Auth == AuthAPIKey || r.Auth == AuthAdminKey) && !strings.HasPrefix(r.Pattern, "POST /ui/") { // the status page is stubbed here
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, requestFor(r.Pattern))
			if rec.Code != http.StatusUnauthorized {
				t.Errorf("invariant «a route for %s refuses a request without one»: %s answered %d", r.Auth, r.Pattern, rec.Code)
			}
		}
	}
	for _, p := range []string{"GET /", "GET /v1/nothing", "GET /ui/other", "POST /v1/admin/links", "GET /v1/connections/c1/other"} {
		req := requestFor(p)
		if _, got := s.mux.Handler(req); got != "/" {
			t.Errorf("invariant «only listed routes are served»: %s reaches %q", p, got)
		}
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code != http.StatusNotFound && rec.Code != http.StatusMethodNotAllowed {
			t.Errorf("%s answered %d, want 404 or 405", p, rec.Code)
		}
	}
	documented := documentedRoutes(t)
	var listed []string
	for _, r := range routes {
		listed = append(listed, r.Pattern+" | "+string(r.Auth))
	}
	if strings.Join(listed, "\n") != strings.Join(documented, "\n") {
		t.Errorf("invariant «docs/tokend.md lists every route»: Routes:\n%s\n\ndocs/tokend.md, table Routes:\n%s",
			strings.Join(listed, "\n"), strings.Join(documented, "\n"))
	}
}

// documentedRoutes reads the table under "### Routes" in docs/tokend.md: "pattern | auth"
// per row.
func documentedRoutes(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "tokend.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n### Routes\n")
	if !ok {
		t.Fatal("docs/tokend.md has no section ### Routes")
	}
	row := regexp.MustCompile("^\\| `([^`]+)` \\| ([^|]+?) \\|")
	var out []string
	for _, line := range strings.Split(section, "\n") {
		if strings.HasPrefix(line, "#") {
			break
		}
		if m := row.FindStringSubmatch(line); m != nil {
			out = append(out, m[1]+" | "+m[2])
		}
	}
	return out
}
