// Package audit is tokend's audit trail: one Record for every token read, proxy call,
// authorization, re-authorization, revoke, delete, key change and admin action, saying who
// (Caller) did what (Action) to which connection, and how it ended (Outcome).
//
// A Recorder takes records. Trail is tokend's: Record copies the record into a bounded
// queue and returns (a compare-and-swap, no lock, no allocation, no I/O on the caller's
// path); one goroutine (Trail.Run) counts each record in Counters and hands it to the sinks:
// a JSON-lines stream (JSONLines, tokend serve --audit-log) and, optionally, webhooks
// (Webhooks, --audit-webhooks). When the queue is full, Record waits at most
// Options.MaxWait and then drops the record, counting it (tokend_audit_dropped_total) and
// logging it without its contents; a sink's write failure is logged and counted
// (tokend_audit_write_errors_total) and never reaches the request that made the record.
//
// A record never holds a token, client secret, API key secret, link token or query value:
// callers fill it from names, ids and path templates only, and the proxy's path is its
// template without the query. Standard library and the Prometheus client only.
package audit

import (
	"context"
	"time"
)

// CallerKind says how a caller proved who it is.
type CallerKind string

// The kinds of caller.
const (
	CallerAPIKey       CallerKind = "api_key"       // an API key of tokend's API: ID is the key's id
	CallerAdminSession CallerKind = "admin_session" // a signed-in status page session: ID is the admin key's id
	CallerCLI          CallerKind = "cli"           // a tokend command run by an operator: ID is the OS user when known
	CallerTerraform    CallerKind = "terraform"     // the Terraform provider
	// CallerTerraformOrCLI: a change tokend serve read in the change log whose entry does
	// not say whether the Terraform provider or a tokend command wrote it.
	CallerTerraformOrCLI CallerKind = "terraform_or_cli"
	CallerLink           CallerKind = "link" // a connect link's holder: ID is the link's id, never its token
)

// Caller is who made a record's action. Description is the API key's description (or the
// link's), as its creator wrote it.
type Caller struct {
	Kind        CallerKind `json:"kind"`
	ID          string     `json:"id,omitempty"`
	Description string     `json:"description,omitempty"`
}

// Action is what was done. admin.* actions are those of the status page and the admin API.
type Action string

// The actions recorded.
const (
	TokenRead              Action = "token.read"
	ProxyCall              Action = "proxy.call"
	ConnectionAuthorized   Action = "connection.authorized"
	ConnectionReauthorized Action = "connection.reauthorized"
	ConnectionRevoked      Action = "connection.revoked"
	ConnectionDeleted      Action = "connection.deleted"
	ConnectionChanged      Action = "connection.changed"
	KeyCreated             Action = "key.created"
	KeyRevoked             Action = "key.revoked"
	AdminSignIn            Action = "admin.sign_in"
	AdminSignOut           Action = "admin.sign_out"
	AdminReconnect         Action = "admin.reconnect"
	AdminRevoke            Action = "admin.revoke"
	AdminLinkCreated       Action = "admin.link_created"
	AdminLinkRevoked       Action = "admin.link_revoked"
	AdminLinksListed       Action = "admin.links_listed"
)

// Actions lists every action, for the webhooks' subscriptions to audit.* events.
var Actions = []Action{TokenRead, ProxyCall, ConnectionAuthorized, ConnectionReauthorized, ConnectionRevoked, ConnectionDeleted,
	ConnectionChanged, KeyCreated, KeyRevoked, AdminSignIn, AdminSignOut, AdminReconnect, AdminRevoke, AdminLinkCreated,
	AdminLinkRevoked, AdminLinksListed}

// Outcome is how an action ended: it was done, the caller was not allowed, or it failed.
type Outcome string

// The outcomes.
const (
	Success Outcome = "success"
	Denied  Outcome = "denied"
	Failure Outcome = "failure"
)

// Record is one entry of the audit trail. Time and Replica are filled by the Trail when
// left empty. The proxy's fields (Method to Attempts) are set for ProxyCall only; Path is
// the route's path template or the path without its query, never a query value.
type Record struct {
	Time       time.Time
	Replica    string
	Caller     Caller
	Connection string
	// Subject is what the action was on when it is not a connection (or besides it): the
	// API key's id of key.*, the connect link's id of admin.link_*.
	Subject string
	Action  Action
	Outcome Outcome
	// Reason is a short machine-readable cause (the API's error code: forbidden,
	// not_found, needs_reauthorization, ...), never a provider's or user's free text.
	Reason string

	Method         string
	Host           string
	Path           string
	UpstreamStatus int
	BytesIn        int64 // bytes of the caller's request body sent upstream
	BytesOut       int64 // bytes of the upstream's answer body sent to the caller
	Duration       time.Duration
	Attempts       int
}

// Recorder takes audit records. Record must not block for long nor fail the caller.
type Recorder interface {
	Record(ctx context.Context, r Record)
}

// Nop is the Recorder that keeps nothing: the default where no trail is wired.
type Nop struct{}

// Record implements Recorder.
func (Nop) Record(context.Context, Record) {}

// OrNop returns r, or Nop when r is nil, so a component may leave its recorder unset.
func OrNop(r Recorder) Recorder {
	if r == nil {
		return Nop{}
	}
	return r
}
