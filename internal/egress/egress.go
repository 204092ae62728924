// Package egress is the one policy for every request tokend and the Terraform provider send
// to the outside: OAuth2 providers (token, refresh, revocation, device authorization,
// discovery) and webhook receivers.
//
//   - No redirect is followed: a 3xx answer is a *RedirectError naming the Location's host.
//     OAuth2 endpoints and webhooks have no reason to redirect, and following one would send
//     a client secret, a refresh token or a signed body to a host nobody configured.
//   - Loopback, link-local, private, unspecified and other special-purpose destinations are
//     refused at dial time, on the address actually dialed (after DNS resolution), with a
//     *BlockedError; unless the request's origin (scheme, host and port) is one an operator
//     typed for it, which the caller says with AllowOrigins.
//
// The decision on addresses is code.dny.dev/ssrf's (the IANA special-purpose registries). A
// request whose origin is allowed goes through a second transport without the guard, so that
// pooled connections never cross the line between the two.
package egress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"

	"code.dny.dev/ssrf"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
)

// RedirectError is a 3xx answer, which the policy never follows.
type RedirectError struct {
	// Status is the HTTP status of the answer (301, 302, 307, ...).
	Status int
	// Endpoint is the origin and path of the request that was answered (no query).
	Endpoint string
	// LocationHost is the host the answer redirected to (empty when it named none).
	LocationHost string
}

func (e *RedirectError) Error() string {
	to := "no Location"
	if e.LocationHost != "" {
		to = "host " + e.LocationHost
	}
	return fmt.Sprintf("%s answered %d redirecting to %s; OAuth endpoints and webhooks must not redirect: configure the final URL", e.Endpoint, e.Status, to)
}

// BlockedError is a refused destination: the request's host resolved to an address that is
// not public, and its origin is not one an operator typed for the request.
type BlockedError struct {
	// Host is the host:port the request named.
	Host string
	// Addr is the address it resolved to.
	Addr string
	// Reason names the kind of address ("loopback", "private", "link-local", ...).
	Reason string
}

func (e *BlockedError) Error() string {
	to := e.Host
	if h, _, err := net.SplitHostPort(e.Host); err != nil || !strings.HasPrefix(e.Addr, h) && !strings.HasPrefix(e.Addr, "["+h) {
		to += " (" + e.Addr + ")"
	}
	return fmt.Sprintf("refused to connect to %s, a %s address: internal addresses are reached only at a URL an operator typed on the connection or webhook (set it there, e.g. token_url)", to, e.Reason)
}

type allowKey struct{}

// AllowOrigins returns ctx with the origins of urls added to those a request made with it
// may reach even on an internal address: the URLs an operator typed for the connection or
// webhook the request is for. Empty and invalid URLs are ignored.
func AllowOrigins(ctx context.Context, urls ...string) context.Context {
	prev, _ := ctx.Value(allowKey{}).(map[string]bool)
	set := make(map[string]bool, len(prev)+len(urls))
	for o := range prev {
		set[o] = true
	}
	for _, u := range urls {
		if o, err := authconn.Origin(u); err == nil && u != "" {
			set[o] = true
		}
	}
	return context.WithValue(ctx, allowKey{}, set)
}

type passKey struct{}

// PassRedirects returns ctx with which Transport hands a 3xx answer back as it is instead of
// a *RedirectError: for tokend's proxy, whose caller gets the upstream's answer. Nothing
// follows it either way (a Transport never does, and Client refuses to).
func PassRedirects(ctx context.Context) context.Context {
	return context.WithValue(ctx, passKey{}, true)
}

// Allowed reports whether a request to u made with ctx may reach an internal address.
func Allowed(ctx context.Context, u *url.URL) bool {
	set, _ := ctx.Value(allowKey{}).(map[string]bool)
	if len(set) == 0 || u == nil {
		return false
	}
	o, err := authconn.OriginOfURL(u)
	return err == nil && set[o]
}

// Transport is the policy's http.RoundTripper. Its zero value is not usable: use NewTransport
// or DefaultTransport.
type Transport struct {
	guarded, open *http.Transport
	proxies       sync.Map // proxy addresses (host:port) chosen from the environment
}

// NewTransport returns a Transport with its own connection pools. The environment's
// HTTP(S)_PROXY is honoured: the proxy is operator-configured, so dialing it is allowed
// (the proxy then decides what it reaches).
func NewTransport() *Transport {
	t := &Transport{}
	guard := ssrf.New(ssrf.WithAnyPort())
	t.open = pooled(http.DefaultTransport.(*http.Transport).Clone())
	t.guarded = pooled(http.DefaultTransport.(*http.Transport).Clone())
	t.guarded.Proxy = func(req *http.Request) (*url.URL, error) {
		u, err := http.ProxyFromEnvironment(req)
		if u != nil {
			t.proxies.Store(proxyAddr(u), true)
		}
		return u, err
	}
	plain := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	checked := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second,
		Control: func(network, address string, _ syscall.RawConn) error {
			if err := guard.Safe(network, address, nil); err != nil {
				return &BlockedError{Addr: address, Reason: reason(address)}
			}
			return nil
		}}
	t.guarded.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if _, ok := t.proxies.Load(addr); ok {
			return plain.DialContext(ctx, network, addr)
		}
		c, err := checked.DialContext(ctx, network, addr)
		var be *BlockedError
		if errors.As(err, &be) {
			be.Host = addr
			return nil, be
		}
		return c, err
	}
	return t
}

// Idle connections kept: tokend's proxy sends many concurrent calls to one API host, and
// net/http's default of 2 idle connections per host made most of them open a new TCP (and
// TLS) connection (docs/benchmarks.md, the proxy's run).
const (
	maxIdleConns        = 512
	maxIdleConnsPerHost = 64
)

// pooled sets t's idle-connection limits and returns it.
func pooled(t *http.Transport) *http.Transport {
	t.MaxIdleConns, t.MaxIdleConnsPerHost = maxIdleConns, maxIdleConnsPerHost
	return t
}

var (
	defaultOnce sync.Once
	defaultT    *Transport
)

// DefaultTransport is the Transport shared by every Client.
func DefaultTransport() *Transport {
	defaultOnce.Do(func() { defaultT = NewTransport() })
	return defaultT
}

// Client returns an HTTP client under the policy with the given overall timeout.
func Client(timeout time.Duration) *http.Client {
	return &http.Client{Transport: DefaultTransport(), Timeout: timeout, CheckRedirect: noRedirect}
}

// noRedirect is a second stop: the Transport already turns every 3xx into an error.
func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// RoundTrip sends req through the guarded transport, or through the open one when req's
// origin is allowed by its context, and turns a 3xx answer into a *RedirectError (unless
// the context says PassRedirects).
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	rt := t.guarded
	if Allowed(req.Context(), req.URL) {
		rt = t.open
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 == 3 && resp.StatusCode != http.StatusNotModified && req.Context().Value(passKey{}) == nil {
		resp.Body.Close()
		return nil, redirectError(req, resp)
	}
	return resp, nil
}

// CloseIdleConnections closes the idle connections of both pools.
func (t *Transport) CloseIdleConnections() {
	t.guarded.CloseIdleConnections()
	t.open.CloseIdleConnections()
}

func redirectError(req *http.Request, resp *http.Response) *RedirectError {
	e := &RedirectError{Status: resp.StatusCode, Endpoint: endpoint(req.URL)}
	if loc, err := resp.Location(); err == nil {
		e.LocationHost = authconn.Sanitize(loc.Host, 100)
	}
	return e
}

// endpoint is u without user, query and fragment (which may carry secrets).
func endpoint(u *url.URL) string {
	return authconn.Sanitize((&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String(), 200)
}

// proxyAddr is the host:port the transport dials for the proxy u.
func proxyAddr(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443", "socks5": "1080", "socks5h": "1080"}[strings.ToLower(u.Scheme)]
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// reason names the kind of a refused address, for BlockedError.
func reason(address string) string {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return "unparsable"
	}
	ip := ap.Addr().Unmap()
	switch {
	case ip.IsLoopback():
		return "loopback"
	case ip.IsUnspecified():
		return "unspecified"
	case ip.IsLinkLocalUnicast(), ip.IsLinkLocalMulticast():
		return "link-local"
	case ip.IsPrivate():
		return "private"
	case ip.IsMulticast():
		return "multicast"
	}
	return "special-purpose (IANA registry)"
}
