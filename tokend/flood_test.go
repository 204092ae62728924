package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	vaultapi "github.com/hashicorp/vault/api"

	"github.com/authconnection/terraform-provider-tailor/internal/apikey"
	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv/tailortest"
)

// floodBed is one Vault with a file audit device (every Vault request is a line), a
// connection "svc" with a token record valid for two hours (served from memory, no provider
// needed), an API key for it, an admin key, and tokend serve processes with --public-url
// whose background Vault work is turned down, so that the audit log counts what requests
// cause.
type floodBed struct {
	env        *tailortest.Env
	bed        *tokendBed
	audit      string
	key, admin string
}

func newFloodBed(t *testing.T) *floodBed {
	t.Helper()
	v := testenv.StartVault(t)
	b := &floodBed{env: &tailortest.Env{Vault: v, Prefix: "tailor"}, audit: filepath.Join(t.TempDir(), "audit.log")}
	b.bed = newTokendBed(t, b.env)
	if err := v.Client().Sys().EnableAuditWithOptions("file", &vaultapi.EnableAuditOptions{Type: "file",
		Options: map[string]string{"file_path": b.audit}}); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("flood-client-secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, errOut, err := b.bed.run("create", "--name", "svc", "--provider-url", "https://idp.example",
		"--auth-url", "https://idp.example/authorize", "--token-url", "https://idp.example/token", "--client-id", "flood",
		"--client-secret-file", secret); err != nil {
		t.Fatalf("tokend create: %v\n%s%s", err, out, errOut)
	}
	now := time.Now()
	st := b.env.NewStore(t)
	if _, err := st.PutTokens(context.Background(), "svc", &authconn.TokenSet{AccessToken: "at-flood", RefreshToken: "rt-flood",
		TokenType: "Bearer", Expiry: now.Add(2 * time.Hour), AuthorizedAt: now, Status: authconn.StatusAuthorized}, 0); err != nil {
		t.Fatal(err)
	}
	b.key = b.bed.createKey(t, "--connections", "svc")
	b.admin = b.bed.createKey(t, "--admin")
	return b
}

// serve starts tokend serve with --public-url and quiet background work, plus extra.
func (b *floodBed) serve(t *testing.T, extra ...string) *tokendProc {
	t.Helper()
	addr := freeAddr(t)
	args := append([]string{"--public-url", "http://" + addr, "--no-warm", "--recheck-interval", "1h", "--change-interval", "1h",
		"--webhook-interval", "1h", "--key-cache-ttl", "1h", "--log-level", "warn"}, extra...)
	return b.bed.serve(t, "flood-"+strings.ReplaceAll(addr, ":", "-"), onAddr(addr), withFlags(args...))
}

// vaultRequests counts the requests Vault has logged so far.
func (b *floodBed) vaultRequests(t *testing.T) int {
	t.Helper()
	data, err := os.ReadFile(b.audit)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Count(data, []byte(`"type":"request"`))
}

// madeUp returns a request that costs a Vault read unless limited: kind 0 a made-up API
// key, 1 a made-up connect link, 2 a made-up callback state, 3 a made-up admin key at the
// status page's sign-in.
func madeUp(base string, kind int) *http.Request {
	var r *http.Request
	switch kind % 4 {
	case 0:
		k, _ := apikey.Generate()
		r, _ = http.NewRequest(http.MethodGet, base+"/v1/connections/svc/token", nil)
		r.Header.Set("Authorization", "Bearer "+k.Plain)
	case 1:
		k, _ := apikey.GenerateLink()
		r, _ = http.NewRequest(http.MethodPost, base+"/v1/connect", strings.NewReader(url.Values{"link": {k.Plain}}.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	case 2:
		s := make([]byte, 32)
		_, _ = rand.Read(s)
		r, _ = http.NewRequest(http.MethodGet, base+"/v1/callback?code=x&state="+base64.RawURLEncoding.EncodeToString(s), nil)
	default:
		k, _ := apikey.Generate()
		r, _ = http.NewRequest(http.MethodPost, base+"/ui/login", strings.NewReader(url.Values{"key": {k.Plain}}.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Origin", base)
	}
	return r
}

var floodClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func do(r *http.Request) int {
	resp, err := floodClient.Do(r)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func validToken(base, key string) *http.Request {
	r, _ := http.NewRequest(http.MethodGet, base+"/v1/connections/svc/token", nil)
	r.Header.Set("Authorization", "Bearer "+key)
	return r
}

// TestAttackF6_FloodFromOneClientCausesVaultReadsBoundedByTheLimit: 800 made-up API keys,
// connect links, callback states and sign-in keys from one client cost at most the
// client's bucket (10 here) in Vault requests, the rest get 429 with Retry-After; the valid
// key is served during and after the flood without one more Vault read (its cache entry
// survived, and it is never charged). Before: about one Vault read per request.
func TestAttackF6_FloodFromOneClientCausesVaultReadsBoundedByTheLimit(t *testing.T) {
	b := newFloodBed(t)
	p := b.serve(t, "--rate-limit", "0.01", "--rate-burst", "10", "--rate-delay", "0s")
	if code := do(validToken(p.URL, b.key)); code != 200 {
		t.Fatalf("valid key before the flood: %d", code)
	}
	before := b.vaultRequests(t)
	codes := map[int]int{}
	retryAfter := 0
	for i := range 800 {
		resp, err := floodClient.Do(madeUp(p.URL, i))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		codes[resp.StatusCode]++
		if resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") != "" {
			retryAfter++
		}
		if i%100 == 0 && do(validToken(p.URL, b.key)) != 200 {
			t.Fatalf("invariant «valid callers are served during the flood»: request %d", i)
		}
	}
	cost := b.vaultRequests(t) - before
	if do(validToken(p.URL, b.key)) != 200 || b.vaultRequests(t)-before != cost {
		t.Errorf("invariant «the valid key's cache entry survives the flood»: it was refused or read again")
	}
	t.Logf("800 made-up requests from one client: answers %v, %d Vault requests", codes, cost)
	if cost > 2*10+2 {
		t.Errorf("invariant «Vault requests bounded by the rate limit»: %d Vault requests for 800 made-up ids with a bucket of 10", cost)
	}
	if codes[http.StatusTooManyRequests] < 780 || retryAfter != codes[http.StatusTooManyRequests] {
		t.Errorf("invariant «an empty bucket answers 429 with Retry-After»: %v, %d with Retry-After", codes, retryAfter)
	}
}

// TestAttackF6_OneLinkPostedFiftyTimes: a link holder who POSTs the link 50 times gets one
// authorization URL and Vault holds one pending record (at most 3). Before: 50 records.
func TestAttackF6_OneLinkPostedFiftyTimes(t *testing.T) {
	b := newFloodBed(t)
	p := b.serve(t, "--rate-burst", "1000")
	req, _ := http.NewRequest(http.MethodPost, p.URL+"/v1/admin/connections/svc/links", strings.NewReader(`{"expires_in":"1h"}`))
	req.Header.Set("Authorization", "Bearer "+b.admin)
	resp, err := floodClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var link struct{ URL string }
	_ = json.NewDecoder(resp.Body).Decode(&link)
	resp.Body.Close()
	_, tok, _ := strings.Cut(link.URL, "#")
	if tok == "" {
		t.Fatalf("no link: %d %+v", resp.StatusCode, link)
	}
	locations := map[string]int{}
	for range 50 {
		r, _ := http.NewRequest(http.MethodPost, p.URL+"/v1/connect", strings.NewReader(url.Values{"link": {tok}}.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := floodClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("POST /v1/connect: %d", resp.StatusCode)
		}
		locations[resp.Header.Get("Location")]++
	}
	n, err := b.env.NewStore(t).SweepPending(context.Background(), time.Now().Add(24*time.Hour)) // counts and removes them
	if err != nil {
		t.Fatal(err)
	}
	if n > 3 || n != len(locations) {
		t.Errorf("invariant «one link POSTed 50 times writes at most 3 pending records»: %d records, %d authorization URLs", n, len(locations))
	}
}

// flooder runs workers that send made-up requests (kinds mixed) as fast as they can until
// stop, and counts them by status.
type flooder struct {
	sent, limited atomic.Int64
}

func (f *flooder) run(base string, workers int, stop <-chan struct{}, wg *sync.WaitGroup) {
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; ; i += workers {
				select {
				case <-stop:
					return
				default:
				}
				if do(madeUp(base, i)) == http.StatusTooManyRequests {
					f.limited.Add(1)
				}
				f.sent.Add(1)
			}
		}()
	}
}

// validLoad runs callers of the token endpoint with the valid key for d and returns how
// many got 200.
func validLoad(base, key string, callers int, d time.Duration) int64 {
	var ok atomic.Int64
	var wg sync.WaitGroup
	end := time.Now().Add(d)
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) {
				if do(validToken(base, key)) == 200 {
					ok.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return ok.Load()
}

// TestFloodMeasurements measures what docs/reliability.md records ("Anonymous floods"):
// Vault requests per second caused by one client's flood of made-up keys, link ids and
// states at full speed, with the default rate limit and with it lifted; the valid callers'
// token throughput during the flood against without it (same run); and the memory and fate
// of 1,000 slow-body connections. About a minute; only with TAILOR_FLOOD=1:
//
//	TAILOR_FLOOD=1 go test -count=1 -run TestFloodMeasurements -v ./tokend/
func TestFloodMeasurements(t *testing.T) {
	if os.Getenv("TAILOR_FLOOD") == "" {
		t.Skip("a measurement: set TAILOR_FLOOD=1 (about a minute)")
	}
	b := newFloodBed(t)
	const d = 5 * time.Second
	for _, c := range []struct {
		name    string
		workers int
		extra   []string
	}{
		{"defaults (1/s, burst 20, 429 held 1 s), 4 flood connections", 4, nil},
		{"defaults, 64 flood connections", 64, nil},
		{"--rate-delay 0s (429 at once), 4 flood connections", 4, []string{"--rate-delay", "0s"}},
		{"limit lifted (--rate-limit 1e6 --rate-burst 1000000), 4 flood connections", 4, []string{"--rate-limit", "1000000", "--rate-burst", "1000000"}},
	} {
		p := b.serve(t, c.extra...)
		do(validToken(p.URL, b.key))
		q0 := b.vaultRequests(t)
		time.Sleep(d)
		quiet := b.vaultRequests(t) - q0
		alone := validLoad(p.URL, b.key, 4, d)
		var f flooder
		stop := make(chan struct{})
		var wg sync.WaitGroup
		v0 := b.vaultRequests(t)
		f.run(p.URL, c.workers, stop, &wg)
		during := validLoad(p.URL, b.key, 4, d)
		close(stop)
		wg.Wait()
		caused := b.vaultRequests(t) - v0 - quiet
		t.Logf("%s: flood %d requests in %s (%.0f/s, %d answered 429); Vault requests caused %d (%.1f/s; %d in a quiet %s before); valid token requests %d alone, %d during the flood (ratio %.2f)",
			c.name, f.sent.Load(), d, float64(f.sent.Load())/d.Seconds(), f.limited.Load(), caused, float64(caused)/d.Seconds(), quiet, d,
			alone, during, float64(during)/float64(alone))
	}
	p := b.serve(t, "--read-timeout", "5s")
	slowBodies(t, p, 1000, 5*time.Second)
}

// slowBodies holds n connections that send a body byte a second to POST /ui/login and logs
// tokend's RSS before, while they are held, and after the read timeout rt, and how many
// the server closed.
func slowBodies(t *testing.T, p *tokendProc, n int, rt time.Duration) {
	rss := func() string {
		data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
		for _, l := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(l, "VmRSS:") {
				return strings.Join(strings.Fields(l)[1:], " ")
			}
		}
		return "?"
	}
	before := rss()
	var conns []net.Conn
	for range n {
		c, err := net.Dial("tcp", strings.TrimPrefix(p.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "POST /ui/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 4000\r\n\r\nkey=")
		conns = append(conns, c)
	}
	start := time.Now()
	var held string
	for time.Since(start) < rt+3*time.Second {
		time.Sleep(time.Second)
		if held == "" && time.Since(start) > rt/2 {
			held = rss()
		}
		for _, c := range conns {
			_, _ = c.Write([]byte("a"))
		}
	}
	closed := 0
	for _, c := range conns {
		if closedByServer(c) {
			closed++
		}
	}
	t.Logf("%d slow-body connections (--read-timeout %s): RSS %s before, %s while held, %s after %s; %d of %d closed by tokend",
		n, rt, before, held, rss(), time.Since(start).Round(time.Second), closed, n)
}

// get2 sends GET url with Host host (when set) and returns the status and body.
func get2(t *testing.T, u, host string) (int, string) {
	t.Helper()
	r, _ := http.NewRequest(http.MethodGet, u, nil)
	if host != "" {
		r.Host = host
	}
	resp, err := floodClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestAttackF10_InsecureNoAuthServesLoopbackHostsOnly: tokend serve --insecure-no-auth
// refuses a request whose Host is a rebound name (421, no token), and serves 127.0.0.1
// and localhost with its port.
func TestAttackF10_InsecureNoAuthServesLoopbackHostsOnly(t *testing.T) {
	b := newFloodBed(t)
	p := b.serve(t, "--insecure-no-auth")
	_, port, _ := strings.Cut(strings.TrimPrefix(p.URL, "http://"), ":")
	for host, want := range map[string]int{"attacker-rebind.example:" + port: 421, "127.0.0.1:" + port: 200, "localhost:" + port: 200} {
		code, body := get2(t, p.URL+"/v1/connections/svc/token", host)
		if code != want || (want == 421 && strings.Contains(body, "at-flood")) {
			t.Errorf("invariant «--insecure-no-auth serves loopback Host names only»: Host %s got %d %s", host, code, body)
		}
	}
}

// TestAttackF11_ReadyzDuringAVaultOutageShowsNoAddress: with Vault stopped, /readyz answers
// 503 {"status":"not ready"}: no Vault address, mount or prefix (the log has them).
func TestAttackF11_ReadyzDuringAVaultOutageShowsNoAddress(t *testing.T) {
	b := newFloodBed(t)
	p := b.serve(t)
	b.env.Vault.Stop()
	defer func() { _ = b.env.Vault.Start() }()
	code, body := get2(t, p.URL+"/readyz", "")
	vaultHostPort := strings.TrimPrefix(b.env.Vault.Addr, "http://")
	if code != 503 || strings.TrimSpace(body) != `{"status":"not ready"}` || strings.Contains(body, vaultHostPort) || strings.Contains(body, "secret") {
		t.Errorf("invariant «/readyz tells anonymous callers only ready or not»: %d %s", code, body)
	}
	logged, _ := os.ReadFile(p.log)
	if !strings.Contains(string(logged), "not ready") || !strings.Contains(string(logged), vaultHostPort) {
		t.Errorf("the reason is not in the log")
	}
}

// TestServeMetricsListen: with --metrics-listen, /metrics is served there and no longer on
// --listen.
func TestServeMetricsListen(t *testing.T) {
	b := newFloodBed(t)
	maddr := freeAddr(t)
	p := b.serve(t, "--metrics-listen", maddr)
	if code, _ := get2(t, p.URL+"/metrics", ""); code != 404 {
		t.Errorf("/metrics on --listen: %d, want 404", code)
	}
	if code, body := get2(t, "http://"+maddr+"/metrics", ""); code != 200 || !strings.Contains(body, "tokend_rate_limited_total") {
		t.Errorf("/metrics on --metrics-listen: %d", code)
	}
	if code, _ := get2(t, "http://"+maddr+"/v1/connections", ""); code != 404 {
		t.Errorf("the API on --metrics-listen: %d, want 404", code)
	}
}
