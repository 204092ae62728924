package authconn

import (
	"strings"
	"testing"
)

func TestValidateName(t *testing.T) {
	for _, ok := range []string{"a", "google-oauth", "ms365-oauth-dev", "q1", strings.Repeat("a", 63)} {
		if err := ValidateName(ok); err != nil {
			t.Errorf("ValidateName(%q) = %v, want nil", ok, err)
		}
	}
	for _, bad := range []string{"", "Google", "google_oauth", "-x", "x-", "a b", "a/b", "..", strings.Repeat("a", 64), "é"} {
		err := ValidateName(bad)
		if err == nil || !strings.Contains(err.Error(), "lowercase letters, digits and hyphens") {
			t.Errorf("ValidateName(%q) = %v, want an error naming the rule", bad, err)
		}
	}
}

func TestValidateURL(t *testing.T) {
	for _, ok := range []string{"https://accounts.google.com", "https://login.microsoftonline.com/tenant/v2.0", "http://127.0.0.1:4444/", "http://localhost:8080/x", "http://[::1]:9/"} {
		if err := ValidateURL("provider_url", ok); err != nil {
			t.Errorf("ValidateURL(%q) = %v", ok, err)
		}
	}
	cases := map[string]string{
		"http://example.com":           "use https",
		"ftp://example.com":            "use https",
		"accounts.google.com":          "not an absolute URL",
		"https://":                     "not an absolute URL",
		"https://u:p@example.com":      "user name or password",
		"https://example.com/#x":       "fragment",
		"http://127.0.0.1.example.com": "use https",
	}
	for in, want := range cases {
		err := ValidateURL("provider_url", in)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "provider_url") {
			t.Errorf("ValidateURL(%q) = %v, want an error containing %q and the field name", in, err, want)
		}
	}
}

func TestConnectionValidateReportsEveryProblem(t *testing.T) {
	c := &Connection{Name: "Bad_Name", Type: "TYPE_SAML", ProviderURL: "http://example.com", AuthURL: "nope", Scopes: []string{"a b"}}
	err := c.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"invalid connection name", "TYPE_OAUTH2", "use https", "client_id is required", "auth_url", "invalid scope"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

// TestURLErrorsNeverRepeatAQueryOrCredentials: a URL refused for any reason is shown in the
// error without its user information, query or fragment, where a pasted secret would be.
func TestURLErrorsNeverRepeatAQueryOrCredentials(t *testing.T) {
	const secret = "s3cr3t-value"
	for _, raw := range []string{
		"http://api.example.com/v1?api_key=" + secret,
		"ftp://api.example.com/v1?token=" + secret,
		"https://api.example.com/v1#" + secret,
		"http://user:" + secret + "@api.example.com/v1",
		"not a url?" + secret,
	} {
		for _, err := range []error{ValidateURL("token_url", raw), ValidateProxyBaseURL(raw)} {
			if err == nil {
				t.Errorf("%q was accepted", raw)
			} else if strings.Contains(err.Error(), secret) {
				t.Errorf("the error repeats the secret: %v", err)
			}
		}
	}
	if got := ShowURL("http://u:p@h.example/p?q=1#f"); got != "http://…@h.example/p?…" {
		t.Errorf("ShowURL = %q", got)
	}
	if err := ValidateProxyBaseURL("https://api.example.com/v1?x=" + secret); err == nil || !strings.Contains(err.Error(), "https://api.example.com/v1?…") {
		t.Errorf("a query in proxy_base_url: %v, want the URL shown up to its query", err)
	}
}
