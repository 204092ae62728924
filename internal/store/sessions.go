package store

import (
	"context"
	"errors"
	"time"
)

// sessionsPath is the record of admin API key id's status-page sessions.
func (s *Store) sessionsPath(id string) string { return s.prefix + "/ui/sessions/" + id }

// sessionEnd is the record at sessionsPath: when the key's sessions were last ended. Its
// KV v2 version is the key's session epoch.
type sessionEnd struct {
	EndedAt time.Time `json:"ended_at"`
}

// SessionEpoch returns the session epoch of admin API key id: the version of its record at
// {prefix}/ui/sessions/ID, 0 while its sessions were never ended. A status-page session holds
// the epoch it was signed in at and holds only while that is still the epoch, so EndSessions
// ends it on every replica at once. The read is consistent (ConsistentReads): a sign-out
// holds on a Vault cluster's standbys too.
func (s *Store) SessionEpoch(ctx context.Context, id string) (int, error) {
	if !keyIDRE.MatchString(id) {
		return 0, &NotFoundError{Kind: "api key", Name: id}
	}
	v, err := s.record(ConsistentReads(ctx), "sessions", id, s.sessionsPath(id), &sessionEnd{})
	if errors.Is(err, ErrNotFound) {
		return v, nil // never ended (or soft-deleted: its version still counts)
	}
	return v, err
}

// EndSessions ends every status-page session of admin API key id that holds epoch (sign-out):
// it writes the key's record with check-and-set on epoch and returns the new epoch. When
// another replica ended them first (a conflict), they are ended just the same, and the
// current epoch is returned. Nothing caches an epoch (every signed-in request reads it), so
// no change-log entry is needed.
func (s *Store) EndSessions(ctx context.Context, id string, epoch int) (int, error) {
	if !keyIDRE.MatchString(id) {
		return 0, &NotFoundError{Kind: "api key", Name: id}
	}
	v, err := s.write(ctx, "sessions", id, s.sessionsPath(id), sessionEnd{EndedAt: time.Now().UTC()}, epoch)
	if errors.Is(err, ErrConflict) {
		return s.SessionEpoch(ctx, id)
	}
	return v, err
}
