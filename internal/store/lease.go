package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
)

// ErrLeaseHeld is matched (errors.Is) by the error AcquireLease returns while another holder
// has an unexpired lease.
var ErrLeaseHeld = errors.New("refresh lease held by another holder")

// LeaseHeldError reports who holds a connection's refresh lease and until when.
type LeaseHeldError struct {
	Name      string
	Holder    string
	ExpiresAt time.Time
}

func (e *LeaseHeldError) Error() string {
	return fmt.Sprintf("refresh of %q is in progress at %s (lease until %s)", e.Name, e.Holder, e.ExpiresAt.Format(time.RFC3339))
}

// Is makes errors.Is(err, ErrLeaseHeld) true.
func (e *LeaseHeldError) Is(target error) bool { return target == ErrLeaseHeld }

// LeasePhase is what the holder of a refresh lease is doing, written in the lease record so
// that other replicas, and a successor that finds the lease expired, can tell.
type LeasePhase string

const (
	// PhaseRefreshing marks a lease whose holder is calling the provider, from the lease's
	// acquisition for a refresh (ForRefresh) until the result is stored. A lease found expired
	// in this phase means its holder died or lost Vault mid-refresh (or before it called the
	// provider: the successor cannot tell).
	PhaseRefreshing LeasePhase = "refreshing"
	// PhaseBackoff marks a lease kept after a failed refresh (the provider answered, nothing
	// was rotated) until its holder's next attempt at ExpiresAt: no replica refreshes before,
	// so all may serve the cached token until then.
	PhaseBackoff LeasePhase = "backoff"
)

// Lease is a connection's refresh lease: while it is unexpired, only Holder may call the
// provider's token endpoint with the connection's refresh token. Acquisition and release
// use check-and-set on the lease record, so two holders never both win.
type Lease struct {
	Name       string    `json:"-"`
	Holder     string    `json:"holder"`
	AcquiredAt time.Time `json:"acquired_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	// TokenVersion is the token record version the holder read when it took the lease.
	TokenVersion int `json:"token_version,omitempty"`
	// Phase is what the holder is doing (empty for a lease taken for anything but a refresh).
	Phase LeasePhase `json:"phase,omitempty"`
	// Version is the KV v2 version of the lease record.
	Version int `json:"-"`
}

// Held reports whether the lease is held by someone at time t.
func (l *Lease) Held(t time.Time) bool { return l.Holder != "" && t.Before(l.ExpiresAt) }

// GetLease returns the refresh lease record of connection name (an empty lease when none).
func (s *Store) GetLease(ctx context.Context, name string) (*Lease, error) {
	if err := authconn.ValidateName(name); err != nil {
		return nil, err
	}
	var l Lease
	v, err := s.record(ctx, "lease", name, s.Layout(name).RefreshLease, &l)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	if err != nil {
		l = Lease{}
	}
	l.Name, l.Version = name, v
	return &l, nil
}

// LeaseOption sets a field of a lease as AcquireLease writes it.
type LeaseOption func(*Lease)

// ForRefresh marks the lease, as it is taken, in phase: a holder about to refresh record
// version tokenVersion saves the separate write that would mark it (one Vault round trip
// fewer while callers wait at the refresh boundary).
func ForRefresh(phase LeasePhase, tokenVersion int) LeaseOption {
	return func(l *Lease) { l.Phase, l.TokenVersion = phase, tokenVersion }
}

// AcquireLease takes the refresh lease of connection name for holder until now+ttl, when it
// is free, expired or already held by holder. It returns a LeaseHeldError while another
// holder's lease runs, and the previous lease record as prev (so the caller can see that a
// holder died mid-refresh).
func (s *Store) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration, opts ...LeaseOption) (l *Lease, prev *Lease, err error) {
	if holder == "" {
		return nil, nil, errors.New("lease holder must not be empty")
	}
	ctx = ConsistentReads(ctx)
	prev, err = s.GetLease(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	t := now()
	if prev.Held(t) && prev.Holder != holder {
		return nil, prev, &LeaseHeldError{Name: name, Holder: prev.Holder, ExpiresAt: prev.ExpiresAt}
	}
	l = &Lease{Name: name, Holder: holder, AcquiredAt: t, ExpiresAt: t.Add(ttl)}
	for _, o := range opts {
		o(l)
	}
	v, err := s.write(ctx, "lease", name, s.Layout(name).RefreshLease, l, prev.Version)
	if err != nil {
		if errors.Is(err, ErrConflict) {
			cur, gerr := s.GetLease(ctx, name)
			if gerr == nil && cur.Holder == holder && cur.AcquiredAt.Equal(t) {
				return cur, prev, nil // our write was applied, its answer lost, the repeat refused
			}
			if gerr == nil && cur.Holder != "" {
				return nil, prev, &LeaseHeldError{Name: name, Holder: cur.Holder, ExpiresAt: cur.ExpiresAt}
			}
			return nil, prev, &LeaseHeldError{Name: name, Holder: "another holder", ExpiresAt: t.Add(ttl)}
		}
		return nil, prev, err
	}
	l.Version = v
	return l, prev, nil
}

// LeaseAcquirer is a store that takes refresh leases: *Store, or a test's in-memory store
// with the same rules.
type LeaseAcquirer interface {
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration, opts ...LeaseOption) (*Lease, *Lease, error)
}

// AcquireLeaseWaiting takes the refresh lease of connection name in s for holder until
// now+ttl, as AcquireLease, trying again every poll while another holder's lease runs (a
// refresh in progress), for at most wait. Past wait it returns the *LeaseHeldError
// (errors.Is ErrLeaseHeld); when ctx ends, ctx.Err().
func AcquireLeaseWaiting(ctx context.Context, s LeaseAcquirer, name, holder string, ttl, wait, poll time.Duration) (*Lease, error) {
	deadline := time.Now().Add(wait)
	for {
		l, _, err := s.AcquireLease(ctx, name, holder, ttl)
		if err == nil || !errors.Is(err, ErrLeaseHeld) || time.Now().After(deadline) {
			return l, err
		}
		t := time.NewTimer(poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

// LeaseHolder names this process as a lease holder doing role: "<host>:<pid>:<role>".
func LeaseHolder(role string) string {
	host, _ := os.Hostname()
	return host + ":" + strconv.Itoa(os.Getpid()) + ":" + role
}

// UpdateLease writes l (for example a new Phase or TokenVersion) if its version is unchanged,
// which proves the caller still holds it.
func (s *Store) UpdateLease(ctx context.Context, l *Lease) error {
	v, err := s.write(ctx, "lease", l.Name, s.Layout(l.Name).RefreshLease, l, l.Version)
	if err != nil {
		return err
	}
	l.Version = v
	return nil
}

// ReleaseLease frees l if it is still the current lease record. A lease that was taken over
// after it expired is left alone (that is not an error).
func (s *Store) ReleaseLease(ctx context.Context, l *Lease) error {
	free := &Lease{Name: l.Name, AcquiredAt: l.AcquiredAt, ExpiresAt: now(), TokenVersion: l.TokenVersion, Version: l.Version}
	err := s.UpdateLease(ctx, free)
	if errors.Is(err, ErrConflict) {
		return nil
	}
	return err
}
