package audit

import (
	"context"
	"slices"
	"strings"
)

// EventPrefix starts the type of every audit event sent to webhooks: "audit." and the
// record's action ("audit.token.read", "audit.key.created", ...).
const EventPrefix = "audit."

// Webhooks is the optional sink of --audit-webhooks: it hands records to Enqueue (tokend
// serve: an event of type EventPrefix+action in the webhooks' outbox in Vault). Each
// record it takes costs a Vault write, so by default it skips successful token reads and
// proxy calls, the records of the hot path; Include replaces that choice.
type Webhooks struct {
	Enqueue func(ctx context.Context, r *Record) error
	Include func(r *Record) bool
}

// DefaultInclude is Webhooks' choice when Include is nil: every record except successful
// token reads and proxy calls.
func DefaultInclude(r *Record) bool {
	return r.Outcome != Success || (r.Action != TokenRead && r.Action != ProxyCall)
}

// EventType returns the webhook event type of r's action.
func EventType(a Action) string { return EventPrefix + string(a) }

// IsEventType reports whether t is the event type of an action (audit.token.read, ...).
func IsEventType(t string) bool {
	a, ok := strings.CutPrefix(t, EventPrefix)
	return ok && slices.Contains(Actions, Action(a))
}

// Name implements Sink.
func (w *Webhooks) Name() string { return "webhooks" }

// Write implements Sink.
func (w *Webhooks) Write(ctx context.Context, r *Record) error {
	include := w.Include
	if include == nil {
		include = DefaultInclude
	}
	if !include(r) {
		return nil
	}
	return w.Enqueue(ctx, r)
}

// Flush implements Sink.
func (w *Webhooks) Flush() error { return nil }
