package authconn

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzValidateName checks that every accepted name is safe as a single Vault path segment and
// matches the documented rule, and that validation never panics.
func FuzzValidateName(f *testing.F) {
	for _, s := range []string{"google-oauth", "a", "", "-", "A", "a/b", "..", "a--b", strings.Repeat("z", 64), strings.Repeat("z", 63), "x\x00y", "a-", "0", "é", "a\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		err := ValidateName(name)
		if (err == nil) != nameRE.MatchString(name) {
			t.Fatalf("ValidateName(%q) = %v, but NamePattern matches: %v", name, err, nameRE.MatchString(name))
		}
		if err != nil {
			if !strings.Contains(err.Error(), "lowercase letters") {
				t.Fatalf("error without the rule: %v", err)
			}
			return
		}
		if len(name) == 0 || len(name) > 63 || strings.ContainsAny(name, "/.\\ _") || name[0] == '-' || name[len(name)-1] == '-' {
			t.Fatalf("accepted unsafe name %q", name)
		}
		for _, r := range name {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				t.Fatalf("accepted %q with rune %q", name, r)
			}
		}
	})
}

// FuzzValidateURL checks that accepted URLs are absolute https, or http on a loopback host,
// without credentials or fragment, and that errors name the field.
func FuzzValidateURL(f *testing.F) {
	for _, s := range []string{"https://accounts.google.com", "http://127.0.0.1:1/x", "http://localhost", "http://example.com", "https://u:p@h", "https://h/#f", "//h", "https:", "http://[::1]:80", "http://127.0.0.1.nip.io"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		err := ValidateURL("token_url", raw)
		if err != nil {
			if !strings.Contains(err.Error(), "token_url") {
				t.Fatalf("error does not name the field: %v", err)
			}
			return
		}
		u, perr := url.Parse(raw)
		if perr != nil || u.Host == "" || u.User != nil || u.Fragment != "" {
			t.Fatalf("accepted %q", raw)
		}
		if u.Scheme != "https" && !(u.Scheme == "http" && IsLoopbackHost(u.Hostname())) {
			t.Fatalf("accepted %q with scheme %q host %q", raw, u.Scheme, u.Hostname())
		}
	})
}
