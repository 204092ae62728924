package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/store"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv/tailortest"
	"github.com/authconnection/terraform-provider-tailor/internal/wire"
)

// The end-to-end tests of the proxy (docs/proxy.md) against real `tokend serve` processes,
// one or two replicas on one Vault, with Hydra and local APIs: one test per invariant, the
// phases shared below. Each checks the audit stream of every replica: one proxy.call record
// per call, without the tokens, the API key or a query value.

// proxyConn is the connection whose calls the tests of this file send to their local API.
const proxyConn = "api-e2e"

// proxyServe is one test's Vault and Hydra, connection proxyConn authorized at Hydra with a
// local API as its proxy_base_url, a proxy-only API key, and `tokend serve` replicas, each
// writing its own audit stream.
type proxyServe struct {
	env    *tailortest.Env
	bed    *tokendBed
	tokens *store.TokenRecord // as authorized, before any call
	host   string             // the local API's host:port
	key    string
	reps   []*tokendProc
	audits []string
	// hc never follows a redirect: the caller sees the answer tokend sent.
	hc *http.Client
}

// startProxyServe starts n `tokend serve` replicas for proxyConn, whose calls go to api and
// may also name the hosts allowed.
func startProxyServe(t *testing.T, api string, n int, allowed ...string) *proxyServe {
	t.Helper()
	env := tailortest.Start(t, testenv.HydraOptions{AccessTokenTTL: time.Hour})
	_, ts := addProxied(t, env, proxyConn, api, allowed...)
	hc := &http.Client{Timeout: 2 * time.Minute, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	s := &proxyServe{env: env, bed: newTokendBed(t, env), tokens: ts, host: strings.TrimPrefix(api, "http://"), hc: hc}
	s.key = s.bed.createKey(t, "--connections", "api-*", "--allow", "proxy", "--description", "proxy e2e")
	for i := range n {
		audit := filepath.Join(t.TempDir(), "audit.jsonl")
		s.reps = append(s.reps, s.bed.serve(t, fmt.Sprintf("proxy-%c", 'a'+i), withFlags("--audit-log", audit)))
		s.audits = append(s.audits, audit)
	}
	return s
}

// request is a request of path (after /proxy, query included) through replica i's proxy
// with the proxy-only key.
func (s *proxyServe) request(t *testing.T, i int, method, path string, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, s.reps[i].URL+"/v1/connections/"+proxyConn+"/proxy"+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.key)
	return req
}

// call sends req and returns the answer with its whole body.
func (s *proxyServe) call(t *testing.T, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := s.hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the answer: %v", req.Method, req.URL.Path, err)
	}
	return resp, b
}

// get is call of GET path on replica i.
func (s *proxyServe) get(t *testing.T, i int, path string) (*http.Response, []byte) {
	t.Helper()
	return s.call(t, s.request(t, i, http.MethodGet, path, nil))
}

// secrets are what no answer nor audit record may hold: the connection's tokens as
// authorized and as stored now, and the API key.
func (s *proxyServe) secrets(t *testing.T) []string {
	t.Helper()
	now, err := s.env.Store.GetTokens(context.Background(), proxyConn)
	if err != nil {
		t.Fatal(err)
	}
	return []string{s.tokens.AccessToken, s.tokens.RefreshToken, now.AccessToken, now.RefreshToken, s.key}
}

// checkAudit waits until the audit stream of each replica holds a proxy.call record for
// each of want[i] (proxyRecord.String, in any order) and no other, each with the replica's
// id, the proxy key as its caller and the API's host (or none), checks that no stream holds
// one of the secrets, and returns the records of each replica.
func (s *proxyServe) checkAudit(t *testing.T, want [][]string, secrets ...string) [][]proxyRecord {
	t.Helper()
	secrets = append(secrets, s.secrets(t)...)
	keyID := strings.SplitN(s.key, "_", 3)[1]
	out := make([][]proxyRecord, len(s.reps))
	for i, path := range s.audits {
		var b []byte
		out[i], b = awaitRecords(path, want[i])
		if missing := missingRecords(out[i], want[i]); len(missing) > 0 || len(out[i]) != len(want[i]) {
			t.Errorf("invariant «every proxy call is one audit record»: replica %d lacks %q; it holds %v", i, missing, out[i])
		}
		for _, r := range out[i] {
			if r.Replica != fmt.Sprintf("proxy-%c", 'a'+i) || r.Caller.Kind != "api_key" || r.Caller.ID != keyID ||
				r.Caller.Description != "proxy e2e" || (r.Host != "" && r.Host != s.host) {
				t.Errorf("replica %d's record of %s %s: replica %q, caller %+v, host %q", i, r.Method, r.Path, r.Replica, r.Caller, r.Host)
			}
		}
		if containsAny(string(b), secrets...) {
			t.Errorf("invariant «the audit stream holds no token, key or query value»: replica %d:\n%s", i, b)
		}
	}
	return out
}

// awaitRecords waits (10 s at most) until the audit stream at path holds a proxy.call record
// for each of want, and returns its records and text.
func awaitRecords(path string, want []string) ([]proxyRecord, []byte) {
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		b, _ := os.ReadFile(path)
		recs := proxyRecords(b)
		if len(missingRecords(recs, want)) == 0 || time.Now().After(deadline) {
			return recs, b
		}
	}
}

// proxyRecord is a proxy.call line of the audit stream (docs/security.md, "Audit trail").
type proxyRecord struct {
	Replica                                     string
	Caller                                      struct{ Kind, ID, Description string }
	Action, Outcome, Reason, Method, Host, Path string
	Status                                      int `json:"upstream_status"`
	Attempts                                    int
	BytesIn                                     int64 `json:"bytes_in"`
	BytesOut                                    int64 `json:"bytes_out"`
}

// String is "outcome method path status attempts reason", trimmed.
func (r proxyRecord) String() string {
	return strings.TrimSpace(fmt.Sprintf("%s %s %s %d %d %s", r.Outcome, r.Method, r.Path, r.Status, r.Attempts, r.Reason))
}

// proxyRecords returns the proxy.call records of the audit stream b, in order.
func proxyRecords(b []byte) []proxyRecord {
	var out []proxyRecord
	for l := range strings.Lines(string(b)) {
		var r proxyRecord
		if json.Unmarshal([]byte(l), &r) == nil && r.Action == "proxy.call" {
			out = append(out, r)
		}
	}
	return out
}

// missingRecords returns the entries of want that got does not hold, counted: a want
// listed twice needs two records.
func missingRecords(got []proxyRecord, want []string) []string {
	have := map[string]int{}
	for _, r := range got {
		have[r.String()]++
	}
	var missing []string
	for _, w := range want {
		if have[w] == 0 {
			missing = append(missing, w)
		}
		have[w]--
	}
	return missing
}

// recordOf returns the first record of path in rs.
func recordOf(rs []proxyRecord, method, path string) proxyRecord {
	for _, r := range rs {
		if r.Method == method && r.Path == path {
			return r
		}
	}
	return proxyRecord{}
}

// TestProxyServeRefreshesOnceAcrossReplicas: two replicas, 20 concurrent calls split across
// them, to an API that answers 401 to the first access token it sees. Hydra rotates refresh
// tokens and revokes the chain when one is used twice, so the replicas must refresh once
// between them: every call ends 200 (attempts 1, or 2 for each call that saw the 401), the
// API sees exactly two tokens, Hydra's token endpoint gets one refresh, the token record in
// Vault moves one version, no refresh token is presented twice, and afterwards the chain is
// alive (the stored tokens are active at Hydra, a token read and a proxy call work on both
// replicas).
func TestProxyServeRefreshesOnceAcrossReplicas(t *testing.T) {
	t.Parallel()
	api := newFlakyAPI(t)
	s := startProxyServe(t, api.URL, 2)
	for i := range s.reps { // each replica holds the first token before the burst
		if resp, body := s.get(t, i, "/warm"); resp.StatusCode != 200 {
			t.Fatalf("warming replica %d: %d %s", i, resp.StatusCode, body)
		}
	}
	refreshes := s.env.Proxy.Refreshes()
	results := s.burst(t, 20, "/once401")
	retried := checkBurst(t, results, len(s.reps))
	seen := api.tokens()
	if len(seen) == 0 {
		t.Fatalf("the API saw no call: %+v", results)
	}
	first, second := "Bearer "+s.tokens.AccessToken, seen[len(seen)-1]
	if n := countDistinct(seen); n != 2 || seen[0] != first || countOf(seen, first) != retried || countOf(seen, second) != len(results) {
		t.Errorf("invariant «one refresh for every call that saw the 401»: the API saw %d tokens (%d requests, %d with the first, %d with the last), %d calls say attempts 2",
			n, len(seen), countOf(seen, first), countOf(seen, second), retried)
	}
	if n := s.env.Proxy.Refreshes() - refreshes; n != 1 {
		t.Errorf("invariant «a 401 on two replicas costs one refresh»: Hydra's token endpoint got %d refreshes", n)
	}
	checkRefreshTokensOnce(t, s.env.Proxy.Answers())
	now := s.checkChainAlive(t, second)
	if now.Version != s.tokens.Version+1 {
		t.Errorf("invariant «a 401 on two replicas costs one refresh»: the token record went from version %d to %d", s.tokens.Version, now.Version)
	}
	t.Logf("%d calls, %d retried after the 401; token record version %d → %d", len(results), retried, s.tokens.Version, now.Version)
	want := make([][]string, len(s.reps))
	for i := range s.reps {
		want[i] = []string{"success GET /warm 200 1", "success GET /once401 200 1"}
	}
	for _, r := range results {
		want[r.rep] = append(want[r.rep], "success GET /once401 200 "+r.attempts)
	}
	s.checkAudit(t, want)
}

// burstResult is one call of a burst: the replica it went to and tokend's answer.
type burstResult struct {
	rep      int
	status   int
	attempts string
	err      error
}

// burst sends n concurrent GET path, call i to replica i mod len(reps), all released at
// once, and returns their answers.
func (s *proxyServe) burst(t *testing.T, n int, path string) []burstResult {
	t.Helper()
	out := make([]burstResult, n)
	reqs := make([]*http.Request, n)
	for i := range n {
		reqs[i] = s.request(t, i%len(s.reps), http.MethodGet, path, nil)
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			out[i].rep = i % len(s.reps)
			resp, err := s.hc.Do(reqs[i])
			if err != nil {
				out[i].err = err
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			out[i].status, out[i].attempts = resp.StatusCode, resp.Header.Get("Tailor-Proxy-Attempts")
		})
	}
	close(start)
	wg.Wait()
	return out
}

// checkBurst checks that every call of a burst on replicas ended 200 after 1 or 2 attempts,
// and that each replica had a call that saw the 401 (the refresh was shared, not avoided),
// and returns how many calls were retried.
func checkBurst(t *testing.T, results []burstResult, replicas int) int {
	t.Helper()
	retried, perReplica := 0, make([]int, replicas)
	for _, r := range results {
		if r.err != nil || r.status != 200 || (r.attempts != "1" && r.attempts != "2") {
			t.Errorf("invariant «every call ends 200 after at most one retry»: replica %d: %d attempts %q %v", r.rep, r.status, r.attempts, r.err)
		}
		if r.attempts == "2" {
			retried++
			perReplica[r.rep]++
		}
	}
	for i, n := range perReplica {
		if n == 0 {
			t.Errorf("no call on replica %d saw the 401 (retried per replica: %v): the burst did not reach both replicas with the first token", i, perReplica)
		}
	}
	return retried
}

// checkRefreshTokensOnce checks that the refresh requests Hydra got all succeeded and never
// presented one refresh token twice (which would revoke the chain).
func checkRefreshTokensOnce(t *testing.T, answers []tailortest.Answer) {
	t.Helper()
	presented := map[string]bool{}
	for _, a := range answers {
		if presented[a.Presented] || a.Status != 200 {
			t.Errorf("invariant «no refresh token is used twice»: refresh %+v (presented before: %v)", a, presented[a.Presented])
		}
		presented[a.Presented] = true
	}
}

// checkChainAlive checks, after the burst, that the stored token is the one the API accepted
// (authorization header last), that Hydra still holds the stored tokens active, and that
// each replica serves a token read and a proxy call with it; it returns the stored record.
func (s *proxyServe) checkChainAlive(t *testing.T, last string) *store.TokenRecord {
	t.Helper()
	now, err := s.env.Store.GetTokens(context.Background(), proxyConn)
	if err != nil {
		t.Fatal(err)
	}
	if "Bearer "+now.AccessToken != last {
		t.Errorf("the stored access token is not the one the API accepted")
	}
	for _, tok := range []string{now.AccessToken, now.RefreshToken} {
		if in, err := s.env.Introspect(tok); err != nil || !in.Active {
			t.Errorf("invariant «the refresh chain is not revoked»: a stored token is inactive at Hydra: %+v %v", in, err)
		}
	}
	tokenKey := s.bed.createKey(t, "--connections", "api-*")
	for i, p := range s.reps {
		resp, body := get(t, p.URL+"/v1/connections/"+proxyConn+"/token", tokenKey)
		var w wire.Token
		if resp.StatusCode != 200 || json.Unmarshal(body, &w) != nil || w.AccessToken != now.AccessToken {
			t.Errorf("a token read on replica %d after the burst: %d", i, resp.StatusCode)
		}
		if resp, _ := s.get(t, i, "/once401"); resp.StatusCode != 200 || resp.Header.Get("Tailor-Proxy-Attempts") != "1" {
			t.Errorf("a proxy call on replica %d after the burst: %d %v", i, resp.StatusCode, resp.Header)
		}
	}
	return now
}

func countOf(ss []string, s string) int {
	n := 0
	for _, x := range ss {
		if x == s {
			n++
		}
	}
	return n
}

func countDistinct(ss []string) int {
	m := map[string]bool{}
	for _, s := range ss {
		m[s] = true
	}
	return len(m)
}

// TestProxyServeSharesRetryAfterAcrossReplicas: the API answers replica A's call 429 with
// Retry-After: 30. Once the backoff is in Vault (polled, at most 20 s), replica B's first
// call of the connection is tokend's own 429 (Tailor-Proxy-Error rate_limited, Retry-After
// in (0, 30], no attempt) and the API sees no further request from either replica.
func TestProxyServeSharesRetryAfterAcrossReplicas(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		calls.Add(1)
		w.Header().Set("Retry-After", "30")
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	t.Cleanup(api.Close)
	s := startProxyServe(t, api.URL, 2)
	resp, body := s.get(t, 0, "/busy")
	if resp.StatusCode != 429 || resp.Header.Get("Tailor-Proxy-Error") != "" || resp.Header.Get("Retry-After") != "30" || resp.Header.Get("Tailor-Proxy-Attempts") != "1" {
		t.Fatalf("the API's 429 through replica A: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	s.awaitBackoff(t, 20*time.Second)
	for i, rep := range []int{1, 1, 0} { // B, B again, then A
		resp, body = s.get(t, rep, "/busy")
		ra, err := strconv.Atoi(resp.Header.Get("Retry-After"))
		var e wire.Error
		if resp.StatusCode != 429 || resp.Header.Get("Tailor-Proxy-Error") != wire.CodeRateLimited || resp.Header.Get("Tailor-Proxy-Attempts") != "0" ||
			err != nil || ra <= 0 || ra > 30 || json.Unmarshal(body, &e) != nil || e.Error != wire.CodeRateLimited {
			t.Fatalf("invariant «a Retry-After holds every replica's calls»: call %d: %d %v %s", i, resp.StatusCode, resp.Header, body)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("invariant «no call reaches the API during its Retry-After»: it saw %d calls", n)
	}
	s.checkAudit(t, [][]string{
		{"success GET /busy 429 1", "denied GET /busy 0 0 rate_limited"},
		{"denied GET /busy 0 0 rate_limited", "denied GET /busy 0 0 rate_limited"},
	})
}

// awaitBackoff polls Vault until the connection's shared proxy backoff is set, or fails the
// test after timeout.
func (s *proxyServe) awaitBackoff(t *testing.T, timeout time.Duration) {
	t.Helper()
	start := time.Now()
	for {
		b, err := s.env.Store.GetProxyBackoff(context.Background(), proxyConn)
		if err == nil && b.Until.After(time.Now()) {
			t.Logf("the backoff reached Vault after %s, until %s from now", time.Since(start).Round(time.Millisecond), time.Until(b.Until).Round(time.Second))
			return
		}
		if time.Since(start) > timeout {
			t.Fatalf("invariant «a Retry-After is shared through Vault»: no backoff after %s: %+v %v", timeout, b, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestProxyServeDoesNotFollowRedirects: the API answers 302 (GET) and 307 (POST with a body)
// with a Location on another local listener that records any request. tokend returns each
// redirect as it is, Location included, and sends nothing there; the answer holds no token.
// A call naming that listener with Tailor-Proxy-Host (not one of proxy_allowed_hosts) is
// tokend's 403 host_not_allowed, without an attempt.
func TestProxyServeDoesNotFollowRedirects(t *testing.T) {
	t.Parallel()
	var stolen atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { stolen.Add(1) }))
	t.Cleanup(other.Close)
	var mu sync.Mutex
	var seen []string // the Authorization of each call the API got
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Authorization"))
		mu.Unlock()
		w.Header().Set("Location", other.URL+"/steal")
		w.WriteHeader(map[string]int{http.MethodGet: http.StatusFound, http.MethodPost: http.StatusTemporaryRedirect}[r.Method])
	}))
	t.Cleanup(api.Close)
	s := startProxyServe(t, api.URL, 1, "uploads.example.com")
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		var payload io.Reader
		if method == http.MethodPost {
			payload = strings.NewReader("payload")
		}
		status := map[string]int{http.MethodGet: 302, http.MethodPost: 307}[method]
		resp, body := s.call(t, s.request(t, 0, method, "/redirect", payload))
		if resp.StatusCode != status || resp.Header.Get("Location") != other.URL+"/steal" || resp.Header.Get("Tailor-Proxy-Error") != "" ||
			resp.Header.Get("Tailor-Proxy-Attempts") != "1" || containsAny(fmt.Sprint(resp.Header)+string(body), s.secrets(t)...) {
			t.Errorf("invariant «a redirect goes back to the caller as it is»: %s: %d %v", method, resp.StatusCode, resp.Header)
		}
	}
	req := s.request(t, 0, http.MethodGet, "/steal", nil)
	req.Header.Set("Tailor-Proxy-Host", strings.TrimPrefix(other.URL, "http://"))
	resp, body := s.call(t, req)
	if resp.StatusCode != 403 || resp.Header.Get("Tailor-Proxy-Error") != wire.CodeHostNotAllowed || resp.Header.Get("Tailor-Proxy-Attempts") != "0" {
		t.Errorf("invariant «only allowed hosts are reachable»: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	mu.Lock()
	defer mu.Unlock()
	if n := stolen.Load(); n != 0 || len(seen) != 2 || countOf(seen, "Bearer "+s.tokens.AccessToken) != 2 {
		t.Errorf("invariant «the token goes to the API only»: the other listener got %d requests, the API %d (%d with the token)", n, len(seen), countOf(seen, "Bearer "+s.tokens.AccessToken))
	}
	s.checkAudit(t, [][]string{{"success GET /redirect 302 1", "success POST /redirect 307 1", "denied GET  0 0 host_not_allowed"}})
}

// TestProxyServeStreams: answers and bodies stream through a real `tokend serve`. Events: the
// API writes the next server-sent event only once the test has received the previous one
// through tokend (a handshake, no sleep), so any buffering stops the stream. Download and
// upload: TOKEND_E2E_STREAM_MB MiB (64) each way, the upload chunked from an io.Pipe, with
// SHA-256 compared on both sides; tokend's resident memory growth is logged and must stay
// under 32 MiB (memory, not time: asserted; the throughput is only logged).
func TestProxyServeStreams(t *testing.T) {
	t.Parallel()
	size := streamSize(t)
	api := newStreamAPI(t)
	s := startProxyServe(t, api.URL, 1)
	t.Run("events", func(t *testing.T) { checkEvents(t, s, api) })
	t.Run("caller leaves", func(t *testing.T) { checkCallerLeaves(t, s, api) })
	t.Run("download", func(t *testing.T) { checkDownload(t, s, api, size) })
	t.Run("upload", func(t *testing.T) { checkUpload(t, s, size) })
	recs := s.checkAudit(t, [][]string{{"success GET /events 200 1", "failure GET /events-left 200 1 stream_aborted",
		"success GET /download 200 1", "success PUT /upload 200 1"}}, "QUERYVALUE77")
	if d, u := recordOf(recs[0], http.MethodGet, "/download"), recordOf(recs[0], http.MethodPut, "/upload"); d.BytesOut != size || u.BytesIn != size {
		t.Errorf("the audit records' byte counts: download out %d, upload in %d, want %d", d.BytesOut, u.BytesIn, size)
	}
}

// streamSize is TOKEND_E2E_STREAM_MB MiB, 64 MiB when unset.
func streamSize(t *testing.T) int64 {
	t.Helper()
	mb := 64
	if v := os.Getenv("TOKEND_E2E_STREAM_MB"); v != "" {
		var err error
		if mb, err = strconv.Atoi(v); err != nil || mb <= 0 {
			t.Fatalf("TOKEND_E2E_STREAM_MB=%q: want a positive number of MiB", v)
		}
	}
	return int64(mb) << 20
}

// streamAPI serves /events (three server-sent events, each after the test received the one
// before: received), /events-left (one event, then left when tokend gives the call up),
// /download?size=N (N pattern bytes; their SHA-256 goes to sent) and /upload (answers the
// SHA-256 and length of the body it read).
type streamAPI struct {
	*httptest.Server
	received, left chan struct{}
	sent           chan string
}

func newStreamAPI(t *testing.T) *streamAPI {
	a := &streamAPI{received: make(chan struct{}), left: make(chan struct{}, 1), sent: make(chan string, 1)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /events", a.events)
	mux.HandleFunc("GET /events-left", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: first\n\n")
		_ = http.NewResponseController(w).Flush()
		<-r.Context().Done()
		a.left <- struct{}{}
	})
	mux.HandleFunc("GET /download", a.download)
	mux.HandleFunc("PUT /upload", func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		n, err := io.Copy(h, r.Body)
		if err != nil {
			http.Error(w, "reading the body: "+err.Error(), http.StatusBadRequest)
			return
		}
		_ = json.NewEncoder(w).Encode(bodySum{SHA256: hex.EncodeToString(h.Sum(nil)), Bytes: n})
	})
	a.Server = httptest.NewServer(mux)
	t.Cleanup(a.Close)
	return a
}

// bodySum is what /upload answers.
type bodySum struct {
	SHA256 string `json:"sha256"`
	Bytes  int64  `json:"bytes"`
}

// events writes event 1, 2 and 3, each flushed, waiting for received between them; it ends
// the stream when the test does not receive an event within 10 s.
func (a *streamAPI) events(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/event-stream")
	rc := http.NewResponseController(w)
	for i := 1; i <= 3; i++ {
		fmt.Fprintf(w, "id: %d\ndata: event %d\n\n", i, i)
		if rc.Flush() != nil || i == 3 {
			return
		}
		select {
		case <-a.received:
		case <-r.Context().Done():
			return
		case <-time.After(10 * time.Second):
			return
		}
	}
}

// download writes size pattern bytes with their Content-Length, then sends their SHA-256.
func (a *streamAPI) download(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.ParseInt(r.URL.Query().Get("size"), 10, 64)
	if err != nil {
		http.Error(w, "size", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
	h := sha256.New()
	if _, err := io.CopyN(io.MultiWriter(w, h), pattern(1), n); err == nil {
		a.sent <- hex.EncodeToString(h.Sum(nil))
	}
}

// pattern is an endless deterministic stream of bytes of every value.
func pattern(seed byte) io.Reader { return rand.NewChaCha8([32]byte{seed}) }

// checkEvents reads the three events through tokend, telling the API after each.
func checkEvents(t *testing.T, s *proxyServe, api *streamAPI) {
	resp, err := s.hc.Do(s.request(t, 0, http.MethodGet, "/events", nil))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	stop := time.AfterFunc(30*time.Second, func() { resp.Body.Close() }) // never hang
	defer stop.Stop()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" || resp.Header.Get("Tailor-Proxy-Attempts") != "1" {
		t.Fatalf("events: %d %v", resp.StatusCode, resp.Header)
	}
	br := bufio.NewReader(resp.Body)
	for i := 1; i <= 3; i++ {
		var ev strings.Builder
		for line := ""; line != "\n"; {
			if line, err = br.ReadString('\n'); err != nil {
				t.Fatalf("invariant «events are not buffered»: event %d: %q, %v", i, ev.String(), err)
			}
			ev.WriteString(line)
		}
		if want := fmt.Sprintf("id: %d\ndata: event %d\n\n", i, i); ev.String() != want {
			t.Fatalf("event %d: %q, want %q", i, ev.String(), want)
		}
		if i == 3 {
			break
		}
		select {
		case api.received <- struct{}{}:
		case <-time.After(10 * time.Second):
			t.Fatalf("invariant «events are not buffered»: event %d came through only after the API gave up waiting for it", i)
		}
	}
	if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
		t.Fatalf("after the last event: %q, %v", rest, err)
	}
}

// checkCallerLeaves reads the first event of /events-left and leaves: tokend gives the API's
// stream up (the API sees its request end) and records the call as cut short.
func checkCallerLeaves(t *testing.T, s *proxyServe, api *streamAPI) {
	resp, err := s.hc.Do(s.request(t, 0, http.MethodGet, "/events-left", nil))
	if err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	resp.Body.Close()
	if resp.StatusCode != 200 || err != nil || line != "data: first\n" {
		t.Fatalf("events-left: %d %q %v", resp.StatusCode, line, err)
	}
	select {
	case <-api.left:
	case <-time.After(10 * time.Second):
		t.Fatal("invariant «a caller that leaves ends the upstream call»: the API's request was still open after 10 s")
	}
}

// checkDownload downloads size bytes through tokend and compares their SHA-256 with the
// API's, and tokend's memory growth with 32 MiB.
func checkDownload(t *testing.T, s *proxyServe, api *streamAPI, size int64) {
	watch := watchMemory(t, s.reps[0].cmd.Process.Pid)
	start := time.Now()
	resp, err := s.hc.Do(s.request(t, 0, http.MethodGet, fmt.Sprintf("/download?size=%d&probe=QUERYVALUE77", size), nil))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	took := time.Since(start)
	sampled, peak := watch.stop()
	if resp.StatusCode != 200 || err != nil || n != size {
		t.Fatalf("download: %d, %d of %d bytes, %v", resp.StatusCode, n, size, err)
	}
	select {
	case sum := <-api.sent:
		if got := hex.EncodeToString(h.Sum(nil)); got != sum {
			t.Errorf("invariant «a download arrives byte for byte»: SHA-256 %s, the API sent %s", got, sum)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the API did not finish the download")
	}
	logStream(t, "download", size, took, sampled, peak)
}

// checkUpload uploads size bytes through tokend, chunked from an io.Pipe, and compares their
// SHA-256 with what the API read, and tokend's memory growth with 32 MiB.
func checkUpload(t *testing.T, s *proxyServe, size int64) {
	pr, pw := io.Pipe()
	sent := make(chan string, 1)
	go func() {
		h := sha256.New()
		_, err := io.CopyN(io.MultiWriter(pw, h), pattern(2), size)
		pw.CloseWithError(err)
		sent <- hex.EncodeToString(h.Sum(nil))
	}()
	req := s.request(t, 0, http.MethodPut, "/upload", pr)
	req.ContentLength = -1 // chunked: tokend cannot buffer it for a retry
	watch := watchMemory(t, s.reps[0].cmd.Process.Pid)
	start := time.Now()
	resp, body := s.call(t, req)
	took := time.Since(start)
	sampled, peak := watch.stop()
	var got bodySum
	if resp.StatusCode != 200 || json.Unmarshal(body, &got) != nil || resp.Header.Get("Tailor-Proxy-Attempts") != "1" {
		t.Fatalf("upload: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	if sum := <-sent; got.SHA256 != sum || got.Bytes != size {
		t.Errorf("invariant «an upload arrives byte for byte»: the API read %d bytes, SHA-256 %s; sent %d, %s", got.Bytes, got.SHA256, size, sum)
	}
	logStream(t, "upload", size, took, sampled, peak)
}

// logStream logs a transfer's throughput and tokend's memory growth, and fails the test
// when the growth is 32 MiB or more.
func logStream(t *testing.T, what string, size int64, took time.Duration, sampled, peak int64) {
	t.Logf("%s of %d MiB through tokend: %s (%.0f MiB/s); tokend's RSS growth: %d KiB at most in samples, %d KiB by its peak (VmHWM)",
		what, size>>20, took.Round(time.Millisecond), float64(size>>20)/took.Seconds(), sampled>>10, peak>>10)
	if peak >= 32<<20 {
		t.Errorf("invariant «a %s streams in constant memory»: tokend's RSS grew by %d MiB", what, peak>>20)
	}
}

// memoryWatch samples a process's resident memory every 10 ms from its start.
type memoryWatch struct {
	pid       int
	base, max atomic.Int64
	done      chan struct{}
	wg        sync.WaitGroup
}

// watchMemory starts sampling the resident memory of process pid.
func watchMemory(t *testing.T, pid int) *memoryWatch {
	t.Helper()
	w := &memoryWatch{pid: pid, done: make(chan struct{})}
	rss, _, err := procMemory(pid)
	if err != nil {
		t.Fatal(err)
	}
	w.base.Store(rss)
	w.max.Store(rss)
	w.wg.Go(func() {
		for tick := time.NewTicker(10 * time.Millisecond); ; {
			select {
			case <-w.done:
				tick.Stop()
				return
			case <-tick.C:
				if rss, _, err := procMemory(pid); err == nil && rss > w.max.Load() {
					w.max.Store(rss)
				}
			}
		}
	})
	return w
}

// stop ends the sampling and returns the growth over the first sample: of the largest
// sample, and of the process's peak (VmHWM, which also catches what fell between samples,
// and any earlier peak: an upper bound).
func (w *memoryWatch) stop() (sampled, peak int64) {
	close(w.done)
	w.wg.Wait()
	_, hwm, _ := procMemory(w.pid)
	return w.max.Load() - w.base.Load(), max(hwm, w.max.Load()) - w.base.Load()
}

// procMemory reads VmRSS and VmHWM of process pid from /proc, in bytes.
func procMemory(pid int) (rss, hwm int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for l := range strings.Lines(string(b)) {
		k, v, _ := strings.Cut(l, ":")
		kib, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			rss = kib << 10
		case "VmHWM":
			hwm = kib << 10
		}
	}
	return rss, hwm, nil
}

// TestProxyServeMultipart: a multipart/form-data upload (a text field and a 1 MiB binary
// file part holding a boundary-like line) goes through tokend with a Content-Length and
// chunked; the API parses it with ParseMultipartForm and answers the field, the file's name,
// length and SHA-256, which the caller gets back equal to what it sent.
func TestProxyServeMultipart(t *testing.T) {
	t.Parallel()
	api := httptest.NewServer(http.HandlerFunc(formEcho))
	t.Cleanup(api.Close)
	s := startProxyServe(t, api.URL, 1)
	file := make([]byte, 1<<20)
	_, _ = io.ReadFull(pattern(3), file)
	copy(file[4096:], "\r\n--boundary\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nforged\r\n")
	sum := sha256.Sum256(file)
	want := formAnswer{Note: "invoice №42, ünïcode", Filename: "report.bin", Bytes: len(file), SHA256: hex.EncodeToString(sum[:])}
	body, ctype := multipartBody(t, want.Note, want.Filename, file)
	for _, chunked := range []bool{false, true} {
		req := s.request(t, 0, http.MethodPost, "/form", bytes.NewReader(body))
		if chunked {
			req.Body, req.ContentLength = io.NopCloser(bytes.NewReader(body)), -1
		}
		req.Header.Set("Content-Type", ctype)
		resp, b := s.call(t, req)
		var got formAnswer
		if resp.StatusCode != 200 || json.Unmarshal(b, &got) != nil || got != want || resp.Header.Get("Tailor-Proxy-Attempts") != "1" {
			t.Errorf("invariant «a multipart upload arrives as sent» (chunked %v): %d %s\nwant %+v", chunked, resp.StatusCode, b, want)
		}
	}
	recs := s.checkAudit(t, [][]string{{"success POST /form 200 1", "success POST /form 200 1"}})
	for _, r := range recs[0] {
		if r.BytesIn != int64(len(body)) {
			t.Errorf("the audit record's bytes in: %d, want %d", r.BytesIn, len(body))
		}
	}
}

// formAnswer is what formEcho answers.
type formAnswer struct {
	Note     string `json:"note"`
	Filename string `json:"filename"`
	Bytes    int    `json:"bytes"`
	SHA256   string `json:"sha256"`
}

// formEcho parses a multipart form with a field note and a file part file, and answers them.
func formEcho(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseMultipartForm(4 << 20); err != nil {
		http.Error(w, "parsing the form: "+err.Error(), http.StatusBadRequest)
		return
	}
	f, fh, err := r.FormFile("file")
	if err != nil {
		http.Error(w, "the file part: "+err.Error(), http.StatusBadRequest)
		return
	}
	defer f.Close()
	h := sha256.New()
	n, _ := io.Copy(h, f)
	_ = json.NewEncoder(w).Encode(formAnswer{Note: r.FormValue("note"), Filename: fh.Filename, Bytes: int(n), SHA256: hex.EncodeToString(h.Sum(nil))})
}

// multipartBody is a multipart/form-data body of the field note and the file part file,
// with its Content-Type.
func multipartBody(t *testing.T, note, filename string, file []byte) ([]byte, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if err := mw.WriteField("note", note); err != nil {
		t.Fatal(err)
	}
	fw, err := mw.CreateFormFile("file", filename)
	if err == nil {
		_, err = fw.Write(file)
	}
	if err != nil || mw.Close() != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), mw.FormDataContentType()
}
