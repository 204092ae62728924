package authconn

import (
	"errors"
	"strings"
	"testing"
)

func TestEndpointOriginsAreTheOriginsThatCanReceiveTheSecret(t *testing.T) {
	c := &Connection{ProviderURL: "https://Login.Example.com/", IssuerURL: "https://login.example.com:443/x",
		AuthURL: "https://browser-only.example/auth", TokenURL: "https://token.example/t", RevocationURL: "http://127.0.0.1:8080/r"}
	got := EndpointOrigins(c)
	want := []string{"http://127.0.0.1:8080", "https://login.example.com:443", "https://token.example:443"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("EndpointOrigins = %v, want %v", got, want)
	}
	if !SameOrigins(got, []string{"https://token.example:443", "http://127.0.0.1:8080", "https://login.example.com:443", "https://token.example:443"}) {
		t.Fatal("SameOrigins: order or duplicates made a difference")
	}
	if SameOrigins(got, want[:2]) {
		t.Fatal("SameOrigins: a missing origin was not noticed")
	}
}

func TestIssuanceChecks(t *testing.T) {
	in := &Issuance{TokenOrigin: "https://a.example:443", RevocationOrigin: "https://r.example:443"}
	if err := in.CheckToken("https://A.example/oauth/token"); err != nil {
		t.Fatalf("same origin refused: %v", err)
	}
	err := in.CheckToken("https://b.example/token")
	var moved *EndpointMovedError
	if !errors.As(err, &moved) || !strings.Contains(err.Error(), "moved from https://a.example:443 to https://b.example:443") ||
		!strings.Contains(err.Error(), "refresh token is not sent there: authorize the connection again") {
		t.Fatalf("moved token endpoint: %v", err)
	}
	if err := in.CheckToken("https://a.example:8443/token"); err == nil {
		t.Fatal("another port on the same host was accepted")
	}
	for _, ok := range []string{"https://r.example/revoke", "https://a.example/revoke"} {
		if err := in.CheckRevocation(ok); err != nil {
			t.Fatalf("revocation at %s refused: %v", ok, err)
		}
	}
	if err := in.CheckRevocation("https://evil.example/revoke"); !errors.As(err, &moved) {
		t.Fatalf("revocation at another origin: %v", err)
	}
}

// TestEndpointOriginsBindTheEntryAndItsParameters: a parameter picks the host of an entry's
// templated endpoints (Zendesk's {subdomain}), so a secret written for one subdomain is not
// bound to another, nor to another entry.
func TestEndpointOriginsBindTheEntryAndItsParameters(t *testing.T) {
	a := &Connection{Provider: "zendesk", Params: map[string]string{"subdomain": "acme"}}
	b := &Connection{Provider: "zendesk", Params: map[string]string{"subdomain": "evil"}}
	c := &Connection{Provider: "shopify", Params: map[string]string{"subdomain": "acme"}}
	got := EndpointOrigins(a)
	if want := []string{"param:subdomain=acme", "provider:zendesk"}; !SameOrigins(got, want) {
		t.Fatalf("EndpointOrigins = %v, want %v", got, want)
	}
	if SameOrigins(got, EndpointOrigins(b)) || SameOrigins(got, EndpointOrigins(c)) {
		t.Fatal("another parameter value or another entry must not share the binding")
	}
}
