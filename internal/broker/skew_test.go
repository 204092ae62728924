package broker

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv/tailortest"
)

// countingStore counts the token-record reads of a MemStore.
type countingStore struct {
	*tailortest.MemStore
	reads atomic.Int64
}

func (c *countingStore) GetTokens(ctx context.Context, name string) (*store.TokenRecord, error) {
	c.reads.Add(1)
	return c.MemStore.GetTokens(ctx, name)
}

// inSkewWindow returns a store whose connection "c" has a token in its skew window (served
// only after a re-read) for about the next two seconds, and a broker on it with a 5 s skew.
func inSkewWindow(t *testing.T) (*countingStore, *Broker) {
	t.Helper()
	st := &countingStore{MemStore: tailortest.NewMemStore()}
	st.Conns["c"] = true
	// Lifetime 60 min, so the lead is 6 min: the refresh cutoff is in about 3 s (expiry is
	// truncated to the second), and the serving cutoff 5 s before it has passed.
	expiry := time.Now().Add(6*time.Minute + 3500*time.Millisecond)
	st.Tokens["c"] = store.TokenRecord{TokenSet: authconn.TokenSet{AccessToken: "current", RefreshToken: "rt", TokenType: "Bearer",
		Expiry: expiry, RefreshedAt: expiry.Add(-time.Hour), Status: authconn.StatusAuthorized}, Version: 1}
	b, err := New(Options{Store: st, OAuth: &fakeOAuth{life: time.Hour}, ReplicaID: "me", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Skew: 5 * time.Second, PollInterval: 20 * time.Millisecond, LeaseTTL: 10 * time.Second, LeaseSafety: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return st, b
}

// hammer calls Token for connection "c" from 8 goroutines for d and returns how many calls
// were made and every access token served (in no order).
func hammer(t *testing.T, b *Broker, d time.Duration, served func(string)) int64 {
	t.Helper()
	var calls atomic.Int64
	var wg sync.WaitGroup
	end := time.Now().Add(d)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) {
				tok, err := b.Token(context.Background(), "c")
				if err != nil {
					t.Errorf("Token in the skew window: %v", err)
					return
				}
				calls.Add(1)
				served(tok.AccessToken)
			}
		}()
	}
	wg.Wait()
	return calls.Load()
}

// TestSkewWindowReadsTheRecordNotEveryRequest: between the serving cutoff and the refresh
// cutoff the record is re-read at most about once per checkFresh, however many requests
// arrive, and every request is served the current token.
func TestSkewWindowReadsTheRecordNotEveryRequest(t *testing.T) {
	st, b := inSkewWindow(t)
	if b.Cached("c") != nil {
		t.Fatal("the token is served from memory without a check: the test is not in the skew window")
	}
	start := time.Now()
	calls := hammer(t, b, 500*time.Millisecond, func(at string) {
		if at != "current" {
			t.Errorf("served %q, want the current token", at)
		}
	})
	elapsed := time.Since(start)
	reads := st.reads.Load()
	// One re-read per checkFresh at most (a re-read starts only once the last one is that
	// old), plus the first read of the record.
	if limit := int64(elapsed/checkFresh) + 2; reads > limit {
		t.Errorf("%d token-record reads for %d requests in %v: want at most %d (one per %v)", reads, calls, elapsed, limit, checkFresh)
	}
	if reads < 2 {
		t.Errorf("%d token-record reads in %v of skew window: the record must be re-read while the token is served", reads, elapsed)
	}
	t.Logf("%d requests, %d token-record reads in %v", calls, reads, elapsed)
}

// TestSkewWindowSeesAnotherReplicasRefresh: when another replica (whose clock runs ahead)
// refreshes within the skew window, this one serves the new token soon after, and never the
// old one again.
func TestSkewWindowSeesAnotherReplicasRefresh(t *testing.T) {
	st, b := inSkewWindow(t)
	if _, err := b.Token(context.Background(), "c"); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var seen []string
	var servedOld int
	// The other replica stores its refresh while this one is serving: after 50 answers of
	// the current token (inside the hammering, not after a guessed delay).
	refreshElsewhere := func() {
		st.Mu.Lock()
		defer st.Mu.Unlock()
		st.Tokens["c"] = store.TokenRecord{TokenSet: authconn.TokenSet{AccessToken: "refreshed-elsewhere", RefreshToken: "rt2", TokenType: "Bearer",
			Expiry: time.Now().Add(time.Hour), RefreshedAt: time.Now(), Status: authconn.StatusAuthorized}, Version: 2}
	}
	hammer(t, b, 700*time.Millisecond, func(at string) {
		mu.Lock()
		defer mu.Unlock()
		if at == "current" {
			if servedOld++; servedOld == 50 {
				go refreshElsewhere()
			}
		}
		if n := len(seen); n == 0 || seen[n-1] != at {
			seen = append(seen, at)
		}
	})
	// Goroutines append in their own order, so an old token may follow the new one by one
	// request that read its answer before the change; at the end, the new one is served.
	if tok, err := b.Token(context.Background(), "c"); err != nil || tok.AccessToken != "refreshed-elsewhere" {
		t.Fatalf("after the other replica's refresh: %v, %v", tok, err)
	}
	if !slices.Contains(seen, "refreshed-elsewhere") {
		t.Fatalf("the other replica's token was never served while hammering (served %v)", seen)
	}
}

// TestACallerWithAnOlderLookStartsNoSecondRead: callers that found the state stale, and ask
// for a sync only after another one finished, are answered by that read: the record is not
// read again the moment the previous read ends (the skew window's bound above depends on it).
func TestACallerWithAnOlderLookStartsNoSecondRead(t *testing.T) {
	st, b := inSkewWindow(t)
	e := b.entry("c")
	looked := b.now()
	if err := b.syncNow(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	before := st.reads.Load()
	if err := b.syncSince(context.Background(), e, looked); err != nil {
		t.Fatal(err)
	}
	if b.startSync(context.Background(), e, true, looked) {
		b.wg.Wait()
	}
	if got := st.reads.Load() - before; got != 0 {
		t.Errorf("%d reads for callers that looked before the last read: want 0", got)
	}
	if err := b.syncSince(context.Background(), e, b.now()); err != nil {
		t.Fatal(err)
	}
	if got := st.reads.Load() - before; got != 1 {
		t.Errorf("%d reads for a caller that looked after the last read: want 1", got)
	}
}

// TestAForcedSyncThatJoinsASkippingFlightStillReads: a caller that must read (a zero since:
// a 401 from the API, the refresh cutoff) and joins a flight that another caller's look let
// skip is not answered by that skip: it reads the record itself.
func TestAForcedSyncThatJoinsASkippingFlightStillReads(t *testing.T) {
	st, b := inSkewWindow(t)
	e := b.entry("c")
	release := make(chan struct{})
	skipping := b.group.DoChan("c", func() (any, error) { <-release; return readSkipped{}, nil })
	before := st.reads.Load()
	done := make(chan error, 1)
	go func() { done <- b.syncNow(context.Background(), e) }()
	// Give the forced sync time to join the skipping flight (if it starts its own flight
	// instead, it reads too: the assertion holds either way).
	time.Sleep(50 * time.Millisecond)
	close(release)
	<-skipping
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := st.reads.Load() - before; got != 1 {
		t.Errorf("a forced sync that joined a skipping flight made %d reads, want 1", got)
	}
}
