package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/testenv/imitate"
)

// catalogConn is a connection of a catalog entry whose provider is an imitation on loopback.
type catalogConn struct {
	name, provider, providerURL string
	// hosts are the entry's hosts the imitation answers for: each gets a --host-override.
	hosts  []string
	scopes string
	im     *imitate.Imitation
}

// imitations starts the imitations of QuickBooks and Xero, each host on its own loopback
// listener, and writes the bundle of their certificates that tokend (SSL_CERT_FILE) and node
// (NODE_EXTRA_CA_CERTS) trust. It runs before tokend serve, which reads the bundle at start.
func (d *demo) imitations(context.Context) error {
	redirect := fmt.Sprintf("http://localhost:%d/callback", d.callbackPort)
	d.quickbooks = &catalogConn{name: "quickbooks-oauth", provider: "quickbooks", providerURL: "https://appcenter.intuit.com/connect/oauth2",
		hosts:  []string{"appcenter.intuit.com", "oauth.platform.intuit.com", "developer.api.intuit.com", "quickbooks.api.intuit.com"},
		scopes: "com.intuit.quickbooks.accounting"}
	d.xero = &catalogConn{name: "xero-oauth", provider: "xero", providerURL: "https://login.xero.com/identity/connect/authorize",
		hosts: []string{"login.xero.com", "identity.xero.com", "api.xero.com"}, scopes: "accounting.transactions"}
	var bundle bytes.Buffer
	for _, c := range []*catalogConn{d.quickbooks, d.xero} {
		im, err := imitate.Start(c.provider, imitate.Options{RedirectURI: redirect})
		if err != nil {
			return err
		}
		c.im = im
		d.closers = append(d.closers, im.Close)
		bundle.Write(im.CAPEM())
		info("%s imitation (internal/testenv/imitate, written from %s's documentation): %s", c.provider, c.provider, c.overrideList())
	}
	d.caBundle = filepath.Join(d.tmp, "imitations-ca.pem")
	if err := os.WriteFile(d.caBundle, bundle.Bytes(), 0o600); err != nil {
		return err
	}
	info("their certificates in %s: tokend serve gets SSL_CERT_FILE, node NODE_EXTRA_CA_CERTS", d.caBundle)
	return nil
}

// overrideList is the connection's host overrides, for people.
func (c *catalogConn) overrideList() string {
	var out []string
	for _, h := range c.hosts {
		out = append(out, h+" -> "+c.im.HostURL(h))
	}
	return strings.Join(out, ", ")
}

// quickbooksConnect creates quickbooks-oauth of the catalog entry quickbooks, with host
// overrides to the imitation, authorizes it, and shows the realmId and API base URL of the
// token answer.
func (d *demo) quickbooksConnect(ctx context.Context) error {
	if err := d.createAndAuthorize(ctx, d.quickbooks); err != nil {
		return err
	}
	out, err := d.tokendCmd(ctx, "keys", "create", "--connections", "quickbooks-oauth,xero-oauth", "--description", "demo catalog functions")
	if err != nil {
		return fmt.Errorf("keys create: %v %s", err, out)
	}
	d.catalogKey = strings.TrimSpace(firstLine(string(out)))
	t, err := d.catalogToken(d.quickbooks.name)
	if err != nil {
		return err
	}
	info("GET /v1/connections/quickbooks-oauth/token -> metadata %s, api_base_url %s (the token itself is not shown)", t.metadataJSON(), t.APIBaseURL)
	if t.Metadata["realmId"] == "" || t.Metadata["realmId"] != d.quickbooks.im.Want.Metadata["realmId"] || t.APIBaseURL != d.quickbooks.im.HostURL("quickbooks.api.intuit.com") {
		return fmt.Errorf("the token answer should carry realmId %s and the API base URL of the imitation", d.quickbooks.im.Want.Metadata["realmId"])
	}
	return nil
}

// quickbooksFunction runs functions/js/examples/quickbooks-companyinfo.mjs: it calls the
// imitation's companyinfo with only getConnectionToken's answer.
func (d *demo) quickbooksFunction(ctx context.Context) error {
	js := filepath.Join(d.repo, "functions", "js")
	cmd := exec.CommandContext(ctx, d.node, filepath.Join(js, "run-function.mjs"), filepath.Join(js, "examples", "quickbooks-companyinfo.mjs"))
	cmd.Env = append(os.Environ(), "TAILOR_TOKEND_URL="+d.tokendURL, "TAILOR_TOKEND_API_KEY="+d.catalogKey, "NODE_EXTRA_CA_CERTS="+d.caBundle)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("function: %v\n%s", err, out)
	}
	d.outputs = append(d.outputs, out...)
	var got struct {
		RealmID     string `json:"realmId"`
		CompanyName string `json:"companyName"`
	}
	if err := json.Unmarshal(out, &got); err != nil || got.CompanyName == "" {
		return fmt.Errorf("the function returned no company name: %s", out)
	}
	d.companyName = got.CompanyName
	info("function returned (the imitation's GET /v3/company/%s/companyinfo/%s):\n%s", got.RealmID, got.RealmID, indent(string(out), "      "))
	return nil
}

// xeroConnect creates and authorizes xero-oauth, and shows the tenant that tokend learnt
// from the post-connect call GET https://api.xero.com/connections.
func (d *demo) xeroConnect(ctx context.Context) error {
	if err := d.createAndAuthorize(ctx, d.xero); err != nil {
		return err
	}
	t, err := d.catalogToken(d.xero.name)
	if err != nil {
		return err
	}
	info("GET /v1/connections/xero-oauth/token -> metadata %s, api_base_url %s", t.metadataJSON(), t.APIBaseURL)
	calls := 0
	for _, r := range d.xero.im.Requests() {
		if r.Host == "api.xero.com" && strings.EqualFold(r.Path, "/connections") {
			calls++
		}
	}
	if t.Metadata["tenant_id"] == "" || calls == 0 {
		return fmt.Errorf("no tenant_id learnt (%d calls of GET /connections)", calls)
	}
	info("tenant_id %s and tenant_name %q came from the imitation's GET /connections (%d call, made by tokend authorize after connecting)",
		t.Metadata["tenant_id"], t.Metadata["tenant_name"], calls)
	return d.searchCatalogArtifacts()
}

// createAndAuthorize runs tokend create (the client secret on standard input) and tokend
// authorize for c, the consent given by following the authorization URL with an HTTP client
// (the imitation's user consents and redirects to the loopback callback), and shows tokend list.
func (d *demo) createAndAuthorize(ctx context.Context, c *catalogConn) error {
	args := []string{"create", "--name", c.name, "--provider", c.provider, "--provider-url", c.providerURL, "--client-id", c.im.Want.ClientID,
		"--client-secret-stdin", "--scopes", c.scopes}
	for _, h := range c.hosts {
		args = append(args, "--host-override", h+"="+c.im.HostURL(h))
	}
	cmd := exec.CommandContext(ctx, d.tokend, args...)
	cmd.Env, cmd.Stdin = d.catalogEnv(), strings.NewReader(c.im.Want.ClientSecret+"\n")
	out, err := cmd.CombinedOutput()
	d.outputs = append(d.outputs, out...)
	if err != nil {
		return fmt.Errorf("tokend create: %v\n%s", err, out)
	}
	info("tokend create --name %s --provider %s --provider-url %s --host-override HOST=ORIGIN ... --client-secret-stdin:\n%s", c.name, c.provider, c.providerURL, indent(string(out), "      "))
	if err := d.authorizeImitated(ctx, c); err != nil {
		return err
	}
	out, _ = d.tokendCmd(ctx, "list")
	info("tokend list:\n%s", indent(string(out), "      "))
	return nil
}

// authorizeImitated runs tokend authorize --no-browser for c and follows the printed URL.
func (d *demo) authorizeImitated(ctx context.Context, c *catalogConn) error {
	var page []byte
	stderr, err := d.authorizeNoBrowser(ctx, d.catalogEnv(), []string{"authorize", c.name, "--port", fmt.Sprint(d.callbackPort), "--timeout", "1m"},
		func(stdout io.Reader) (err error) {
			page, err = d.follow(ctx, stdout)
			return err
		})
	d.outputs = append(append(d.outputs, stderr...), page...)
	if err != nil {
		return err
	}
	info("tokend authorize %s --no-browser: the authorization URL followed as a browser would; %s", c.name, lastLines(stderr, 1))
	return nil
}

// follow reads the authorization URL that tokend authorize printed and follows it, trusting
// the imitations' certificates, to tokend's loopback callback; it returns the callback page.
func (d *demo) follow(ctx context.Context, stdout io.Reader) ([]byte, error) {
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		return nil, fmt.Errorf("no authorization URL printed: %w", err)
	}
	u, err := url.Parse(strings.TrimSpace(line))
	if err != nil {
		return nil, err
	}
	info("authorization URL: %s://%s%s?... (the entry's endpoint, on the overridden host)", u.Scheme, u.Host, u.Path)
	pem, err := os.ReadFile(d.caBundle)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	page, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return page, fmt.Errorf("the callback answered %d", resp.StatusCode)
	}
	return page, nil
}

// catalogEnv is tokend's environment for the imitated providers: d.env and the bundle.
func (d *demo) catalogEnv() []string {
	return append(append([]string{}, d.env...), "SSL_CERT_FILE="+d.caBundle)
}

// catalogToken is the token answer for a catalog connection, with its metadata.
type catalogToken struct {
	servedToken
	Metadata   map[string]string `json:"metadata"`
	APIBaseURL string            `json:"api_base_url"`
}

func (t *catalogToken) metadataJSON() string {
	b, _ := json.Marshal(t.Metadata)
	return string(b)
}

// catalogToken gets the current token of connection name with the catalog functions' key.
func (d *demo) catalogToken(name string) (*catalogToken, error) {
	b, err := d.get("/v1/connections/"+name+"/token", d.catalogKey)
	if err != nil {
		return nil, err
	}
	var t catalogToken
	if err := json.Unmarshal(b, &t); err != nil || t.AccessToken == "" {
		return nil, fmt.Errorf("unexpected answer from tokend for %s: %.200s", name, b)
	}
	d.catalogTokens = append(d.catalogTokens, t.AccessToken)
	return &t, nil
}

// searchCatalogArtifacts checks that no access token or client secret of the imitated
// connections is in any file of the working directory (tokend serve's log, the certificate
// bundle, ...) or in the output of the commands and the function.
func (d *demo) searchCatalogArtifacts() error {
	secrets := append([]string{d.quickbooks.im.Want.ClientSecret, d.xero.im.Want.ClientSecret}, d.catalogTokens...)
	files, err := searchDir(d.tmp, d.outputs, secrets...)
	if err != nil {
		return err
	}
	info("no access token or client secret of quickbooks-oauth and xero-oauth in the %d files of the working directory (tokend serve's log included) or in any output", files)
	return nil
}
