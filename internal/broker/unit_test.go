package broker

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/oauth"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv/tailortest"
)

// fakeOAuth answers refreshes with new tokens, or runs hook.
type fakeOAuth struct {
	calls atomic.Int64
	life  time.Duration
	hook  func()
	err   error
}

func (f *fakeOAuth) Resolve(context.Context, *authconn.Connection) (*oauth.Provider, error) {
	return &oauth.Provider{}, nil
}

func (f *fakeOAuth) Refresh(context.Context, *oauth.Provider, oauth.Credentials, string, []string) (*oauth.Token, error) {
	n := f.calls.Add(1)
	if f.hook != nil {
		f.hook()
	}
	if f.err != nil {
		return nil, f.err
	}
	return &oauth.Token{AccessToken: fmt.Sprintf("at-%d", n), RefreshToken: fmt.Sprintf("rt-%d", n), TokenType: "Bearer",
		ExpiresIn: f.life, ReceivedAt: time.Now()}, nil
}

func (f *fakeOAuth) ClientCredentials(ctx context.Context, p *oauth.Provider, c oauth.Credentials, _ []string) (*oauth.Token, error) {
	return f.Refresh(ctx, p, c, "", nil)
}

func newTestBroker(t *testing.T, st Store, oa OAuth) *Broker {
	t.Helper()
	b, err := New(Options{Store: st, OAuth: oa, ReplicaID: "me", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		PollInterval: 20 * time.Millisecond, LeaseTTL: 10 * time.Second, LeaseSafety: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestNoRefreshTokenIsServedUntilExpiry(t *testing.T) {
	st := tailortest.NewMemStore()
	st.Conns["c"] = true
	st.Tokens["c"] = store.TokenRecord{TokenSet: authconn.TokenSet{AccessToken: "only", Expiry: time.Now().Add(3 * time.Second), Status: authconn.StatusAuthorized}, Version: 1}
	oa := &fakeOAuth{life: time.Hour}
	b := newTestBroker(t, st, oa)
	for range 5 {
		tok, err := b.Token(context.Background(), "c")
		if err != nil || tok.AccessToken != "only" {
			t.Fatalf("Token = %v, %v", tok, err)
		}
	}
	if oa.calls.Load() != 0 {
		t.Errorf("the provider was called without a refresh token")
	}
}

// TestWaitsForTheLeaseHolder: another replica holds the lease; this one does not call the
// provider but waits for the record to change and serves the new token.
func TestWaitsForTheLeaseHolder(t *testing.T) {
	st := tailortest.NewMemStore()
	st.Conns["c"] = true
	st.Tokens["c"] = store.TokenRecord{TokenSet: authconn.TokenSet{AccessToken: "old", RefreshToken: "rt", Expiry: time.Now().Add(-time.Second), Status: authconn.StatusAuthorized}, Version: 3}
	st.Leases["c"] = store.Lease{Name: "c", Holder: "other", ExpiresAt: time.Now().Add(5 * time.Second), Phase: store.PhaseRefreshing, Version: 7}
	// The other replica stores its refresh once this one is seen waiting: at its third read
	// of the token record (the first is the cache miss, the second the re-read under the
	// held lease; the third is a poll while waiting).
	var reads atomic.Int64
	st.Fault = func(op, _ string) error {
		if op == "GetTokens" && reads.Add(1) == 3 {
			st.Mu.Lock()
			st.Tokens["c"] = store.TokenRecord{TokenSet: authconn.TokenSet{AccessToken: "from-other", RefreshToken: "rt2", Expiry: time.Now().Add(time.Hour), RefreshedAt: time.Now(), Status: authconn.StatusAuthorized}, Version: 4}
			st.Mu.Unlock()
		}
		return nil
	}
	oa := &fakeOAuth{life: time.Hour}
	b := newTestBroker(t, st, oa)
	tok, err := b.Token(context.Background(), "c")
	if err != nil || tok.AccessToken != "from-other" {
		t.Fatalf("Token = %v, %v", tok, err)
	}
	if oa.calls.Load() != 0 {
		t.Errorf("called the provider while another replica held the lease")
	}
	if n := reads.Load(); n < 3 {
		t.Errorf("%d reads of the token record: the broker did not wait for the other replica's write", n)
	}
}

// TestReauthorizationDuringRefreshWins: `tokend authorize` writes a new chain while this
// replica refreshes the old one; the check-and-set makes the new record win.
func TestReauthorizationDuringRefreshWins(t *testing.T) {
	st := tailortest.NewMemStore()
	st.Conns["c"] = true
	st.Tokens["c"] = store.TokenRecord{TokenSet: authconn.TokenSet{AccessToken: "old", RefreshToken: "rt", Expiry: time.Now().Add(-time.Second), Status: authconn.StatusAuthorized}, Version: 1}
	oa := &fakeOAuth{life: time.Hour}
	oa.hook = func() {
		st.Mu.Lock()
		st.Tokens["c"] = store.TokenRecord{TokenSet: authconn.TokenSet{AccessToken: "reauthorized", RefreshToken: "new-chain", Expiry: time.Now().Add(time.Hour), AuthorizedAt: time.Now(), Status: authconn.StatusAuthorized}, Version: 2}
		st.Mu.Unlock()
	}
	b := newTestBroker(t, st, oa)
	tok, err := b.Token(context.Background(), "c")
	if err != nil || tok.AccessToken != "reauthorized" {
		t.Fatalf("Token = %v, %v", tok, err)
	}
	if st.Tokens["c"].RefreshToken != "new-chain" {
		t.Errorf("the re-authorized record was overwritten")
	}
}

// TestGuardSendsARefreshTokenOnce: with AuthStyleAutoDetect, golang.org/x/oauth2 retries a
// failed token request with the other authentication style. The guard lets the retry
// through only after a client-authentication failure.
func TestLead(t *testing.T) {
	b := newTestBroker(t, tailortest.NewMemStore(), &fakeOAuth{})
	now := time.Now().Truncate(time.Second)
	for _, c := range []struct {
		life, want time.Duration
	}{
		{time.Hour, 6 * time.Minute},
		{2 * time.Minute, 30 * time.Second},
		{20 * time.Second, 20 * time.Second / 3},
		{4 * time.Second, 4 * time.Second / 3},
	} {
		ts := &authconn.TokenSet{AccessToken: "a", RefreshedAt: now, Expiry: now.Add(c.life)}
		if got := b.lead(ts); got != c.want {
			t.Errorf("lead for %s = %s, want %s", c.life, got, c.want)
		}
	}
}

// TestBackoffLeaseKeepsOtherReplicasFromRevokingTheServedToken: after a failed refresh
// (the provider answered 503) a replica backs off and keeps serving its cached token past the
// serving cutoff. Were the lease released, another replica (backoff is per replica) could
// refresh meanwhile, and a provider like Hydra would revoke the token the first replica keeps
// serving until expiry (revoked tokens served after Hydra answered one replica's refresh with
// a 500). So the failing replica keeps the lease in phase "backoff" until its next attempt:
// no other replica refreshes before then,
// other replicas serve the cached token too (without calling the provider), and nobody
// serves it after the lease's end less the skew.
func TestBackoffLeaseKeepsOtherReplicasFromRevokingTheServedToken(t *testing.T) {
	st := tailortest.NewMemStore()
	st.Conns["c"] = true
	clk := testenv.NewClock(time.Now())
	st.Now = clk.Now
	now := clk.Now()
	// A 6 s token issued 2 s ago: lead 2 s, so its cutoff is about now.
	ts := store.TokenRecord{TokenSet: authconn.TokenSet{AccessToken: "old", RefreshToken: "rt", Expiry: now.Add(4 * time.Second), RefreshedAt: now.Add(-2 * time.Second), Status: authconn.StatusAuthorized}, Version: 1}
	st.Tokens["c"] = ts
	oa := &fakeOAuth{life: time.Hour, err: &oauth.Error{Op: "refresh", Kind: oauth.KindTransient, StatusCode: 503, Code: "temporarily_unavailable"}}
	b, err := New(Options{Store: st, OAuth: oa, ReplicaID: "me", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		PollInterval: 20 * time.Millisecond, LeaseTTL: 10 * time.Second, LeaseSafety: 2 * time.Second, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	oa2 := &fakeOAuth{life: time.Hour}
	b2, err := New(Options{Store: st, OAuth: oa2, ReplicaID: "other", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		PollInterval: 20 * time.Millisecond, LeaseTTL: 10 * time.Second, LeaseSafety: 2 * time.Second, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := b.Token(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	clk.Set(b.cutoff(&ts.TokenSet).Add(20 * time.Millisecond))

	// 1. This replica's refresh fails: the provider answered, nothing was rotated; the
	// cached token is served while it backs off, and it keeps the lease.
	tok, err := b.Token(ctx, "c")
	if err != nil || tok.AccessToken != "old" {
		t.Fatalf("after a failed refresh: Token = %v, %v; want the still-valid cached token", tok, err)
	}
	st.Mu.Lock()
	l := st.Leases["c"]
	st.Mu.Unlock()
	if l.Holder != "me" || l.Phase != store.PhaseBackoff || !l.Held(clk.Now()) {
		t.Fatalf("lease after the failed refresh: %+v; want held by me in phase backoff", l)
	}
	if _, _, err := st.AcquireLease(ctx, "c", "third", time.Minute); err == nil {
		t.Fatalf("another replica could take the lease (and refresh, revoking the served token) while this one serves it")
	}

	// 2. Another replica serves the same token without calling the provider.
	tok, err = b2.Token(ctx, "c")
	if err != nil || tok.AccessToken != "old" {
		t.Fatalf("other replica during the backoff: Token = %v, %v", tok, err)
	}
	if oa2.calls.Load() != 0 {
		t.Fatalf("the other replica called the provider during the backoff")
	}

	// 3. Nobody serves the token from the lease's end less the skew; after it, a replica
	// refreshes and the new token is served.
	clk.Set(l.ExpiresAt.Add(-b.skew(&ts.TokenSet)).Add(10 * time.Millisecond))
	for _, r := range []*Broker{b, b2} {
		if tok, err := r.Token(ctx, "c"); err == nil && tok.AccessToken == "old" && clk.Now().Before(l.ExpiresAt) {
			t.Fatalf("%s served the cached token after the backoff lease's end less the skew", r.ReplicaID())
		}
	}
	clk.Set(l.ExpiresAt.Add(10 * time.Millisecond))
	oa.err = nil
	deadline := time.Now().Add(5 * time.Second)
	for {
		tok, err := b2.Token(ctx, "c")
		if err == nil && tok.AccessToken != "old" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no new token after the backoff: %v, %v", tok, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := oa.calls.Load() + oa2.calls.Load(); n != 2 {
		t.Errorf("%d provider calls, want 2 (the failed one and one after the backoff)", n)
	}
}

// TestCloseWaitsForARefreshInFlight: a process stopping (SIGTERM: tokend serve cancels Run,
// shuts the HTTP server down and calls Close) while a refresh's provider call is in flight
// must store the rotated tokens before it exits. The refresh runs in a detached single-flight
// goroutine; were Close not to wait for it, the process could exit after the provider rotated
// the refresh token and before Vault had the new one (a refresh answer lost at shutdown).
func TestCloseWaitsForARefreshInFlight(t *testing.T) {
	st := tailortest.NewMemStore()
	st.Conns["c"] = true
	st.Tokens["c"] = store.TokenRecord{TokenSet: authconn.TokenSet{AccessToken: "old", RefreshToken: "rt", Expiry: time.Now().Add(-time.Second), Status: authconn.StatusAuthorized}, Version: 1}
	inCall, release := make(chan struct{}), make(chan struct{})
	oa := &fakeOAuth{life: time.Hour, hook: func() { close(inCall); <-release }}
	b := newTestBroker(t, st, oa)
	ctx, cancel := context.WithCancel(context.Background())
	go b.Run(ctx)
	reqCtx, reqCancel := context.WithCancel(context.Background())
	go func() { _, _ = b.Token(reqCtx, "c") }()
	<-inCall
	// Shutdown: the request gives up, Run stops, Close is called.
	reqCancel()
	cancel()
	closed := make(chan struct{})
	go func() { b.Close(); close(closed) }()
	select {
	case <-closed:
		t.Fatal("Close returned while a refresh's provider call was in flight")
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return after the refresh finished")
	}
	st.Mu.Lock()
	got := st.Tokens["c"]
	st.Mu.Unlock()
	if got.RefreshToken != "rt-1" || got.Version != 2 {
		t.Errorf("after Close the record holds %q (version %d); want the rotated refresh token stored", got.RefreshToken, got.Version)
	}
}

// TestUnknownNamesAreBoundedAnLRU (security review, finding 6: negative caches bounded as
// LRUs, never emptied whole): a caller asking for ever new names that Vault does not know
// keeps at most MaxUnknown of them cached, the oldest evicted one at a time, and a known
// connection's entry is never evicted by them.
func TestUnknownNamesAreBoundedAnLRU(t *testing.T) {
	st := tailortest.NewMemStore()
	ctx := context.Background()
	st.Conns["known"] = true
	st.Tokens["known"] = store.TokenRecord{TokenSet: authconn.TokenSet{AccessToken: "k", Expiry: time.Now().Add(time.Hour), Status: authconn.StatusAuthorized}, Version: 1}
	b, err := New(Options{Store: st, OAuth: &fakeOAuth{}, ReplicaID: "me", MaxUnknown: 50, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if tok, err := b.Token(ctx, "known"); err != nil || tok.AccessToken != "k" {
		t.Fatalf("Token(known) = %v, %v", tok, err)
	}
	for i := 0; i < 500; i++ {
		if _, err := b.Token(ctx, fmt.Sprintf("made-up-%d", i)); err == nil {
			t.Fatalf("made-up-%d gave a token", i)
		}
	}
	b.mu.RLock()
	n, known, newest := len(b.entries), b.entries["known"] != nil, b.entries["made-up-499"] != nil
	_, oldest := b.entries["made-up-0"]
	b.mu.RUnlock()
	if n > 51 || !known || !newest || oldest {
		t.Fatalf("after 500 made-up names: %d entries (want at most 50 unknown + 1 known), known kept %v, newest kept %v, oldest kept %v", n, known, newest, oldest)
	}
}

// TestRevokedClientCredentialsTokenIsNotServedOn (security review, finding 16, last bullet):
// after `tokend revoke` removed a client-credentials connection's token record, its cached
// token is not served on, not even while a new token cannot be had: the removed record must
// not read as a lagging one, nor the refresh failure serve "the cached token while it is
// valid".
func TestRevokedClientCredentialsTokenIsNotServedOn(t *testing.T) {
	st := tailortest.NewMemStore()
	st.Conns["cc"], st.Grants["cc"] = true, authconn.GrantClientCredentials
	oa := &fakeOAuth{life: time.Hour}
	b := newTestBroker(t, st, oa)
	ctx := context.Background()
	tok, err := b.Token(ctx, "cc")
	if err != nil || tok.AccessToken != "at-1" {
		t.Fatalf("first token: %v, %v", tok, err)
	}
	st.Mu.Lock()
	delete(st.Tokens, "cc") // tokend revoke
	st.Mu.Unlock()
	oa.err = &oauth.Error{Op: "client credentials", Kind: oauth.KindTransient, StatusCode: 503, Code: "temporarily_unavailable"}
	_ = b.sync(ctx, b.entry("cc")) // what the change log's entry for the revoke makes every replica do
	if tok, err := b.Token(ctx, "cc"); err == nil || tok != nil {
		t.Fatalf("after the revoke, with the provider failing: got %v, %v; want no token", tok, err)
	}
}
