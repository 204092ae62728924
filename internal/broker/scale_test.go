package broker_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/broker"
	"github.com/authconnection/terraform-provider-tailor/internal/oauth"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv"
	"github.com/authconnection/terraform-provider-tailor/internal/vaultclient"
)

// countingVault is a reverse proxy in front of Vault that counts the requests one replica
// makes.
type countingVault struct {
	URL string
	n   atomic.Int64
}

func newCountingVault(t *testing.T, target string) *countingVault {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	c := &countingVault{}
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.n.Add(1)
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	c.URL = srv.URL
	return c
}

// scaleSizes are the fleet sizes: 1,000 in CI; TAILOR_SCALE=1 measures 1,000, 10,000 and
// 100,000 (about 10 minutes; docs/benchmarks.md).
func scaleSizes() []int {
	if os.Getenv("TAILOR_SCALE") != "" {
		return []int{1000, 10000, 100000}
	}
	return []int{1000}
}

// TestIdleCostStaysFlat: for each fleet size, a replica that follows the change log makes
// about one Vault request per ChangeInterval while idle (no refresh due), whatever the number
// of connections, and a revoke made elsewhere reaches it through the log. The control (no
// change log, only the RecheckInterval re-read of every record; TAILOR_SCALE only) shows
// the cost that grows with the fleet. Figures
// (requests per second, propagation, heap, RSS, warm start) are logged for
// docs/benchmarks.md; nothing here asserts a duration.
func TestIdleCostStaysFlat(t *testing.T) {
	v := testenv.StartVault(t)
	for _, n := range scaleSizes() {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			prefix := fmt.Sprintf("scale-%d", n)
			seed(t, v, prefix, n)
			if os.Getenv("TAILOR_SCALE") != "" {
				measureIdle(t, v, prefix, n, false) // the control first: the other revokes some
			}
			measureIdle(t, v, prefix, n, true)
		})
	}
}

// seed writes n authorized token records (1,000-byte access tokens valid for a day).
func seed(t *testing.T, v *testenv.Vault, prefix string, n int) {
	t.Helper()
	st, err := store.New(v.Client(), store.Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var wg sync.WaitGroup
	work := make(chan int)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			kv := v.Client().KVv2("secret")
			for i := range work {
				ts := map[string]any{"access_token": strings.Repeat("a", 1000) + strconv.Itoa(i), "refresh_token": "rt-" + strconv.Itoa(i),
					"token_type": "Bearer", "expiry": time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339), "status": "authorized",
					"authorized_at": time.Now().UTC().Format(time.RFC3339)}
				if _, err := kv.Put(context.Background(), st.Layout(name(i)).Tokens, ts); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	t.Logf("seeded %d token records in %s", n, time.Since(start).Round(time.Millisecond))
}

func name(i int) string { return "conn-" + strconv.Itoa(i) }

// measureIdle starts one replica through a counting proxy, warms it, counts its Vault
// requests over an idle window, and (with the change log) times a revoke made elsewhere.
func measureIdle(t *testing.T, v *testenv.Vault, prefix string, n int, withLog bool) {
	t.Helper()
	proxy := newCountingVault(t, v.Addr)
	vc, err := vaultclient.New(context.Background(), vaultclient.Config{Address: proxy.URL, Token: v.Token, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer vc.Close()
	st, err := store.New(vc.Client, store.Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	o := broker.Options{Store: st, OAuth: &oauth.Client{}, ReplicaID: "idle", Logger: testLogger(t), Concurrency: 32}
	label := "change log, recheck 1h"
	if withLog {
		o.Changes, o.RecheckInterval = st, time.Hour
	} else {
		o.RecheckInterval, label = 30*time.Second, "control: no change log, recheck 30s"
	}
	runtime.GC() // twice: the previous replica's cache goes in the first
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	b, err := broker.New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); b.Close() }()
	start := time.Now()
	if got, err := b.Warm(ctx); err != nil || got != n {
		t.Fatalf("warm: %d of %d: %v", got, n, err)
	}
	warmed := time.Since(start)
	heap := heapSince(&before)
	go b.Run(ctx)
	window := 10 * time.Second
	if !withLog {
		window = time.Minute // two rounds of the 30-second re-read (24-30 s with its jitter)
	}
	counting := time.Now()
	proxy.n.Store(0)
	time.Sleep(window)
	reqs := proxy.n.Load()
	counted := time.Since(counting) // the window as it was: a loaded machine sleeps longer
	perSec := float64(reqs) / counted.Seconds()
	t.Logf("%d connections, %s: %.1f Vault requests/s idle (%d in %s); warm start %s; heap %.1f MiB (%d B per connection); RSS %s",
		n, label, perSec, reqs, counted.Round(time.Millisecond), warmed.Round(time.Millisecond), float64(heap)/(1<<20), heap/int64(n), rss())
	if !withLog {
		return
	}
	// One poll per ChangeInterval (1 s) of the measured window and nothing else (the slack
	// of 3: the change log's first read as Run starts, and requests in flight at either end).
	if limit := int64(counted/time.Second) + 3; reqs > limit {
		t.Errorf("invariant «an idle replica's Vault requests do not grow with the fleet»: %d requests in %s with %d connections (at most %d)", reqs, counted.Round(time.Millisecond), n, limit)
	}
	logRevokePropagation(t, v, prefix, b)
}

// logRevokePropagation revokes five connections from another client (their tokens deleted,
// as tokend revoke does after the provider's revocation endpoint) and logs how long the
// replica took to stop serving each.
func logRevokePropagation(t *testing.T, v *testenv.Vault, prefix string, b *broker.Broker) {
	t.Helper()
	st, err := store.New(v.Client(), store.Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var took []time.Duration
	for i := range 5 {
		nm := name(i * 7)
		// At a random moment of the follower's polling cycle, not just after a poll.
		time.Sleep(time.Duration(rand.Int64N(int64(time.Second))))
		start := time.Now()
		if err := st.DeleteTokens(ctx, nm); err != nil {
			t.Fatal(err)
		}
		for {
			_, err := b.Token(ctx, nm)
			var na *broker.NotAuthorizedError
			if errors.As(err, &na) || errors.Is(err, broker.ErrNotFound) {
				took = append(took, time.Since(start))
				break
			}
			if time.Since(start) > 20*time.Second {
				t.Fatalf("invariant «a revoke reaches the replica through the change log»: %s still served after 20 s", nm)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	t.Logf("revoke propagation: %v", took)
}

func heapSince(before *runtime.MemStats) int64 {
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	return int64(after.HeapAlloc) - int64(before.HeapAlloc)
}

// rss is the process's resident set (the test binary: broker, proxy and all).
func rss() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "unknown"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}
