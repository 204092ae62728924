package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	vaultapi "github.com/hashicorp/vault/api"

	"github.com/authconnection/terraform-provider-tailor/internal/apikey"
	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/authorize"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv"
)

// apiRoutes returns the patterns registered on the API's mux, read from the source of
// internal/api (every Handle and HandleFunc call), so a new route cannot be left out of
// the sweep. A pattern that is not a string literal fails the test.
func apiRoutes(t *testing.T) []string {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	files, _ := filepath.Glob(filepath.Join(root, "internal", "api", "*.go"))
	var routes []string
	for _, fn := range files {
		if strings.HasSuffix(fn, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, fn, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || (sel.Sel.Name != "Handle" && sel.Sel.Name != "HandleFunc") || len(call.Args) != 2 {
				return true
			}
			lit, ok := call.Args[0].(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				t.Fatalf("%s: a route pattern that is not a string literal: the sweep cannot enumerate it", fset.Position(call.Pos()))
			}
			p, _ := strconv.Unquote(lit.Value)
			routes = append(routes, p)
			return true
		})
	}
	if len(routes) < 5 {
		t.Fatalf("found only %d routes in internal/api: %v", len(routes), routes)
	}
	return routes
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
//   - Every route of the API (read from internal/api's source) × {no Authorization,
//     malformed, wrong key, revoked key, key for another connection, key whose glob matches
//     nothing} is refused with 401 / 403, except the routes that are open by design.
func TestAccessControl(t *testing.T) {
	t.Parallel()
	v := testenv.StartVault(t)
	h := testenv.StartHydra(t, testenv.HydraOptions{AccessTokenTTL: 4 * time.Second})
	br := testenv.StartBrowser(t)
	bin := buildTokend(t)
	ctx := context.Background()
	root, err := store.New(v.Client(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}

	// The tokend role: only the documented policy.
	if err := v.Client().Sys().PutPolicy("tailor-tokend", testenv.DocPolicy(t, "tokend", "")); err != nil {
		t.Fatal(err)
	}
	tok, err := v.Client().Auth().Token().Create(&vaultapi.TokenCreateRequest{Policies: []string{"tailor-tokend"}, TTL: "1h"})
	if err != nil {
		t.Fatal(err)
	}
	if p := tok.Auth.Policies; len(p) != 2 || !contains(p, "default") || !contains(p, "tailor-tokend") {
		t.Fatalf("token policies %v", p)
	}
	tokendEnv := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "VAULT_ADDR=" + v.Addr, "VAULT_TOKEN=" + tok.Auth.ClientToken}
	operatorEnv := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "VAULT_ADDR=" + v.Addr, "VAULT_TOKEN=" + v.Token}
	run := func(env []string, args ...string) (string, string, error) {
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		var so, se strings.Builder
		cmd.Stdout, cmd.Stderr = &so, &se
		err := cmd.Run()
		return so.String(), se.String(), err
	}

	// The operator creates the connections and the keys.
	port := cliFreePort(t)
	clientID, secret := h.CreateClient(t, testenv.ClientSpec{RedirectURIs: []string{authorize.RedirectURI(port)}})
	for _, n := range []string{"google-oauth", "ms365-oauth"} {
		c := &authconn.Connection{Name: n, Type: authconn.TypeOAuth2, ProviderURL: h.Issuer, IssuerURL: h.Issuer, ClientID: clientID,
			Scopes: []string{"openid", "offline_access"}}
		if _, err := root.CreateConnection(ctx, c); err != nil {
			t.Fatal(err)
		}
		if _, err := root.PutClientSecret(ctx, n, secret); err != nil {
			t.Fatal(err)
		}
	}
	mkKey := func(patterns ...string) apikey.Key {
		k, err := apikey.Generate()
		if err != nil {
			t.Fatal(err)
		}
		if err := root.CreateAPIKey(ctx, &store.APIKey{ID: k.ID, Hash: k.Hash, Connections: patterns}); err != nil {
			t.Fatal(err)
		}
		return k
	}
	good, otherConn, noMatch, revoked := mkKey("google-*"), mkKey("ms365-oauth"), mkKey("quickbooks-*"), mkKey("*")

	// authorize under the policy, with the callback server probed while it waits.
	startAuthorize := func() (*exec.Cmd, *bufio.Reader, *cliBuffer) {
		t.Helper()
		return startAuthorizeProc(t, bin, tokendEnv, "google-oauth", port)
	}
	cb := func(host, method, path string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, "http://127.0.0.1:"+strconv.Itoa(port)+path, nil)
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
	lh := "localhost:" + strconv.Itoa(port)

	cmd, rd, stderr := startAuthorize()
	line, err := rd.ReadString('\n')
	if err != nil {
		t.Fatalf("authorize: %v\n%s", err, stderr.String())
	}
	// Listening sockets of the callback port: loopback only.
	ls := listeners(t, port)
	if len(ls) == 0 {
		t.Fatal("no listening socket found for the callback port in /proc/net/tcp*")
	}
	for _, ip := range ls {
		if !ip.IsLoopback() {
			t.Errorf("the callback server listens on %s", ip)
		}
	}
	// Every non-loopback address of this machine: the port is closed there.
	var probed []string
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok || ipn.IP.IsLoopback() {
			continue
		}
		target := net.JoinHostPort(ipn.IP.String(), strconv.Itoa(port))
		if ipn.IP.IsLinkLocalUnicast() && ipn.IP.To4() == nil {
			continue // needs a zone; the listener check above covers it
		}
		probed = append(probed, target)
		if c, err := net.DialTimeout("tcp", target, 2*time.Second); err == nil {
			c.Close()
			t.Errorf("the callback port accepts connections on %s", target)
		}
	}
	t.Logf("callback: listening on %v; refused on the non-loopback addresses %v", ls, probed)
	// Another Host (DNS rebinding), other paths and methods, a stray visit: refused, and the
	// attempt goes on.
	for _, c := range []struct {
		host, method, path string
		want               int
	}{
		{"evil.example:" + strconv.Itoa(port), "GET", "/callback?state=x&code=y", http.StatusMisdirectedRequest},
		{"localhost:1", "GET", "/callback?state=x&code=y", http.StatusMisdirectedRequest},
		{lh, "POST", "/callback?state=x&code=y", http.StatusMethodNotAllowed},
		{lh, "GET", "/other?state=x&code=y", http.StatusNotFound},
		{lh, "GET", "//callback?state=x&code=y", http.StatusNotFound},
		{lh, "GET", "/callback", http.StatusBadRequest},
	} {
		if got, body := cb(c.host, c.method, c.path); got != c.want || strings.Contains(body, "code=y") {
			t.Errorf("callback %s %s (Host %s): %d %q, want %d", c.method, c.path, c.host, got, body, c.want)
		}
	}
	op := br.NewOpener(time.Minute)
	_ = op.Open(strings.TrimSpace(line))
	_, _ = io.ReadAll(rd)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("tokend authorize under policy:tokend: %v\n%s", err, stderr.String())
	}
	if vis := op.Wait(t, time.Minute); !strings.Contains(vis.Text, "Authorization complete") {
		t.Fatalf("browser page %q", vis.Text)
	}
	first, err := root.GetTokens(ctx, "google-oauth")
	if err != nil {
		t.Fatal(err)
	}

	// A callback with a wrong or without a state: the attempt fails, nothing is stored.
	for _, q := range []string{"state=wrong-state&code=some-code", "code=some-code", "state=&code=some-code"} {
		cmd, rd, stderr := startAuthorize()
		if _, err := rd.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
		got, body := cb(lh, "GET", "/callback?"+q)
		err := cmd.Wait()
		if got != http.StatusBadRequest || !strings.Contains(body, "state") || strings.Contains(body, "some-code") || err == nil ||
			!strings.Contains(stderr.String(), "state") {
			t.Errorf("callback ?%s: %d, exit %v, page %q, stderr %q", q, got, err, body, stderr.String())
		}
		if ts, err := root.GetTokens(ctx, "google-oauth"); err != nil || ts.Version != first.Version {
			t.Errorf("callback ?%s changed the token record: %v", q, err)
		}
	}

	// Revoke one key before serve starts (the operator's CLI).
	if _, se, err := run(operatorEnv, "keys", "revoke", revoked.ID); err != nil {
		t.Fatalf("keys revoke: %v %s", err, se)
	}

	// serve under the policy.
	addr := freeAddr(t)
	logPath := filepath.Join(t.TempDir(), "serve.log")
	lf, _ := os.Create(logPath)
	serve := exec.Command(bin, "serve", "--listen", addr, "--recheck-interval", "1s", "--key-cache-ttl", "1s", "--log-level", "debug")
	serve.Env = tokendEnv
	serve.Stdout, serve.Stderr = lf, lf
	serve.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = serve.Process.Signal(syscall.SIGTERM)
		_ = serve.Wait()
		lf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("serve log:\n%s", b)
		}
	})
	base := "http://" + addr
	waitReady(t, http.DefaultClient, base, "tokend serve under policy:tokend", logPath, 20*time.Second)
	get := func(path, authz string) (int, []byte) {
		resp, b, err := getAuth(base+path, authz)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, b
	}

	// The sweep.
	badID, _ := apikey.Generate()
	_, goodSecret, _ := apikey.Parse(good.Plain)
	classes := []struct {
		name    string
		headers []string
	}{
		{"no Authorization", []string{""}},
		{"malformed", []string{"Bearer", "Bearer tk_", "Basic Zm9vOmJhcg==", good.Plain, "Bearer tk_" + good.ID, "Bearer " + good.Plain + "x", "Token " + good.Plain}},
		{"wrong key", []string{"Bearer " + badID.Plain, "Bearer tk_" + good.ID + "_" + strings.Repeat("0", len(goodSecret))}},
		{"revoked key", []string{"Bearer " + revoked.Plain}},
		{"key for another connection", []string{"Bearer " + otherConn.Plain}},
		{"key whose glob matches nothing", []string{"Bearer " + noMatch.Plain}},
	}
	open := map[string]string{
		"GET /healthz": "liveness for orchestrators; says only that the process runs",
		"GET /readyz":  "readiness for load balancers; says only whether Vault answers",
		"GET /metrics": "Prometheus scrapes without credentials; holds connection names and counters, never a token (checked below)",
	}
	access, refresh := first.AccessToken, first.RefreshToken
	type row struct {
		route, class string
		n, refused   int
		statuses     map[int]int
	}
	var rows []row
	total, refusedTotal, openTotal := 0, 0, 0
	for _, route := range apiRoutes(t) {
		method, path, _ := strings.Cut(route, " ")
		if path == "" {
			method, path = "GET", route // a pattern without a method
		}
		concrete := strings.ReplaceAll(path, "{name}", "google-oauth")
		if concrete == "/" {
			concrete = "/v1/unknown"
		}
		for _, c := range classes {
			r := row{route: route, class: c.name, statuses: map[int]int{}}
			for _, hdr := range c.headers {
				req, _ := http.NewRequest(method, base+concrete, nil)
				if hdr != "" {
					req.Header.Set("Authorization", hdr)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				r.n++
				r.statuses[resp.StatusCode]++
				if strings.Contains(string(body), access) || strings.Contains(string(body), refresh) || strings.Contains(string(body), secret) {
					t.Errorf("%s with %s: the answer holds a token or secret", route, c.name)
				}
				refusedOK := false
				switch {
				case open[route] != "":
					refusedOK = resp.StatusCode == 200 // open by design: same answer for everyone
				case route == "/":
					refusedOK = resp.StatusCode == 404 || resp.StatusCode == 401
				case c.name == "key for another connection" || c.name == "key whose glob matches nothing":
					if route == "GET /v1/connections" {
						// The list is scoped to the key: 200 with none of google-oauth.
						refusedOK = resp.StatusCode == 200 && !strings.Contains(string(body), "google-oauth")
					} else {
						refusedOK = resp.StatusCode == 403
					}
				default:
					refusedOK = resp.StatusCode == 401 && resp.Header.Get("WWW-Authenticate") != ""
				}
				if refusedOK {
					r.refused++
				} else {
					t.Errorf("%s %s with %s (%q): %d %s", method, concrete, c.name, hdr, resp.StatusCode, body)
				}
			}
			total += r.n
			if open[route] != "" {
				openTotal += r.n
			} else {
				refusedTotal += r.refused
			}
			rows = append(rows, r)
		}
	}
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
		case open[r.route] != "":
			what = "open by design"
		case r.route == "GET /v1/connections" && strings.HasPrefix(r.class, "key "):
			what = fmt.Sprintf("%d/%d scoped: 200 without google-oauth", r.refused, r.n)
		}
		fmt.Fprintf(&tbl, "| `%s` | %s | %d | %s | %s |\n", r.route, r.class, r.n, what, strings.Join(st, " "))
	}
	t.Logf("access sweep: %d requests, %d to closed routes of which %d refused (%d to open routes: %v)\n%s",
		total, total-openTotal, refusedTotal, openTotal, keys2(open), tbl.String())
	if refusedTotal != total-openTotal {
		t.Errorf("refused %d of %d requests to closed routes", refusedTotal, total-openTotal)
	}

	// The valid key works, and serve refreshes under the policy.
	seen := map[string]bool{}
	for deadline := time.Now().Add(30 * time.Second); len(seen) < 2; {
		code, body := get("/v1/connections/google-oauth/token", "Bearer "+good.Plain)
		if code != 200 {
			t.Fatalf("valid key: %d %s", code, body)
		}
		var tk struct {
			AccessToken string `json:"access_token"`
		}
		_ = json.Unmarshal(body, &tk)
		seen[tk.AccessToken] = true
		if time.Now().After(deadline) {
			t.Fatal("no refresh within 30s under policy:tokend")
		}
		time.Sleep(200 * time.Millisecond)
	}
	_, metrics := get("/metrics", "")
	if !strings.Contains(string(metrics), `tokend_refreshes_total{connection="google-oauth",outcome="success"}`) {
		t.Errorf("no successful refresh in /metrics")
	}
	for tk := range seen {
		if strings.Contains(string(metrics), tk) {
			t.Error("/metrics holds an access token")
		}
	}

	// A key revoked while serve has it cached: refused once the cache entry expires
	// (--key-cache-ttl 1s here, 30s by default).
	if code, _ := get("/v1/connections/google-oauth/token", "Bearer "+good.Plain); code != 200 {
		t.Fatalf("valid key before its revocation: %d", code)
	}
	if _, se, err := run(operatorEnv, "keys", "revoke", good.ID); err != nil {
		t.Fatalf("keys revoke: %v %s", err, se)
	}
	for deadline := time.Now().Add(15 * time.Second); ; {
		code, body := get("/v1/connections/google-oauth/token", "Bearer "+good.Plain)
		if code == 401 {
			break
		}
		if code != 200 || time.Now().After(deadline) {
			t.Fatalf("revoked key after use: %d %s, want 401", code, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	good = mkKey("google-*")

	// revoke under the policy: the tokens are revoked at Hydra and removed.
	latest, err := root.GetTokens(ctx, "google-oauth")
	if err != nil {
		t.Fatal(err)
	}
	if _, se, err := run(tokendEnv, "revoke", "google-oauth"); err != nil {
		t.Fatalf("tokend revoke under policy:tokend: %v\n%s", err, se)
	}
	if h.Introspect(t, latest.RefreshToken).Active {
		t.Error("refresh token active after tokend revoke")
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		code, _ := get("/v1/connections/google-oauth/token", "Bearer "+good.Plain)
		if code == 409 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after revoke: %d, want 409", code)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if _, se, err := run(tokendEnv, "list"); err != nil {
		t.Errorf("tokend list under policy:tokend: %v %s", err, se)
	}
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

func keys2(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
