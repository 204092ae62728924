package oauth

import (
	"context"
	"net/url"
	"testing"
)

// dcEntry's token endpoint is on the data center the callback names (Zoho's accounts-server).
const dcEntry = `{"name": "dc", "hosts": ["accounts.dc0.test"],
 "params": [{"name": "accounts_server", "description": "the data center", "pattern": "^https://accounts\\.dc[0-9]\\.test$", "where": ["origin"]}],
 "endpoints": {"authorize": "https://accounts.dc0.test/auth",
   "token": ["{accounts_server}/token", "https://accounts.dc0.test/token"]},
 "metadata": {"callback": [{"name": "accounts_server", "from": "accounts-server"}]},
 "no_refresh_token_advice": "a", "redirect_notes": "r"}`

// TestExchangeUsesCallbackMetadata: the code goes to the token endpoint the callback's
// metadata names; a value its parameter refuses stops the exchange before any request.
func TestExchangeUsesCallbackMetadata(t *testing.T) {
	c, rs := routed(t, func(seen) (int, any) {
		return 200, map[string]any{"access_token": "at", "token_type": "Bearer", "expires_in": 3600}
	})
	p := entryProvider(t, c, dcEntry, nil)
	for _, tc := range []struct{ server, wantHost string }{
		{"https://accounts.dc2.test", "accounts.dc2.test"},
		{"", "accounts.dc0.test"},
		{"https://evil.test", ""},
	} {
		rs.reqs = nil
		a := p.NewAuthRequest(secretCreds, "https://app.test/cb", nil)
		q := url.Values{"code": {"c"}, "state": {a.State}}
		if tc.server != "" {
			q.Set("accounts-server", tc.server)
		}
		cb, err := a.ParseCallback(q)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := c.Exchange(context.Background(), a, cb)
		if tc.wantHost == "" {
			if err == nil || len(rs.reqs) != 0 {
				t.Errorf("accounts-server %s: %v, %d requests; want an error and none", tc.server, err, len(rs.reqs))
			}
			continue
		}
		if err != nil || tok.AccessToken != "at" {
			t.Fatalf("accounts-server %q: %v", tc.server, err)
		}
		if s := rs.last(t); s.Host != tc.wantHost || s.Path != "/token" {
			t.Errorf("accounts-server %q: the code went to %s%s, want %s/token", tc.server, s.Host, s.Path, tc.wantHost)
		}
	}
}
