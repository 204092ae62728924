package main

import (
	"context"
	"log/slog"
	"os"
	"os/user"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/authconnection/terraform-provider-tailor/internal/api"
	"github.com/authconnection/terraform-provider-tailor/internal/audit"
	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/events"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
)

// cliAudit is the recorder of a command other than serve: with --audit-log it appends each
// record to the file at once (standard error for "-"), so an operator's revoke, delete,
// authorize or key change joins tokend serve's stream when both write the same file.
type cliAudit struct {
	path string
	log  *slog.Logger
}

// operator is the caller of a CLI command: the operator's OS user, when known.
func operator() audit.Caller {
	c := audit.Caller{Kind: audit.CallerCLI}
	if u, err := user.Current(); err == nil {
		c.ID = u.Username
	}
	return c
}

// audit returns the recorder of a CLI command and its caller (operator).
func (g *globalFlags) audit() (audit.Recorder, audit.Caller) {
	c := operator()
	if g.auditLog == "" {
		return audit.Nop{}, c
	}
	return &cliAudit{path: g.auditLog, log: slog.Default()}, c
}

// Record implements audit.Recorder: a failure to write is logged, never the command's.
func (a *cliAudit) Record(ctx context.Context, r audit.Record) {
	if r.Time.IsZero() {
		r.Time = time.Now()
	}
	if r.Replica == "" {
		r.Replica, _ = os.Hostname()
	}
	var j *audit.JSONLines
	if a.path == "-" {
		j = audit.NewJSONLines(os.Stderr)
	} else {
		var err error
		if j, err = audit.OpenJSONLines(a.path); err != nil {
			a.log.Error("cannot write the audit record", "action", string(r.Action), "error", err)
			return
		}
	}
	err := j.Write(ctx, &r)
	if cerr := j.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		a.log.Error("cannot write the audit record", "action", string(r.Action), "error", err)
	}
}

// serveAudit is tokend serve's audit trail: its Trail, the --audit-log stream and the
// goroutine that writes them.
type serveAudit struct {
	trail *audit.Trail
	file  *audit.JSONLines // nil without --audit-log
	done  chan struct{}
}

// newAudit makes tokend serve's trail: counters in reg always, the --audit-log stream and
// with --audit-webhooks the webhooks' audit.* events. Callers are described from keys.
func (f *serveFlags) newAudit(st *store.Store, reg prometheus.Registerer, keys *api.KeyCache, log *slog.Logger) (*serveAudit, error) {
	a := &serveAudit{done: make(chan struct{})}
	var sinks []audit.Sink
	if f.auditLog != "" {
		j, err := audit.OpenJSONLines(f.auditLog)
		if err != nil {
			return nil, err
		}
		a.file, sinks = j, append(sinks, j)
	}
	if f.auditWebhooks {
		sinks = append(sinks, &audit.Webhooks{Enqueue: auditEvent(st)})
	}
	a.trail = audit.New(audit.Options{Replica: f.replicaID, Sinks: sinks, Counters: audit.NewCounters(reg, 0), Logger: log,
		Describe: func(c audit.Caller) string { return describeKey(keys, c) }})
	return a, nil
}

// describeKey is the description of an API key caller's key (an admin key's for a status
// page session), from the key cache.
func describeKey(keys *api.KeyCache, c audit.Caller) string {
	if c.Kind != audit.CallerAPIKey && c.Kind != audit.CallerAdminSession {
		return ""
	}
	return keys.Describe(c.ID)
}

// auditEvent enqueues a record as a webhook event of type audit.<action>, its JSON line in
// the message.
func auditEvent(st *store.Store) func(context.Context, *audit.Record) error {
	return func(ctx context.Context, r *audit.Record) error {
		return events.Enqueue(ctx, st, authconn.Event{Type: authconn.EventType(audit.EventType(r.Action)),
			Connection: r.Connection, ErrorCode: string(r.Outcome), Message: string(audit.Marshal(r)), At: r.Time.UTC()})
	}
}

// run writes the trail until ctx ends, then closes the stream; wait waits for that.
func (a *serveAudit) run(ctx context.Context) {
	go func() {
		defer close(a.done)
		a.trail.Run(ctx)
		if a.file != nil {
			_ = a.file.Close()
		}
	}()
}

// wait waits (at most 10 s) for run to have written every record.
func (a *serveAudit) wait() {
	select {
	case <-a.done:
	case <-time.After(10 * time.Second):
	}
}

// recordChange is the record tokend serve makes of a connection changed by someone else,
// seen in the change log. Every replica records it. Its caller is the writer the entry names
// (changeCaller).
func recordChange(rec audit.Recorder, c store.Change) {
	if c.Kind != store.ChangeConnection {
		return
	}
	r := audit.Record{Caller: changeCaller(c), Connection: c.Name, Action: audit.ConnectionChanged, Outcome: audit.Success}
	if c.Deleted {
		r.Reason = "deleted"
	}
	rec.Record(context.Background(), r)
}

// changeCaller is the caller a change log entry names: Terraform, or the CLI with the
// operator's OS user. It is the writer's own claim (anyone who may write the log may write
// any name), shortened and made one line; an entry that names no known writer (one written
// before writers named themselves) is terraform_or_cli.
func changeCaller(c store.Change) audit.Caller {
	switch c.By {
	case store.WriterTerraform:
		return audit.Caller{Kind: audit.CallerTerraform}
	case store.WriterCLI:
		return audit.Caller{Kind: audit.CallerCLI, ID: authconn.Sanitize(c.ByID, 64)}
	}
	return audit.Caller{Kind: audit.CallerTerraformOrCLI}
}
