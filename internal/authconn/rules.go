package authconn

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
	"unicode"
)

// NameRule describes the allowed connection names, for error messages.
const NameRule = "1 to 63 characters: lowercase letters, digits and hyphens, starting and ending with a letter or digit (e.g. google-oauth-prod)"

// NamePattern is the regular expression of NameRule (RE2 and ECMAScript syntax alike), so
// that other implementations (the JavaScript client) can check against the same rule.
const NamePattern = `^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`

// nameRE is NamePattern compiled; ValidateName checks the same rule without it (it runs on
// every token request), and FuzzValidateName holds the two to the same answers.
var nameRE = regexp.MustCompile(NamePattern)

// ValidateName reports whether name is an allowed connection name (NamePattern).
func ValidateName(name string) error {
	if !validName(name) {
		return fmt.Errorf("invalid connection name %q: use %s", name, NameRule)
	}
	return nil
}

// validName reports whether name matches NamePattern: 1 to 63 lowercase letters, digits and
// hyphens, starting and ending with a letter or digit.
func validName(name string) bool {
	n := len(name)
	if n == 0 || n > 63 || name[0] == '-' || name[n-1] == '-' {
		return false
	}
	for i := 0; i < n; i++ {
		if c := name[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// ValidateURL reports whether raw is an acceptable endpoint URL: absolute https with a host,
// or plain http only for loopback hosts (localhost, 127.0.0.0/8, ::1) so that local providers
// and tests work. field names the attribute in the message.
func ValidateURL(field, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return fmt.Errorf("%s %q is not an absolute URL: use https://host/path", field, ShowURL(raw))
	}
	if u.User != nil {
		return fmt.Errorf("%s must not contain a user name or password", field)
	}
	if u.Fragment != "" {
		return fmt.Errorf("%s %q must not contain a fragment (#...)", field, ShowURL(raw))
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if IsLoopbackHost(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("%s %q uses http: use https (plain http is allowed only for localhost and 127.0.0.1)", field, ShowURL(raw))
	default:
		return fmt.Errorf("%s %q has scheme %q: use https", field, ShowURL(raw), Sanitize(u.Scheme, 20))
	}
}

// ShowURL returns raw as an error message may show it: without a user name or password, a
// query or a fragment (each replaced by "…", since any of them may carry a secret someone
// pasted), on one line and at most 200 bytes.
func ShowURL(raw string) string {
	cut := len(raw)
	for _, sep := range []string{"?", "#"} {
		if i := strings.Index(raw, sep); i >= 0 && i < cut {
			cut = i
		}
	}
	shown := raw[:cut]
	if i := strings.Index(shown, "@"); i >= 0 {
		if j := strings.Index(shown, "://"); j >= 0 && j < i {
			shown = shown[:j+3] + "…@" + shown[i+1:]
		}
	}
	if cut < len(raw) {
		shown += raw[cut:cut+1] + "…"
	}
	return Sanitize(shown, 200)
}

// IsLoopbackHost reports whether host is localhost or a loopback IP address.
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ValidateClientID reports whether id is an acceptable OAuth2 client id: not blank, at most
// MaxClientIDLen bytes of UTF-8, without control or invisible format characters.
// Connection.Validate applies the same rule; the Terraform provider calls this at plan time
// so that its message is the CLI's.
func ValidateClientID(id string) error {
	if strings.TrimSpace(id) == "" {
		return errors.New("client_id is required: copy it from the provider's console")
	}
	return checkText("client_id", id, MaxClientIDLen, false)
}

// ValidateScope reports whether s is an acceptable single OAuth2 scope: not empty, at most
// MaxScopeLen bytes of UTF-8, without white space, commas (each scope is its own list
// element), control or invisible format characters. Connection.Validate applies the same rule
// to every element of Scopes. The message quotes the scope with Go escapes (%q), so that it
// prints safely.
func ValidateScope(s string) error {
	if s == "" || strings.ContainsAny(s, ",") || strings.IndexFunc(s, unicode.IsSpace) >= 0 {
		return fmt.Errorf("invalid scope %q: give each scope as its own list element, without spaces or commas", s)
	}
	if err := checkText("scope", s, MaxScopeLen, false); err != nil {
		return fmt.Errorf("invalid scope %q: %w", cut(s, 64), err)
	}
	return nil
}

// ValidateClientSecret reports whether secret is acceptable as a client secret: not blank,
// at most MaxClientSecretLen bytes of valid UTF-8 without control characters. A secret that
// could not be stored byte for byte (Vault's KV is JSON, which replaces invalid UTF-8) or that
// holds NUL, ESC or a newline is refused, never altered. The message never contains the value.
func ValidateClientSecret(secret string) error {
	if strings.TrimSpace(secret) == "" {
		return errors.New("the client secret is empty: copy it from the provider's console")
	}
	return checkText("the client secret", secret, MaxClientSecretLen, true)
}

// cut returns at most the first n bytes of s, for quoting a long value in a message.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
