package authconn

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestValidateHostOverride(t *testing.T) {
	for h, o := range map[string]string{
		"oauth.platform.intuit.com": "https://127.0.0.1:8443",
		"api.xero.com":              "https://gateway.internal.example/",
		"appcenter.intuit.com":      "http://localhost:9000",
	} {
		if err := ValidateHostOverride(h, o); err != nil {
			t.Errorf("%s=%s refused: %v", h, o, err)
		}
	}
	for _, kv := range [][2]string{
		{"", "https://127.0.0.1"}, {"Api.Xero.com", "https://127.0.0.1"}, {"api.xero.com:443", "https://127.0.0.1"},
		{"api..xero.com", "https://127.0.0.1"}, {"-api.xero.com", "https://127.0.0.1"}, {"api.xero.com/x", "https://127.0.0.1"},
		{"api.xero.com", "https://evil.example/path"}, {"api.xero.com", "https://evil.example?x=1"},
		{"api.xero.com", "https://user:pw@evil.example"}, {"api.xero.com", "https://evil.example#f"},
		{"api.xero.com", "http://evil.example"}, {"api.xero.com", "ftp://127.0.0.1"}, {"api.xero.com", "127.0.0.1:8443"},
		{"api.xero.com", "//127.0.0.1"}, {"api.xero.com", ""}, {"api.xero.com", "https://127.0.0.1/%2e%2e"},
	} {
		if err := ValidateHostOverride(kv[0], kv[1]); err == nil {
			t.Errorf("%q=%q accepted", kv[0], kv[1])
		}
	}
	c := Connection{Name: "n", Type: TypeOAuth2, ProviderURL: "https://login.example.com", ClientID: "c",
		HostOverrides: map[string]string{"login.example.com": "https://evil.example/steal"}}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "host_overrides[login.example.com]") {
		t.Errorf("Validate must check host_overrides: %v", err)
	}
	b, _ := json.Marshal(Connection{Name: "x"})
	if strings.Contains(string(b), "host_overrides") {
		t.Errorf("empty host_overrides written: %s", b)
	}
}

// TestEndpointOriginsBindTheHostOverrides: a host override moves where the client secret
// goes, so a secret written for one override is not bound to another, nor to none.
func TestEndpointOriginsBindTheHostOverrides(t *testing.T) {
	base := func(o string) *Connection {
		c := &Connection{Provider: "quickbooks", ProviderURL: "https://appcenter.intuit.com/connect/oauth2"}
		if o != "" {
			c.HostOverrides = map[string]string{"oauth.platform.intuit.com": o}
		}
		return c
	}
	a, b, none := EndpointOrigins(base("https://127.0.0.1:8443")), EndpointOrigins(base("https://127.0.0.1:9443")), EndpointOrigins(base(""))
	want := []string{"host:oauth.platform.intuit.com=https://127.0.0.1:8443", "https://appcenter.intuit.com:443", "provider:quickbooks"}
	if !SameOrigins(a, want) {
		t.Fatalf("EndpointOrigins = %v, want %v", a, want)
	}
	if SameOrigins(a, b) || SameOrigins(a, none) {
		t.Fatal("another override, or none, must not share the binding")
	}
}
