package testenv

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestBrowserVisit(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/start": // an HTTP redirect, as an authorization server does
			http.Redirect(w, r, "/landing?x=1", http.StatusFound)
		case "/landing":
			fmt.Fprintf(w, "<html><body><p>landed %s</p></body></html>", r.URL.Query().Get("x"))
		case "/js": // a redirect in JavaScript, after the page has loaded
			fmt.Fprint(w, `<html><body>wait<script>setTimeout(() => location.href = "/done", 800)</script></body></html>`)
		case "/done":
			fmt.Fprint(w, "<html><body>done</body></html>")
		case "/set":
			http.SetCookie(w, &http.Cookie{Name: "c", Value: "1", Path: "/"})
			http.Redirect(w, r, "/get", http.StatusFound)
		case "/get":
			_, err := r.Cookie("c")
			fmt.Fprintf(w, "<html><body>cookie=%v</body></html>", err == nil)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()

	b := StartBrowser(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	final, body, err := b.Visit(ctx, srv.URL+"/start")
	if err != nil {
		t.Fatal(err)
	}
	if final != srv.URL+"/landing?x=1" || strings.TrimSpace(body) != "landed 1" {
		t.Errorf("Visit through a redirect: %q, %q; want %s/landing?x=1 and \"landed 1\"", final, body, srv.URL)
	}

	final, body, err = b.VisitUntil(ctx, srv.URL+"/js", func(u *url.URL) bool { return u.Path == "/done" })
	if err != nil {
		t.Fatal(err)
	}
	if final != srv.URL+"/done" || strings.TrimSpace(body) != "done" {
		t.Errorf("VisitUntil: %q, %q; want %s/done and \"done\"", final, body, srv.URL)
	}

	// A predicate that never holds ends with ctx and reports the location.
	short, cancelShort := context.WithTimeout(ctx, 1500*time.Millisecond)
	defer cancelShort()
	if _, _, err := b.VisitUntil(short, srv.URL+"/landing", func(*url.URL) bool { return false }); err == nil || !strings.Contains(err.Error(), "/landing") {
		t.Errorf("VisitUntil with a false predicate: err = %v, want a timeout naming the last location", err)
	}

	// A server that is down is an error (as when the provider is down).
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.Visit(ctx, fmt.Sprintf("http://127.0.0.1:%d/", port)); err == nil || !strings.Contains(err.Error(), "ERR_CONNECTION_REFUSED") {
		t.Errorf("Visit of a closed port: err = %v, want ERR_CONNECTION_REFUSED", err)
	}

	// The browser still works after the error, and visits share no cookies:
	// a cookie set in one visit is sent within it but not in the next.
	if _, body, err = b.Visit(ctx, srv.URL+"/set"); err != nil || strings.TrimSpace(body) != "cookie=true" {
		t.Fatalf("cookie within one visit: %q, %v; want cookie=true", body, err)
	}
	if _, body, err = b.Visit(ctx, srv.URL+"/get"); err != nil || strings.TrimSpace(body) != "cookie=false" {
		t.Errorf("second visit: %q, %v; want no cookie from the first visit", body, err)
	}
}
