package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/authconnection/terraform-provider-tailor/internal/store"
)

// TestSessionEpochs: an admin key's session epoch is 0 until its first sign-out; EndSessions
// bumps it with check-and-set, a stale sign-out (another replica was first) leaves it as it
// is without an error, and ids that are not API key ids never reach a Vault path.
func TestSessionEpochs(t *testing.T) {
	t.Parallel()
	st, _ := newStore(t, "")
	ctx := context.Background()
	const id = "abcdefghijkl"
	if e, err := st.SessionEpoch(ctx, id); err != nil || e != 0 {
		t.Fatalf("epoch before any sign-out: %d %v", e, err)
	}
	e1, err := st.EndSessions(ctx, id, 0)
	if err != nil || e1 != 1 {
		t.Fatalf("first sign-out: %d %v", e1, err)
	}
	if e, err := st.SessionEpoch(ctx, id); err != nil || e != e1 {
		t.Fatalf("epoch after sign-out: %d %v, want %d", e, err, e1)
	}
	if e, err := st.EndSessions(ctx, id, 0); err != nil || e != e1 {
		t.Errorf("a stale sign-out: %d %v, want the current epoch %d and no error", e, err, e1)
	}
	if e, err := st.EndSessions(ctx, id, e1); err != nil || e != e1+1 {
		t.Errorf("a second sign-out: %d %v", e, err)
	}
	for _, bad := range []string{"../x", "", "ABC", "a/b/c/d/e/f/g"} {
		if _, err := st.SessionEpoch(ctx, bad); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("SessionEpoch(%q) = %v, want not found", bad, err)
		}
		if _, err := st.EndSessions(ctx, bad, 0); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("EndSessions(%q) = %v, want not found", bad, err)
		}
	}
}
