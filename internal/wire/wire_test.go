package wire

import (
	"encoding/json"
	"testing"
	"time"
)

// TestJSONShape pins the bytes both clients (tokend/client, functions/js/client.mjs) read.
func TestJSONShape(t *testing.T) {
	at := time.Date(2026, 12, 6, 7, 0, 1, 0, time.UTC)
	b, err := json.Marshal(Token{AccessToken: "at", TokenType: "Bearer", ExpiresAt: at})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"access_token":"at","token_type":"Bearer","expires_at":"2026-12-06T07:00:01Z"}`; string(b) != want {
		t.Errorf("token body %s, want %s", b, want)
	}
	var back Token
	if err := json.Unmarshal(b, &back); err != nil || !back.ExpiresAt.Equal(at) || back.AccessToken != "at" {
		t.Errorf("round trip: %+v, %v", back, err)
	}
	if s := back.String(); s != "Token(expires_at=2026-12-06T07:00:01Z)" {
		t.Errorf("String() = %q: it must hide the token", s)
	}
	b, err = json.Marshal(Error{Error: CodeForbidden, Message: "no"})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"error":"forbidden","message":"no"}`; string(b) != want {
		t.Errorf("error body %s, want %s", b, want)
	}
}

// TestJSONShapeWithMetadata pins the additive fields: present only when the entry declares
// them, after the original three.
func TestJSONShapeWithMetadata(t *testing.T) {
	at := time.Date(2026, 12, 6, 7, 0, 1, 0, time.UTC)
	b, err := json.Marshal(Token{AccessToken: "at", TokenType: "Bearer", ExpiresAt: at,
		Metadata: map[string]string{"realmId": "9130"}, APIBaseURL: "https://sandbox-quickbooks.api.intuit.com"})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"access_token":"at","token_type":"Bearer","expires_at":"2026-12-06T07:00:01Z",` +
		`"metadata":{"realmId":"9130"},"api_base_url":"https://sandbox-quickbooks.api.intuit.com"}`
	if string(b) != want {
		t.Errorf("token body %s, want %s", b, want)
	}
}

// TestConnectionJSONShape pins a connection's view as the clients read it: the optional
// fields absent when empty, and an empty list a JSON array (never null).
func TestConnectionJSONShape(t *testing.T) {
	at := time.Date(2026, 12, 6, 7, 0, 1, 0, time.UTC)
	b, err := json.Marshal(Connection{Name: "qb", Status: "authorized", ExpiresAt: &at, Cached: true,
		Metadata: map[string]string{"realmId": "9130"}, APIBaseURL: "https://quickbooks.api.intuit.com"})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"name":"qb","status":"authorized","expires_at":"2026-12-06T07:00:01Z","cached":true,` +
		`"metadata":{"realmId":"9130"},"api_base_url":"https://quickbooks.api.intuit.com"}`
	if string(b) != want {
		t.Errorf("connection view %s, want %s", b, want)
	}
	b, err = json.Marshal(Connection{Name: "g", Status: "needs_reauthorization", LastError: "invalid_grant", LastErrorAt: &at,
		RefreshFailures: 2, NextAttemptAt: &at, LocalError: "timeout"})
	if err != nil {
		t.Fatal(err)
	}
	want = `{"name":"g","status":"needs_reauthorization","last_error":"invalid_grant","last_error_at":"2026-12-06T07:00:01Z",` +
		`"cached":false,"refresh_failures":2,"next_attempt_at":"2026-12-06T07:00:01Z","local_error":"timeout"}`
	if string(b) != want {
		t.Errorf("connection view %s, want %s", b, want)
	}
	b, err = json.Marshal(ConnectionList{Connections: []Connection{}})
	if err != nil || string(b) != `{"connections":[]}` {
		t.Errorf("empty list %s, %v; want {\"connections\":[]}", b, err)
	}
}
