package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestPagesLimitWhereFormsPost: every page's content security policy has form-action: only
// tokend itself, or with Page.ToProvider also the URLs an auth_url may have (browsers check
// form-action on the redirect that answers a form too); with the other headers.
func TestPagesLimitWhereFormsPost(t *testing.T) {
	for _, tc := range []struct {
		p          Page
		want, not  string
		wantScript bool
	}{
		{Page{}, "form-action 'self'", "https:", false},
		{Page{Nonce: "n0"}, "form-action 'self'", "https:", true},
		{Page{ToProvider: true}, FormActionProvider, "", false},
		{Page{NoForms: true}, FormActionNone, "'self'", false},
	} {
		w := httptest.NewRecorder()
		RenderPage(w, http.StatusOK, MessagePage, Message{Title: "t"}, tc.p)
		csp := w.Header().Get("Content-Security-Policy")
		if !strings.Contains(csp, tc.want) || tc.not != "" && strings.Contains(csp, tc.not) || strings.Contains(csp, "script-src 'nonce-n0'") != tc.wantScript {
			t.Errorf("%+v: CSP %q", tc.p, csp)
		}
		for h, v := range map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Cache-Control": "no-store"} {
			if w.Header().Get(h) != v {
				t.Errorf("%+v: %s %q", tc.p, h, w.Header().Get(h))
			}
		}
	}
	w := httptest.NewRecorder()
	RenderPage(w, http.StatusOK, MessagePage, Message{Title: "t"}, Page{NoForms: true})
	if got := w.Header().Get("Referrer-Policy"); got != "no-referrer" {
		t.Errorf("NoForms: Referrer-Policy %q", got)
	}
	w = httptest.NewRecorder()
	Render(w, http.StatusOK, MessagePage, Message{Title: "t"}, "")
	if !strings.HasSuffix(w.Header().Get("Content-Security-Policy"), "form-action 'self'") {
		t.Errorf("Render: CSP %q", w.Header().Get("Content-Security-Policy"))
	}
}
