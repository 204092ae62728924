package authconn

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"
)

// EventType names a change of a connection that webhooks are told of.
type EventType string

// The events.
const (
	EventAuthorized           EventType = "connection.authorized"
	EventRefreshFailed        EventType = "connection.refresh_failed"
	EventNeedsReauthorization EventType = "connection.needs_reauthorization"
	EventRecovered            EventType = "connection.recovered"
	EventRevoked              EventType = "connection.revoked"
	EventDeleted              EventType = "connection.deleted"
	// EventClientSecretExpiring: the client secret expires in 30, 7 or 1 days;
	// EventClientSecretExpired: it has expired.
	EventClientSecretExpiring EventType = "connection.client_secret_expiring"
	EventClientSecretExpired  EventType = "connection.client_secret_expired"
)

// EventTypes lists every event type.
var EventTypes = []EventType{EventAuthorized, EventRefreshFailed, EventNeedsReauthorization, EventRecovered, EventRevoked, EventDeleted,
	EventClientSecretExpiring, EventClientSecretExpired}

// Event is one state transition of a connection, as kept in the outbox. It carries no token
// or secret, and no link: a connect link for a webhook that opted in is minted at send time
// (records of older versions had a reconnect_url here; it is dropped when read and never
// sent).
type Event struct {
	// ID is the webhook-id: the same for every delivery of the event.
	ID         string    `json:"id"`
	Type       EventType `json:"type"`
	Connection string    `json:"connection"`
	Status     Status    `json:"status,omitempty"`
	ErrorCode  string    `json:"error_code,omitempty"`
	Message    string    `json:"message,omitempty"`
	At         time.Time `json:"at"`
	// AccountChanged (connection.authorized): the authorization replaced the connection's
	// account with another one; NewAccountRequested: an operator asked for a new account
	// (tokend authorize --new-account, a new-account link, the status page's checkbox).
	AccountChanged      bool `json:"account_changed,omitempty"`
	NewAccountRequested bool `json:"new_account_requested,omitempty"`
	// Metadata (connection.authorized): the connection's non-secret values kept from the
	// authorization (its catalog entry's: realmId, instance_url, tenant id); APIBaseURL its
	// API base URL. Other events leave them out.
	Metadata   map[string]string `json:"metadata,omitempty"`
	APIBaseURL string            `json:"api_base_url,omitempty"`
	// ClientSecretExpiresAt and DaysLeft (client_secret_expiring and client_secret_expired):
	// when the client secret expires, and the notice's threshold in days (30, 7, 1; 0 once
	// expired).
	ClientSecretExpiresAt time.Time `json:"client_secret_expires_at,omitzero"`
	DaysLeft              int       `json:"days_left,omitempty"`
	// KeepUntil is the earliest time the outbox may remove the record once delivered: an
	// emitter that may store the same id again until then finds it there (zero: the
	// deliverer's usual hour).
	KeepUntil time.Time `json:"keep_until,omitzero"`
}

// String is a short description for logs.
func (e Event) String() string { return fmt.Sprintf("Event(%s %s %s)", e.ID, e.Type, e.Connection) }

// EventID is the id of the transition typ of connection name that made token record
// version: every replica that notices the same transition computes the same id, so the
// event is stored, and delivered, once.
func EventID(typ EventType, name string, version int) string {
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s|%s|%d", typ, name, version)))
	return "msg_" + hex.EncodeToString(sum[:12])
}

// AuthorizedEventID is the id of the connection.authorized event of token record version,
// whose token chain was authorized at at. The version alone would repeat: a revoke removes
// the record, and the next authorization starts again at version 1 while the first one's
// event may still be in the outbox, which would drop the new event as a duplicate.
func AuthorizedEventID(name string, version int, at time.Time) string {
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s|%s|%d|%d", EventAuthorized, name, version, at.UnixNano())))
	return "msg_" + hex.EncodeToString(sum[:12])
}

// SecretExpiryEventID is the id of the notice of type typ that connection name's client
// secret, expiring at expiresAt, is days from expiry: every replica computes the same id,
// and a new expiry date gives new ids.
func SecretExpiryEventID(typ EventType, name string, days int, expiresAt time.Time) string {
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s|%s|%d|%d", typ, name, days, expiresAt.UnixNano())))
	return "msg_" + hex.EncodeToString(sum[:12])
}

// ValidEventType reports whether t is an event type.
func ValidEventType(t string) bool {
	for _, e := range EventTypes {
		if string(e) == t {
			return true
		}
	}
	return false
}
