package authconn

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
)

// ValidateProxyBaseURL reports whether raw can be a connection's proxy_base_url: an
// absolute URL as ValidateURL allows (https, or http on a loopback host), without a query.
// Its path is the base every proxied path is put under.
func ValidateProxyBaseURL(raw string) error {
	if err := ValidateURL("proxy_base_url", raw); err != nil {
		return err
	}
	u, _ := url.Parse(raw)
	if u.RawQuery != "" || u.ForceQuery {
		return fmt.Errorf("proxy_base_url %q must not contain a query: give the API's base URL only", ShowURL(raw))
	}
	return nil
}

// ValidateProxyHost reports whether h can be one of a connection's proxy_allowed_hosts: a
// lowercase DNS hostname or IP address, with an optional port ("uploads.example.com",
// "127.0.0.1:8443"); no scheme, path or user name.
func ValidateProxyHost(h string) error {
	host, port := h, ""
	if hp, p, err := net.SplitHostPort(h); err == nil {
		host, port = hp, p
	}
	okPort := true
	if port != "" {
		n, err := strconv.Atoi(port)
		okPort = err == nil && n > 0 && n < 65536
	}
	if !okPort || !(validHostname(host) || net.ParseIP(host) != nil) {
		return fmt.Errorf("invalid proxy_allowed_hosts entry %q: a hostname with an optional port, e.g. uploads.example.com or 127.0.0.1:8443", Sanitize(h, 80))
	}
	return nil
}
