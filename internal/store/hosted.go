package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
)

// ErrUsed is returned when a single-use record (a pending authorization, a connect link)
// has been consumed already.
var ErrUsed = errors.New("already used")

// pendingPath is where the pending authorization with state is kept: under a hash of the
// state, so that listing the folder shows no state.
func (s *Store) pendingPath(state string) string {
	sum := sha256.Sum256([]byte(state))
	return s.prefix + "/pending/" + hex.EncodeToString(sum[:16])
}

// PutPending stores a new pending authorization.
func (s *Store) PutPending(ctx context.Context, p *authconn.PendingAuthorization) error {
	if p.State == "" || p.Connection == "" {
		return errors.New("a pending authorization needs a state and a connection")
	}
	_, err := s.write(ctx, "pending authorization", p.Connection, s.pendingPath(p.State), p, 0)
	return err
}

// ConsumePending returns the pending authorization with state and marks it consumed, with
// check-and-set, so that exactly one caller gets it. A consumed one is ErrUsed; an unknown
// one is a NotFoundError. The caller checks the expiry. The record is then removed.
func (s *Store) ConsumePending(ctx context.Context, state string) (*authconn.PendingAuthorization, error) {
	ctx = ConsistentReads(ctx)
	p := s.pendingPath(state)
	var rec authconn.PendingAuthorization
	v, err := s.record(ctx, "pending authorization", "", p, &rec)
	if err != nil {
		return nil, err
	}
	if !rec.ConsumedAt.IsZero() {
		return nil, ErrUsed
	}
	rec.ConsumedAt = now()
	if _, err := s.write(ctx, "pending authorization", rec.Connection, p, &rec, v); err != nil {
		if errors.Is(err, ErrConflict) {
			return nil, ErrUsed
		}
		return nil, err
	}
	_ = s.destroy(ctx, "pending authorization", rec.Connection, p)
	return &rec, nil
}

// SweepPending removes pending authorizations that expired before t, and returns how many.
func (s *Store) SweepPending(ctx context.Context, t time.Time) (int, error) {
	keys, err := s.list(ctx, s.prefix+"/pending")
	if err != nil {
		return 0, err
	}
	n := 0
	for _, k := range keys {
		p := s.prefix + "/pending/" + k
		var rec authconn.PendingAuthorization
		if _, err := s.record(ctx, "pending authorization", "", p, &rec); err == nil && rec.ExpiresAt.Before(t) {
			if s.destroy(ctx, "pending authorization", rec.Connection, p) == nil {
				n++
			}
		}
	}
	return n, nil
}

func (s *Store) linkPath(id string) string { return s.prefix + "/links/" + id }

// CreateLink stores a new connect link; an existing id is a ConflictError.
func (s *Store) CreateLink(ctx context.Context, l *authconn.ConnectLink) error {
	if !keyIDRE.MatchString(l.ID) || l.Hash == "" || l.Connection == "" {
		return fmt.Errorf("invalid connect link record %q", l.ID)
	}
	_, err := s.write(ctx, "connect link", l.ID, s.linkPath(l.ID), l, 0)
	return err
}

// GetLink returns the connect link with id, and its version.
func (s *Store) GetLink(ctx context.Context, id string) (*authconn.ConnectLink, int, error) {
	if !keyIDRE.MatchString(id) {
		return nil, 0, &NotFoundError{Kind: "connect link", Name: id}
	}
	var l authconn.ConnectLink
	v, err := s.record(ConsistentReads(ctx), "connect link", id, s.linkPath(id), &l)
	if err != nil {
		return nil, 0, err
	}
	return &l, v, nil
}

// UpdateLink writes l if its version is still version (check-and-set).
func (s *Store) UpdateLink(ctx context.Context, l *authconn.ConnectLink, version int) error {
	_, err := s.write(ctx, "connect link", l.ID, s.linkPath(l.ID), l, version)
	return err
}

// ListLinks returns every connect link, newest first.
func (s *Store) ListLinks(ctx context.Context) ([]*authconn.ConnectLink, error) {
	ids, err := s.list(ctx, s.prefix+"/links")
	if err != nil {
		return nil, err
	}
	var out []*authconn.ConnectLink
	for _, id := range ids {
		l, _, err := s.GetLink(ctx, id)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.After(out[j].CreatedAt) })
	return out, nil
}

// DeleteLink removes a connect link record.
func (s *Store) DeleteLink(ctx context.Context, id string) error {
	return s.destroy(ctx, "connect link", id, s.linkPath(id))
}

// SessionKey returns the key that signs the status page's sessions, creating it on first
// use (check-and-set: every replica ends up with the same key).
func (s *Store) SessionKey(ctx context.Context) ([]byte, error) {
	p := s.prefix + "/ui/session-key"
	var rec struct {
		Key []byte `json:"key"`
	}
	_, err := s.record(ConsistentReads(ctx), "session key", "", p, &rec)
	if err == nil && len(rec.Key) >= 32 {
		return rec.Key, nil
	}
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	rec.Key = make([]byte, 32)
	if _, err := rand.Read(rec.Key); err != nil {
		return nil, err
	}
	if _, err := s.write(ctx, "session key", "", p, &rec, 0); err != nil {
		if errors.Is(err, ErrConflict) { // another replica was first
			return s.SessionKey(ctx)
		}
		return nil, err
	}
	return rec.Key, nil
}
