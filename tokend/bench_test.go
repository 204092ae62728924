package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/broker"
	"github.com/authconnection/terraform-provider-tailor/internal/oauth"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv/tailortest"
)

// TestMain doubles as the bare net/http server of the benchmark: with TOKEND_BENCH_BARE
// set to "addr|body" the test binary serves body with tokend's headers and nothing else.
func TestMain(m *testing.M) {
	if spec := os.Getenv("TOKEND_BENCH_BARE"); spec != "" {
		addr, body, _ := strings.Cut(spec, "|")
		b := []byte(body)
		http.HandleFunc("GET /v1/connections/{name}/token", func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			h.Set("Content-Type", "application/json")
			h.Set("Cache-Control", "no-store")
			h.Set("Pragma", "no-cache")
			h.Set("Content-Length", fmt.Sprint(len(b)))
			_, _ = w.Write(b)
		})
		fmt.Fprintln(os.Stderr, http.ListenAndServe(addr, nil))
		os.Exit(1)
	}
	os.Exit(m.Run())
}

type loadResult struct {
	name      string
	n, errs   int
	dur       time.Duration
	p50, p99  time.Duration
	p999, max time.Duration
}

func (r loadResult) row() string {
	return fmt.Sprintf("| %s | %.0f | %s | %s | %s | %s | %d |", r.name, float64(r.n)/r.dur.Seconds(), us(r.p50), us(r.p99), us(r.p999), us(r.max), r.errs)
}

func us(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond)) }

type sample struct {
	start time.Time
	lat   time.Duration
}

// load runs a closed loop of c workers sending GET u (with header h) for d.
func load(u string, h http.Header, c int, d time.Duration) ([]sample, int) {
	return loadMulti([]string{u}, new(atomic.Int64), h, c, d)
}

func summarize(name string, s []sample, errs int, d time.Duration) loadResult {
	lat := make([]time.Duration, len(s))
	for i, x := range s {
		lat[i] = x.lat
	}
	slices.Sort(lat)
	q := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(float64(len(lat))*p))]
	}
	r := loadResult{name: name, n: len(lat), errs: errs, dur: d, p50: q(.50), p99: q(.99), p999: q(.999)}
	if len(lat) > 0 {
		r.max = lat[len(lat)-1]
	}
	return r
}

func rssKB(pid int) int { return statusKB(pid, "VmRSS:") }

// statusKB is the field (such as "VmRSS:" or "VmHWM:") of process pid's /proc status, in KiB.
func statusKB(pid int, field string) int {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, field) {
			var kb int
			fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(l, field)), "%d", &kb)
			return kb
		}
	}
	return 0
}

// TestBenchTokend measures what docs/benchmarks.md records (## tokend). It runs only with
// TOKEND_BENCH=1 (scripts/bench-tokend.sh) and writes a Markdown report to
// $TOKEND_BENCH_OUT (default: the test log). It asserts nothing about time.
// withMetadata gives connection name's token record the metadata and API base URL a
// QuickBooks connection answers with (issue 20), so the hot path is measured with them: the
// answer grows from about 900 to about 1,000 bytes, and the bare handler serves the same.
func withMetadata(t *testing.T, env *tailortest.Env, name string) {
	t.Helper()
	ctx := context.Background()
	rec, err := env.Store.GetTokens(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	rec.Metadata = map[string]string{"realmId": "9130354950155418"}
	rec.APIBaseURL = "https://quickbooks.api.intuit.com"
	if _, err := env.Store.PutTokens(ctx, name, &rec.TokenSet, rec.Version); err != nil {
		t.Fatal(err)
	}
}

func TestBenchTokend(t *testing.T) {
	if os.Getenv("TOKEND_BENCH") == "" {
		t.Skip("set TOKEND_BENCH=1 (scripts/bench-tokend.sh) to run the benchmarks")
	}
	conc := 16
	dur := 8 * time.Second
	var report strings.Builder
	out := func(format string, args ...any) { fmt.Fprintf(&report, format+"\n", args...) }

	env := tailortest.Start(t, testenv.HydraOptions{AccessTokenTTL: time.Hour})
	short := tailortest.StartWithVault(t, env.Vault, testenv.HydraOptions{AccessTokenTTL: 6 * time.Second})
	short.Store = env.Store
	env.AddConnection(t, "steady-conn")
	env.Authorize(t, "steady-conn")
	withMetadata(t, env, "steady-conn")
	short.AddConnection(t, "short-conn")
	short.Authorize(t, "short-conn")
	bed := newTokendBed(t, env)
	key := bed.createKey(t, "--connections", "*")
	p := bed.serve(t, "bench", withFlags("--log-level", "info"))
	auth := http.Header{"Authorization": {"Bearer " + key}}

	// The bytes tokend answers, for the bare handler.
	resp, body := get(t, p.URL+"/v1/connections/steady-conn/token", key)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	bareAddr := l.Addr().String()
	l.Close()
	self, _ := os.Executable()
	bare := exec.Command(self, "-test.run=^$")
	bare.Env = append(os.Environ(), "TOKEND_BENCH_BARE="+bareAddr+"|"+string(body))
	if err := bare.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bare.Process.Kill(); _ = bare.Wait() })
	for i := 0; ; i++ {
		if r, err := http.Get("http://" + bareAddr + "/v1/connections/x/token"); err == nil {
			r.Body.Close()
			break
		}
		if i > 100 {
			t.Fatal("bare server did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}

	out("Closed loop, %d concurrent keep-alive clients, %s per target, in the same run on the same machine (%d CPUs: %s). Body: %d bytes.", conc, dur, runtime.NumCPU(), cpuModel(), len(body))
	out("")
	out("| target | requests/s | p50 | p99 | p99.9 | max | errors |")
	out("|---|---|---|---|---|---|---|")
	targets := []benchTarget{
		// The same request (API key included, which it ignores) as tokend gets.
		{"bare `net/http` handler, same bytes and headers", "http://" + bareAddr + "/v1/connections/steady-conn/token", auth, bare.Process.Pid},
		{"**tokend** `GET /v1/connections/steady-conn/token` (API key, cached)", p.URL + "/v1/connections/steady-conn/token", auth, p.cmd.Process.Pid},
		{"Vault KV v2 read of the token record (`GET /v1/secret/data/tailor/connections/steady-conn/tokens`)", env.Vault.Addr + "/v1/secret/data/tailor/connections/steady-conn/tokens", http.Header{"X-Vault-Token": {env.Vault.Token}}, 0},
	}
	for _, tg := range targets {
		_, _ = load(tg.url, tg.h, conc, time.Second) // warm up
		s, errs := load(tg.url, tg.h, conc, dur)
		r := summarize(tg.name, s, errs, dur)
		out("%s", r.row())
		t.Logf("%s", r.row())
	}
	openLoop(out, targets, 4*time.Second)

	// p99 during proactive refreshes: short-conn's 6 s tokens are refreshed every ~4 s.
	out("")
	rdur := 24 * time.Second
	before := short.Proxy.Refreshes()
	s, errs := load(p.URL+"/v1/connections/short-conn/token", auth, conc, rdur)
	wins := short.Proxy.Windows()
	// near reports whether x overlaps a provider call widened by pad on each side.
	near := func(x sample, pad time.Duration) bool {
		for _, w := range wins {
			if x.start.Add(x.lat).After(w[0].Add(-pad)) && x.start.Before(w[1].Add(pad)) {
				return true
			}
		}
		return false
	}
	var in, around, outside []sample
	for _, x := range s {
		// The provider call as the proxy saw it, widened by 100 ms on each side for the lease
		// and Vault work around it; and the seconds around it, widened by 1 s.
		if near(x, 100*time.Millisecond) {
			in = append(in, x)
		} else {
			outside = append(outside, x)
		}
		if near(x, time.Second) {
			around = append(around, x)
		}
	}
	var wsum time.Duration
	for _, w := range wins {
		wsum += w[1].Sub(w[0])
	}
	nref := short.Proxy.Refreshes() - before
	out("p99 during proactive refreshes: `short-conn` with 6 s Hydra access tokens under the same load for %s; %d refreshes happened (provider call %s on average); requests overlapping a refresh window (provider call ±100 ms) against all others:", rdur, nref, (wsum / time.Duration(max(len(wins), 1))).Round(time.Millisecond))
	out("")
	out("| requests | count | p50 | p99 | p99.9 | max | errors |")
	out("|---|---|---|---|---|---|---|")
	for _, g := range []struct {
		name string
		s    []sample
	}{{"during a refresh (provider call ±100 ms)", in}, {"the seconds around a refresh (provider call ±1 s)", around}, {"steady state (no refresh within 100 ms)", outside}} {
		r := summarize(g.name, g.s, 0, rdur)
		out("| %s | %d | %s | %s | %s | %s | %d |", g.name, r.n, us(r.p50), us(r.p99), us(r.p999), us(r.max), errs)
	}

	// Width of the crash window: the refreshed token set exists only in memory for the
	// time of one check-and-set write of the token record (PutTokens), measured here on an
	// otherwise idle Vault.
	{
		ctx := context.Background()
		ts, err := env.Store.GetTokens(ctx, "steady-conn")
		if err != nil {
			t.Fatal(err)
		}
		var lat []time.Duration
		for range 200 {
			t0 := time.Now()
			v, err := env.Store.PutTokens(ctx, "steady-conn", &ts.TokenSet, ts.Version)
			lat = append(lat, time.Since(t0))
			if v == 0 {
				t.Fatal(err)
			}
			ts.Version = v
		}
		slices.Sort(lat)
		out("")
		out("Crash window: a refreshed token set is only in tokend's memory until its check-and-set write to Vault returns. `store.PutTokens` (read for the check-and-set version is skipped: the version is known; one KV v2 write plus the status-summary metadata patch), 200 sequential writes on an idle loopback Vault dev server: p50 %s, p99 %s, max %s.",
			lat[100].Round(10*time.Microsecond), lat[197].Round(10*time.Microsecond), lat[199].Round(10*time.Microsecond))
	}

	// Memory with 10,000 connections.
	const n = 10000
	tok := strings.Repeat("a", 1000)
	start := time.Now()
	var wg sync.WaitGroup
	names := make(chan string)
	var werr atomic.Value
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for name := range names {
				ts := &authconn.TokenSet{AccessToken: name + tok, RefreshToken: strings.Repeat("r", 100), TokenType: "Bearer",
					Expiry: time.Now().Add(time.Hour), RefreshedAt: time.Now(), Status: authconn.StatusAuthorized}
				if v, err := env.Store.PutTokens(context.Background(), name, ts, 0); v == 0 {
					werr.Store(err)
				}
			}
		}()
	}
	for i := range n {
		names <- fmt.Sprintf("mem-%05d", i)
	}
	close(names)
	wg.Wait()
	if e := werr.Load(); e != nil {
		t.Fatal(e)
	}
	t.Logf("wrote %d token records in %s", n, time.Since(start))

	b, err := broker.New(broker.Options{Store: env.Store, OAuth: &oauth.Client{}, ReplicaID: "mem", Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	for i := range n {
		if _, err := b.Token(context.Background(), fmt.Sprintf("mem-%05d", i)); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&ms1)
	heap := int64(ms1.HeapAlloc) - int64(ms0.HeapAlloc)
	runtime.KeepAlive(b)

	rss0 := rssKB(p.cmd.Process.Pid)
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	idx := make(chan int)
	var fails atomic.Int64
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range idx {
				req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/v1/connections/mem-%05d/token", p.URL, i), nil)
				req.Header = auth.Clone()
				r, err := hc.Do(req)
				if err != nil || r.StatusCode != 200 {
					fails.Add(1)
				}
				if err == nil {
					_, _ = io.Copy(io.Discard, r.Body)
					r.Body.Close()
				}
			}
		}()
	}
	for i := range n {
		idx <- i
	}
	close(idx)
	wg.Wait()
	rss1 := rssKB(p.cmd.Process.Pid)
	// Cached GETs over all 10,000 connections, to show the cache does not slow down.
	var urls []string
	for i := range n {
		urls = append(urls, fmt.Sprintf("%s/v1/connections/mem-%05d/token", p.URL, i))
	}
	var ctr atomic.Int64
	s2, errs2 := loadMulti(urls, &ctr, auth, conc, dur)
	r2 := summarize("tokend, GETs spread over the 10,000 cached connections", s2, errs2, dur)

	out("")
	out("Memory with %d connections (access tokens of 1,000+ bytes, refresh tokens of 100 bytes):", n)
	out("")
	out("| measure | value |")
	out("|---|---|")
	out("| broker heap for %d cached connections (in-process, after GC) | %.1f MiB (%d bytes per connection) |", n, float64(heap)/(1<<20), heap/n)
	out("| `tokend serve` RSS before / after fetching all %d tokens | %.1f MiB / %.1f MiB (+%.1f MiB; %d failed requests) |", n, float64(rss0)/1024, float64(rss1)/1024, float64(rss1-rss0)/1024, fails.Load())
	out("")
	out("| target | requests/s | p50 | p99 | p99.9 | max | errors |")
	out("|---|---|---|---|---|---|---|")
	out("%s", r2.row())

	t.Logf("\n%s", report.String())
	if dst := os.Getenv("TOKEND_BENCH_OUT"); dst != "" {
		if err := os.WriteFile(dst, []byte(report.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// loadMulti runs a closed loop of c workers sending GET requests (with header h) for d,
// round robin over urls.
func loadMulti(urls []string, ctr *atomic.Int64, h http.Header, c int, d time.Duration) ([]sample, int) {
	tr := &http.Transport{MaxIdleConns: c * 2, MaxIdleConnsPerHost: c * 2, DisableCompression: true}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var all []sample
	var errs atomic.Int64
	end := time.Now().Add(d)
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]sample, 0, 1<<16)
			for time.Now().Before(end) {
				u := urls[int(ctr.Add(1))%len(urls)]
				req, _ := http.NewRequest(http.MethodGet, u, nil)
				req.Header = h.Clone()
				t0 := time.Now()
				resp, err := hc.Do(req)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				if err != nil {
					errs.Add(1)
					continue
				}
				local = append(local, sample{t0, time.Since(t0)})
			}
			mu.Lock()
			all = append(all, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return all, int(errs.Load())
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "model name") {
			_, v, _ := strings.Cut(l, ":")
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

func testLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
