package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/apikey"
	"github.com/authconnection/terraform-provider-tailor/internal/broker"
	"github.com/authconnection/terraform-provider-tailor/internal/oauth"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv/tailortest"
)

// countingKeys wraps a KeyStore and counts its reads (each is one Vault read in tokend).
type countingKeys struct {
	KeyStore
	reads atomic.Int64
	byID  sync.Map // id -> *atomic.Int64
}

func (c *countingKeys) GetAPIKey(ctx context.Context, id string) (*store.APIKey, error) {
	c.reads.Add(1)
	n, _ := c.byID.LoadOrStore(id, new(atomic.Int64))
	n.(*atomic.Int64).Add(1)
	return c.KeyStore.GetAPIKey(ctx, id)
}

func (c *countingKeys) readsOf(id string) int64 {
	n, ok := c.byID.Load(id)
	if !ok {
		return 0
	}
	return n.(*atomic.Int64).Load()
}

// bucket is a Limiter of one client with a fixed budget (internal/ratelimit in tokend).
type bucket struct{ left atomic.Int64 }

func (b *bucket) Allow(*http.Request) (bool, time.Duration) {
	return b.left.Add(-1) >= 0, 3 * time.Second
}

func madeUpKey(i int) string {
	return fmt.Sprintf("tk_%012d_%s", i, strings.Repeat("x", 32))
}

// attackServer is hotServer with a counting key store and limit (nil: none).
func attackServer(t *testing.T, limit Limiter) (*Server, string, *countingKeys) {
	t.Helper()
	s, key := hotServer(t)
	ck := &countingKeys{KeyStore: s.keys.ks}
	s.keys = newKeyCache(ck, time.Hour, limit)
	s.o.FailLimit = limit
	return s, key, ck
}

func status(s http.Handler, key, host string) (int, http.Header, string) {
	req := httptest.NewRequest(http.MethodGet, "/v1/connections/c/token", nil)
	req.RemoteAddr = "192.0.2.66:4444"
	if host != "" {
		req.Host = host
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, req)
	return w.Code, w.Header(), w.Body.String()
}

// TestAttackF6_ValidKeySurvivesAFloodOfMadeUpKeys: 25,000 made-up key ids (more than the
// cache holds) do not push a valid key out of the cache: it is not read from Vault again
// (security review 6: the cache of unknown keys is bounded apart from the known keys).
func TestAttackF6_ValidKeySurvivesAFloodOfMadeUpKeys(t *testing.T) {
	s, key, ck := attackServer(t, nil)
	if code, _, body := status(s, key, ""); code != 200 {
		t.Fatalf("valid key: %d %s", code, body)
	}
	id, _, _ := apikey.Parse(key)
	for i := range 25000 {
		if code, _, _ := status(s, madeUpKey(i), ""); code != http.StatusUnauthorized {
			t.Fatalf("made-up key %d: %d", i, code)
		}
	}
	if code, _, _ := status(s, key, ""); code != 200 {
		t.Fatalf("valid key after the flood: %d", code)
	}
	if n := ck.readsOf(id); n != 1 {
		t.Errorf("invariant «a valid key's cache entry survives a flood of made-up keys»: its record was read %d times, want 1", n)
	}
	if n := s.keys.unknown.Len(); n > maxUnknownKeys {
		t.Errorf("invariant «the negative cache is bounded»: %d entries", n)
	}
}

// TestAttackF6_MadeUpKeysCostVaultReadsBoundedByTheLimit: a client that presents 500
// made-up keys causes as many key reads as its bucket allows, then gets 429 with
// Retry-After and no Vault read; a valid key already cached is still served (never charged).
func TestAttackF6_MadeUpKeysCostVaultReadsBoundedByTheLimit(t *testing.T) {
	lim := &bucket{}
	lim.left.Store(20)
	s, key, ck := attackServer(t, lim)
	if code, _, _ := status(s, key, ""); code != 200 {
		t.Fatalf("valid key: %d", code)
	}
	codes := map[int]int{}
	for i := range 500 {
		code, h, _ := status(s, madeUpKey(i), "")
		codes[code]++
		if code == http.StatusTooManyRequests && h.Get("Retry-After") != "3" {
			t.Fatalf("429 without Retry-After: %v", h)
		}
	}
	if got := ck.reads.Load(); got > 21 {
		t.Errorf("invariant «made-up keys cost Vault reads bounded by the rate limit»: %d key reads for 500 made-up keys, want at most 21 (the valid key and a bucket of 20)", got)
	}
	if codes[http.StatusTooManyRequests] < 470 {
		t.Errorf("answers %v: want 429 once the bucket is empty", codes)
	}
	if code, _, _ := status(s, key, ""); code != 200 {
		t.Errorf("invariant «valid callers are not slowed»: a cached valid key from the flooding address got %d", code)
	}
}

// TestAttackF10_RebindingHostIsRefusedWithoutAuth: with NoAuth, a request whose Host is not a
// loopback name with tokend's port (a page that rebound its DNS name to 127.0.0.1) gets 421
// and no token.
func TestAttackF10_RebindingHostIsRefusedWithoutAuth(t *testing.T) {
	s, _ := hotServer(t)
	s.o.NoAuth, s.o.NoAuthPort = true, "8787"
	for host, want := range map[string]int{
		"attacker-rebind.example:8787": http.StatusMisdirectedRequest,
		"attacker-rebind.example":      http.StatusMisdirectedRequest,
		"127.0.0.1:9999":               http.StatusMisdirectedRequest,
		"127.0.0.1:8787":               http.StatusOK,
		"localhost:8787":               http.StatusOK,
		"[::1]:8787":                   http.StatusOK,
	} {
		code, _, body := status(s, "", host)
		if code != want {
			t.Errorf("Host %q: %d, want %d", host, code, want)
		}
		if want != 200 && strings.Contains(body, "access_token") {
			t.Errorf("Host %q got a token", host)
		}
	}
}

// TestAttackF11_ReadyzShowsNoDetail: while Vault cannot be reached, /readyz answers 503
// {"status":"not ready"} without Vault's address, mount or error; the log has them.
func TestAttackF11_ReadyzShowsNoDetail(t *testing.T) {
	var logged strings.Builder
	log := slog.New(slog.NewTextHandler(&logged, nil))
	b, err := broker.New(broker.Options{Store: tailortest.NewMemStore(), OAuth: &oauth.Client{}, ReplicaID: "t", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Broker: b, NoAuth: true, Logger: log, Ready: func() error {
		return errors.New("cannot reach Vault at http://127.0.0.1:18200 or list secret/tailor: connection refused")
	}})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "/readyz", nil)
	req.Host = "127.0.0.1:8787"
	w := httptest.NewRecorder()
	s.ServeHTTP(w, req)
	if w.Code != http.StatusServiceUnavailable || strings.TrimSpace(w.Body.String()) != `{"status":"not ready"}` {
		t.Errorf("invariant «/readyz tells anonymous callers only ready or not»: %d %s", w.Code, w.Body)
	}
	if !strings.Contains(logged.String(), "127.0.0.1:18200") {
		t.Errorf("the reason is not in the log: %s", logged.String())
	}
}
