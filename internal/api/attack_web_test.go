package api

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/apikey"
	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/broker"
	"github.com/authconnection/terraform-provider-tailor/internal/oauth"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv/tailortest"
)

// TestAttackF12_ProviderErrorInAPIErrorIsSanitized (security review, finding 12): a
// provider's error_description with terminal escapes (ESC ] 0 ; ... BEL, ESC [ 31 m), stored
// as a connection's last error, reaches the token endpoint's error body without any control
// character: the JSON never carries \u001b]0;PWNED\u0007\u001b[31mRED.
func TestAttackF12_ProviderErrorInAPIErrorIsSanitized(t *testing.T) {
	st := tailortest.NewMemStore()
	st.Conns["c"] = true
	st.Tokens["c"] = store.TokenRecord{TokenSet: authconn.TokenSet{TokenType: "Bearer", Status: authconn.StatusNeedsReauthorization,
		LastError: "invalid_grant: \x1b]0;PWNED\x07\x1b[31mRED\u202e\x9b2J", LastErrorAt: time.Now()}, Version: 1}
	k, err := apikey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	b, err := broker.New(broker.Options{Store: st, OAuth: &oauth.Client{}, ReplicaID: "t", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Broker: b, Keys: &flakyKeys{rec: &store.APIKey{ID: k.ID, Hash: k.Hash, Connections: []string{"c"}}}, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequestWithContext(context.Background(), http.MethodGet, "/v1/connections/c/token", nil)
	req.Header.Set("Authorization", "Bearer "+k.Plain)
	w := httptest.NewRecorder()
	s.ServeHTTP(w, req)
	body := w.Body.String()
	if w.Code != http.StatusConflict || !strings.Contains(body, "PWNED") || !strings.Contains(body, "RED") {
		t.Fatalf("control: the needs-reauthorization answer carries the provider's error: %d %s", w.Code, body)
	}
	for _, bad := range []string{`\u001b`, `\u0007`, `\u009b`, `\u202e`, "\x1b", "\x07"} {
		if strings.Contains(body, bad) {
			t.Errorf("invariant «API errors carry no control characters»: %q in %s", bad, body)
		}
	}
	if w.Header().Get("X-Content-Type-Options") != "nosniff" {
		t.Error("the error answer has no nosniff")
	}
}

// TestAttackF16_HeadersNosniffOnEveryAnswer (finding 16): the token endpoint's 200 (the hot
// path, from memory), errors, the fallback 404 and routes registered by the pages all carry
// X-Content-Type-Options: nosniff, the token's 200 included.
func TestAttackF16_HeadersNosniffOnEveryAnswer(t *testing.T) {
	s, key := hotServer(t)
	s.mux.HandleFunc("GET /page-redirect", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/ui/login", http.StatusSeeOther) })
	for _, tc := range []struct {
		path, auth string
		want       int
	}{
		{"/v1/connections/c/token", "Bearer " + key, http.StatusOK},
		{"/v1/connections/c/token", "Bearer " + key, http.StatusOK}, // from memory
		{"/v1/connections/c/token", "", http.StatusUnauthorized},
		{"/v1/connections", "Bearer " + key, http.StatusOK},
		{"/healthz", "", http.StatusOK},
		{"/nope", "", http.StatusNotFound},
		{"/page-redirect", "", http.StatusSeeOther},
	} {
		req := httptest.NewRequest(http.MethodGet, tc.path, nil)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		if w.Code != tc.want || w.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("invariant «every answer is nosniff»: GET %s: %d, X-Content-Type-Options %q", tc.path, w.Code, w.Header().Get("X-Content-Type-Options"))
		}
	}
}

// recordingLinks is the admin API's Links that applies the domain's scope rule (as
// connect.CreateLink does) and records what it would store.
type recordingLinks struct{ created []string }

func (l *recordingLinks) CreateLinkWith(_ context.Context, o authconn.LinkOptions) (string, *authconn.ConnectLink, error) {
	name, description := o.Name, o.Description
	for _, s := range o.Scopes {
		if err := authconn.ValidateScope(s); err != nil {
			return "", nil, err
		}
	}
	l.created = append(l.created, description)
	now := time.Now()
	return "https://tokend.example.com/connect#x", &authconn.ConnectLink{ID: "abcdefghijkl", Connection: name, Description: description, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}, nil
}
func (l *recordingLinks) RevokeLink(context.Context, string) error { return nil }
func (l *recordingLinks) Links(context.Context) ([]*authconn.ConnectLink, error) {
	return nil, nil
}

// TestAttackF13_AdminAPIRefusesBadInput (finding 13): the admin API refuses an ESC in a
// scope, a description with terminal escapes or over 512 bytes,
// and a body that is not UTF-8 (JSON decoding would have replaced the bytes silently), each
// with 400 naming the field, and creates no link.
func TestAttackF13_AdminAPIRefusesBadInput(t *testing.T) {
	k, err := apikey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	b, err := broker.New(broker.Options{Store: tailortest.NewMemStore(), OAuth: &oauth.Client{}, ReplicaID: "t", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	links := &recordingLinks{}
	s, err := New(Options{Broker: b, Links: links, Logger: quiet,
		Keys: &flakyKeys{rec: &store.APIKey{ID: k.ID, Hash: k.Hash, Admin: true}}})
	if err != nil {
		t.Fatal(err)
	}
	post := func(body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/v1/admin/connections/google-oauth/links", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+k.Plain)
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		return w
	}
	for name, tc := range map[string]struct{ body, want string }{
		"ESC in a scope":           {`{"scopes":["read\u001b[2J"]}`, "U+001B"},
		"ESC in the description":   {`{"description":"\u001b]0;pwned\u0007desc"}`, "description contains the control character U+001B"},
		"a description too long":   {`{"description":"` + strings.Repeat("d", 513) + `"}`, "description is 513 bytes long"},
		"a body that is not UTF-8": {"{\"scopes\":[\"c\xff\"]}", "not valid UTF-8"},
	} {
		w := post(tc.body)
		if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), tc.want) {
			t.Errorf("%s: %d %s, want 400 with %q", name, w.Code, w.Body, tc.want)
		}
	}
	if len(links.created) != 0 {
		t.Errorf("invariant «refused input creates nothing»: %q", links.created)
	}
	if w := post(`{"scopes":["openid"],"description":"for Ana — ünïcode"}`); w.Code != http.StatusCreated || len(links.created) != 1 {
		t.Errorf("control: a valid request: %d %s", w.Code, w.Body)
	}
}
