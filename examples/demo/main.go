// Command demo shows tailor's whole job on loopback, ending with catalog connections
// (QuickBooks, Xero) against imitations of those providers and functions that call APIs
// through tokend's proxy without holding a token; `make demo` runs it (through
// scripts/demo.sh, which builds tokend and the provider into bin/ first). It is built on the
// test bed of internal/testenv, so the demo runs the same Vault, Hydra, Chromium and OpenTofu
// as the tests, found the same way.
//
//	go run ./examples/demo                  # headless Chromium does the consent
//	go run ./examples/demo -browser user    # your own browser opens the consent page
//	go run ./examples/demo -keep            # leave everything running until Ctrl-C
//
// Every process listens on 127.0.0.1 only and is stopped at the end; files live in a
// temporary directory that is removed unless -keep is given.
package main

import (
	"context"
	_ "embed"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// mainTF is the Terraform configuration that the demo applies.
//
//go:embed main.tf
var mainTF string

// options are the demo's flags.
type options struct {
	bin     string
	browser string
	keep    bool
	ttl     time.Duration
	noWait  bool
}

// step is one named part of the demo.
type step struct {
	title string
	run   func(*demo, context.Context) error
}

// steps are the demo, in order.
var steps = []step{
	{"Vault dev server (KV v2 at secret/)", (*demo).startVault},
	{"Ory Hydra: the OAuth2 provider, with a login and consent app", (*demo).startHydra},
	{"tofu apply: the tailor provider creates the connections google-oauth, service-api and partner-oauth in Vault", (*demo).apply},
	{"tokend authorize google-oauth", (*demo).authorize},
	{"tokend webhooks add: signed events to a local receiver", (*demo).webhooks},
	{"Imitations of QuickBooks and Xero (internal/testenv/imitate), each host on a loopback listener", (*demo).imitations},
	{"tokend keys create, then tokend serve --public-url", (*demo).serve},
	{"The seed's function example (functions/js/examples/basic-usage.mjs), unchanged", (*demo).function},
	{"A client-credentials connection (service-api): tokend requests its tokens, nobody authorizes", (*demo).clientCredentials},
	{"tofu apply with the ephemeral tailor_authconnection_token: a token at apply time, in no state", (*demo).ephemeralToken},
	{"A connect link: someone else authorizes partner-oauth, from anywhere", (*demo).connectLink},
	{"The status page", (*demo).statusPage},
	{"Waiting for tokend to refresh the access token before it expires", (*demo).waitForRefresh},
	{"GET /v1/connections and /metrics", (*demo).status},
	{"quickbooks-oauth: the catalog entry quickbooks, its hosts overridden to the imitation; tokend authorize keeps the realmId", (*demo).quickbooksConnect},
	{"The QuickBooks function (functions/js/examples/quickbooks-companyinfo.mjs): only getConnectionToken's answer", (*demo).quickbooksFunction},
	{"tokend keys create --connections google-oauth,quickbooks-oauth --allow proxy: a proxy-only key, refused the token", (*demo).proxyKey},
	{"The seed's example through the proxy (functions/js/examples/basic-usage-proxy.mjs), no token in the function: google-oauth's proxy_base_url is a www.googleapis.com stand-in that maps /oauth2/v2/userinfo to Hydra's /userinfo", (*demo).proxyFunction},
	{"The QuickBooks function through the proxy (functions/js/examples/quickbooks-companyinfo-proxy.mjs): realmId from getConnection, companyinfo from the imitation", (*demo).quickbooksProxyFunction},
	{"The audit trail (tokend serve --audit-log): the proxy-only key's refused token read and proxy calls", (*demo).auditTrail},
	{"xero-oauth: the tenant learnt after connecting by the entry's call GET https://api.xero.com/connections", (*demo).xeroConnect},
}

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "bin", "directory with tokend and terraform-provider-tailor")
	flag.StringVar(&o.browser, "browser", "headless", "headless: drive headless Chromium; user: open your own browser")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary directory and wait for Ctrl-C before stopping the servers")
	flag.DurationVar(&o.ttl, "access-token-ttl", 20*time.Second, "Hydra's access-token lifetime (short, so a refresh happens during the demo)")
	flag.BoolVar(&o.noWait, "no-refresh-wait", false, "do not wait for a refresh to show it")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	d, err := newDemo(o)
	if err == nil {
		err = d.run(ctx)
		d.close()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo failed:", err)
		os.Exit(1)
	}
}

// run runs the steps, then waits for Ctrl-C with -keep.
func (d *demo) run(ctx context.Context) error {
	fmt.Printf("Working directory: %s\n", d.tmp)
	for i, s := range steps {
		fmt.Printf("\n==> %d. %s\n", i+1, s.title)
		if err := s.run(d, ctx); err != nil {
			return fmt.Errorf("%s: %w", s.title, err)
		}
	}
	fmt.Printf("\n==> Done: everything ran on 127.0.0.1 and is being stopped\n")
	if d.o.keep {
		fmt.Printf("Servers keep running until Ctrl-C. VAULT_ADDR=%s TAILOR_TOKEND_URL=%s\n", d.vault.Addr, d.tokendURL)
		<-ctx.Done()
	}
	return nil
}

// info prints a detail of a step.
func info(format string, args ...any) { fmt.Printf("    "+format+"\n", args...) }

func indent(s, p string) string {
	s = strings.TrimRight(s, "\n")
	return p + strings.ReplaceAll(s, "\n", "\n"+p)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n    ")
}

func abs(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	return a
}
