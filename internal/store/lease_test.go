package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/store"
)

// TestLeaseWaiting: AcquireLeaseWaiting takes a lease as soon as its holder releases it,
// gives up with ErrLeaseHeld once wait has passed, and stops when ctx ends.
func TestLeaseWaiting(t *testing.T) {
	t.Parallel()
	st, _ := newStore(t, "")
	ctx := context.Background()
	l, _, err := st.AcquireLease(ctx, "conn", "replica-a", time.Minute, store.ForRefresh(store.PhaseRefreshing, 3))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = store.AcquireLeaseWaiting(ctx, st, "conn", "cli", time.Minute, 300*time.Millisecond, 50*time.Millisecond)
	if !errors.Is(err, store.ErrLeaseHeld) || time.Since(start) < 300*time.Millisecond {
		t.Fatalf("waiting past wait on a held lease: %v after %s, want ErrLeaseHeld after 300ms", err, time.Since(start))
	}
	cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if _, err := store.AcquireLeaseWaiting(cctx, st, "conn", "cli", time.Minute, time.Minute, 50*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiting when ctx ends: %v, want context.DeadlineExceeded", err)
	}
	go func() {
		time.Sleep(200 * time.Millisecond)
		_ = st.ReleaseLease(context.Background(), l)
	}()
	got, err := store.AcquireLeaseWaiting(ctx, st, "conn", "cli", time.Minute, 10*time.Second, 50*time.Millisecond)
	if err != nil || got.Holder != "cli" || got.Phase != "" {
		t.Fatalf("after the release: %+v, %v; want the lease for cli, no phase", got, err)
	}
	if h := store.LeaseHolder("revoke"); !strings.HasSuffix(h, ":revoke") || strings.Count(h, ":") < 2 {
		t.Fatalf("LeaseHolder = %q, want <host>:<pid>:revoke", h)
	}
}
