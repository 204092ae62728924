package authconn

import (
	"fmt"
	"net/url"
	"strings"
)

// ValidateHostOverride reports whether host → origin can be one of a connection's host
// overrides (Connection.HostOverrides): host a DNS hostname as the connection's catalog entry
// names it (lowercase letters, digits, hyphens and dots), origin an absolute http(s) URL of
// scheme, host and port only (no user name, path, query or fragment), with plain http only
// for loopback hosts as ValidateURL allows. The origin is typed by an operator, so the
// egress policy lets requests reach it even on a private or loopback address.
func ValidateHostOverride(host, origin string) error {
	if !validHostname(host) {
		return fmt.Errorf("invalid host_overrides key %q: a hostname of the connection's provider, e.g. oauth.platform.intuit.com", Sanitize(host, 80))
	}
	field := "host_overrides[" + host + "]"
	if err := ValidateURL(field, origin); err != nil {
		return err
	}
	u, _ := url.Parse(origin)
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.ForceQuery || u.RawPath != "" {
		return fmt.Errorf("%s %q must be an origin only (scheme://host[:port]), without a path or query", field, Sanitize(origin, 200))
	}
	return nil
}

// validHostname reports whether h is a lowercase DNS hostname of at most 253 bytes, each
// label 1 to 63 letters, digits or hyphens not starting or ending with a hyphen.
func validHostname(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			if c := label[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}
