package store

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
)

// Webhook is a receiver of events: its URL, the event types it wants, and its signing
// secret (Standard Webhooks, whsec_...), which only tokend reads.
type Webhook struct {
	ID          string               `json:"id"`
	URL         string               `json:"url"`
	Events      []authconn.EventType `json:"events"`
	Secret      string               `json:"secret"`
	Description string               `json:"description,omitempty"`
	CreatedAt   time.Time            `json:"created_at"`
	// IncludeReconnectLink: needs_reauthorization deliveries to this webhook carry a live
	// connect link (tokend webhooks add --include-reconnect-link); others get the status
	// page's URL only.
	IncludeReconnectLink bool `json:"include_reconnect_link,omitempty"`
}

// String hides the secret.
func (w Webhook) String() string { return "Webhook(" + w.ID + " " + w.URL + ")" }

// Wants reports whether w subscribes to events of type t.
func (w *Webhook) Wants(t authconn.EventType) bool {
	for _, e := range w.Events {
		if e == t {
			return true
		}
	}
	return false
}

// Delivery is the state of one event's delivery to one webhook.
type Delivery struct {
	Attempts    int       `json:"attempts"`
	NextAt      time.Time `json:"next_at,omitzero"`
	DeliveredAt time.Time `json:"delivered_at,omitzero"`
	GaveUpAt    time.Time `json:"gave_up_at,omitzero"`
	LastStatus  int       `json:"last_status,omitempty"`
	LastError   string    `json:"last_error,omitempty"`
	// Holder is the replica delivering it now, until HeldUntil (a replica that dies while
	// delivering loses its claim then, and another delivers again, with the same id).
	Holder    string    `json:"holder,omitempty"`
	HeldUntil time.Time `json:"held_until,omitzero"`
	// LinkID is the id (never the token) of the connect link the last attempt sent, so that
	// a retry, which mints another, revokes it.
	LinkID string `json:"link_id,omitempty"`
}

// Done reports whether nothing more is to be done for d.
func (d *Delivery) Done() bool { return !d.DeliveredAt.IsZero() || !d.GaveUpAt.IsZero() }

// EventRecord is an event in the outbox, with its deliveries by webhook id (the webhooks
// that wanted it when a deliverer first saw it; nil before).
type EventRecord struct {
	Event      authconn.Event       `json:"event"`
	Deliveries map[string]*Delivery `json:"deliveries"`
	Version    int                  `json:"-"`
}

var webhookIDRE = regexp.MustCompile(`^wh_[a-z0-9]{8,32}$`)
var eventIDRE = regexp.MustCompile(`^msg_[a-f0-9]{16,64}$`)

func (s *Store) webhookPath(id string) string { return s.prefix + "/webhooks/" + id }
func (s *Store) eventPath(id string) string   { return s.prefix + "/events/" + id }

// CreateWebhook stores a new webhook.
func (s *Store) CreateWebhook(ctx context.Context, w *Webhook) error {
	if !webhookIDRE.MatchString(w.ID) || w.URL == "" || w.Secret == "" || len(w.Events) == 0 {
		return fmt.Errorf("invalid webhook record %q", w.ID)
	}
	_, err := s.write(ctx, "webhook", w.ID, s.webhookPath(w.ID), w, 0)
	return err
}

// ListWebhooks returns every webhook, by id.
func (s *Store) ListWebhooks(ctx context.Context) ([]*Webhook, error) {
	ids, err := s.list(ctx, s.prefix+"/webhooks")
	if err != nil {
		return nil, err
	}
	sort.Strings(ids)
	var out []*Webhook
	for _, id := range ids {
		var w Webhook
		if _, err := s.record(ctx, "webhook", id, s.webhookPath(id), &w); err != nil {
			if errors.Is(err, ErrNotFound) {
				continue
			}
			return nil, err
		}
		out = append(out, &w)
	}
	return out, nil
}

// DeleteWebhook removes webhook id; its pending deliveries are dropped when next seen.
func (s *Store) DeleteWebhook(ctx context.Context, id string) error {
	var w Webhook
	if _, err := s.record(ctx, "webhook", id, s.webhookPath(id), &w); err != nil {
		return err
	}
	return s.destroy(ctx, "webhook", id, s.webhookPath(id))
}

// PutEvent stores e in the outbox, unless an event with its id is there already (another
// replica noticed the same transition): then it reports false. The deliverers plan its
// deliveries (Deliveries is nil until then).
func (s *Store) PutEvent(ctx context.Context, e *authconn.Event) (bool, error) {
	if !eventIDRE.MatchString(e.ID) {
		return false, fmt.Errorf("invalid event id %q", e.ID)
	}
	_, err := s.write(ctx, "event", e.ID, s.eventPath(e.ID), &EventRecord{Event: *e}, 0)
	if errors.Is(err, ErrConflict) {
		return false, nil
	}
	return err == nil, err
}

// WebhookIDs lists the webhooks' ids (metadata only: enough to know whether anyone listens).
func (s *Store) WebhookIDs(ctx context.Context) ([]string, error) {
	return s.list(ctx, s.prefix+"/webhooks")
}

// ListEvents returns the ids of the events in the outbox.
func (s *Store) ListEvents(ctx context.Context) ([]string, error) {
	return s.list(ctx, s.prefix+"/events")
}

// GetEvent returns the outbox record of event id.
func (s *Store) GetEvent(ctx context.Context, id string) (*EventRecord, error) {
	var rec EventRecord
	v, err := s.record(ConsistentReads(ctx), "event", id, s.eventPath(id), &rec)
	if err != nil {
		return nil, err
	}
	rec.Version = v
	return &rec, nil
}

// UpdateEvent writes rec if its version is unchanged (check-and-set): a delivery claim or
// its result.
func (s *Store) UpdateEvent(ctx context.Context, rec *EventRecord) error {
	v, err := s.write(ctx, "event", rec.Event.ID, s.eventPath(rec.Event.ID), rec, rec.Version)
	if err != nil {
		return err
	}
	rec.Version = v
	return nil
}

// DeleteEvent removes event id from the outbox.
func (s *Store) DeleteEvent(ctx context.Context, id string) error {
	return s.destroy(ctx, "event", id, s.eventPath(id))
}
