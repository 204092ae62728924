package oauth

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
)

func TestParseMetadata(t *testing.T) {
	good := `{"issuer":"https://idp.example.com/","authorization_endpoint":"https://idp.example.com/auth",
	  "token_endpoint":"https://idp.example.com/token","revocation_endpoint":"https://idp.example.com/revoke",
	  "scopes_supported":["openid","offline_access"],"code_challenge_methods_supported":["plain","S256"],
	  "token_endpoint_auth_methods_supported":["client_secret_post"],
	  "authorization_response_iss_parameter_supported":true}`
	m, err := ParseMetadata([]byte(good), "https://idp.example.com")
	if err != nil {
		t.Fatal(err)
	}
	if m.TokenEndpoint != "https://idp.example.com/token" || m.RevocationEndpoint != "https://idp.example.com/revoke" || !m.AuthorizationResponseIssParameterSupported {
		t.Errorf("metadata %+v", m)
	}
	e := endpointsFromMetadata(m)
	if !e.PKCE || e.AuthStyle != oauth2.AuthStyleInParams || !e.IssParameter || e.Issuer != "https://idp.example.com/" {
		t.Errorf("endpoints %+v", e)
	}

	for _, tc := range []struct{ name, doc, issuer, want string }{
		{"not json", `<html>`, "", "not valid JSON"},
		{"no token endpoint", `{"authorization_endpoint":"https://a.example.com/auth"}`, "", "no authorization_endpoint or token_endpoint"},
		{"issuer mismatch", `{"issuer":"https://evil.example.com","authorization_endpoint":"https://a.example.com/a","token_endpoint":"https://a.example.com/t"}`, "https://a.example.com", "does not match"},
		{"plain http endpoint", `{"authorization_endpoint":"http://a.example.com/a","token_endpoint":"https://a.example.com/t"}`, "", "uses http"},
	} {
		_, err := ParseMetadata([]byte(tc.doc), tc.issuer)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want it to contain %q", tc.name, err, tc.want)
		}
	}
}

func TestEndpointsAuthStyleAndPKCE(t *testing.T) {
	for _, tc := range []struct {
		methods    []string
		challenges []string
		style      oauth2.AuthStyle
		pkce       bool
	}{
		{nil, nil, oauth2.AuthStyleInHeader, true},
		{[]string{"client_secret_basic"}, []string{"S256"}, oauth2.AuthStyleInHeader, true},
		{[]string{"client_secret_post"}, []string{"plain"}, oauth2.AuthStyleInParams, false},
		{[]string{"client_secret_basic", "client_secret_post", "private_key_jwt"}, []string{"S256"}, oauth2.AuthStyleAutoDetect, true},
	} {
		e := endpointsFromMetadata(&Metadata{TokenEndpointAuthMethodsSupported: tc.methods, CodeChallengeMethodsSupported: tc.challenges})
		if e.AuthStyle != tc.style || e.PKCE != tc.pkce {
			t.Errorf("methods %v challenges %v: style %v pkce %v, want %v %v", tc.methods, tc.challenges, e.AuthStyle, e.PKCE, tc.style, tc.pkce)
		}
	}
}

func TestDiscoveryURLs(t *testing.T) {
	got := DiscoveryURLs("https://login.example.com/tenant/v2.0/")
	want := []string{
		"https://login.example.com/tenant/v2.0/.well-known/openid-configuration",
		"https://login.example.com/.well-known/oauth-authorization-server/tenant/v2.0",
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("DiscoveryURLs = %v, want %v", got, want)
	}
	if DiscoveryURLs("not a url") != nil {
		t.Error("a relative URL gave discovery URLs")
	}
}

// TestDiscoverFallsBackToRFC8414 serves only the RFC 8414 document and checks that Resolve
// finds it, and that a missing document gives an error naming the fix.
func TestDiscoverFallsBackToRFC8414(t *testing.T) {
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/oauth-authorization-server/realm" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer": srv.URL + "/realm", "authorization_endpoint": srv.URL + "/realm/auth",
			"token_endpoint": srv.URL + "/realm/token", "scopes_supported": []string{"offline_access"},
		})
	}))
	defer srv.Close()
	c := &Client{}
	p, err := c.Resolve(context.Background(), &authconn.Connection{ProviderURL: srv.URL + "/realm"})
	if err != nil {
		t.Fatal(err)
	}
	if p.Source != "discovery" || p.Name() != "oidc" || p.TokenURL != srv.URL+"/realm/token" {
		t.Errorf("provider %+v", p)
	}
	if got := p.Scopes([]string{"openid"}); strings.Join(got, " ") != "openid offline_access" {
		t.Errorf("Scopes = %v, want offline_access added", got)
	}

	_, err = c.Resolve(context.Background(), &authconn.Connection{ProviderURL: srv.URL + "/other"})
	var oe *Error
	if !asError(err, &oe) || oe.Op != "discovery" || oe.Kind != KindRejected || !strings.Contains(err.Error(), "set auth_url and token_url") {
		t.Errorf("missing metadata: %v", err)
	}
}

func TestResolvePresetsAndOverrides(t *testing.T) {
	c := &Client{}
	ctx := context.Background()
	p, err := c.Resolve(ctx, &authconn.Connection{ProviderURL: "https://login.microsoftonline.com/contoso.onmicrosoft.com"})
	if err != nil {
		t.Fatal(err)
	}
	if p.Name() != "microsoft" || p.AuthURL != "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/authorize" ||
		p.Issuer != "https://login.microsoftonline.com/contoso.onmicrosoft.com/v2.0" {
		t.Errorf("microsoft: %+v", p.Endpoints)
	}
	p, err = c.Resolve(ctx, &authconn.Connection{ProviderURL: "https://accounts.google.com", TokenURL: "http://127.0.0.1:1/token"})
	if err != nil {
		t.Fatal(err)
	}
	if p.Name() != "google" || p.TokenURL != "http://127.0.0.1:1/token" || p.AuthURL != "https://accounts.google.com/o/oauth2/v2/auth" {
		t.Errorf("google with token override: %+v", p.Endpoints)
	}
	p, err = c.Resolve(ctx, &authconn.Connection{ProviderURL: "https://idp.example.com", AuthURL: "https://idp.example.com/a", TokenURL: "https://idp.example.com/t"})
	if err != nil {
		t.Fatal(err)
	}
	if p.Name() != "custom" || !p.PKCE {
		t.Errorf("overrides: %+v", p)
	}
}
