package proxy

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/audit"
	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/broker"
	"github.com/authconnection/terraform-provider-tailor/internal/oauth"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
)

// fakeTokens serves tok, and next after a Refresh of tok.
type fakeTokens struct {
	mu        sync.Mutex
	tok, next *broker.Token
	refreshes int
}

func (f *fakeTokens) Token(context.Context, string) (*broker.Token, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tok, nil
}

func (f *fakeTokens) Refresh(_ context.Context, _ string, rejected *broker.Token) (*broker.Token, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refreshes++
	if rejected == f.tok && f.next != nil {
		f.tok, f.next = f.next, nil
	}
	return f.tok, nil
}

type fakeConns map[string]*store.ConnectionRecord

func (f fakeConns) GetConnection(_ context.Context, name string) (*store.ConnectionRecord, error) {
	if c, ok := f[name]; ok {
		return c, nil
	}
	return nil, store.ErrNotFound
}

// fakeBackoffs is a shared backoff store, as Vault is for replicas.
type fakeBackoffs struct {
	mu  sync.Mutex
	rec store.ProxyBackoff
}

func (f *fakeBackoffs) GetProxyBackoff(context.Context, string) (store.ProxyBackoff, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rec, nil
}

func (f *fakeBackoffs) PutProxyBackoff(_ context.Context, _ string, b store.ProxyBackoff) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	b.Version = f.rec.Version + 1
	f.rec = b
	return nil
}

// recorder keeps audit records.
type recorder struct {
	mu   sync.Mutex
	recs []audit.Record
}

func (r *recorder) Record(_ context.Context, rec audit.Record) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, rec)
}

// nth waits for the n-th record (the proxy records a call after its answer was sent) and
// returns it.
func (r *recorder) nth(t *testing.T, n int) audit.Record {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		r.mu.Lock()
		if len(r.recs) >= n {
			defer r.mu.Unlock()
			return r.recs[n-1]
		}
		r.mu.Unlock()
	}
	t.Fatalf("no audit record %d", n)
	return audit.Record{}
}

// bed is a proxy in front of upstream for connection "conn", whose proxy_base_url is
// upstream's URL plus basePath, served at /v1/connections/conn/proxy/.
type bed struct {
	t        *testing.T
	tokens   *fakeTokens
	conn     *authconn.Connection
	rec      *recorder
	backoffs *fakeBackoffs
	server   *httptest.Server
}

func token(s string) *broker.Token {
	return &broker.Token{AccessToken: s, TokenType: "Bearer", ExpiresAt: time.Now().Add(time.Hour)}
}

func newBed(t *testing.T, upstream http.Handler, basePath string) *bed {
	t.Helper()
	up := httptest.NewServer(upstream)
	t.Cleanup(up.Close)
	b := &bed{t: t, tokens: &fakeTokens{tok: token("tok-one")}, rec: &recorder{}, backoffs: &fakeBackoffs{}}
	b.conn = &authconn.Connection{Name: "conn", Type: "oauth2", ProviderURL: "https://idp.invalid", ClientID: "c",
		AuthURL: "https://idp.invalid/auth", TokenURL: "https://idp.invalid/token", ProxyBaseURL: up.URL + basePath}
	b.server = b.serve(b.newProxy())
	return b
}

func (b *bed) newProxy() *Proxy {
	return New(Options{Tokens: b.tokens, Connections: fakeConns{"conn": {Connection: *b.conn, Version: 1}},
		OAuth: &oauth.Client{}, Backoffs: b.backoffs, Recorder: b.rec})
}

func (b *bed) serve(p *Proxy) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/connections/{name}/proxy/{path...}", func(w http.ResponseWriter, r *http.Request) {
		p.Serve(w, r, r.PathValue("name"), audit.Caller{Kind: audit.CallerAPIKey, ID: "k1"})
	})
	s := httptest.NewServer(mux)
	b.t.Cleanup(s.Close)
	return s
}

func (b *bed) do(method, path string, body io.Reader, h http.Header) *http.Response {
	b.t.Helper()
	req, err := http.NewRequest(method, b.server.URL+"/v1/connections/conn/proxy"+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	return resp
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestForwardsPathQueryAndPresentsToken(t *testing.T) {
	var got atomic.Value
	b := newBed(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Store(r.Method + " " + r.URL.RequestURI() + " " + r.Header.Get("Authorization"))
		_, _ = io.WriteString(w, "hello")
	}), "/api/v2")
	resp := b.do("GET", "/users/42?fields=a,b&q=x%20y", nil, http.Header{"Authorization": {"Bearer tk_caller"}})
	if body := readAll(t, resp); resp.StatusCode != 200 || body != "hello" {
		t.Fatalf("answer %d %q", resp.StatusCode, body)
	}
	if want := "GET /api/v2/users/42?fields=a,b&q=x%20y Bearer tok-one"; got.Load() != want {
		t.Fatalf("upstream saw %q, want %q", got.Load(), want)
	}
	if resp.Header.Get(HeaderAttempts) != "1" || resp.Header.Get(HeaderError) != "" {
		t.Fatalf("headers %v", resp.Header)
	}
	rec := b.rec.nth(t, 1)
	if rec.Action != audit.ProxyCall || rec.Outcome != audit.Success || rec.UpstreamStatus != 200 || rec.Path != "/api/v2/users/{id}" ||
		rec.BytesOut != 5 || rec.Attempts != 1 || rec.Method != "GET" || rec.Caller.ID != "k1" || rec.Connection != "conn" {
		t.Fatalf("audit record %+v", rec)
	}
}

func TestHeaderPolicy(t *testing.T) {
	var seen http.Header
	b := newBed(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = r.Header.Clone()
		h := w.Header()
		h.Set("Set-Cookie", "upstream=session")
		h.Set(HeaderError, "forged")
		h.Set("Connection", "X-Up-Hop")
		h.Set("X-Up-Hop", "1")
		h.Set("X-Up-Pass", "1")
	}), "")
	resp := b.do("GET", "/x", nil, http.Header{
		"Authorization": {"Bearer tk_caller"}, "Cookie": {"c=1"}, "Proxy-Authorization": {"Basic x"},
		"Connection": {"X-Hop"}, "X-Hop": {"1"}, "Tailor-Anything": {"1"}, "X-Forwarded-For": {"10.0.0.1"},
		"Forwarded": {"for=10.0.0.1"}, "X-Pass": {"1"}, "Accept": {"application/json"},
	})
	readAll(t, resp)
	for _, k := range []string{"Cookie", "Proxy-Authorization", "X-Hop", "Tailor-Anything", "X-Forwarded-For", "Forwarded", "X-Forwarded-Host", "X-Forwarded-Proto"} {
		if v := seen.Get(k); v != "" {
			t.Errorf("upstream got %s: %q", k, v)
		}
	}
	if seen.Get("Authorization") != "Bearer tok-one" || seen.Get("X-Pass") != "1" || seen.Get("Accept") != "application/json" {
		t.Errorf("upstream headers %v", seen)
	}
	for _, k := range []string{"Set-Cookie", "X-Up-Hop", HeaderError} {
		if v := resp.Header.Get(k); v != "" {
			t.Errorf("caller got %s: %q", k, v)
		}
	}
	if resp.Header.Get("X-Up-Pass") != "1" || resp.Header.Get(HeaderAttempts) != "1" {
		t.Errorf("caller headers %v", resp.Header)
	}
}

func TestUnauthorizedOnceRefreshesAndRetries(t *testing.T) {
	var calls atomic.Int32
	var bodies sync.Map
	b := newBed(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		body, _ := io.ReadAll(r.Body)
		bodies.Store(n, string(body))
		if r.Header.Get("Authorization") != "Bearer tok-two" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_, _ = io.WriteString(w, "ok")
	}), "")
	b.tokens.next = token("tok-two")
	resp := b.do("POST", "/items", strings.NewReader(`{"a":1}`), http.Header{"Content-Type": {"application/json"}})
	if body := readAll(t, resp); resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("answer %d %q", resp.StatusCode, body)
	}
	if calls.Load() != 2 || b.tokens.refreshes != 1 || resp.Header.Get(HeaderAttempts) != "2" {
		t.Fatalf("upstream calls %d, refreshes %d, attempts %q", calls.Load(), b.tokens.refreshes, resp.Header.Get(HeaderAttempts))
	}
	if b1, _ := bodies.Load(int32(1)); b1 != `{"a":1}` {
		t.Fatalf("first body %q", b1)
	}
	if b2, _ := bodies.Load(int32(2)); b2 != `{"a":1}` {
		t.Fatalf("retried body %q", b2)
	}
	if rec := b.rec.nth(t, 1); rec.Attempts != 2 || rec.UpstreamStatus != 200 {
		t.Fatalf("audit record %+v", rec)
	}
}

func TestUnauthorizedStreamedBodyIsNotRetried(t *testing.T) {
	var calls atomic.Int32
	b := newBed(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusUnauthorized)
	}), "")
	b.tokens.next = token("tok-two")
	big := strings.Repeat("x", 100<<10) // over MaxReplayBody: streamed
	resp := b.do("PUT", "/blob", strings.NewReader(big), nil)
	readAll(t, resp)
	if resp.StatusCode != 401 || calls.Load() != 1 || b.tokens.refreshes != 0 || resp.Header.Get(HeaderAttempts) != "1" || resp.Header.Get(HeaderError) != "" {
		t.Fatalf("status %d, calls %d, refreshes %d, headers %v", resp.StatusCode, calls.Load(), b.tokens.refreshes, resp.Header)
	}
	if rec := b.rec.nth(t, 1); rec.BytesIn != int64(len(big)) || rec.UpstreamStatus != 401 {
		t.Fatalf("audit record %+v", rec)
	}
}

func TestRetryAfterIsRememberedAcrossReplicas(t *testing.T) {
	var calls atomic.Int32
	b := newBed(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Retry-After", "30")
		w.WriteHeader(http.StatusTooManyRequests)
	}), "")
	resp := b.do("GET", "/x", nil, nil)
	readAll(t, resp)
	if resp.StatusCode != 429 || resp.Header.Get(HeaderError) != "" || resp.Header.Get("Retry-After") != "30" {
		t.Fatalf("first answer %d %v: want the upstream's 429", resp.StatusCode, resp.Header)
	}
	resp = b.do("GET", "/x", nil, nil)
	body := readAll(t, resp)
	if resp.StatusCode != 429 || resp.Header.Get(HeaderError) != "rate_limited" || !strings.Contains(body, `"rate_limited"`) ||
		resp.Header.Get(HeaderAttempts) != "0" || calls.Load() != 1 {
		t.Fatalf("second answer %d %v %s, upstream calls %d", resp.StatusCode, resp.Header, body, calls.Load())
	}
	if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra <= 0 || ra > 30 {
		t.Fatalf("Retry-After %q, want in (0, 30]", resp.Header.Get("Retry-After"))
	}
	// Another replica, sharing the store, holds its calls too.
	deadline := time.Now().Add(5 * time.Second)
	for b.backoffs.GetProxyBackoffUntil().IsZero() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	b.server = b.serve(b.newProxy())
	resp = b.do("GET", "/x", nil, nil)
	readAll(t, resp)
	if resp.StatusCode != 429 || resp.Header.Get(HeaderError) != "rate_limited" || calls.Load() != 1 {
		t.Fatalf("other replica: %d %v, upstream calls %d", resp.StatusCode, resp.Header, calls.Load())
	}
	if rec := b.rec.nth(t, 3); rec.Outcome != audit.Denied || rec.Reason != "rate_limited" {
		t.Fatalf("audit record %+v", rec)
	}
}

func (f *fakeBackoffs) GetProxyBackoffUntil() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rec.Until
}

func TestRedirectIsPassedBackNotFollowed(t *testing.T) {
	var otherHits atomic.Int32
	var otherAuth atomic.Value
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		otherHits.Add(1)
		otherAuth.Store(r.Header.Get("Authorization"))
	}))
	defer other.Close()
	b := newBed(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/stolen", http.StatusFound)
	}), "")
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest("GET", b.server.URL+"/v1/connections/conn/proxy/x", nil)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != other.URL+"/stolen" || resp.Header.Get(HeaderError) != "" {
		t.Fatalf("answer %d %v", resp.StatusCode, resp.Header)
	}
	if otherHits.Load() != 0 {
		t.Fatalf("the other host was called %d times (Authorization %v)", otherHits.Load(), otherAuth.Load())
	}
}

func TestHostsOutsideTheConnectionAreRefused(t *testing.T) {
	var hits atomic.Int32
	b := newBed(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }), "/base")
	for _, tc := range []struct {
		path string
		h    http.Header
	}{
		{"/x", http.Header{HeaderHost: {"evil.example.com"}}},
		{"/%2e%2e/secret", nil},
		{"/a/%2E%2E/%2e%2e/secret", nil},
		{"/a%2f..%2fsecret", nil},
		{"/a/..%5csecret", nil},
	} {
		resp := b.do("GET", tc.path, nil, tc.h)
		body := readAll(t, resp)
		if resp.StatusCode != http.StatusForbidden || resp.Header.Get(HeaderError) != "host_not_allowed" || !strings.Contains(body, "host_not_allowed") {
			t.Errorf("%s %v: %d %v %s", tc.path, tc.h, resp.StatusCode, resp.Header, body)
		}
	}
	if hits.Load() != 0 {
		t.Fatalf("upstream reached %d times", hits.Load())
	}
}

func TestAllowedHostIsReachable(t *testing.T) {
	var got atomic.Value
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Store(r.URL.Path + " " + r.Header.Get("Authorization"))
	}))
	defer other.Close()
	b := newBed(t, http.NotFoundHandler(), "/base")
	host := strings.TrimPrefix(other.URL, "http://")
	b.conn.ProxyAllowedHosts = []string{host}
	b.server = b.serve(b.newProxy())
	resp := b.do("GET", "/upload/1", nil, http.Header{HeaderHost: {host}})
	readAll(t, resp)
	if resp.StatusCode != 200 || got.Load() != "/upload/1 Bearer tok-one" {
		t.Fatalf("answer %d, other saw %v", resp.StatusCode, got.Load())
	}
}

func TestInternalAddressNotTypedIsRefused(t *testing.T) {
	var hits atomic.Int32
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer up.Close()
	b := newBed(t, http.NotFoundHandler(), "")
	b.conn.ProxyBaseURL = "" // the token record's API base URL: not operator-typed
	b.tokens.tok.APIBaseURL = up.URL
	b.server = b.serve(b.newProxy())
	resp := b.do("GET", "/x", nil, nil)
	body := readAll(t, resp)
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get(HeaderError) != "host_not_allowed" || hits.Load() != 0 {
		t.Fatalf("answer %d %v %s, hits %d", resp.StatusCode, resp.Header, body, hits.Load())
	}
}

func TestUnreachableUpstreamIsTokendsError(t *testing.T) {
	up := httptest.NewServer(http.NotFoundHandler())
	up.Close()
	b := newBed(t, http.NotFoundHandler(), "")
	b.conn.ProxyBaseURL = up.URL
	b.server = b.serve(b.newProxy())
	resp := b.do("GET", "/x?secret=1", nil, nil)
	body := readAll(t, resp)
	if resp.StatusCode != http.StatusBadGateway || resp.Header.Get(HeaderError) != "upstream_unreachable" || strings.Contains(body, "secret") {
		t.Fatalf("answer %d %v %s", resp.StatusCode, resp.Header, body)
	}
	if rec := b.rec.nth(t, 1); rec.Outcome != audit.Failure || rec.Reason != "upstream_unreachable" {
		t.Fatalf("audit record %+v", rec)
	}
}

func TestServerSentEventsStream(t *testing.T) {
	release := make(chan struct{})
	b := newBed(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
		_, _ = io.WriteString(w, "data: last\n\n")
	}), "")
	resp := b.do("GET", "/events", nil, nil)
	defer resp.Body.Close()
	buf := make([]byte, len("data: first\n\n"))
	done := make(chan error, 1)
	go func() { _, err := io.ReadFull(resp.Body, buf); done <- err }()
	select {
	case err := <-done:
		if err != nil || string(buf) != "data: first\n\n" {
			t.Fatalf("first event %q, %v", buf, err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the first event did not arrive before the upstream finished")
	}
	close(release)
	if rest, _ := io.ReadAll(resp.Body); string(rest) != "data: last\n\n" {
		t.Fatalf("rest %q", rest)
	}
}

// TestTokenIsPresentedAsTheEntrySays: the catalog entry's API headers are sent, and the token
// in the entry's header with its prefix (Notion: Bearer and Notion-Version; ClickUp: the
// bare token in Authorization).
func TestTokenIsPresentedAsTheEntrySays(t *testing.T) {
	for entry, want := range map[string]map[string]string{
		"notion":  {"Authorization": "Bearer tok-one", "Notion-Version": "2022-06-28"},
		"clickup": {"Authorization": "tok-one"},
	} {
		var seen http.Header
		b := newBed(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = r.Header.Clone() }), "")
		b.conn.Provider, b.conn.AuthURL, b.conn.TokenURL = entry, "", ""
		b.server = b.serve(b.newProxy())
		resp := b.do("GET", "/x", nil, http.Header{"Notion-Version": {"caller's"}})
		if body := readAll(t, resp); resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", entry, resp.StatusCode, body)
		}
		for k, v := range want {
			if got := seen.Values(k); len(got) != 1 || got[0] != v {
				t.Errorf("%s: upstream got %s %q, want %q", entry, k, got, v)
			}
		}
	}
}
