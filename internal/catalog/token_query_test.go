package catalog

import (
	"strings"
	"testing"
)

// TestTokenQueryRefusesSecrets: token_query may name client_id, never a secret, a code or a
// token.
func TestTokenQueryRefusesSecrets(t *testing.T) {
	if _, err := Parse([]byte(strings.Replace(validEntry, "%s", `, "token_query": ["client_id"]`, 1))); err != nil {
		t.Fatalf("client_id: %v", err)
	}
	for _, name := range []string{"client_secret", "code", "refresh_token", "code_verifier", "client_assertion"} {
		_, err := Parse([]byte(strings.Replace(validEntry, "%s", `, "token_query": ["`+name+`"]`, 1)))
		if err == nil || !strings.Contains(err.Error(), "token_query") {
			t.Errorf("token_query %s: %v, want refused", name, err)
		}
	}
}
