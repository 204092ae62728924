package broker

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv/tailortest"
)

// TestRefreshOfARejectedTokenHappensOnce: the API refused a token that is not due (a 401
// through the proxy); many callers on two replicas ask Refresh for it at once, and the
// provider is called once, every caller gets the new token, and a later Refresh with the old
// token refreshes nothing.
func TestRefreshOfARejectedTokenHappensOnce(t *testing.T) {
	st := tailortest.NewMemStore()
	st.Conns["c"] = true
	st.Tokens["c"] = store.TokenRecord{TokenSet: authconn.TokenSet{AccessToken: "old", RefreshToken: "rt", Expiry: time.Now().Add(time.Hour),
		RefreshedAt: time.Now(), Status: authconn.StatusAuthorized}, Version: 1}
	oa := &fakeOAuth{life: time.Hour}
	replicas := []*Broker{newTestBroker(t, st, oa), newReplica(t, st, oa, "other")}
	var rejected []*Token
	for _, b := range replicas {
		tok, err := b.Token(context.Background(), "c")
		if err != nil || tok.AccessToken != "old" {
			t.Fatalf("Token = %v, %v", tok, err)
		}
		rejected = append(rejected, tok)
	}
	var wg sync.WaitGroup
	got := make(chan string, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok, err := replicas[i%2].Refresh(context.Background(), "c", rejected[i%2])
			if err != nil {
				t.Error(err)
				return
			}
			got <- tok.AccessToken
		}()
	}
	wg.Wait()
	close(got)
	for at := range got {
		if at != "at-1" {
			t.Errorf("a caller got %q, want the one new token at-1", at)
		}
	}
	if n := oa.calls.Load(); n != 1 {
		t.Fatalf("the provider was called %d times, want 1", n)
	}
	if tok, err := replicas[0].Refresh(context.Background(), "c", rejected[0]); err != nil || tok.AccessToken != "at-1" || oa.calls.Load() != 1 {
		t.Fatalf("a late Refresh of the old token: %v, %v, %d provider calls", tok, err, oa.calls.Load())
	}
}

func newReplica(t *testing.T, st Store, oa OAuth, id string) *Broker {
	t.Helper()
	b, err := New(Options{Store: st, OAuth: oa, ReplicaID: id, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		PollInterval: 20 * time.Millisecond, LeaseTTL: 10 * time.Second, LeaseSafety: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return b
}
