package broker

import (
	"encoding/json"
	"testing"
	"time"
)

// TestEncodeTokenBytes checks that the token body, now encoded from wire.Token, has the
// bytes of the former encoding (expires_at formatted with time.RFC3339 in UTC).
func TestEncodeTokenBytes(t *testing.T) {
	for _, at := range []time.Time{
		time.Date(2026, 12, 6, 7, 0, 1, 999_999_999, time.FixedZone("x", 3600)),
		time.Date(2318, 1, 1, 0, 0, 0, 0, time.UTC),
		{},
	} {
		tok := &Token{AccessToken: "a<b>&\"c", TokenType: "Bearer", ExpiresAt: at.UTC().Truncate(time.Second)}
		old, _ := json.Marshal(struct {
			AccessToken string `json:"access_token"`
			TokenType   string `json:"token_type"`
			ExpiresAt   string `json:"expires_at"`
		}{tok.AccessToken, tok.TokenType, tok.ExpiresAt.UTC().Format(time.RFC3339)})
		if got := encodeToken(tok); string(got) != string(old) {
			t.Errorf("encodeToken = %s, want %s", got, old)
		}
	}
}
