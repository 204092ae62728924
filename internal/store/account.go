package store

import (
	"context"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
)

// AccountRecord is who authorized a connection at its provider, kept by tokend apart from
// the token record so that it outlives a revoke (which deletes the tokens): the next
// authorization is still compared with it. Only tokend writes it (the Terraform role may not:
// the connection config, which Terraform writes, is no place for it); deleting the
// connection removes it.
type AccountRecord struct {
	Account authconn.Account `json:"account"`
	// RecordedAt is when this account was first recorded (or replaced, by an operator's
	// new-account authorization).
	RecordedAt time.Time `json:"recorded_at"`
	Version    int       `json:"-"`
}

// GetAccount returns the account record of connection name, or a NotFoundError.
func (s *Store) GetAccount(ctx context.Context, name string) (*AccountRecord, error) {
	if err := authconn.ValidateName(name); err != nil {
		return nil, err
	}
	var r AccountRecord
	v, err := s.record(ctx, "account", name, s.Layout(name).Account, &r)
	if err != nil {
		return nil, err
	}
	r.Version = v
	return &r, nil
}

// PutAccount writes the account record of connection name if the stored version is still
// version (0: only when there is none), and returns the new version.
func (s *Store) PutAccount(ctx context.Context, name string, r *AccountRecord, version int) (int, error) {
	if err := authconn.ValidateName(name); err != nil {
		return 0, err
	}
	p := s.Layout(name).Account
	cas := version
	if cas == 0 {
		var err error
		if cas, err = createVersion(s.record(ctx, "account", name, p, &AccountRecord{})); err != nil {
			return 0, err
		}
	}
	return s.write(ctx, "account", name, p, r, cas)
}
