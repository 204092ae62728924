package testenv

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

// CallbackServer is an OAuth2 redirect target on 127.0.0.1 with a random
// port, for tests that drive a flow with golang.org/x/oauth2 themselves. It
// records the query of every request to /callback and answers with a small
// page that says whether a code or an error arrived.
type CallbackServer struct {
	// URL is the redirect URI, http://127.0.0.1:<port>/callback.
	URL string

	got chan url.Values
}

// StartCallbackServer starts a CallbackServer that stops in t.Cleanup.
func StartCallbackServer(t testing.TB) *CallbackServer {
	t.Helper()
	cb := &CallbackServer{got: make(chan url.Values, 16)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/callback" {
			http.NotFound(w, r)
			return
		}
		q := r.URL.Query()
		select {
		case cb.got <- q:
		default: // nobody reads; drop rather than block the browser
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if e := q.Get("error"); e != "" {
			fmt.Fprintf(w, "<html><body><h1>authorization failed</h1><p id=error>%s</p></body></html>", html.EscapeString(e))
			return
		}
		fmt.Fprint(w, "<html><body><h1>authorization complete</h1><p>You can close this window.</p></body></html>")
	}))
	t.Cleanup(srv.Close)
	cb.URL = srv.URL + "/callback"
	return cb
}

// Wait returns the query of the next request to /callback, for example
// code and state, or error and error_description.
func (cb *CallbackServer) Wait(ctx context.Context) (url.Values, error) {
	select {
	case q := <-cb.got:
		return q, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("testenv: no request reached %s: %w", cb.URL, ctx.Err())
	}
}
