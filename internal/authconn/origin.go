package authconn

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// Origin returns the origin of an absolute http(s) URL as scheme://host:port, lowercased and
// with the default port made explicit ("https://Example.com/x" is "https://example.com:443"),
// so that two URLs of one origin compare equal. An origin is the unit of trust for sending a
// secret: a refresh token, a client secret or a webhook body goes only to the origin it was
// issued for or an operator typed (a different port on the same host is a different origin).
func Origin(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return "", fmt.Errorf("%q is not an absolute URL", ShowURL(raw))
	}
	return OriginOfURL(u)
}

// OriginOfURL is Origin for a parsed URL.
func OriginOfURL(u *url.URL) (string, error) {
	scheme := strings.ToLower(u.Scheme)
	port := u.Port()
	switch {
	case scheme != "http" && scheme != "https":
		return "", fmt.Errorf("URL scheme %q is not http or https", Sanitize(u.Scheme, 20))
	case port == "" && scheme == "https":
		port = "443"
	case port == "":
		port = "80"
	}
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	if host == "" {
		return "", fmt.Errorf("URL has no host")
	}
	return scheme + "://" + net.JoinHostPort(host, port), nil
}

// SameOrigin reports whether the URLs a and b have the same origin; false when either is not
// an absolute http(s) URL.
func SameOrigin(a, b string) bool {
	oa, err1 := Origin(a)
	ob, err2 := Origin(b)
	return err1 == nil && err2 == nil && oa == ob
}
