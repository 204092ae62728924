package client

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestTokenAndErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tk_key" {
			w.WriteHeader(401)
			w.Write([]byte(`{"error":"unauthenticated","message":"no key"}`))
			return
		}
		switch r.URL.Path {
		case "/v1/connections/qb":
			w.Write([]byte(`{"name":"qb","status":"authorized","cached":true,"metadata":{"realmId":"9130"},"api_base_url":"https://quickbooks.api.intuit.com"}`))
		case "/v1/connections/ok/token":
			w.Write([]byte(`{"access_token":"at","token_type":"Bearer","expires_at":"2030-01-02T03:04:05Z"}`))
		case "/v1/connections/pending/token":
			w.WriteHeader(409)
			w.Write([]byte(`{"error":"not_authorized","message":"run tokend authorize pending"}`))
		case "/v1/connections/down/token":
			w.Header().Set("Retry-After", "12")
			w.WriteHeader(503)
			w.Write([]byte(`{"error":"unavailable","message":"provider down"}`))
		default:
			w.WriteHeader(404)
			w.Write([]byte(`{"error":"not_found","message":"no such connection"}`))
		}
	}))
	defer srv.Close()
	ctx := context.Background()
	c := New(srv.URL+"/", "tk_key")
	tok, err := c.Token(ctx, "ok")
	if err != nil || tok.AccessToken != "at" || !tok.ExpiresAt.Equal(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Fatalf("Token = %+v, %v", tok, err)
	}
	if tok.String() == "" || strings.Contains(tok.String(), "at\"") {
		t.Errorf("String %q", tok.String())
	}
	conn, err := c.Connection(ctx, "qb")
	if err != nil || conn.Name != "qb" || conn.Status != "authorized" || conn.Metadata["realmId"] != "9130" || conn.APIBaseURL != "https://quickbooks.api.intuit.com" {
		t.Fatalf("Connection = %+v, %v", conn, err)
	}
	if _, err := c.Connection(ctx, "gone"); !IsNotFound(err) {
		t.Errorf("Connection(gone): %v", err)
	}
	if _, err := c.Token(ctx, "pending"); !IsNotAuthorized(err) {
		t.Errorf("pending: %v", err)
	}
	_, err = c.Token(ctx, "down")
	if e, ok := err.(*Error); !IsUnavailable(err) || !ok || e.RetryAfter != 12*time.Second {
		t.Errorf("down: %#v", err)
	}
	if _, err := c.Token(ctx, "gone"); !IsNotFound(err) {
		t.Errorf("gone: %v", err)
	}
	if _, err := New(srv.URL, "bad").Token(ctx, "ok"); !IsAuth(err) {
		t.Errorf("bad key: %v", err)
	}
	if _, err := New("http://127.0.0.1:9", "k").Token(ctx, "ok"); !IsUnavailable(err) {
		t.Errorf("unreachable: %v", err)
	}
}
