package broker

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv/tailortest"
)

// TestStatusOfACachedConnectionReadsNoVault: once this replica holds a connection's token,
// its status (with the metadata a function builds its paths from) comes from memory; before
// that, and for a connection with no token, it is read from the token record.
func TestStatusOfACachedConnectionReadsNoVault(t *testing.T) {
	st := tailortest.NewMemStore()
	var reads atomic.Int64
	st.Fault = func(op, _ string) error {
		if op == "GetTokens" || op == "GetConnection" {
			reads.Add(1)
		}
		return nil
	}
	st.Conns["qb"], st.Conns["idle"] = true, true
	md := map[string]string{"realmId": "9130"}
	st.Tokens["qb"] = store.TokenRecord{TokenSet: authconn.TokenSet{AccessToken: "at", RefreshToken: "rt", Expiry: time.Now().Add(time.Hour),
		Status: authconn.StatusAuthorized, Metadata: md, APIBaseURL: "https://quickbooks.api.intuit.com", LastError: "earlier failure"}, Version: 2}
	b := newTestBroker(t, st, &fakeOAuth{life: time.Hour})
	ctx := context.Background()

	first, err := b.Status(ctx, "qb")
	if err != nil || first.Metadata["realmId"] != "9130" || reads.Load() == 0 {
		t.Fatalf("before any token request: %+v, %v, %d reads (want the record read)", first, err, reads.Load())
	}
	if _, err := b.Token(ctx, "qb"); err != nil {
		t.Fatal(err)
	}
	before := reads.Load()
	for range 100 {
		o, err := b.Status(ctx, "qb")
		if err != nil || o.Status != authconn.StatusAuthorized || o.Metadata["realmId"] != "9130" ||
			o.APIBaseURL != "https://quickbooks.api.intuit.com" || !o.Cached || o.ExpiresAt == nil || o.LastError != "earlier failure" {
			t.Fatalf("from memory: %+v, %v", o, err)
		}
	}
	if n := reads.Load() - before; n != 0 {
		t.Fatalf("invariant «a cached connection's status reads no Vault»: %d reads for 100 calls", n)
	}
	if o, err := b.Status(ctx, "idle"); err != nil || o.Status != authconn.StatusNotAuthorized {
		t.Fatalf("a connection without a token: %+v, %v", o, err)
	}
	if _, err := b.Status(ctx, "gone"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a missing connection: %v, want ErrNotFound", err)
	}
}
