package imitate

import (
	"crypto/tls"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
)

// Options change what an imitation started with Start registers.
type Options struct {
	// RedirectURI replaces the one registered redirect URI (Want.RedirectURI), e.g. the
	// loopback callback of `tokend authorize --port`.
	RedirectURI string
}

// Start runs the imitation of the provider name (a key of Providers) outside a test, until
// Close: for a demo or a manual check. Besides Client, each of the provider's hostnames has
// its own loopback listener (HostURL), so that programs which cannot dial through
// DialContext (tokend, node, a browser) reach it with the host's URLs rewritten to that
// origin, trusting CAPEM.
func Start(name string, o Options) (*Imitation, error) {
	build, ok := builders()[name]
	if !ok {
		return nil, fmt.Errorf("imitate: no imitation of %q", name)
	}
	p := build()
	if o.RedirectURI != "" {
		p.want.RedirectURI = o.RedirectURI
	}
	return run(p)
}

// builders returns the description of every imitation, by the names of Providers.
func builders() map[string]func() *provider {
	return map[string]func() *provider{
		"quickbooks": func() *provider { return quickbooks(false) }, "quickbooks-sandbox": func() *provider { return quickbooks(true) },
		"salesforce": salesforce, "slack": slack, "xero": xero, "jira": jira, "hubspot": hubspot, "shopify": shopify,
		"zendesk": zendesk, "notion": notion, "dropbox": dropbox, "box": box, "docusign": docusign, "linear": linear,
		"asana": asana, "zoom": zoom, "pipedrive": pipedrive, "microsoft": microsoft, "github": github, "google": google,
		"okta": okta, "figma": figma, "zoho": zoho, "linkedin": linkedin, "mailchimp": mailchimp, "gitlab": gitlab,
		"bitbucket": bitbucket, "calendly": calendly, "clickup": clickup, "stripe": stripe, "monday": monday, "microsoft-graph-app": microsoftGraphApp,
	}
}

// Close stops the imitation's servers.
func (im *Imitation) Close() {
	im.srv.Close()
	for _, s := range im.hostSrvs {
		s.Close()
	}
}

// HostURL returns the origin (https://127.0.0.1:PORT) of the loopback listener that answers
// as host, whatever Host header a request carries; "" when the imitation does not answer
// for host.
func (im *Imitation) HostURL(host string) string {
	if s, ok := im.hostSrvs[host]; ok {
		return s.URL
	}
	return ""
}

// CAPEM returns the PEM of the certificate every listener of the imitation presents (valid
// for its hostnames and 127.0.0.1): what to trust, e.g. in SSL_CERT_FILE for a Go program
// or NODE_EXTRA_CA_CERTS for node.
func (im *Imitation) CAPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: im.cert.Leaf.Raw})
}

// listenHosts starts one loopback TLS listener per hostname, each serving handler as that
// host.
func (im *Imitation) listenHosts(handler http.Handler) {
	im.hostSrvs = map[string]*httptest.Server{}
	for _, host := range im.p.hosts {
		s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r.Host = host
			handler.ServeHTTP(w, r)
		}))
		s.TLS = &tls.Config{Certificates: []tls.Certificate{im.cert}}
		s.StartTLS()
		im.hostSrvs[host] = s
	}
}

// authorizeEndpoint serves the provider's authorization endpoint to a browser or an HTTP
// client following redirects: a GET is the imitation's user consenting (Consent, with every
// check), answered with a redirect to the registered redirect URI carrying the callback's
// query (or the provider's redirected error); a request the provider refuses on its own
// page gets a 400 page saying why. Other requests go to next.
func (im *Imitation) authorizeEndpoint(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := im.p.auth
		host, _, err := net.SplitHostPort(r.Host)
		if err != nil {
			host = r.Host
		}
		if r.Method != http.MethodGet || host != a.host || r.URL.Path != a.path {
			next.ServeHTTP(w, r)
			return
		}
		q, err := im.Consent((&url.URL{Scheme: "https", Host: a.host, Path: a.path, RawQuery: r.URL.RawQuery}).String())
		var ce *ConsentError
		switch {
		case errors.As(err, &ce) && ce.Redirected:
			q = ce.Query
		case err != nil:
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		sep := "?"
		if strings.Contains(im.Want.RedirectURI, "?") {
			sep = "&"
		}
		http.Redirect(w, r, im.Want.RedirectURI+sep+q.Encode(), http.StatusFound)
	})
}
