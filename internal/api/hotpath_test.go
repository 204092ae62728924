package api

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/apikey"
	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/broker"
	"github.com/authconnection/terraform-provider-tailor/internal/oauth"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv/tailortest"
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
	tb.Helper()
	st := tailortest.NewMemStore()
	st.Conns["c"] = true
	st.Tokens["c"] = store.TokenRecord{TokenSet: authconn.TokenSet{AccessToken: "at", RefreshToken: "rt", TokenType: "Bearer",
		Expiry: time.Now().Add(time.Hour), AuthorizedAt: time.Now(), Status: authconn.StatusAuthorized}, Version: 1}
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
	s, key := hotServer(b)
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
