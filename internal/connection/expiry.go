package connection

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/events"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
)

// expiryThresholds are the days before a client secret's expiry at which
// connection.client_secret_expiring is emitted, the most urgent first.
var expiryThresholds = [...]int{1, 7, 30}

// ExpiryNoticeWindow is how long after a threshold passes its notice may still be emitted,
// so that a tokend down at that moment still tells when it starts. The outbox keeps each
// notice at least that long (authconn.Event.KeepUntil), so no replica stores one twice.
const ExpiryNoticeWindow = 24 * time.Hour

// ExpiryStore is what an ExpiryWatcher reads and writes: *store.Store, or
// tailortest.MemStore in unit tests.
type ExpiryStore interface {
	events.Outbox
	ListConnections(ctx context.Context) ([]string, error)
	GetConnection(ctx context.Context, name string) (*store.ConnectionRecord, error)
}

// ExpiryOptions configure an ExpiryWatcher.
type ExpiryOptions struct {
	Store ExpiryStore
	// Interval between passes [1 h]; at most ExpiryNoticeWindow.
	Interval time.Duration
	// Now is the clock [time.Now].
	Now    func() time.Time
	Logger *slog.Logger
}

// ExpiryWatcher tells the webhooks when client secrets are about to expire
// (connection.client_secret_expiring, 30, 7 and 1 days before) and when one has expired
// (connection.client_secret_expired), from each connection's ClientSecretExpiresAt. Every
// tokend serve replica runs one; each notice has an id derived from the connection, the
// threshold and the expiry date (authconn.SecretExpiryEventID), so the outbox's
// check-and-set create stores it once, and a new expiry date starts over.
type ExpiryWatcher struct {
	o ExpiryOptions
}

// NewExpiryWatcher returns a watcher of o.
func NewExpiryWatcher(o ExpiryOptions) *ExpiryWatcher {
	if o.Interval <= 0 || o.Interval > ExpiryNoticeWindow {
		o.Interval = time.Hour
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &ExpiryWatcher{o: o}
}

// Run checks every connection at once, then every Interval, until ctx ends.
func (w *ExpiryWatcher) Run(ctx context.Context) {
	t := time.NewTicker(w.o.Interval)
	defer t.Stop()
	for {
		if err := w.Pass(ctx); err != nil && ctx.Err() == nil {
			w.o.Logger.Warn("client secret expiry: cannot check the connections", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Pass checks every connection once and stores the notices that are due. It goes on past a
// connection it cannot read or tell of, and returns those failures joined.
func (w *ExpiryWatcher) Pass(ctx context.Context) error {
	names, err := w.o.Store.ListConnections(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, name := range names {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		c, err := w.o.Store.GetConnection(ctx, name)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ev, ok := SecretExpiryNotice(name, c.ClientSecretExpiresAt, w.o.Now())
		if !ok {
			continue
		}
		if err := events.Enqueue(ctx, w.o.Store, ev); err != nil {
			errs = append(errs, fmt.Errorf("telling the webhooks that the client secret of %q expires: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// SecretExpiryNotice returns the notice due at now for connection name, whose client secret
// expires at expiresAt: the most urgent threshold passed (expired, 1, 7 or 30 days before),
// when it passed less than ExpiryNoticeWindow ago. ok is false when none is due, and for a
// connection without an expiry date.
func SecretExpiryNotice(name string, expiresAt, now time.Time) (ev authconn.Event, ok bool) {
	if expiresAt.IsZero() {
		return authconn.Event{}, false
	}
	typ, days, mark := authconn.EventClientSecretExpired, 0, expiresAt
	if now.Before(expiresAt) {
		typ, days = authconn.EventClientSecretExpiring, -1
		for _, d := range expiryThresholds {
			if m := expiresAt.Add(-time.Duration(d) * 24 * time.Hour); !now.Before(m) {
				days, mark = d, m
				break
			}
		}
	}
	if days < 0 || now.Sub(mark) >= ExpiryNoticeWindow {
		return authconn.Event{}, false
	}
	exp := expiresAt.UTC()
	return authconn.Event{
		ID: authconn.SecretExpiryEventID(typ, name, days, exp), Type: typ, Connection: name,
		Message: secretExpiryMessage(name, days, exp), At: now.UTC(),
		ClientSecretExpiresAt: exp, DaysLeft: days, KeepUntil: mark.Add(ExpiryNoticeWindow + time.Hour).UTC(),
	}, true
}

// secretExpiryMessage tells what happens and what to do.
func secretExpiryMessage(name string, days int, exp time.Time) string {
	when := "has expired (" + exp.Format(time.RFC3339) + ")"
	if days > 0 {
		when = fmt.Sprintf("expires in %d %s (%s)", days, plural(days, "day"), exp.Format(time.RFC3339))
	}
	return fmt.Sprintf("the client secret of %s %s: create a new one at the provider and write it to the connection with its new expiry date (Terraform); refreshes fail once it has expired", name, when)
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
