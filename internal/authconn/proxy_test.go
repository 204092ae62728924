package authconn

import (
	"slices"
	"testing"
)

func TestProxyFieldsAreValidatedAndBound(t *testing.T) {
	for _, ok := range []string{"https://api.example.com/v1", "http://127.0.0.1:4444", "https://api.example.com"} {
		if err := ValidateProxyBaseURL(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"http://api.example.com", "https://api.example.com/?a=1", "https://u:p@api.example.com", "api.example.com", "ftp://x"} {
		if ValidateProxyBaseURL(bad) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	for _, ok := range []string{"uploads.example.com", "127.0.0.1:8443", "api-2.example.com:443"} {
		if err := ValidateProxyHost(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "https://x.com", "x.com/path", "UPPER.com", "x.com:0", "x.com:99999", "a b"} {
		if ValidateProxyHost(bad) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	c := &Connection{ProviderURL: "https://idp.example.com"}
	before := EndpointOrigins(c)
	c.ProxyBaseURL, c.ProxyAllowedHosts = "https://api.example.com/v1", []string{"uploads.example.com"}
	after := EndpointOrigins(c)
	if len(before) != 1 || !slices.Contains(after, "proxy:https://api.example.com/v1") || !slices.Contains(after, "proxy-host:uploads.example.com") {
		t.Fatalf("origins %v then %v", before, after)
	}
}
