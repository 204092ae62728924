package oauth

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
)

// FuzzParseMetadata feeds arbitrary discovery documents: parsing never panics, and every
// endpoint of an accepted document obeys CheckDiscoveredEndpoint: on a loopback issuer's own
// origin, or https on the issuer's host or registrable domain (https anywhere when the issuer
// is unknown). A remote document never names a plain-http or loopback endpoint of its own.
func FuzzParseMetadata(f *testing.F) {
	f.Add([]byte(`{"issuer":"https://a.example","authorization_endpoint":"https://a.example/auth","token_endpoint":"https://a.example/token"}`), "https://a.example")
	f.Add([]byte(`{"issuer":"http://127.0.0.1:4444","authorization_endpoint":"http://127.0.0.1:4444/oauth2/auth","token_endpoint":"http://127.0.0.1:4444/oauth2/token","revocation_endpoint":"http://127.0.0.1:4444/oauth2/revoke","token_endpoint_auth_methods_supported":["client_secret_post","client_secret_basic"],"code_challenge_methods_supported":["plain","S256"],"authorization_response_iss_parameter_supported":true}`), "http://127.0.0.1:4444")
	f.Add([]byte(`{"issuer":"https://a.example","authorization_endpoint":"https://a.example/auth","token_endpoint":"http://127.0.0.1:8200/v1/sys/tools/random"}`), "https://a.example")
	f.Add([]byte(`{"authorization_endpoint":"http://localhost:1/a","token_endpoint":"http://localhost:1/t"}`), "")
	f.Add([]byte(`{"issuer":"http://127.0.0.1:4444","authorization_endpoint":"http://127.0.0.1:4444/a","token_endpoint":"http://127.0.0.1:8200/t"}`), "http://127.0.0.1:4444")
	f.Add([]byte(`{"authorization_endpoint":"https://login.a.example/a","token_endpoint":"https://b.example/t"}`), "https://id.a.example")
	f.Add([]byte(`{"authorization_endpoint":"javascript:alert(1)","token_endpoint":"https://x"}`), "")
	f.Add([]byte(`[]`), "")
	f.Add([]byte(`{"issuer":1}`), "https://x")
	f.Fuzz(func(t *testing.T, data []byte, issuer string) {
		m, err := ParseMetadata(data, issuer)
		if err != nil {
			return
		}
		iu, ierr := url.Parse(issuer)
		loopIssuer := issuer != "" && ierr == nil && iu.Host != "" && authconn.IsLoopbackHost(iu.Hostname())
		for _, u := range []string{m.AuthorizationEndpoint, m.TokenEndpoint, m.RevocationEndpoint, m.UserinfoEndpoint, m.DeviceAuthorizationEndpoint} {
			if u == "" {
				continue
			}
			pu, perr := url.Parse(u)
			if perr != nil || pu.Host == "" {
				t.Fatalf("accepted endpoint %q", u)
			}
			switch {
			case loopIssuer && !authconn.SameOrigin(u, issuer):
				t.Fatalf("accepted endpoint %q off the loopback issuer's origin %q", u, issuer)
			case !loopIssuer && pu.Scheme != "https":
				t.Fatalf("accepted non-https endpoint %q from a remote document (issuer %q)", u, issuer)
			case !loopIssuer && ierr == nil && iu.Host != "" && !strings.EqualFold(strings.TrimSuffix(pu.Hostname(), "."), strings.TrimSuffix(iu.Hostname(), ".")) &&
				(site(strings.ToLower(pu.Hostname())) == "" || site(strings.ToLower(strings.TrimSuffix(pu.Hostname(), "."))) != site(strings.ToLower(strings.TrimSuffix(iu.Hostname(), ".")))):
				t.Fatalf("accepted endpoint %q off the issuer's site %q", u, issuer)
			}
		}
		e := endpointsFromMetadata(m)
		if e.AuthURL != m.AuthorizationEndpoint || e.TokenURL != m.TokenEndpoint {
			t.Fatal("endpoints differ from metadata")
		}
	})
}

// FuzzParseTokenResponse feeds arbitrary token responses: parsing never panics; an accepted
// response has an access token, lifetimes within range, and keeps no token in Extra.
func FuzzParseTokenResponse(f *testing.F) {
	f.Add([]byte(`{"access_token":"a","token_type":"Bearer","expires_in":3600,"refresh_token":"r","x_refresh_token_expires_in":8726400}`))
	f.Add([]byte(`{"access_token":"a","expires_in":"3600"}`))
	f.Add([]byte(`{"access_token":"a","expires_in":-5}`))
	f.Add([]byte(`{"access_token":"a","expires_in":1e300}`))
	f.Add([]byte(`{"error":"invalid_grant"}`))
	f.Add([]byte(`access_token=a&expires_in=3`))
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		ts, err := ParseTokenResponse(body, now, nil)
		if err != nil {
			return
		}
		if ts.AccessToken == "" {
			t.Fatal("accepted a response without access_token")
		}
		if ts.ExpiresIn < 0 || ts.ExpiresIn > maxSeconds*time.Second || ts.RefreshExpiresIn < 0 {
			t.Fatalf("lifetimes out of range: %v, %v", ts.ExpiresIn, ts.RefreshExpiresIn)
		}
		for _, k := range []string{"access_token", "refresh_token"} {
			if _, ok := ts.Extra[k]; ok {
				t.Fatalf("Extra keeps %s", k)
			}
		}
		if _, err := json.Marshal(ts); err != nil {
			t.Fatalf("record does not encode for Vault: %v", err)
		}
	})
}

// FuzzParseCallback feeds arbitrary callback query strings: a callback is accepted only with
// the exact state and issuer, its code is returned as given, and extras never include the
// code, state or iss.
func FuzzParseCallback(f *testing.F) {
	p := &Provider{Endpoints: Endpoints{Issuer: "http://127.0.0.1:4444", IssParameter: true, AuthURL: "http://127.0.0.1:4444/auth", TokenURL: "http://127.0.0.1:4444/token", PKCE: true}}
	a := p.NewAuthRequest(Credentials{ClientID: "c"}, "http://localhost:8080/callback", []string{"openid"})
	f.Add("code=abc&state=" + url.QueryEscape(a.State) + "&iss=http%3A%2F%2F127.0.0.1%3A4444&realmId=1")
	f.Add("error=access_denied&state=" + url.QueryEscape(a.State) + "&iss=http%3A%2F%2F127.0.0.1%3A4444")
	f.Add("code=abc&state=wrong")
	f.Add("code=abc&state=" + url.QueryEscape(a.State))
	f.Add("%zz&&==;")
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		cb, err := a.ParseCallback(q)
		if err != nil {
			if cb != nil {
				t.Fatal("callback returned with an error")
			}
			return
		}
		if q.Get("state") != a.State || strings.TrimSuffix(q.Get("iss"), "/") != p.Issuer || q.Get("error") != "" {
			t.Fatalf("accepted %q", raw)
		}
		if cb.Code == "" || cb.Code != q.Get("code") {
			t.Fatalf("code %q from %q", cb.Code, raw)
		}
		for _, k := range []string{"code", "state", "iss"} {
			if _, ok := cb.Extras[k]; ok {
				t.Fatalf("extras keep %s", k)
			}
		}
	})
}
