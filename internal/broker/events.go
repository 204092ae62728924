package broker

import (
	"context"
	"errors"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/oauth"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
)

// Events is told of the connections' state transitions that this replica made
// (*events.Emitter). The ids are derived from the transition (authconn.EventID), so that
// replicas that notice the same one store it once.
type Events interface {
	Emit(ctx context.Context, ev authconn.Event)
}

// RefreshFailedAfter is how many refresh attempts in a row must fail on this replica before
// connection.refresh_failed is emitted.
const RefreshFailedAfter = 3

func (b *Broker) emit(ctx context.Context, typ authconn.EventType, name string, version int, status authconn.Status, cause error, msg string) {
	if b.o.Events == nil {
		return
	}
	ev := authconn.Event{ID: authconn.EventID(typ, name, version), Type: typ, Connection: name, Status: status, Message: msg}
	var oe *oauth.Error
	if errors.As(cause, &oe) {
		ev.ErrorCode = oe.Code
	}
	b.o.Events.Emit(context.WithoutCancel(ctx), ev)
}

// noteFailure emits refresh_failed once the refresh of ts has failed RefreshFailedAfter
// times in a row here (once per record version).
func (b *Broker) noteFailure(ctx context.Context, e *entry, ts *store.TokenRecord, err error) {
	if e.claimFailedEvent(ts.Version, RefreshFailedAfter) {
		b.emit(ctx, authconn.EventRefreshFailed, e.name(), ts.Version, ts.Status, err, withAdvice(e.name(), err).Error())
	}
}

// noteRecovery emits recovered when a refresh from version from succeeded after failing:
// the record was failed, this replica had emitted refresh_failed, or another replica had
// (its event is still in the outbox).
func (b *Broker) noteRecovery(ctx context.Context, e *entry, from int, wasFailed bool, v int) {
	if b.o.Events == nil {
		return
	}
	emitted := e.takeFailedEvent(from)
	if !emitted && !wasFailed && !b.eventStored(ctx, authconn.EventID(authconn.EventRefreshFailed, e.name(), from)) {
		return
	}
	b.emit(ctx, authconn.EventRecovered, e.name(), v, authconn.StatusAuthorized, nil, "refreshes work again")
}

// eventStored reports whether event id is in the outbox.
func (b *Broker) eventStored(ctx context.Context, id string) bool {
	_, err := b.o.Store.GetEvent(ctx, id)
	return err == nil
}

// noteDeleted emits connection.deleted for a deletion read in the change log, when the
// connection's configuration is really gone (anyone who may write the log can claim a
// deletion). Its id is derived from the name and the configuration's last version that the
// deleter noted, the id `tokend delete` stores too, so every replica, and the CLI, store it
// once. The event carries no message and no link: the deleter (the Terraform role, say)
// needs no access to the outbox, and cannot put words in tokend's mouth.
func (b *Broker) noteDeleted(ctx context.Context, c store.Change) {
	if b.o.Events == nil || c.Version <= 0 {
		return
	}
	_, err := b.o.Store.GetConnection(store.ConsistentReads(ctx), c.Name)
	if !errors.Is(err, store.ErrNotFound) {
		if err != nil {
			b.log.Warn("could not check whether a deleted connection is gone; not telling the webhooks", "connection", c.Name, "error", err)
		}
		return
	}
	b.emit(ctx, authconn.EventDeleted, c.Name, c.Version, authconn.StatusNotAuthorized, nil, "")
}
