package api

import (
	"net/http"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/apikey"
	"github.com/authconnection/terraform-provider-tailor/internal/audit"
	"github.com/authconnection/terraform-provider-tailor/internal/wire"
)

// proxy serves /v1/connections/{name}/proxy/{path...} (any method): the API key must have
// the proxy permission on the connection; the call is Options.Proxy's. tokend's own
// refusals here carry Tailor-Proxy-Error as the proxy's do.
func (s *Server) proxy(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	c, ok := s.authenticateFor(proxyRefusals{w}, r, name, apikey.PermProxy)
	if !ok {
		return
	}
	if s.o.Proxy == nil {
		writeError(proxyRefusals{w}, http.StatusNotFound, wire.CodeNotFound, "this tokend does not serve the proxy")
		return
	}
	s.o.Proxy.ServeAPIKey(w, r, name, c.id)
}

// proxyRefusals marks an error answer of the proxy route's authentication as tokend's own
// (Tailor-Proxy-Error, with the code its status stands for there, and no attempt made).
type proxyRefusals struct{ http.ResponseWriter }

// proxyRefusalCodes are the codes of authenticateFor's answers, by status.
var proxyRefusalCodes = map[int]string{
	http.StatusBadRequest:         wire.CodeInvalidName,
	http.StatusUnauthorized:       wire.CodeUnauthenticated,
	http.StatusForbidden:          wire.CodeForbidden,
	http.StatusNotFound:           wire.CodeNotFound,
	http.StatusTooManyRequests:    wire.CodeRateLimited,
	http.StatusServiceUnavailable: wire.CodeUnavailable,
}

func (w proxyRefusals) WriteHeader(status int) {
	if code, ok := proxyRefusalCodes[status]; ok {
		w.Header().Set("Tailor-Proxy-Error", code)
		w.Header().Set("Tailor-Proxy-Attempts", "0")
	}
	w.ResponseWriter.WriteHeader(status)
}

// auditRefusal records a request that authenticateFor refused with code: a token read for
// apikey.PermToken, a proxy call for apikey.PermProxy (one the proxy never sees).
func (s *Server) auditRefusal(r *http.Request, c caller, name string, perm apikey.Permission, code string) {
	if perm == apikey.PermToken {
		s.auditToken(r, time.Now(), c, name, code)
		return
	}
	s.audit.Record(r.Context(), audit.Record{Caller: auditCaller(c), Connection: name, Action: audit.ProxyCall,
		Outcome: auditOutcome(code), Reason: code, Method: r.Method})
}
