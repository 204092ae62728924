package client

import (
	"net/http"
	"net/url"
	"strings"
)

// ProxyTransport returns an http.RoundTripper that sends every request through tokend's
// proxy for connection name, so an existing API client library works unchanged and never
// holds the access token: a request for https://any.host/v3/company/1/query?x=y goes to
// {tokend}/v1/connections/{name}/proxy/v3/company/1/query?x=y with the API key, and tokend
// adds the token and forwards it to the connection's API base URL. The request's host is not
// used (tokend picks it from the connection); its path is taken as relative to the
// connection's API base URL. The API key needs the proxy permission. Answers of tokend's own
// carry the Tailor-Proxy-Error header. base is the transport that reaches tokend
// (http.DefaultTransport when nil).
func (c *Client) ProxyTransport(name string, base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &proxyTransport{c: c, name: name, base: base}
}

type proxyTransport struct {
	c    *Client
	name string
	base http.RoundTripper
}

// RoundTrip rewrites req to tokend's proxy route and sends it with the API key.
func (t *proxyTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	u, err := url.Parse(t.c.baseURL + "/v1/connections/" + url.PathEscape(t.name) + "/proxy/" +
		strings.TrimLeft(req.URL.EscapedPath(), "/"))
	if err != nil {
		return nil, err
	}
	u.RawQuery = req.URL.RawQuery
	out := req.Clone(req.Context())
	out.URL, out.Host = u, ""
	out.Header.Del("Authorization") // tokend presents the connection's token; the caller's goes nowhere
	if t.c.apiKey != "" {
		out.Header.Set("Authorization", "Bearer "+t.c.apiKey)
	}
	return t.base.RoundTrip(out)
}
