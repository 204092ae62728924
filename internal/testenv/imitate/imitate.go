package imitate

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"
)

// Imitation is one provider, imitated from its documentation, answering on one TLS server
// for all of that provider's hostnames. Code under test reaches it through Client (or
// DialContext) with the provider's real URLs.
type Imitation struct {
	// Name is the provider's name, as in Providers.
	Name string
	// Client dials the imitation for the provider's hostnames (and refuses any other host),
	// trusting its certificate.
	Client *http.Client
	// Want is what a correct client ends up with.
	Want Want

	p    *provider
	srv  *httptest.Server
	pool *x509.CertPool
	cert tls.Certificate
	// hostSrvs are the loopback listeners of HostURL, by host.
	hostSrvs map[string]*httptest.Server

	mu      sync.Mutex
	log     []Request
	codes   map[string]*codeEntry
	refresh map[string]*tokenEntry
	access  map[string]*tokenEntry
	tenants []Tenant
	metaErr int
	deny    bool
}

// Want is what a correct client of the imitated provider must use and end up with, for a
// conformance test to compare with a catalog entry.
type Want struct {
	// ClientID and ClientSecret are the credentials of the one registered client.
	ClientID, ClientSecret string
	// RedirectURI is the one registered redirect URI, matched exactly.
	RedirectURI string
	// Scopes is a set of scopes a connection may request (the provider knows these).
	Scopes []string
	// ClientAuth is how the token endpoint wants the client authenticated: "basic"
	// (client_secret_basic), "body" (client_secret_post) or "either".
	ClientAuth string
	// Params are the per-connection parameters a connection must set (e.g. "subdomain").
	Params map[string]string
	// Metadata is what a correct client learns for the default single tenant (from the
	// callback, the token answer or the post-connect metadata call).
	Metadata map[string]string
	// APIBase is the API base URL a correct client uses.
	APIBase string
	// APICheck is one API URL that answers 200 to a request with a correctly presented
	// token; APIMethod is its method (GET when empty).
	APICheck, APIMethod string
	// AppAPICheck is one API URL (GET) that answers 200 to an application's own token (the
	// client credentials grant), where the provider serves that grant.
	AppAPICheck string
	// RotatesRefresh says whether a refresh answers with a new refresh token and retires
	// the old one.
	RotatesRefresh bool
	// OldRefreshValid says whether a rotated refresh token still works.
	OldRefreshValid bool
	// OldAccessValid says whether the previous access token still works after a refresh.
	OldAccessValid bool
	// NoExpiry says the access token never expires and there is no refresh token.
	NoExpiry bool
	// AppOnly says the imitation stands for an application without a user: the client
	// credentials grant with Scopes, and APICheck answering an application token.
	AppOnly bool
	// DefaultLifetime is the access token lifetime to assume when the token answer has
	// no expires_in (zero when the provider always sends one, or documents none).
	DefaultLifetime time.Duration
}

// Tenant is one organisation, site or company the imitated user can grant access to.
type Tenant struct {
	ID, Name, URL string
}

// Request is one request the imitation received, body included: it holds the test's
// client secret and tokens, which exist only for the test.
type Request struct {
	Method, Host, Path string
	Query              url.Values
	Header             http.Header
	Body               []byte
}

// provider is what a provider's file describes: its hosts, its rules and its routes.
type provider struct {
	name  string
	hosts []string
	want  Want
	auth  authRules
	token tokenRules
	// consent adds the provider's callback extras (or refuses) after the standard checks.
	consent func(im *Imitation, g *grant, q url.Values) (url.Values, *ConsentError)
	// sign returns a parameter that signs the callback query (Shopify's hmac).
	sign func(im *Imitation, q url.Values) (name, value string)
	// routes registers the provider's token, revocation, metadata and API handlers.
	routes func(im *Imitation, mux *http.ServeMux)
	// tenant names the i-th tenant the user may grant.
	tenant func(i int) Tenant
}

// start runs the imitation of p until t ends.
func start(t testing.TB, p *provider) *Imitation {
	t.Helper()
	im, err := run(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(im.Close)
	return im
}

// run runs the imitation of p, on its server for all hosts and on one loopback listener per
// host (Imitation.HostURL), until Close.
func run(p *provider) (*Imitation, error) {
	im := &Imitation{Name: p.name, Want: p.want, p: p, codes: map[string]*codeEntry{},
		refresh: map[string]*tokenEntry{}, access: map[string]*tokenEntry{}}
	im.Want.RotatesRefresh, im.Want.OldAccessValid = p.token.rotates, p.token.oldAccessValid
	im.Want.OldRefreshValid = !p.token.rotates || p.token.oldRefreshValid
	im.Want.ClientAuth = p.token.auth.String()
	im.SetTenants(1)
	mux := http.NewServeMux()
	p.routes(im, mux)
	cert, pool, err := certificate(p.hosts)
	if err != nil {
		return nil, err
	}
	im.pool, im.cert = pool, cert
	handler := im.record(im.authorizeEndpoint(mux))
	im.srv = httptest.NewUnstartedServer(handler)
	im.srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	im.srv.StartTLS()
	im.listenHosts(handler)
	im.Client = &http.Client{Transport: im.Transport(), Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return im, nil
}

// Transport returns a transport that reaches the imitation for the provider's hostnames.
func (im *Imitation) Transport() *http.Transport {
	return &http.Transport{DialContext: im.DialContext, TLSClientConfig: &tls.Config{RootCAs: im.pool},
		ForceAttemptHTTP2: true}
}

// Pool holds the certificate the imitation presents, for clients built elsewhere.
func (im *Imitation) Pool() *x509.CertPool { return im.pool }

// DialContext dials the imitation's server for an address on one of the provider's
// hostnames (port 443) and refuses any other address.
func (im *Imitation) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port != "443" || !slices.Contains(im.p.hosts, host) {
		return nil, fmt.Errorf("imitate: %s does not answer for %s", im.Name, addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, im.srv.Listener.Addr().String())
}

// Hosts returns the hostnames the imitation answers for.
func (im *Imitation) Hosts() []string { return slices.Clone(im.p.hosts) }

// Requests returns every request received so far, in order.
func (im *Imitation) Requests() []Request {
	im.mu.Lock()
	defer im.mu.Unlock()
	return slices.Clone(im.log)
}

// record logs each request (with its body, which it restores) before mux serves it.
func (im *Imitation) record(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		r.Body = io.NopCloser(bytes.NewReader(body))
		host, _, err := net.SplitHostPort(r.Host)
		if err != nil {
			host = r.Host
		}
		im.mu.Lock()
		im.log = append(im.log, Request{Method: r.Method, Host: host, Path: r.URL.Path, Query: r.URL.Query(),
			Header: r.Header.Clone(), Body: body})
		im.mu.Unlock()
		next.ServeHTTP(w, r)
	})
}

// certificate makes a self-signed certificate for hosts and 127.0.0.1, and a pool that trusts it.
func certificate(hosts []string) (tls.Certificate, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(now.UnixNano()), Subject: pkix.Name{CommonName: hosts[0]},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), DNSNames: hosts, IsCA: true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)}, // the listeners of HostURL
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool, nil
}
