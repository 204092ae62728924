package imitate

import (
	"net/http"
	"net/url"
	"testing"
)

// TestMicrosoftGraphAppClientCredentials drives the app-only imitation with plain net/http:
// a client credentials request for https://graph.microsoft.com/.default gets a token without
// refresh token that /users accepts and /me refuses; a scope without /.default is refused.
func TestMicrosoftGraphAppClientCredentials(t *testing.T) {
	im := MicrosoftGraphApp(t)
	if !im.Want.AppOnly {
		t.Fatal("MicrosoftGraphApp is app-only")
	}
	token := "https://login.microsoftonline.com/" + msTenant + "/oauth2/v2.0/token"
	s := script{}
	status, body := s.post(t, im, token, url.Values{"grant_type": {"client_credentials"}, "scope": {graphScope + ".default"}})
	access, _ := body["access_token"].(string)
	if status != http.StatusOK || access == "" || body["refresh_token"] != nil {
		t.Fatalf("client credentials: %d %v", status, body)
	}
	req, _ := http.NewRequest(http.MethodGet, im.Want.AppAPICheck, nil)
	req.Header.Set("Authorization", "Bearer "+access)
	if status, _ := do(t, im, req); status != http.StatusOK {
		t.Errorf("%s with an application token: %d, want 200", im.Want.AppAPICheck, status)
	}
	req, _ = http.NewRequest(http.MethodGet, "https://graph.microsoft.com/v1.0/me", nil)
	req.Header.Set("Authorization", "Bearer "+access)
	if status, _ := do(t, im, req); status != http.StatusBadRequest {
		t.Errorf("/me with an application token: %d, want 400", status)
	}
	status, body = s.post(t, im, token, url.Values{"grant_type": {"client_credentials"}, "scope": {"User.Read"}})
	if status != http.StatusBadRequest || body["error"] != "invalid_scope" {
		t.Errorf("a scope without /.default: %d %v, want 400 invalid_scope", status, body)
	}
}
