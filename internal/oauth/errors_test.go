package oauth

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

func asError(err error, target **Error) bool { return errors.As(err, target) }

// TestErrorClassification runs real token requests against an httptest server answering
// each kind of failure, and checks the kind, the message (no secret, a next step) and the
// helpers.
func TestErrorClassification(t *testing.T) {
	var status int
	var body string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	defer srv.Close()
	p := &Provider{Endpoints: Endpoints{TokenURL: srv.URL + "/token", AuthStyle: oauth2.AuthStyleInHeader}}
	creds := Credentials{ClientID: "cid", ClientSecret: "very-secret-value"}
	const old = "old-refresh-token-value"
	c := &Client{HTTP: &http.Client{Timeout: 5 * time.Second}}

	for _, tc := range []struct {
		status int
		body   string
		kind   ErrorKind
		hint   string
	}{
		{400, `{"error":"invalid_grant","error_description":"token reused"}`, KindInvalidGrant, "invalid_grant: token reused"},
		{401, `{"error":"invalid_client"}`, KindInvalidClient, "(HTTP 401): invalid_client"},
		{400, `{"error":"unauthorized_client"}`, KindInvalidClient, "unauthorized_client"},
		{400, `{"error":"invalid_scope"}`, KindRejected, "invalid_scope"},
		{503, `{"error":"temporarily_unavailable"}`, KindTransient, "temporary"},
		{500, `oops`, KindTransient, "temporary"},
		{429, `{}`, KindTransient, "temporary"},
		{401, `<html>`, KindInvalidClient, "HTTP 401"},
	} {
		status, body = tc.status, tc.body
		_, err := c.Refresh(context.Background(), p, creds, old, nil)
		var oe *Error
		if !errors.As(err, &oe) {
			t.Fatalf("%d %s: %T %v", tc.status, tc.body, err, err)
		}
		if oe.Kind != tc.kind || oe.Op != "refresh" || oe.StatusCode != tc.status {
			t.Errorf("%d %s: kind %v op %s status %d, want %v", tc.status, tc.body, oe.Kind, oe.Op, oe.StatusCode, tc.kind)
		}
		msg := err.Error()
		if !strings.Contains(msg, tc.hint) || strings.Contains(msg, "very-secret-value") || strings.Contains(msg, "old-refresh-token-value") {
			t.Errorf("%d %s: message %q", tc.status, tc.body, msg)
		}
		if IsTransient(err) != (tc.kind == KindTransient) || IsInvalidGrant(err) != (tc.kind == KindInvalidGrant) || oe.Permanent() == (tc.kind == KindTransient) {
			t.Errorf("%d %s: helpers disagree with kind %v", tc.status, tc.body, tc.kind)
		}
	}

	// Network failure: transient, and the message carries no query string.
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	p.TokenURL = dead.URL + "/token?x=1"
	_, err := c.Refresh(context.Background(), p, creds, old, nil)
	if !IsTransient(err) || strings.Contains(err.Error(), "x=1") {
		t.Errorf("network error: %v", err)
	}
}
