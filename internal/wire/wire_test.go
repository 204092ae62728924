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
