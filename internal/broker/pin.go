package broker

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
)

// pinChecker is the part of *oauth.Client that compares a connection's pinned discovery
// result with the provider's current document.
type pinChecker interface {
	PinChanges(ctx context.Context, conn *authconn.Connection) ([]string, error)
}

// withPinNote adds to err, the failure of a request to a pinned endpoint, what changed in the
// provider's discovery document since the connection pinned it (nothing when nothing did):
// the likely cause, and the fix is the operator's (update the connection), never tokend's.
func (b *Broker) withPinNote(ctx context.Context, conn *store.ConnectionRecord, err error) error {
	pc, ok := b.o.OAuth.(pinChecker)
	if !ok || conn.Discovered == nil {
		return err
	}
	changes, cerr := pc.PinChanges(ctx, &conn.Connection)
	if cerr != nil || len(changes) == 0 {
		return err
	}
	return fmt.Errorf("%w (the provider's discovery document changed since the connection pinned it: %s; tailor keeps using the pinned endpoints: update the connection to take the new ones)",
		err, strings.Join(changes, "; "))
}

// reportPinChanges fetches the provider's discovery document once per connection version
// and logs a warning for each endpoint that moved since the connection pinned it. The pinned
// endpoints stay in use: a change is followed only when an operator updates the connection.
func (b *Broker) reportPinChanges(ctx context.Context, pc pinChecker, conn *store.ConnectionRecord) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	changes, err := pc.PinChanges(ctx, &conn.Connection)
	if err != nil {
		b.log.Warn("cannot check the provider's discovery document against the pinned endpoints; the pinned ones stay in use", "connection", conn.Name, "error", err)
		return
	}
	for _, c := range changes {
		b.log.Warn("the provider's discovery document changed since the connection pinned it; the pinned endpoint stays in use: update the connection to take the new one (or fix the provider)",
			"connection", conn.Name, "change", c)
	}
}
