package authorize

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestPageSecurityHeaders: the callback server's result page is rendered by internal/web,
// so it sends tokend's security headers: no framing (X-Frame-Options and frame-ancestors),
// no sniffing, no caching, no referrer and no form target; and it keeps the ids a browser
// test reads.
func TestPageSecurityHeaders(t *testing.T) {
	s := &callbackServer{port: 8080, requests: make(chan callbackRequest), done: make(chan struct{})}
	close(s.done) // the attempt has finished: the server answers with its own page
	w := httptest.NewRecorder()
	s.handle(w, httptest.NewRequest(http.MethodGet, "http://localhost:8080"+CallbackPath+"?code=c&state=s", nil))
	if w.Code != http.StatusGone {
		t.Fatalf("status %d", w.Code)
	}
	h := w.Header()
	for k, v := range map[string]string{"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store",
		"Referrer-Policy": "no-referrer", "Content-Type": "text/html; charset=utf-8"} {
		if h.Get(k) != v {
			t.Errorf("invariant «the result page sends %s: %s»: %q", k, v, h.Get(k))
		}
	}
	csp := h.Get("Content-Security-Policy")
	for _, d := range []string{"default-src 'none'", "frame-ancestors 'none'", "form-action 'none'", "base-uri 'none'"} {
		if !strings.Contains(csp, d) {
			t.Errorf("invariant «the result page's CSP has %s»: %q", d, csp)
		}
	}
	body := w.Body.String()
	for _, want := range []string{`id="result"`, "Already finished", `id="message"`, "terminal where tokend authorize runs"} {
		if !strings.Contains(body, want) {
			t.Errorf("the page does not contain %q:\n%s", want, body)
		}
	}
}
