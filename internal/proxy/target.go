package proxy

import (
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"

	"github.com/authconnection/terraform-provider-tailor/internal/wire"
)

// Target returns the URL a proxied call goes to: base (the connection's API base URL) with
// rest (the request's escaped path after /proxy) appended to its path, and rawQuery. host,
// when not empty, replaces base's host: it must be base's own or one of allowed
// (proxy_allowed_hosts), and then rest is the whole path. A rest that would leave the base
// path (a "." or ".." segment, also percent-encoded or behind an encoded slash or a
// backslash) is refused.
func Target(base *url.URL, allowed []string, host, rest, rawQuery string) (*url.URL, error) {
	basePath := strings.TrimSuffix(base.EscapedPath(), "/")
	if host != "" && !strings.EqualFold(host, base.Host) {
		if !slices.Contains(allowed, strings.ToLower(host)) {
			return nil, &Error{Status: http.StatusForbidden, Code: wire.CodeHostNotAllowed,
				Message: fmt.Sprintf("host %q is not allowed for this connection: only its API base URL's host and its proxy_allowed_hosts", host)}
		}
		basePath = ""
	} else {
		host = base.Host
	}
	if err := checkPath(rest); err != nil {
		return nil, err
	}
	if rest != "" && !strings.HasPrefix(rest, "/") {
		rest = "/" + rest
	}
	u, err := url.Parse(base.Scheme + "://" + host + basePath + rest)
	if err != nil || u.Host != host || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, &Error{Status: http.StatusBadRequest, Code: wire.CodeInvalidRequest, Message: "the path after /proxy is not a valid URL path"}
	}
	u.RawQuery = rawQuery
	return u, nil
}

// checkPath refuses a path with a segment that could climb out of the base path.
func checkPath(rest string) error {
	decoded, err := url.PathUnescape(rest)
	if err != nil {
		return &Error{Status: http.StatusBadRequest, Code: wire.CodeInvalidRequest, Message: "the path after /proxy is not validly percent-encoded"}
	}
	for _, seg := range strings.FieldsFunc(decoded, func(r rune) bool { return r == '/' || r == '\\' }) {
		if seg == "." || seg == ".." {
			return &Error{Status: http.StatusForbidden, Code: wire.CodeHostNotAllowed, Message: "the path after /proxy must not contain . or .. segments: it stays under the connection's API base URL"}
		}
	}
	if strings.HasPrefix(decoded, "//") || strings.ContainsAny(decoded, "\x00\r\n") {
		return &Error{Status: http.StatusForbidden, Code: wire.CodeHostNotAllowed, Message: "the path after /proxy must not begin with // nor hold control characters"}
	}
	return nil
}

// droppedRequest are the caller's headers that never go upstream, besides hop-by-hop ones
// (RFC 9110 §7.6.1, and those its Connection header names, dropped by httputil.ReverseProxy)
// and Forwarded and X-Forwarded-* (dropped by ReverseProxy with Rewrite; tokend adds none):
// the caller's credentials for tokend, cookies, and tokend's own headers (Tailor-*).
var droppedRequest = []string{"Authorization", "Proxy-Authorization", "Cookie", "Cookie2", "X-Real-Ip"}

// droppedResponse are the upstream's headers that never reach the caller: cookies (the
// connection's session is not the caller's), and any Tailor-Proxy-* (only tokend sets those).
var droppedResponse = []string{"Set-Cookie", "Set-Cookie2"}

// cleanRequest removes the headers in droppedRequest and tokend's own from h.
func cleanRequest(h http.Header) {
	for _, k := range droppedRequest {
		h.Del(k)
	}
	dropPrefix(h, "Tailor-")
}

// cleanResponse removes the headers in droppedResponse and Tailor-Proxy-* from h.
func cleanResponse(h http.Header) {
	for _, k := range droppedResponse {
		h.Del(k)
	}
	dropPrefix(h, "Tailor-Proxy-")
}

func dropPrefix(h http.Header, prefix string) {
	for k := range h {
		if len(k) >= len(prefix) && strings.EqualFold(k[:len(prefix)], prefix) {
			delete(h, k)
		}
	}
}

// rewrite is the ReverseProxy's Rewrite: the call's target, the caller's headers cleaned,
// and the token and API headers of the connection's catalog entry set.
func rewrite(pr *httputil.ProxyRequest) {
	c := callOf(pr.In.Context())
	pr.Out.URL = c.target
	pr.Out.Host = ""
	cleanRequest(pr.Out.Header)
	for k, v := range c.headers {
		pr.Out.Header[k] = v
	}
	if _, ok := pr.Out.Header["User-Agent"]; !ok {
		pr.Out.Header["User-Agent"] = []string{""} // not Go's default
	}
}

// modifyResponse cleans the upstream's answer and says how many attempts it took.
func modifyResponse(resp *http.Response) error {
	c := callOf(resp.Request.Context())
	cleanResponse(resp.Header)
	resp.Header.Set(HeaderAttempts, fmt.Sprint(c.attempts))
	c.status = resp.StatusCode
	return nil
}
