package oauth

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"time"
)

// RouteTo (test support: production requests go through the egress policy) returns an HTTP client for Client.HTTP that sends every request, whatever its
// host, to the server at addr over TLS with tlsConfig, keeping the request's Host: a test or
// an imitation serves all the hosts of a catalog entry (authorize, token, API, revocation)
// from one local TLS server and tells them apart by Host. tlsConfig must trust the server's
// certificate and name it in ServerName (httptest.NewTLSServer: the RootCAs of srv.Client()'s
// transport, and "example.com"). Like the egress policy's client, it follows no redirect.
func RouteTo(addr string, tlsConfig *tls.Config) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
		TLSClientConfig:   tlsConfig.Clone(),
		ForceAttemptHTTP2: false,
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}
