package broker_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/broker"
	"github.com/authconnection/terraform-provider-tailor/internal/oauth"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv/tailortest"
)

// counter is a broker.Observer that counts refresh outcomes.
type counter struct {
	mu       sync.Mutex
	outcomes map[string]int
	hits     atomic.Int64
	misses   atomic.Int64
}

func newCounter() *counter { return &counter{outcomes: map[string]int{}} }

func (c *counter) CacheHit(string)  { c.hits.Add(1) }
func (c *counter) CacheMiss(string) { c.misses.Add(1) }
func (c *counter) Refresh(_, outcome string) {
	c.mu.Lock()
	c.outcomes[outcome]++
	c.mu.Unlock()
}
func (c *counter) get(o string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.outcomes[o]
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("TOKEND_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// newBroker starts a broker on its own Vault client, running until the test ends. The
// returned counter observes it unless o has an Observer.
func newBroker(t *testing.T, env *tailortest.Env, id string, o broker.Options) (*broker.Broker, *counter) {
	t.Helper()
	c := newCounter()
	if o.Store == nil {
		o.Store = env.NewStore(t)
	}
	o.OAuth = &oauth.Client{}
	o.ReplicaID = id
	if o.Observer == nil {
		o.Observer = c
	}
	if o.Logger == nil {
		o.Logger = testLogger(t).With("replica", id)
	}
	if o.TickInterval == 0 {
		o.TickInterval = 100 * time.Millisecond
	}
	if o.LeaseTTL == 0 {
		o.LeaseTTL = 20 * time.Second
		o.LeaseSafety = 5 * time.Second
	}
	b, err := broker.New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go b.Run(ctx)
	t.Cleanup(func() { cancel(); b.Close() })
	return b, c
}

// TestReplicasRefreshOncePerExpiry: three brokers with their own Vault clients share one
// Vault; 200 callers ask them for tokens across several expiry boundaries of 4-second Hydra
// access tokens. Hydra revokes the whole chain when a refresh token is used twice, so the
// connection staying valid plus the proxy never seeing a refresh token twice proves that
// exactly one refresh reached Hydra per token generation.
func TestReplicasRefreshOncePerExpiry(t *testing.T) {
	t.Parallel()
	env := tailortest.Start(t, testenv.HydraOptions{AccessTokenTTL: 4 * time.Second})
	env.AddConnection(t, "hydra-oauth")
	first := env.Authorize(t, "hydra-oauth")
	var brokers []*broker.Broker
	var counters []*counter
	for i := range 3 {
		b, c := newBroker(t, env, fmt.Sprintf("replica-%d", i), broker.Options{})
		brokers, counters = append(brokers, b), append(counters, c)
	}
	runFor := 14 * time.Second
	if testing.Short() {
		runFor = 9 * time.Second
	}
	r := callReplicas(env, brokers, 200, runFor)
	refreshes := env.Proxy.Refreshes()
	t.Logf("%d calls by %d callers over %s; %d distinct access tokens served; %d refreshes reached Hydra; statuses %v",
		r.calls.Load(), r.callers, runFor, len(r.tokens), refreshes, env.Proxy.Statuses())
	for i, c := range counters {
		t.Logf("replica-%d: cache hits %d, misses %d, refreshes %v", i, c.hits.Load(), c.misses.Load(), c.outcomes)
	}
	if f := r.failures.Load(); f > 0 {
		t.Errorf("%d of %d calls failed; first: %v", f, r.calls.Load(), r.firstErr.Load())
	}
	checkOneRefreshPerGeneration(t, env, counters, runFor)
	checkNoTokenServedAfterItsSuccessor(t, r)
	if len(r.inactive) > 0 {
		t.Errorf("%d served access tokens were not active at Hydra: %v", len(r.inactive), r.inactive)
	}
	checkRecordOneVersionPerRefresh(t, env, first, len(r.tokens))
}

// replicaRun is what the callers of TestReplicasRefreshOncePerExpiry saw.
type replicaRun struct {
	callers         int
	calls, failures atomic.Int64
	firstErr        atomic.Value
	tokens          map[string]time.Time // access token -> when first returned
	order           []string             // access tokens in the order they were first returned
	serves          []tokenServe
	inactive        []string // introspection answers of served tokens that were not active
}

// tokenServe is one successful call: when it started and which access token it returned.
type tokenServe struct {
	start time.Time
	token string
}

// callReplicas runs callers goroutines that ask brokers (in turn) for hydra-oauth's token
// for runFor, introspects every new access token as soon as it is first served, and closes
// the brokers before it returns, so that no refresh runs between the caller's counts.
func callReplicas(env *tailortest.Env, brokers []*broker.Broker, callers int, runFor time.Duration) *replicaRun {
	ctx, cancel := context.WithTimeout(context.Background(), runFor)
	defer cancel()
	r := &replicaRun{callers: callers, tokens: map[string]time.Time{}}
	var mu sync.Mutex
	newTokens := make(chan string, 64)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				r.call(ctx, brokers[i%len(brokers)], &mu, newTokens)
				time.Sleep(time.Duration(2+rand.IntN(8)) * time.Millisecond)
			}
		}()
	}
	introDone := make(chan struct{})
	go func() {
		defer close(introDone)
		for tok := range newTokens {
			ir, err := env.Introspect(tok)
			if err != nil || !ir.Active || ir.ClientID != env.ClientID {
				r.inactive = append(r.inactive, fmt.Sprintf("%+v %v", ir, err))
			}
		}
	}()
	wg.Wait()
	for _, b := range brokers {
		b.Close()
	}
	close(newTokens)
	<-introDone
	return r
}

// call makes one call and records it: a failure, an expired token, or the token served.
func (r *replicaRun) call(ctx context.Context, b *broker.Broker, mu *sync.Mutex, newTokens chan<- string) {
	start := time.Now()
	tok, err := b.Token(ctx, "hydra-oauth")
	now := time.Now()
	if ctx.Err() != nil {
		return
	}
	r.calls.Add(1)
	if err != nil {
		r.failures.Add(1)
		r.firstErr.CompareAndSwap(nil, err)
		return
	}
	if !now.Before(tok.ExpiresAt) {
		r.failures.Add(1)
		r.firstErr.CompareAndSwap(nil, fmt.Errorf("served a token that expired at %s", tok.ExpiresAt))
	}
	mu.Lock()
	defer mu.Unlock()
	if _, ok := r.tokens[tok.AccessToken]; !ok {
		r.tokens[tok.AccessToken] = now
		r.order = append(r.order, tok.AccessToken)
		newTokens <- tok.AccessToken
	}
	r.serves = append(r.serves, tokenServe{start, tok.AccessToken})
}

// checkOneRefreshPerGeneration: no refresh token reached Hydra twice, every refresh was
// answered 200 and stored by exactly one replica, and the run crossed expiry boundaries.
func checkOneRefreshPerGeneration(t *testing.T, env *tailortest.Env, counters []*counter, runFor time.Duration) {
	t.Helper()
	refreshes := env.Proxy.Refreshes()
	if n := env.Proxy.Reused(); n > 0 {
		t.Errorf("%d refresh tokens were sent to Hydra more than once", n)
	}
	if st := env.Proxy.Statuses(); st[200] != refreshes {
		t.Errorf("refresh answers %v, want all %d to be 200", st, refreshes)
	}
	if refreshes < 2 {
		t.Errorf("only %d refreshes in %s with 4 s tokens: not enough expiry boundaries crossed", refreshes, runFor)
	}
	success := 0
	for _, c := range counters {
		success += c.get(broker.OutcomeSuccess)
	}
	if success != refreshes {
		t.Errorf("replicas stored %d refreshes, Hydra saw %d", success, refreshes)
	}
}

// checkNoTokenServedAfterItsSuccessor: Hydra revokes an access token when its refresh token
// is used, so once token k+1 has been returned to anyone, token k is dead: a call that
// started after that must not get k.
func checkNoTokenServedAfterItsSuccessor(t *testing.T, r *replicaRun) {
	t.Helper()
	next := map[string]string{}
	for i, tok := range r.order {
		if i+1 < len(r.order) {
			next[tok] = r.order[i+1]
		}
	}
	stale := 0
	for _, s := range r.serves {
		if n, ok := next[s.token]; ok && s.start.After(r.tokens[n]) {
			stale++
		}
	}
	if stale > 0 {
		t.Errorf("%d of %d calls returned an access token after its successor had been served (Hydra had revoked it)", stale, len(r.serves))
	}
}

// checkRecordOneVersionPerRefresh: the token record moved one version per refresh, is
// authorized, holds a refresh token active at Hydra, and each refresh gave one access
// token that was served (distinct tokens served: refreshes or refreshes+1).
func checkRecordOneVersionPerRefresh(t *testing.T, env *tailortest.Env, first *store.TokenRecord, served int) {
	t.Helper()
	refreshes := env.Proxy.Refreshes()
	final, err := env.Store.GetTokens(context.Background(), "hydra-oauth")
	if err != nil {
		t.Fatal(err)
	}
	if final.Version-first.Version != refreshes {
		t.Errorf("token record went from version %d to %d, want one version per refresh (%d)", first.Version, final.Version, refreshes)
	}
	if final.Status != authconn.StatusAuthorized {
		t.Errorf("final status %s", final.Status)
	}
	if ir, err := env.Introspect(final.RefreshToken); err != nil || !ir.Active {
		t.Errorf("the stored refresh token is not active at Hydra (%+v, %v): the chain was revoked", ir, err)
	}
	if served != refreshes+1 && served != refreshes {
		t.Errorf("%d distinct access tokens served for %d refreshes", served, refreshes)
	}
}

// TestInvalidGrantMarksNeedsReauthorization: a refresh token spent elsewhere makes Hydra
// answer invalid_grant; the broker records needs_reauthorization in Vault, answers 409-type
// errors, does not retry, and picks up a new authorization.
func TestInvalidGrantMarksNeedsReauthorization(t *testing.T) {
	t.Parallel()
	env := tailortest.Start(t, testenv.HydraOptions{AccessTokenTTL: 3 * time.Second})
	env.AddConnection(t, "hydra-oauth")
	env.Authorize(t, "hydra-oauth")
	env.SpendRefreshToken(t, "hydra-oauth")

	b, c := newBroker(t, env, "r1", broker.Options{RecheckInterval: time.Second, NegativeTTL: 500 * time.Millisecond})
	ctx := context.Background()
	deadline := time.Now().Add(20 * time.Second)
	var err error
	for time.Now().Before(deadline) {
		_, err = b.Token(ctx, "hydra-oauth")
		var na *broker.NotAuthorizedError
		if errors.As(err, &na) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	var na *broker.NotAuthorizedError
	if !errors.As(err, &na) || na.Status != authconn.StatusNeedsReauthorization {
		t.Fatalf("Token = %v, want needs_reauthorization", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "tokend authorize hydra-oauth") {
		t.Errorf("message %q does not name the command", msg)
	}
	ts, _ := env.Store.GetTokens(ctx, "hydra-oauth")
	if ts.Status != authconn.StatusNeedsReauthorization || ts.LastError == "" {
		t.Errorf("Vault record: status %s, last_error %q", ts.Status, ts.LastError)
	}
	sts, err := b.Statuses(ctx, nil)
	if err != nil || len(sts) != 1 || sts[0].Status != authconn.StatusNeedsReauthorization || sts[0].LastError == "" {
		t.Errorf("Statuses = %+v, %v", sts, err)
	}
	// No more attempts: several background ticks and on-demand calls later, Hydra has seen
	// exactly the one refused refresh.
	for range 10 {
		_, _ = b.Token(ctx, "hydra-oauth")
		time.Sleep(150 * time.Millisecond)
	}
	if n := env.Proxy.Refreshes(); n != 1 {
		t.Errorf("%d refresh requests reached Hydra, want exactly 1 (no retries after invalid_grant)", n)
	}
	if c.get(broker.OutcomeInvalidGrant) != 1 {
		t.Errorf("outcomes %v", c.outcomes)
	}
	// An operator authorizes again: the broker picks the new record up by itself.
	env.Authorize(t, "hydra-oauth")
	deadline = time.Now().Add(10 * time.Second)
	for {
		tok, err := b.Token(ctx, "hydra-oauth")
		if err == nil {
			if ir, _ := env.Introspect(tok.AccessToken); !ir.Active {
				t.Errorf("token after re-authorization is not active")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still failing after re-authorization: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestProviderDownServesCachedThenRecovers: while the token endpoint answers 503, the cached
// token is served until it expires, then callers get UnavailableError with a retry time;
// the broker backs off, and recovers when the provider is back.
func TestProviderDownServesCachedThenRecovers(t *testing.T) {
	t.Parallel()
	env := tailortest.Start(t, testenv.HydraOptions{AccessTokenTTL: 6 * time.Second})
	env.AddConnection(t, "hydra-oauth")
	env.Authorize(t, "hydra-oauth")
	env.Proxy.SetDown(true)
	b, c := newBroker(t, env, "r1", broker.Options{BackoffBase: 300 * time.Millisecond, BackoffMax: time.Second})
	ctx := context.Background()
	tok, err := b.Token(ctx, "hydra-oauth")
	if err != nil {
		t.Fatal(err)
	}
	// Until the token expires it keeps being served, although refreshes fail.
	servedCached := 0
	var unavailable *broker.UnavailableError
	for deadline := tok.ExpiresAt.Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		got, err := b.Token(ctx, "hydra-oauth")
		if err == nil {
			if got.AccessToken != tok.AccessToken {
				t.Fatalf("a new token was served while the provider was down")
			}
			if !time.Now().Before(got.ExpiresAt) {
				t.Fatalf("served an expired token")
			}
			servedCached++
			continue
		}
		if errors.As(err, &unavailable) {
			break
		}
		t.Fatalf("Token: %v", err)
	}
	if unavailable == nil {
		t.Fatalf("no UnavailableError after the token expired")
	}
	if unavailable.RetryAfter <= 0 {
		t.Errorf("RetryAfter = %s", unavailable.RetryAfter)
	}
	if servedCached == 0 || c.get(broker.OutcomeTransient) == 0 {
		t.Errorf("served cached %d times, transient failures %d", servedCached, c.get(broker.OutcomeTransient))
	}
	t.Logf("provider down: cached token served %d times, then %v; %d attempts (backoff)", servedCached, unavailable, c.get(broker.OutcomeTransient))
	env.Proxy.SetDown(false)
	deadline := time.Now().Add(15 * time.Second)
	for {
		got, err := b.Token(ctx, "hydra-oauth")
		if err == nil {
			if ir, _ := env.Introspect(got.AccessToken); !ir.Active {
				t.Errorf("token after recovery not active")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no recovery: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n := env.Proxy.Reused(); n > 0 {
		t.Errorf("%d refresh tokens reused", n)
	}
}

// TestVaultDownServesCachedTokens: with Vault stopped, cached tokens keep being served.
func TestVaultDownServesCachedTokens(t *testing.T) {
	t.Parallel()
	env := tailortest.Start(t, testenv.HydraOptions{AccessTokenTTL: time.Hour})
	for _, n := range []string{"conn-a", "conn-b"} {
		env.AddConnection(t, n)
		env.Authorize(t, n)
	}
	b, c := newBroker(t, env, "r1", broker.Options{RecheckInterval: 300 * time.Millisecond, BackoffBase: 100 * time.Millisecond, BackoffMax: 500 * time.Millisecond})
	ctx := context.Background()
	want := map[string]string{}
	for _, n := range []string{"conn-a", "conn-b"} {
		tok, err := b.Token(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		want[n] = tok.AccessToken
	}
	env.Vault.Stop()
	if err := b.Ping(ctx); err == nil {
		t.Fatal("Ping succeeds with Vault stopped")
	}
	hitsBefore := c.hits.Load()
	for i := range 2000 {
		n := []string{"conn-a", "conn-b"}[i%2]
		tok, err := b.Token(ctx, n)
		if err != nil {
			t.Fatalf("call %d with Vault down: %v", i, err)
		}
		if tok.AccessToken != want[n] {
			t.Fatalf("a different token with Vault down")
		}
		if i%200 == 0 {
			time.Sleep(50 * time.Millisecond) // let background re-reads fail meanwhile
		}
	}
	if _, err := b.Token(ctx, "conn-unknown"); err == nil {
		t.Errorf("an uncached connection was served with Vault down")
	} else {
		t.Logf("uncached connection with Vault down: %v", err)
	}
	t.Logf("served %d cached tokens with Vault down", c.hits.Load()-hitsBefore)
}

// TestVaultWriteFailureKeepsRotatedToken: when Vault refuses the write of a refreshed token
// set, the broker keeps it, does not serve the new access token, retries, and the chain
// survives.
func TestVaultWriteFailureKeepsRotatedToken(t *testing.T) {
	t.Parallel()
	env := tailortest.Start(t, testenv.HydraOptions{AccessTokenTTL: 3 * time.Second})
	env.AddConnection(t, "hydra-oauth")
	env.Authorize(t, "hydra-oauth")
	fs := &failingStore{Store: env.NewStore(t)}
	fs.failPuts.Store(3)
	if first, err := env.Store.GetTokens(context.Background(), "hydra-oauth"); err == nil {
		fs.stored.Store(first.AccessToken, true)
	}
	b, c := newBroker(t, env, "r1", broker.Options{Store: fs})
	ctx := context.Background()
	deadline := time.Now().Add(20 * time.Second)
	var got []string
	for time.Now().Before(deadline) && c.get(broker.OutcomeSuccess) < 2 {
		tok, err := b.Token(ctx, "hydra-oauth")
		if err == nil && (len(got) == 0 || got[len(got)-1] != tok.AccessToken) {
			got = append(got, tok.AccessToken)
			if !fs.wasStored(tok.AccessToken) {
				t.Fatalf("served an access token before it was stored in Vault")
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if fs.failed.Load() != 3 || c.get(broker.OutcomeSuccess) < 2 {
		t.Fatalf("failed puts %d, outcomes %v", fs.failed.Load(), c.outcomes)
	}
	final, _ := env.Store.GetTokens(ctx, "hydra-oauth")
	if ir, _ := env.Introspect(final.RefreshToken); !ir.Active {
		t.Errorf("chain revoked after write failures")
	}
	if env.Proxy.Reused() > 0 {
		t.Errorf("refresh token reused")
	}
}

type failingStore struct {
	*store.Store
	failPuts atomic.Int64
	failed   atomic.Int64
	stored   sync.Map // access tokens Vault accepted
}

func (f *failingStore) PutTokens(ctx context.Context, name string, t *authconn.TokenSet, version int) (int, error) {
	if t.RefreshedAt.After(time.Time{}) && f.failPuts.Add(-1) >= 0 {
		f.failed.Add(1)
		return 0, errors.New("injected Vault write failure")
	}
	v, err := f.Store.PutTokens(ctx, name, t, version)
	if v > 0 {
		f.stored.Store(t.AccessToken, true)
	}
	return v, err
}

func (f *failingStore) wasStored(at string) bool {
	_, ok := f.stored.Load(at)
	return ok
}

// TestClientSecretRotation: a client secret rotated through Terraform (a new version in
// Vault) is used by the next refresh without a restart; while the provider does not know it
// yet, the previous version is tried once and the refresh still succeeds.
func TestClientSecretRotation(t *testing.T) {
	t.Parallel()
	env := tailortest.Start(t, testenv.HydraOptions{AccessTokenTTL: 3 * time.Second})
	env.AddConnection(t, "hydra-oauth")
	env.Authorize(t, "hydra-oauth")
	b, c := newBroker(t, env, "r1", broker.Options{})
	ctx := context.Background()
	waitRefresh := func(n int) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for c.get(broker.OutcomeSuccess) < n {
			if _, err := b.Token(ctx, "hydra-oauth"); err != nil && time.Now().After(deadline) {
				t.Fatalf("no refresh %d: %v (outcomes %v)", n, err, c.outcomes)
			}
			if time.Now().After(deadline) {
				t.Fatalf("no refresh %d (outcomes %v)", n, c.outcomes)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	// 1. Terraform writes a new secret to Vault before the provider knows it: the new one
	// is refused (invalid_client), the previous version works.
	newSecret := "rotated-" + fmt.Sprint(time.Now().UnixNano())
	if _, err := env.Store.PutClientSecret(ctx, "hydra-oauth", newSecret); err != nil {
		t.Fatal(err)
	}
	waitRefresh(1)
	if c.get(broker.OutcomeInvalidClient) == 0 {
		t.Errorf("the new secret was not tried first (outcomes %v)", c.outcomes)
	}
	// 2. The provider switches to the new secret: the next refresh uses it directly.
	env.SetHydraClientSecret(t, newSecret)
	refused := c.get(broker.OutcomeInvalidClient)
	waitRefresh(2)
	waitRefresh(3)
	if got := c.get(broker.OutcomeInvalidClient); got != refused {
		t.Errorf("invalid_client after the provider switched to the new secret: %d -> %d", refused, got)
	}
	if env.Proxy.Reused() > 0 {
		t.Errorf("a refresh token reached Hydra twice")
	}
	final, _ := env.Store.GetTokens(ctx, "hydra-oauth")
	if ir, _ := env.Introspect(final.RefreshToken); !ir.Active {
		t.Errorf("chain revoked")
	}
}
