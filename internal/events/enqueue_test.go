package events_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/events"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv/tailortest"
)

// TestEnqueueOnMemStore covers Enqueue's rules on the in-memory outbox, without Vault: no
// webhook, no event; an event is stored once per id, with an id and a time when it had none,
// and its message cleaned of control characters; the store's failure is the caller's.
func TestEnqueueOnMemStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := tailortest.NewMemStore()
	ev := authconn.Event{Type: authconn.EventRevoked, Connection: "c", Status: authconn.StatusNotAuthorized}
	if err := events.Enqueue(ctx, st, ev); err != nil || len(st.Events) != 0 {
		t.Fatalf("invariant «no webhook, no event»: %v, %d events", err, len(st.Events))
	}
	st.Webhooks = []string{"hook"}
	ev.Message = "refused\x1b[31m by the provider\n"
	if err := events.Enqueue(ctx, st, ev); err != nil || len(st.Events) != 1 {
		t.Fatalf("invariant «an event per enqueue»: %v, %d events", err, len(st.Events))
	}
	for id, got := range st.Events {
		if !strings.HasPrefix(id, "msg_") || got.At.IsZero() || strings.ContainsAny(got.Message, "\x1b\n") {
			t.Errorf("invariant «stored with an id, a time and a clean message»: %q %+v", id, got)
		}
	}
	ev.ID = authconn.EventID(authconn.EventDeleted, "c", 3)
	for range 2 {
		if err := events.Enqueue(ctx, st, ev); err != nil {
			t.Fatal(err)
		}
	}
	if len(st.Events) != 2 {
		t.Errorf("invariant «one event per id»: %d events, want 2", len(st.Events))
	}
	refused := errors.New("refused")
	st.Fault = func(op, _ string) error {
		if op == "PutEvent" {
			return refused
		}
		return nil
	}
	if err := events.Enqueue(ctx, st, authconn.Event{Type: authconn.EventRevoked, Connection: "c"}); !errors.Is(err, refused) {
		t.Errorf("invariant «the store's failure is returned»: %v", err)
	}
}
