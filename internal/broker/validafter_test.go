package broker

import (
	"context"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv/tailortest"
)

// soonDueRecord is a token that reaches its cutoff in about a second (a 60-second token with
// 21 seconds left: the lead is 20 s); keeps says whether the provider keeps it valid after a
// refresh.
func soonDueRecord(keeps bool) store.TokenRecord {
	now := time.Now()
	return store.TokenRecord{TokenSet: authconn.TokenSet{AccessToken: "current", RefreshToken: "rt", Expiry: now.Add(21 * time.Second),
		AuthorizedAt: now.Add(-39 * time.Second), Status: authconn.StatusAuthorized, ValidAfterRefresh: keeps}, Version: 1}
}

// heldRefresh warms a broker with the record, then starts its background loop with a
// provider whose refresh blocks until release is called; inCall is closed once the refresh
// is at the provider.
func heldRefresh(t *testing.T, keeps bool) (b *Broker, st *tailortest.MemStore, inCall chan struct{}, release func()) {
	t.Helper()
	st = tailortest.NewMemStore()
	st.Conns["c"] = true
	st.Tokens["c"] = soonDueRecord(keeps)
	inCall, rel := make(chan struct{}), make(chan struct{})
	oa := &fakeOAuth{life: time.Hour, hook: func() { close(inCall); <-rel }}
	b = newTestBroker(t, st, oa)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); b.Close() })
	released := false
	release = func() {
		if !released {
			released = true
			close(rel)
		}
	}
	t.Cleanup(release)
	if _, err := b.Warm(ctx); err != nil {
		t.Fatal(err)
	}
	go b.Run(ctx)
	return b, st, inCall, release
}

// TestValidAfterRefreshServesWhileRefreshing: for a provider that keeps the previous access
// token valid (the record says so, from the preset), a refresh in progress does not make
// callers wait: they get the current token while the provider call is held, and the new one
// once it is stored.
func TestValidAfterRefreshServesWhileRefreshing(t *testing.T) {
	b, _, inCall, release := heldRefresh(t, true)
	select {
	case <-inCall:
	case <-time.After(10 * time.Second):
		t.Fatal("the background loop did not refresh a due token")
	}
	for range 100 {
		tok, err := b.Token(context.Background(), "c")
		if err != nil || tok.AccessToken != "current" {
			t.Fatalf("invariant «callers do not wait for a refresh the provider keeps the token through»: %v, %v", tok, err)
		}
	}
	release()
	waitFor(t, func() bool {
		tok, err := b.Token(context.Background(), "c")
		return err == nil && tok.AccessToken == "at-1"
	})
}

// TestRevokingProviderWaitsForTheRefresh is the control: without the preset's promise the
// current token is not served past the cutoff while the refresh (which may revoke it) runs.
func TestRevokingProviderWaitsForTheRefresh(t *testing.T) {
	b, _, inCall, release := heldRefresh(t, false)
	<-inCall
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if tok, err := b.Token(ctx, "c"); err == nil {
		t.Fatalf("invariant «a token the refresh may revoke is not served»: got %q during the refresh", tok.AccessToken)
	}
	release()
	waitFor(t, func() bool {
		tok, err := b.Token(context.Background(), "c")
		return err == nil && tok.AccessToken == "at-1"
	})
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	for start := time.Now(); time.Since(start) < 10*time.Second; time.Sleep(10 * time.Millisecond) {
		if ok() {
			return
		}
	}
	t.Fatal("the refreshed token was not served after the refresh was released")
}
