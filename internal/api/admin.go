package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
	"github.com/authconnection/terraform-provider-tailor/internal/wire"
)

// Links creates, lists and revokes connect links (*connect.Service).
type Links interface {
	CreateLinkWith(ctx context.Context, o authconn.LinkOptions) (string, *authconn.ConnectLink, error)
	RevokeLink(ctx context.Context, id string) error
	Links(ctx context.Context) ([]*authconn.ConnectLink, error)
}

// admin wraps h: the caller must present an admin API key.
func (s *Server) admin(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, ok := s.authenticate(w, r, routeAdmin)
		if !ok {
			s.auditAdmin(r, c, http.StatusUnauthorized)
			return
		}
		if !c.admin {
			s.log.Info("a non-admin API key asked for the admin API", "key_id", c.id, "path", r.URL.Path)
			s.refuse(w, routeAdmin, http.StatusForbidden, wire.CodeForbidden, "this API key is not an admin key: create one with `tokend keys create --admin`")
			s.auditAdmin(r, c, http.StatusForbidden)
			return
		}
		sw := &statusWriter{ResponseWriter: w}
		h(sw, r)
		s.auditAdmin(r, c, sw.status)
	}
}

// linkRequest is the body of POST /v1/admin/connections/{name}/links.
type linkRequest struct {
	Scopes      []string `json:"scopes"`
	ExpiresIn   string   `json:"expires_in"`
	Description string   `json:"description"`
	// NewAccount: the link's holder may authorize with another account than the
	// connection's recorded one.
	NewAccount bool `json:"new_account"`
}

// linkView is a connect link as the admin API shows it: no hash, no token.
type linkView struct {
	ID          string     `json:"id"`
	URL         string     `json:"url,omitempty"` // only in the answer that created it
	Connection  string     `json:"connection"`
	Scopes      []string   `json:"scopes,omitempty"`
	State       string     `json:"state"`
	Description string     `json:"description,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	ExpiresAt   time.Time  `json:"expires_at"`
	UsedAt      *time.Time `json:"used_at,omitempty"`
	RevokedAt   *time.Time `json:"revoked_at,omitempty"`
	// NewAccount: the link may authorize another account than the connection's.
	NewAccount bool `json:"new_account,omitempty"`
}

func viewOf(l *authconn.ConnectLink) linkView {
	v := linkView{ID: l.ID, Connection: l.Connection, Scopes: l.Scopes, State: string(l.State(time.Now())), Description: l.Description,
		CreatedAt: l.CreatedAt, ExpiresAt: l.ExpiresAt, NewAccount: l.NewAccount}
	if !l.UsedAt.IsZero() {
		v.UsedAt = &l.UsedAt
	}
	if !l.RevokedAt.IsZero() {
		v.RevokedAt = &l.RevokedAt
	}
	return v
}

func (s *Server) createLink(w http.ResponseWriter, r *http.Request) {
	req, msg := readLinkRequest(w, r)
	if msg != "" {
		writeError(w, http.StatusBadRequest, wire.CodeInvalidRequest, msg)
		return
	}
	var ttl time.Duration
	if req.ExpiresIn != "" {
		var err error
		if ttl, err = time.ParseDuration(req.ExpiresIn); err != nil {
			writeError(w, http.StatusBadRequest, wire.CodeInvalidRequest, fmt.Sprintf("invalid expires_in %q: use a duration such as 24h", req.ExpiresIn))
			return
		}
	}
	u, l, err := s.o.Links.CreateLinkWith(r.Context(), authconn.LinkOptions{Name: r.PathValue("name"), Scopes: req.Scopes, TTL: ttl,
		Description: req.Description, NewAccount: req.NewAccount})
	if err != nil {
		writeError(w, http.StatusBadRequest, wire.CodeInvalidRequest, err.Error())
		return
	}
	v := viewOf(l)
	v.URL = u
	writeJSON(w, http.StatusCreated, v)
}

// readLinkRequest reads the body of POST /v1/admin/connections/{name}/links, or returns why
// it is refused: not JSON, not valid UTF-8 (JSON decoding would silently replace invalid
// bytes), or a description that authconn.ValidateDescription refuses (its scopes are
// checked by CreateLink). At most 16 KiB.
func readLinkRequest(w http.ResponseWriter, r *http.Request) (linkRequest, string) {
	var req linkRequest
	if r.ContentLength == 0 {
		return req, ""
	}
	const shape = "the body must be JSON: {\"scopes\": [...], \"expires_in\": \"24h\", \"description\": \"...\"}"
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 16<<10))
	switch {
	case err != nil:
		return req, shape + " of at most 16 KiB"
	case !utf8.Valid(body):
		return req, "the body is not valid UTF-8: send the scopes and the description as UTF-8 text"
	case json.Unmarshal(body, &req) != nil:
		return req, shape
	}
	if err := authconn.ValidateDescription("description", req.Description); err != nil {
		return req, err.Error()
	}
	return req, ""
}

func (s *Server) listLinks(w http.ResponseWriter, r *http.Request) {
	links, err := s.o.Links.Links(r.Context())
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, wire.CodeUnavailable, "cannot list the links: "+err.Error())
		return
	}
	out := make([]linkView, 0, len(links))
	for _, l := range links {
		out = append(out, viewOf(l))
	}
	writeJSON(w, http.StatusOK, map[string]any{"links": out})
}

func (s *Server) revokeLink(w http.ResponseWriter, r *http.Request) {
	err := s.o.Links.RevokeLink(r.Context(), r.PathValue("id"))
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, wire.CodeNotFound, "no such connect link")
	case err != nil:
		writeError(w, http.StatusServiceUnavailable, wire.CodeUnavailable, "cannot revoke the link: "+err.Error())
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
