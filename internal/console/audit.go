package console

import (
	"net/http"

	"github.com/authconnection/terraform-provider-tailor/internal/audit"
	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
)

// record records an action of the status page by the administrator signed in with admin
// key keyID ("" for a refused sign-in) on connection name and subject (a link's id).
func (c *Console) record(r *http.Request, keyID string, action audit.Action, name, subject string, outcome audit.Outcome) {
	if authconn.ValidateName(name) != nil {
		name = ""
	}
	rec := audit.Record{Caller: audit.Caller{Kind: audit.CallerAdminSession, ID: keyID}, Connection: name, Subject: subject,
		Action: action, Outcome: outcome}
	switch outcome {
	case audit.Denied:
		rec.Reason = "invalid_key"
	case audit.Failure:
		rec.Reason = "failed"
	}
	audit.OrNop(c.o.Audit).Record(r.Context(), rec)
}
