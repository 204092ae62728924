package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/store"
)

// TestProxyBackoff: none at first; a write creates it; a write with a stale version is a
// conflict that keeps the other replica's record; a write on the version read replaces it.
func TestProxyBackoff(t *testing.T) {
	t.Parallel()
	st, _ := newStore(t, "")
	ctx := context.Background()
	b, err := st.GetProxyBackoff(ctx, "api-conn")
	if err != nil || !b.Until.IsZero() || b.Version != 0 {
		t.Fatalf("before any: %+v %v", b, err)
	}
	until := time.Now().Add(time.Minute).UTC().Truncate(time.Second)
	if err := st.PutProxyBackoff(ctx, "api-conn", store.ProxyBackoff{Until: until, Status: 429}); err != nil {
		t.Fatal(err)
	}
	if err := st.PutProxyBackoff(ctx, "api-conn", store.ProxyBackoff{Until: until.Add(time.Hour), Status: 503}); err != nil {
		t.Fatalf("a conflicting write: %v, want nil (the other record kept)", err)
	}
	b, err = st.GetProxyBackoff(ctx, "api-conn")
	if err != nil || !b.Until.Equal(until) || b.Status != 429 || b.Version != 1 {
		t.Fatalf("after a write and a conflict: %+v %v", b, err)
	}
	b.Until, b.Status = until.Add(time.Minute), 503
	if err := st.PutProxyBackoff(ctx, "api-conn", b); err != nil {
		t.Fatal(err)
	}
	if b2, err := st.GetProxyBackoff(ctx, "api-conn"); err != nil || !b2.Until.Equal(b.Until) || b2.Version != 2 {
		t.Fatalf("after a write on the version read: %+v %v", b2, err)
	}
	if _, err := st.GetProxyBackoff(ctx, "Bad Name"); err == nil {
		t.Fatal("an invalid name was read")
	}
}
