package api

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/apikey"
	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/broker"
	"github.com/authconnection/terraform-provider-tailor/internal/oauth"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv/tailortest"
	"github.com/authconnection/terraform-provider-tailor/internal/wire"
)

// discard is a reusable ResponseWriter, so the benchmark counts the server's allocations and
// not a recorder's.
type discard struct {
	h    http.Header
	code int
}

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(code int)        { d.code = code }

// hotServer is the API on an in-memory store with one authorized connection and one key.
func hotServer(tb testing.TB) (*Server, string) {
	return hotServerWith(tb, nil, "")
}

// hotServerWith is hotServer whose connection has metadata md and API base URL base.
func hotServerWith(tb testing.TB, md map[string]string, base string) (*Server, string) {
	tb.Helper()
	st := tailortest.NewMemStore()
	st.Conns["c"] = true
	st.Tokens["c"] = store.TokenRecord{TokenSet: authconn.TokenSet{AccessToken: "at", RefreshToken: "rt", TokenType: "Bearer",
		Expiry: time.Now().Add(time.Hour), AuthorizedAt: time.Now(), Status: authconn.StatusAuthorized, Metadata: md, APIBaseURL: base}, Version: 1}
	k, err := apikey.Generate()
	if err != nil {
		tb.Fatal(err)
	}
	keys := &flakyKeys{rec: &store.APIKey{ID: k.ID, Hash: k.Hash, Connections: []string{"c"}}}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	b, err := broker.New(broker.Options{Store: st, OAuth: &oauth.Client{}, ReplicaID: "bench", Logger: quiet})
	if err != nil {
		tb.Fatal(err)
	}
	s, err := New(Options{Broker: b, Keys: keys, Logger: quiet})
	if err != nil {
		tb.Fatal(err)
	}
	return s, k.Plain
}

// BenchmarkTokenHotPath is a cached token request through the whole handler (routing, API key
// check, broker, metrics, response): its allocations per request are in docs/benchmarks.md.
//
//	go test -run '^$' -bench TokenHotPath -benchmem ./internal/api/
func BenchmarkTokenHotPath(b *testing.B) {
	benchmarkHotPath(b, hotServer)
}

// BenchmarkTokenHotPathMetadata is BenchmarkTokenHotPath for a connection with metadata and
// an API base URL in its answer (QuickBooks'): the body is encoded once per token version,
// so the cost per request is the same.
func BenchmarkTokenHotPathMetadata(b *testing.B) {
	benchmarkHotPath(b, func(tb testing.TB) (*Server, string) { return hotServerWith(tb, qbMetadata, qbBase) })
}

var (
	qbMetadata = map[string]string{"realmId": "9130357766164567"}
	qbBase     = "https://quickbooks.api.intuit.com"
)

func benchmarkHotPath(b *testing.B, server func(testing.TB) (*Server, string)) {
	s, key := server(b)
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, "/v1/connections/c/token", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	w := &discard{h: http.Header{}}
	s.ServeHTTP(w, req)
	if w.code != 0 && w.code != http.StatusOK {
		b.Fatalf("status %d", w.code)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		clear(w.h)
		s.ServeHTTP(w, req)
	}
}

// TestKeyChangedDropsTheCachedKey: after KeyChanged (the change log named the key) the next
// request reads the key again, so a key deleted elsewhere is refused at once, not after the
// cache's TTL.
func TestKeyChangedDropsTheCachedKey(t *testing.T) {
	s, key := hotServer(t)
	s.keys.ttl = time.Hour
	req, _ := http.NewRequest(http.MethodGet, "/v1/connections/c/token", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	status := func() int {
		w := &discard{h: http.Header{}}
		s.ServeHTTP(w, req)
		if w.code == 0 {
			return http.StatusOK
		}
		return w.code
	}
	if got := status(); got != http.StatusOK {
		t.Fatalf("first request: %d", got)
	}
	ks := s.keys.ks.(*flakyKeys)
	id := ks.rec.ID
	ks.rec = nil // deleted in Vault
	if got := status(); got != http.StatusOK {
		t.Fatalf("control: a cached key is accepted within its TTL, got %d", got)
	}
	s.KeyChanged(id)
	if got := status(); got != http.StatusUnauthorized {
		t.Fatalf("invariant «a key named in the change log is read again»: status %d after KeyChanged, want 401", got)
	}
}

// TestTokenHotPathAllocations keeps the cached token request at the one allocation that
// net/http's routing makes (its path match); the handler itself allocates nothing. A count,
// not a time: it does not depend on the machine.
func TestTokenHotPathAllocations(t *testing.T) {
	s, key := hotServer(t)
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, "/v1/connections/c/token", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	w := &discard{h: http.Header{}}
	s.ServeHTTP(w, req) // the first request reads the key and the record
	allocs := testing.AllocsPerRun(200, func() {
		clear(w.h)
		w.code = 0
		s.ServeHTTP(w, req)
	})
	if w.code != 0 && w.code != http.StatusOK {
		t.Fatalf("status %d", w.code)
	}
	if allocs > 1 {
		t.Errorf("a cached token request makes %.0f allocations, want at most 1 (net/http's path match)", allocs)
	}
}

// TestTokenHotPathWithMetadata: a connection with metadata answers {access_token,
// token_type, expires_at, metadata, api_base_url} from memory at the same cost (at most the
// one allocation of net/http's path match), and the metadata holds none of the secrets.
func TestTokenHotPathWithMetadata(t *testing.T) {
	s, key := hotServerWith(t, qbMetadata, qbBase)
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, "/v1/connections/c/token", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	var tok wire.Token
	if err := json.Unmarshal(rec.Body.Bytes(), &tok); err != nil || rec.Code != http.StatusOK {
		t.Fatalf("answer %d %s: %v", rec.Code, rec.Body, err)
	}
	if tok.AccessToken != "at" || tok.TokenType != "Bearer" || tok.ExpiresAt.IsZero() || !maps.Equal(tok.Metadata, qbMetadata) || tok.APIBaseURL != qbBase {
		t.Fatalf("invariant «the answer carries the metadata and the API base URL»: %s", rec.Body)
	}
	if rec.Header().Get("Content-Length") != strconv.Itoa(rec.Body.Len()) {
		t.Errorf("Content-Length %q for a body of %d bytes", rec.Header().Get("Content-Length"), rec.Body.Len())
	}
	for _, v := range append(slices.Collect(maps.Values(tok.Metadata)), tok.APIBaseURL) {
		if v == "rt" || v == tok.AccessToken || strings.Contains(v, key) {
			t.Fatal("invariant «the metadata holds no secret»")
		}
	}
	w := &discard{h: http.Header{}}
	allocs := testing.AllocsPerRun(200, func() {
		clear(w.h)
		w.code = 0
		s.ServeHTTP(w, req)
	})
	if allocs > 1 {
		t.Errorf("a cached token request with metadata makes %.0f allocations, want at most 1", allocs)
	}
}

// TestListShowsTheMetadata: GET /v1/connections shows a connection's metadata and API base
// URL, and never its tokens.
func TestListShowsTheMetadata(t *testing.T) {
	s, key := hotServerWith(t, qbMetadata, qbBase)
	req, _ := http.NewRequest(http.MethodGet, "/v1/connections", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	var got wire.ConnectionList
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || rec.Code != http.StatusOK || len(got.Connections) != 1 ||
		!maps.Equal(got.Connections[0].Metadata, qbMetadata) || got.Connections[0].APIBaseURL != qbBase {
		t.Fatalf("list %d %s: %v", rec.Code, rec.Body, err)
	}
	if strings.Contains(rec.Body.String(), `"at"`) || strings.Contains(rec.Body.String(), `"rt"`) {
		t.Fatalf("a token in the list: %s", rec.Body)
	}
}
