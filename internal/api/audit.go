package api

import (
	"net/http"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/audit"
	"github.com/authconnection/terraform-provider-tailor/internal/wire"
)

// auditCaller is the audit trail's view of an authenticated API key (its description is
// added off the request's path, audit.Options.Describe).
func auditCaller(c caller) audit.Caller {
	return audit.Caller{Kind: audit.CallerAPIKey, ID: c.id}
}

// auditOutcome is the outcome of a refused request by its error code: the caller's fault
// (denied) or not (failure).
func auditOutcome(code string) audit.Outcome {
	switch code {
	case wire.CodeUnauthenticated, wire.CodeForbidden, wire.CodeInvalidName, wire.CodeRateLimited, wire.CodeInvalidRequest:
		return audit.Denied
	}
	return audit.Failure
}

// auditToken records a token read of connection name by c (zero caller: not
// authenticated), received at start, that ended with code ("" for success). The record's
// time is the request's start, which the handler has read already.
func (s *Server) auditToken(r *http.Request, start time.Time, c caller, name, code string) {
	rec := audit.Record{Time: start, Caller: auditCaller(c), Connection: name, Action: audit.TokenRead, Outcome: audit.Success}
	if code != "" {
		rec.Outcome, rec.Reason = auditOutcome(code), code
	}
	s.audit.Record(r.Context(), rec)
}

// statusWriter remembers the status of an answer, for the admin API's audit records.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// adminAction is the audit action of an admin API request, by its method.
func adminAction(r *http.Request) audit.Action {
	switch r.Method {
	case http.MethodPost:
		return audit.AdminLinkCreated
	case http.MethodDelete:
		return audit.AdminLinkRevoked
	}
	return audit.AdminLinksListed
}

// auditAdmin records an admin API request by c that was answered with status; the reason
// of a refusal is its status code's text.
func (s *Server) auditAdmin(r *http.Request, c caller, status int) {
	rec := audit.Record{Caller: auditCaller(c), Connection: r.PathValue("name"), Subject: r.PathValue("id"), Action: adminAction(r), Outcome: audit.Success}
	switch {
	case status >= 500:
		rec.Outcome, rec.Reason = audit.Failure, http.StatusText(status)
	case status >= 400:
		rec.Outcome, rec.Reason = audit.Denied, http.StatusText(status)
	}
	s.audit.Record(r.Context(), rec)
}
