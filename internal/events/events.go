// Package events tells webhooks when connections change: connection.authorized,
// refresh_failed, needs_reauthorization (with a fresh connect link when tokend has a public
// URL), recovered, revoked, deleted, client_secret_expiring and client_secret_expired.
//
// Events go through an outbox in Vault. The process that makes a transition (its
// check-and-set write of the token record succeeded) stores the event under an id derived
// from the transition (authconn.EventID), so replicas that notice the same transition store
// it once. Every tokend serve replica delivers from the outbox: it claims a delivery with
// check-and-set for a while, POSTs it signed per the Standard Webhooks specification
// (webhook-id, webhook-timestamp, webhook-signature; HMAC-SHA256 with the webhook's
// secret, through the specification's own Go library), and records the result. Delivery is
// at least once: failures are retried with exponential backoff for a day, and a replica
// that dies mid-delivery loses its claim, so another delivers again, with the same
// webhook-id. Bodies carry the connection's name, status, error code and message, never a
// token or secret. needs_reauthorization carries the status page's URL; a live connect link
// (reconnect_url) only to a webhook that opted in (include_reconnect_link), minted by the
// deliverer at send time and never stored in the outbox (only its id is, to revoke it when
// a retry mints another).
package events

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"log/slog"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
)

// Outbox is what Enqueue needs of the store: list the webhooks and create an event.
// *store.Store is one, and tailortest.MemStore. Every emitter enqueues through it: authorize
// and connection directly, tokend serve's broker through Emitter.
type Outbox interface {
	WebhookIDs(ctx context.Context) ([]string, error)
	PutEvent(ctx context.Context, ev *authconn.Event) (bool, error)
}

// Enqueue stores ev in st's outbox, unless no webhook is registered. An event already there
// (same id) is not stored again. It needs only to list the webhooks and to create events, so
// that Terraform's and the CLI's revokes and deletes can tell the webhooks too.
func Enqueue(ctx context.Context, st Outbox, ev authconn.Event) error {
	if ev.At.IsZero() {
		ev.At = time.Now().UTC()
	}
	if ev.ID == "" {
		ev.ID = randomID()
	}
	ev.Message, ev.ErrorCode = authconn.Sanitize(ev.Message, MaxMessageLen), authconn.Sanitize(ev.ErrorCode, 128)
	ids, err := st.WebhookIDs(ctx)
	if err != nil || len(ids) == 0 {
		return err
	}
	_, err = st.PutEvent(ctx, &ev)
	return err
}

// MaxMessageLen bounds an event's message in bytes; it is a provider's error text, cleaned
// by authconn.Sanitize (no control characters or terminal escape sequences) when stored and
// again when sent.
const MaxMessageLen = 1024

func randomID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "msg_" + hexOf(b)
}

func hexOf(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

// NewSecret returns a new webhook signing secret: whsec_ and 32 random bytes in base64.
func NewSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

// Emitter enqueues the events of tokend serve's broker. Emit never fails the caller: errors
// are logged. It stores no link: the Deliverer adds the status page URL and, for webhooks
// that opted in, a connect link minted at send time.
type Emitter struct {
	Store  Outbox
	Logger *slog.Logger
}

// Emit enqueues ev.
func (e *Emitter) Emit(ctx context.Context, ev authconn.Event) {
	log := e.Logger
	if log == nil {
		log = slog.Default()
	}
	if err := Enqueue(ctx, e.Store, ev); err != nil {
		log.Warn("could not store an event for the webhooks", "event", ev.Type, "connection", ev.Connection, "error", err)
	}
}
