package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	vaultapi "github.com/hashicorp/vault/api"

	"github.com/authconnection/terraform-provider-tailor/internal/api"
	"github.com/authconnection/terraform-provider-tailor/internal/apikey"
	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/authorize"
	"github.com/authconnection/terraform-provider-tailor/internal/broker"
	"github.com/authconnection/terraform-provider-tailor/internal/connect"
	"github.com/authconnection/terraform-provider-tailor/internal/console"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv"
)

// apiRoutes returns the patterns of every route of tokend serve with --public-url, from
// its route table (api.Server.Routes), and the fallback "/" that answers 404: a new route
// cannot be left out of the sweep.
func apiRoutes(t *testing.T) []string {
	t.Helper()
	cs := &connect.Service{}
	srv, err := api.New(api.Options{Broker: &broker.Broker{}, KeyCache: api.NewKeyCache(nil, 0, nil), Links: cs, Connect: cs, Console: &console.Console{}})
	if err != nil {
		t.Fatal(err)
	}
	var routes []string
	for _, r := range srv.Routes() {
		routes = append(routes, r.Pattern)
	}
	return append(routes, "/")
}

// listeners returns the local addresses of the TCP sockets listening on port, from
// /proc/net/tcp and /proc/net/tcp6.
func listeners(t *testing.T, port int) []net.IP {
	t.Helper()
	var out []net.IP
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			fs := strings.Fields(line)
			if len(fs) < 4 || fs[3] != "0A" { // 0A: LISTEN
				continue
			}
			addr, ps, _ := strings.Cut(fs[1], ":")
			p, _ := strconv.ParseUint(ps, 16, 32)
			if int(p) != port {
				continue
			}
			raw, _ := hex.DecodeString(addr)
			ip := make(net.IP, len(raw))
			for i := 0; i+4 <= len(raw); i += 4 { // each 32-bit word is in host (little-endian) order
				ip[i], ip[i+1], ip[i+2], ip[i+3] = raw[i+3], raw[i+2], raw[i+1], raw[i]
			}
			out = append(out, ip)
		}
	}
	return out
}

// TestAccessControl, with Vault, Hydra (4-second access tokens) and Chromium:
//
//   - tokend runs with a Vault token carrying only the documented policy:tokend block (plus
//     Vault's built-in default policy, which every token has, for token lookup-self):
//     authorize, serve, a refresh and revoke work under it.
//   - The authorize callback server listens on loopback only (its listening sockets, and a
//     connection attempt to every non-loopback address of this machine), refuses another
//     Host, other paths and methods without ending the attempt, and a callback with a wrong
//     or missing state ends the attempt without storing anything.
//   - Every route of the API (its route table, api.Server.Routes) × {no Authorization,
//     malformed, wrong key, revoked key, key for another connection, key whose glob matches
//     nothing} is refused with 401 / 403, except the routes that are open by design.
func TestAccessControl(t *testing.T) {
	t.Parallel()
	a := newAccessBed(t)
	a.authorize(t, checkCallbackListensOnLoopbackOnly, checkCallbackRefusesForeignRequests)
	checkWrongStateStoresNothing(t, a)
	a.revokeKey(t, a.revoked)
	a.startServe(t)
	checkClosedRoutesRefuseBadCredentials(t, a)
	checkServeRefreshesUnderPolicy(t, a)
	checkRevokedKeyRefusedAfterCacheTTL(t, a)
	checkRevokeUnderPolicy(t, a)
}

// accessBed is the access test's Vault, Hydra, browser, connections and keys.
type accessBed struct {
	hydra                             *testenv.Hydra
	browser                           *testenv.Browser
	root                              *store.Store
	tokend, operator                  *tokendBed // under policy:tokend, and with the root token
	port                              int
	secret                            string
	good, otherConn, noMatch, revoked apikey.Key
	first                             *store.TokenRecord
	base, logPath                     string
}

// newAccessBed starts Vault, Hydra and Chromium, makes a Vault token with only the
// documented tokend policy, and lets the operator (root token) create two connections and
// four API keys.
func newAccessBed(t *testing.T) *accessBed {
	v := testenv.StartVault(t)
	a := &accessBed{hydra: testenv.StartHydra(t, testenv.HydraOptions{AccessTokenTTL: 4 * time.Second}), browser: testenv.StartBrowser(t)}
	ctx := context.Background()
	var err error
	if a.root, err = store.New(v.Client(), store.Options{}); err != nil {
		t.Fatal(err)
	}
	if err := v.Client().Sys().PutPolicy("tailor-tokend", testenv.DocPolicy(t, "tokend", "")); err != nil {
		t.Fatal(err)
	}
	tok, err := v.Client().Auth().Token().Create(&vaultapi.TokenCreateRequest{Policies: []string{"tailor-tokend"}, TTL: "1h"})
	if err != nil {
		t.Fatal(err)
	}
	if p := tok.Auth.Policies; len(p) != 2 || !slices.Contains(p, "default") || !slices.Contains(p, "tailor-tokend") {
		t.Fatalf("token policies %v", p)
	}
	a.tokend = &tokendBed{bin: buildTokend(t), environ: minimalEnv(t.TempDir(), v.Addr, "VAULT_TOKEN="+tok.Auth.ClientToken)}
	a.operator = a.tokend.with(minimalEnv(t.TempDir(), v.Addr, "VAULT_TOKEN="+v.Token))
	a.port = testenv.Port(t)
	var clientID string
	clientID, a.secret = a.hydra.CreateClient(t, testenv.ClientSpec{RedirectURIs: []string{authorize.RedirectURI(a.port)}})
	for _, n := range []string{"google-oauth", "ms365-oauth"} {
		c := &authconn.Connection{Name: n, Type: authconn.TypeOAuth2, ProviderURL: a.hydra.Issuer, IssuerURL: a.hydra.Issuer, ClientID: clientID,
			Scopes: []string{"openid", "offline_access"}}
		if _, err := a.root.CreateConnection(ctx, c); err != nil {
			t.Fatal(err)
		}
		if _, err := a.root.PutClientSecret(ctx, n, a.secret); err != nil {
			t.Fatal(err)
		}
	}
	a.good, a.otherConn, a.noMatch, a.revoked = a.mkKey(t, "google-*"), a.mkKey(t, "ms365-oauth"), a.mkKey(t, "quickbooks-*"), a.mkKey(t, "*")
	return a
}

func (a *accessBed) mkKey(t *testing.T, patterns ...string) apikey.Key {
	t.Helper()
	k, err := apikey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	if err := a.root.CreateAPIKey(context.Background(), &store.APIKey{ID: k.ID, Hash: k.Hash, Connections: patterns}); err != nil {
		t.Fatal(err)
	}
	return k
}

func (a *accessBed) revokeKey(t *testing.T, k apikey.Key) {
	t.Helper()
	if _, se, err := a.operator.run("keys", "revoke", k.ID); err != nil {
		t.Fatalf("keys revoke: %v %s", err, se)
	}
}

// callback sends a request to the authorize callback server.
func (a *accessBed) callback(t *testing.T, host, method, path string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, "http://127.0.0.1:"+strconv.Itoa(a.port)+path, nil)
	if host != "" {
		req.Host = host
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("callback %s %s: %v", method, path, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(b)
}

// authorize runs `tokend authorize google-oauth` under the tokend policy, runs probes while
// it waits for the callback, then completes it in Chromium.
func (a *accessBed) authorize(t *testing.T, probes ...func(*testing.T, *accessBed)) {
	cmd, rd, stderr := startAuthorizeProc(t, a.tokend.bin, a.tokend.environ, "google-oauth", a.port)
	line, err := rd.ReadString('\n')
	if err != nil {
		t.Fatalf("authorize: %v\n%s", err, stderr.String())
	}
	for _, p := range probes {
		p(t, a)
	}
	op := a.browser.NewOpener(time.Minute)
	_ = op.Open(strings.TrimSpace(line))
	_, _ = io.ReadAll(rd)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("tokend authorize under policy:tokend: %v\n%s", err, stderr.String())
	}
	if vis := op.Wait(t, time.Minute); !strings.Contains(vis.Text, "Authorization complete") {
		t.Fatalf("browser page %q", vis.Text)
	}
	if a.first, err = a.root.GetTokens(context.Background(), "google-oauth"); err != nil {
		t.Fatal(err)
	}
}

func checkCallbackListensOnLoopbackOnly(t *testing.T, a *accessBed) {
	ls := listeners(t, a.port)
	if len(ls) == 0 {
		t.Fatal("no listening socket found for the callback port in /proc/net/tcp*")
	}
	for _, ip := range ls {
		if !ip.IsLoopback() {
			t.Errorf("invariant «the callback server listens on loopback only»: it listens on %s", ip)
		}
	}
	// Every non-loopback address of this machine: the port is closed there.
	var probed []string
	addrs, _ := net.InterfaceAddrs()
	for _, addr := range addrs {
		ipn, ok := addr.(*net.IPNet)
		if !ok || ipn.IP.IsLoopback() || (ipn.IP.IsLinkLocalUnicast() && ipn.IP.To4() == nil) {
			continue // a link-local v6 address needs a zone; the listener check covers it
		}
		target := net.JoinHostPort(ipn.IP.String(), strconv.Itoa(a.port))
		probed = append(probed, target)
		if c, err := net.DialTimeout("tcp", target, 2*time.Second); err == nil {
			c.Close()
			t.Errorf("invariant «the callback server listens on loopback only»: the port accepts connections on %s", target)
		}
	}
	t.Logf("callback: listening on %v; refused on the non-loopback addresses %v", ls, probed)
}

// checkCallbackRefusesForeignRequests: another Host (DNS rebinding), other paths and methods,
// a stray visit are refused, and the attempt goes on.
func checkCallbackRefusesForeignRequests(t *testing.T, a *accessBed) {
	lh := "localhost:" + strconv.Itoa(a.port)
	for _, c := range []struct {
		host, method, path string
		want               int
	}{
		{"evil.example:" + strconv.Itoa(a.port), "GET", "/callback?state=x&code=y", http.StatusMisdirectedRequest},
		{"localhost:1", "GET", "/callback?state=x&code=y", http.StatusMisdirectedRequest},
		{lh, "POST", "/callback?state=x&code=y", http.StatusMethodNotAllowed},
		{lh, "GET", "/other?state=x&code=y", http.StatusNotFound},
		{lh, "GET", "//callback?state=x&code=y", http.StatusNotFound},
		{lh, "GET", "/callback", http.StatusBadRequest},
	} {
		if got, body := a.callback(t, c.host, c.method, c.path); got != c.want || strings.Contains(body, "code=y") {
			t.Errorf("invariant «the callback refuses foreign requests and goes on»: %s %s (Host %s): %d %q, want %d", c.method, c.path, c.host, got, body, c.want)
		}
	}
}

// checkWrongStateStoresNothing: a callback with a wrong or without a state fails the
// attempt, and nothing is stored.
func checkWrongStateStoresNothing(t *testing.T, a *accessBed) {
	lh := "localhost:" + strconv.Itoa(a.port)
	for _, q := range []string{"state=wrong-state&code=some-code", "code=some-code", "state=&code=some-code"} {
		cmd, rd, stderr := startAuthorizeProc(t, a.tokend.bin, a.tokend.environ, "google-oauth", a.port)
		if _, err := rd.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
		got, body := a.callback(t, lh, "GET", "/callback?"+q)
		err := cmd.Wait()
		if got != http.StatusBadRequest || !strings.Contains(body, "state") || strings.Contains(body, "some-code") || err == nil ||
			!strings.Contains(stderr.String(), "state") {
			t.Errorf("invariant «a wrong state fails the attempt»: ?%s: %d, exit %v, page %q, stderr %q", q, got, err, body, stderr.String())
		}
		if ts, err := a.root.GetTokens(context.Background(), "google-oauth"); err != nil || ts.Version != a.first.Version {
			t.Errorf("invariant «a wrong state stores nothing»: ?%s changed the token record: %v", q, err)
		}
	}
}

// startServe starts `tokend serve` under the tokend policy.
func (a *accessBed) startServe(t *testing.T) {
	p := a.tokend.serve(t, "access", withFlags("--recheck-interval", "1s", "--rate-burst", "100000"), // the sweep sends hundreds of bad keys from one address
		withAddrFlags(func(addr string) []string { return []string{"--public-url", "http://" + addr} }))
	a.base, a.logPath = p.URL, p.log
}

func (a *accessBed) get(t *testing.T, path, authz string) (int, []byte) {
	t.Helper()
	resp, b, err := getAuth(a.base+path, authz)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// credentialClass is a kind of bad credentials the sweep sends.
type credentialClass struct {
	name    string
	headers []string
}

func (a *accessBed) credentialClasses() []credentialClass {
	badID, _ := apikey.Generate()
	_, goodSecret, _ := apikey.Parse(a.good.Plain)
	g := a.good
	return []credentialClass{
		{"no Authorization", []string{""}},
		{"malformed", []string{"Bearer", "Bearer tk_", "Basic Zm9vOmJhcg==", g.Plain, "Bearer tk_" + g.ID, "Bearer " + g.Plain + "x", "Token " + g.Plain}},
		{"wrong key", []string{"Bearer " + badID.Plain, "Bearer tk_" + g.ID + "_" + strings.Repeat("0", len(goodSecret))}},
		{"revoked key", []string{"Bearer " + a.revoked.Plain}},
		{"key for another connection", []string{"Bearer " + a.otherConn.Plain}},
		{"key whose glob matches nothing", []string{"Bearer " + a.noMatch.Plain}},
	}
}

// openRoutes are open by design, with the reason.
var openRoutes = map[string]string{
	"GET /healthz": "liveness for orchestrators; says only that the process runs",
	"GET /readyz":  "readiness for load balancers; says only whether Vault answers",
	"GET /metrics": "Prometheus scrapes without credentials; holds connection names and counters, never a token (checked below)",
}

// sweepRow is one route and credential class of the sweep.
type sweepRow struct {
	route, class string
	n, refused   int
	statuses     map[int]int
}

func checkClosedRoutesRefuseBadCredentials(t *testing.T, a *accessBed) {
	var rows []sweepRow
	total, refusedTotal, openTotal := 0, 0, 0
	for _, route := range apiRoutes(t) {
		for _, c := range a.credentialClasses() {
			r := a.sweep(t, route, c)
			total += r.n
			if _, page := pageRoutes[route]; openRoutes[route] != "" || page {
				openTotal += r.n
			} else {
				refusedTotal += r.refused
			}
			rows = append(rows, r)
		}
	}
	t.Logf("access sweep: %d requests, %d to closed routes of which %d refused (%d to open routes: %v)\n%s",
		total, total-openTotal, refusedTotal, openTotal, slices.Sorted(maps.Keys(openRoutes)), sweepTable(rows))
	if refusedTotal != total-openTotal {
		t.Errorf("invariant «every closed route refuses bad credentials»: refused %d of %d requests to closed routes", refusedTotal, total-openTotal)
	}
}

// sweep sends every header of class c to route and counts the answers that refuse as they
// must.
func (a *accessBed) sweep(t *testing.T, route string, c credentialClass) sweepRow {
	method, path, _ := strings.Cut(route, " ")
	if path == "" {
		method, path = "GET", route // a pattern without a method
	}
	concrete := strings.NewReplacer("{name}", "google-oauth", "{id}", "abcdefghijkl").Replace(path)
	if concrete == "/" {
		concrete = "/v1/unknown"
	}
	r := sweepRow{route: route, class: c.name, statuses: map[int]int{}}
	for _, hdr := range c.headers {
		req, _ := http.NewRequest(method, a.base+concrete, nil)
		if hdr != "" {
			req.Header.Set("Authorization", hdr)
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		r.n++
		r.statuses[resp.StatusCode]++
		for _, v := range []string{a.first.AccessToken, a.first.RefreshToken, a.secret} {
			if strings.Contains(string(body), v) {
				t.Errorf("invariant «no answer holds a token or secret»: %s with %s", route, c.name)
			}
		}
		if refusedAsExpected(route, c.name, resp, body) {
			r.refused++
		} else {
			t.Errorf("%s %s with %s (%q): %d %s", method, concrete, c.name, hdr, resp.StatusCode, body)
		}
	}
	return r
}

// noRedirect shows the sweep each answer itself.
var noRedirect = &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// pageRoutes are the pages of --public-url: they take no API key (an Authorization header
// changes nothing) but their own credential (a link token, a flow's state, an admin
// session), so without it they answer with status, and a redirect goes to the sign-in page.
var pageRoutes = map[string]int{
	"GET /connect":                          200, // the landing page: a form, nothing else
	"POST /v1/connect":                      404, // no link token: "not valid"
	"GET /v1/callback":                      400, // no state: "unknown authorization"
	"GET /v1/callback/{name}":               400, // no state: "unknown authorization"
	"GET /ui":                               303,
	"GET /ui/login":                         200,
	"POST /ui/login":                        401, // no admin key in the form
	"POST /ui/logout":                       303,
	"POST /ui/connections/{name}/reconnect": 303,
	"POST /ui/connections/{name}/authorize": 303,
	"POST /ui/connections/{name}/revoke":    303,
}

// refusedAsExpected reports whether the answer to bad credentials of class on route is the
// one it must be.
func refusedAsExpected(route, class string, resp *http.Response, body []byte) bool {
	if want, ok := pageRoutes[route]; ok {
		return resp.StatusCode == want && (want != 303 || resp.Header.Get("Location") == "/ui/login")
	}
	switch {
	case openRoutes[route] != "":
		return resp.StatusCode == 200 // open by design: same answer for everyone
	case strings.Contains(route, "/v1/admin/") && (class == "key for another connection" || class == "key whose glob matches nothing"):
		return resp.StatusCode == 403 // a valid key, but not an admin key
	case route == "/":
		return resp.StatusCode == 404 || resp.StatusCode == 401
	case class == "key for another connection" || class == "key whose glob matches nothing":
		if route == "GET /v1/connections" {
			// The list is scoped to the key: 200 with none of google-oauth.
			return resp.StatusCode == 200 && !strings.Contains(string(body), "google-oauth")
		}
		return resp.StatusCode == 403
	}
	return resp.StatusCode == 401 && resp.Header.Get("WWW-Authenticate") != ""
}

func sweepTable(rows []sweepRow) string {
	var tbl strings.Builder
	fmt.Fprintf(&tbl, "| route | credentials | requests | refused as expected | statuses |\n|---|---|---|---|---|\n")
	for _, r := range rows {
		var st []string
		for code, n := range r.statuses {
			st = append(st, fmt.Sprintf("%d×%d", code, n))
		}
		sort.Strings(st)
		what := fmt.Sprintf("%d/%d", r.refused, r.n)
		switch {
		case openRoutes[r.route] != "":
			what = "open by design"
		case r.route == "GET /v1/connections" && strings.HasPrefix(r.class, "key "):
			what = fmt.Sprintf("%d/%d scoped: 200 without google-oauth", r.refused, r.n)
		}
		fmt.Fprintf(&tbl, "| `%s` | %s | %d | %s | %s |\n", r.route, r.class, r.n, what, strings.Join(st, " "))
	}
	return tbl.String()
}

// checkServeRefreshesUnderPolicy: the valid key works, serve refreshes under the tokend
// policy, and /metrics holds no token.
func checkServeRefreshesUnderPolicy(t *testing.T, a *accessBed) {
	seen := map[string]bool{}
	for deadline := time.Now().Add(30 * time.Second); len(seen) < 2; {
		code, body := a.get(t, "/v1/connections/google-oauth/token", "Bearer "+a.good.Plain)
		if code != 200 {
			t.Fatalf("invariant «a valid key gets a token»: %d %s", code, body)
		}
		var tk struct {
			AccessToken string `json:"access_token"`
		}
		_ = json.Unmarshal(body, &tk)
		seen[tk.AccessToken] = true
		if time.Now().After(deadline) {
			t.Fatal("invariant «serve refreshes under policy:tokend»: no refresh within 30s")
		}
		time.Sleep(200 * time.Millisecond)
	}
	_, metrics := a.get(t, "/metrics", "")
	if !strings.Contains(string(metrics), `tokend_refreshes_total{connection="google-oauth",outcome="success"}`) {
		t.Errorf("invariant «serve refreshes under policy:tokend»: no successful refresh in /metrics")
	}
	for tk := range seen {
		if strings.Contains(string(metrics), tk) {
			t.Error("invariant «/metrics holds no token»: it holds an access token")
		}
	}
}

// checkRevokedKeyRefusedAfterCacheTTL: a key revoked while serve has it cached is refused
// once the cache entry expires (--key-cache-ttl 1s here, 30s by default).
func checkRevokedKeyRefusedAfterCacheTTL(t *testing.T, a *accessBed) {
	if code, _ := a.get(t, "/v1/connections/google-oauth/token", "Bearer "+a.good.Plain); code != 200 {
		t.Fatalf("valid key before its revocation: %d", code)
	}
	a.revokeKey(t, a.good)
	for deadline := time.Now().Add(15 * time.Second); ; {
		code, body := a.get(t, "/v1/connections/google-oauth/token", "Bearer "+a.good.Plain)
		if code == 401 {
			break
		}
		if code != 200 || time.Now().After(deadline) {
			t.Fatalf("invariant «a revoked key is refused after the cache TTL»: %d %s, want 401", code, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	a.good = a.mkKey(t, "google-*")
}

// checkRevokeUnderPolicy: `tokend revoke` under the tokend policy revokes the tokens at
// Hydra and removes them; serve then answers 409, and `tokend list` works.
func checkRevokeUnderPolicy(t *testing.T, a *accessBed) {
	latest, err := a.root.GetTokens(context.Background(), "google-oauth")
	if err != nil {
		t.Fatal(err)
	}
	if _, se, err := a.tokend.run("revoke", "google-oauth"); err != nil {
		t.Fatalf("invariant «revoke works under policy:tokend»: %v\n%s", err, se)
	}
	if a.hydra.Introspect(t, latest.RefreshToken).Active {
		t.Error("invariant «revoke ends the grant at the provider»: the refresh token is still active")
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		code, _ := a.get(t, "/v1/connections/google-oauth/token", "Bearer "+a.good.Plain)
		if code == 409 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("invariant «a revoked connection answers 409»: %d", code)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if _, se, err := a.tokend.run("list"); err != nil {
		t.Errorf("invariant «list works under policy:tokend»: %v %s", err, se)
	}
}
