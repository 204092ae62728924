// Package store keeps tailor's records in HashiCorp Vault's KV v2 secrets engine. It is the
// only package that knows the Vault layout; see docs/vault-layout.md and Layout for the paths
// and the policies each role needs. The records, each with its version beside it:
//
//   - per connection: its configuration (ConnectionRecord), client secret (ClientSecret) or
//     client assertion key (ClientAssertionKey), tokens (TokenRecord), refresh lease (Lease)
//     and the account that authorized it (AccountRecord);
//   - API keys (APIKey) and the status page's session epochs (SessionEpoch) and
//     signing key (SessionKey);
//   - connect links (CreateLink) and pending authorizations of the hosted flow (PutPending);
//   - webhooks (Webhook) and the outbox of their events (EventRecord);
//   - the change log every writer appends to (ChangesSince).
//
// Every write uses KV v2 check-and-set. A write that loses a race returns an error that
// matches ErrConflict; a missing record returns an error that matches ErrNotFound.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/vaultclient"
	vault "github.com/hashicorp/vault/api"
)

// DefaultMount is the KV v2 mount used when Options.Mount is empty.
const DefaultMount = "secret"

// DefaultPrefix is the path prefix inside the mount used when Options.Prefix is empty.
const DefaultPrefix = "tailor"

// ErrNotFound is matched (errors.Is) by every error for a record that does not exist.
var ErrNotFound = errors.New("not found")

// ErrConflict is matched (errors.Is) by every error for a check-and-set write that lost a race.
var ErrConflict = errors.New("check-and-set conflict")

// NotFoundError reports a missing record.
type NotFoundError struct {
	Kind string // "connection", "client secret", "tokens", "lease", "api key"
	Name string
}

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("%s %q not found in Vault", e.Kind, e.Name)
}

// Is makes errors.Is(err, ErrNotFound) true.
func (e *NotFoundError) Is(target error) bool { return target == ErrNotFound }

// ConflictError reports a check-and-set write that found a version other than the one it read.
type ConflictError struct {
	Kind string
	Name string
	// Version is the version the writer expected to replace (0: it expected no record).
	Version int
}

func (e *ConflictError) Error() string {
	if e.Version == 0 {
		return fmt.Sprintf("%s %q already exists in Vault", e.Kind, e.Name)
	}
	return fmt.Sprintf("%s %q was changed in Vault by someone else (expected version %d); read it again and retry", e.Kind, e.Name, e.Version)
}

// Is makes errors.Is(err, ErrConflict) true.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// Options configures where the store keeps its records.
type Options struct {
	// Mount is the KV v2 mount path; DefaultMount when empty.
	Mount string
	// Prefix is the path prefix inside the mount; DefaultPrefix when empty. Two stores with
	// different prefixes do not see each other's records.
	Prefix string
	// Writer and WriterID name who writes through this store in the change log's entries
	// (Change.By, Change.ByID): "terraform", or "cli" and the operator's OS user. They are
	// the writer's own claim, for the audit trail's caller; Vault's audit device holds the
	// authenticated identity.
	Writer, WriterID string
}

// Store reads and writes records in Vault. It is safe for concurrent use.
type Store struct {
	client *vault.Client
	kv     *vault.KVv2
	mount  string
	prefix string
	// writer and writerID are Options.Writer and Options.WriterID.
	writer, writerID string
}

var segmentRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// New returns a Store that uses client. It does not contact Vault.
func New(client *vault.Client, opts Options) (*Store, error) {
	mount := strings.Trim(opts.Mount, "/")
	if mount == "" {
		mount = DefaultMount
	}
	prefix := strings.Trim(opts.Prefix, "/")
	if prefix == "" {
		prefix = DefaultPrefix
	}
	for _, seg := range strings.Split(mount+"/"+prefix, "/") {
		if !segmentRE.MatchString(seg) {
			return nil, fmt.Errorf("invalid Vault mount or path prefix %q: use letters, digits, '.', '_', '-' separated by '/'", mount+"/"+prefix)
		}
	}
	return &Store{client: client, kv: client.KVv2(mount), mount: mount, prefix: prefix, writer: opts.Writer, writerID: opts.WriterID}, nil
}

// ConsistentReads marks ctx so that the store's reads with it see every write committed
// before them, on a Vault cluster whose standbys may serve reads (see
// vaultclient.ConsistencyStrong): use it for the reads that decide what is presented to an
// OAuth2 provider. It changes nothing on a single node.
func ConsistentReads(ctx context.Context) context.Context { return vaultclient.ConsistentReads(ctx) }

// Client returns the Vault client the store uses.
func (s *Store) Client() *vault.Client { return s.client }

// Mount returns the KV v2 mount path.
func (s *Store) Mount() string { return s.mount }

// Prefix returns the path prefix inside the mount.
func (s *Store) Prefix() string { return s.prefix }

// Ping checks that Vault answers and that the token can see the mount.
func (s *Store) Ping(ctx context.Context) error {
	_, err := s.client.Logical().ListWithContext(ctx, path.Join(s.mount, "metadata", s.prefix))
	if err != nil {
		return fmt.Errorf("cannot reach Vault at %s or list %s/%s: %w", s.client.Address(), s.mount, s.prefix, redactErr(err))
	}
	return nil
}

// record reads the latest version of the secret at p into v. It returns the version read.
// A missing or soft-deleted record returns a NotFoundError and, for soft-deleted records,
// the current version number so that a create can still use check-and-set.
func (s *Store) record(ctx context.Context, kind, name, p string, v any) (int, error) {
	version, _, err := s.recordAt(ctx, kind, name, p, v)
	return version, err
}

// recordAt is record that also returns when Vault created the version read.
func (s *Store) recordAt(ctx context.Context, kind, name, p string, v any) (int, time.Time, error) {
	sec, err := s.kv.Get(ctx, p)
	if err != nil {
		if errors.Is(err, vault.ErrSecretNotFound) {
			return 0, time.Time{}, &NotFoundError{Kind: kind, Name: name}
		}
		return 0, time.Time{}, fmt.Errorf("reading %s %q from Vault: %w", kind, name, redactErr(err))
	}
	version, created := 0, time.Time{}
	if sec.VersionMetadata != nil {
		version, created = sec.VersionMetadata.Version, sec.VersionMetadata.CreatedTime
	}
	if sec.Data == nil {
		return version, created, &NotFoundError{Kind: kind, Name: name}
	}
	raw, err := json.Marshal(sec.Data)
	if err != nil {
		return 0, created, fmt.Errorf("decoding %s %q: %w", kind, name, err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return 0, created, fmt.Errorf("decoding %s %q: the record in Vault is not in the expected format: %w", kind, name, err)
	}
	return version, created, nil
}

// write stores v at p if the current version is cas (0: only if no live record exists).
// It returns the new version.
func (s *Store) write(ctx context.Context, kind, name, p string, v any, cas int) (int, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return 0, fmt.Errorf("encoding %s %q: %w", kind, name, err)
	}
	var data map[string]any
	if err := json.Unmarshal(raw, &data); err != nil {
		return 0, fmt.Errorf("encoding %s %q: %w", kind, name, err)
	}
	sec, err := s.kv.Put(ctx, p, data, vault.WithCheckAndSet(cas))
	if err != nil {
		if isCASMismatch(err) {
			return 0, &ConflictError{Kind: kind, Name: name, Version: cas}
		}
		return 0, fmt.Errorf("writing %s %q to Vault: %w", kind, name, redactErr(err))
	}
	if sec == nil || sec.VersionMetadata == nil {
		return 0, fmt.Errorf("writing %s %q to Vault: no version in the response", kind, name)
	}
	return sec.VersionMetadata.Version, nil
}

// createVersion returns the check-and-set value that creates a record at p: 0 when no
// metadata exists, or the current version when the latest version was soft-deleted.
func createVersion(version int, err error) (int, error) {
	if err == nil {
		return 0, nil // caller treats a live record as a conflict
	}
	if errors.Is(err, ErrNotFound) {
		return version, nil
	}
	return 0, err
}

// destroy removes every version and the metadata of the secret at p. A missing record is not
// an error.
func (s *Store) destroy(ctx context.Context, kind, name, p string) error {
	if err := s.kv.DeleteMetadata(ctx, p); err != nil {
		var re *vault.ResponseError
		if errors.As(err, &re) && re.StatusCode == http.StatusNotFound {
			return nil
		}
		return fmt.Errorf("deleting %s %q from Vault: %w", kind, name, redactErr(err))
	}
	return nil
}

// list returns the child keys under dir, folders without their trailing slash.
func (s *Store) list(ctx context.Context, dir string) ([]string, error) {
	keys, err := s.listRaw(ctx, dir)
	for i, k := range keys {
		keys[i] = strings.TrimSuffix(k, "/")
	}
	return keys, err
}

// listRaw returns the child keys under dir as Vault lists them: folders end in "/".
func (s *Store) listRaw(ctx context.Context, dir string) ([]string, error) {
	sec, err := s.client.Logical().ListWithContext(ctx, path.Join(s.mount, "metadata", dir))
	if err != nil {
		return nil, fmt.Errorf("listing %s in Vault: %w", dir, redactErr(err))
	}
	if sec == nil || sec.Data == nil {
		return nil, nil
	}
	keys, _ := sec.Data["keys"].([]any)
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		if ks, ok := k.(string); ok {
			out = append(out, ks)
		}
	}
	return out, nil
}

func isCASMismatch(err error) bool {
	var re *vault.ResponseError
	if !errors.As(err, &re) || re.StatusCode != http.StatusBadRequest {
		return false
	}
	for _, e := range re.Errors {
		if strings.Contains(e, "check-and-set") {
			return true
		}
	}
	return false
}

// redactErr keeps Vault's status and messages but drops the raw response body, which for
// some endpoints may echo request data.
func redactErr(err error) error {
	var re *vault.ResponseError
	if errors.As(err, &re) {
		msg := strings.Join(re.Errors, "; ")
		if msg == "" {
			msg = http.StatusText(re.StatusCode)
		}
		return &VaultError{StatusCode: re.StatusCode, Message: msg}
	}
	return err
}

// VaultError is an error response from Vault, with the raw response body removed.
type VaultError struct {
	StatusCode int
	Message    string
}

func (e *VaultError) Error() string {
	hint := ""
	switch e.StatusCode {
	case http.StatusForbidden:
		hint = " (check the Vault token and its policy; see docs/vault-layout.md)"
	case http.StatusServiceUnavailable:
		hint = " (Vault is sealed or in standby)"
	}
	return fmt.Sprintf("Vault answered %d: %s%s", e.StatusCode, e.Message, hint)
}

// now is replaced in tests.
var now = func() time.Time { return time.Now().UTC() }
