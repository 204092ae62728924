package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	vault "github.com/hashicorp/vault/api"
)

// ChangeKind names what a Change is about.
type ChangeKind string

// The kinds of change the store notes.
const (
	ChangeConnection ChangeKind = "connection" // configuration, client secret or assertion key written, or the connection deleted
	ChangeTokens     ChangeKind = "tokens"     // a token record written or deleted (authorized, refreshed, revoked, marked)
	ChangeAPIKey     ChangeKind = "api-key"    // an API key created or deleted
)

// changeLogVersions is how many changes the change log keeps (its KV v2 max_versions). A
// reader that fell further behind reads everything again.
const changeLogVersions = 1000

// maxChangesPerRead bounds how many log entries one ChangesSince reads; beyond it the answer
// is incomplete and the reader reads everything again, which is cheaper.
const maxChangesPerRead = 200

// Change is one entry of the change log: Name (a connection name or API key id) of Kind was
// written at At. Version is the record's new KV v2 version (0 for a deletion); Seq is the
// entry's position in the log.
type Change struct {
	Seq     int        `json:"-"`
	Kind    ChangeKind `json:"kind"`
	Name    string     `json:"name"`
	Version int        `json:"version,omitempty"`
	At      time.Time  `json:"at"`
	// Deleted marks the deletion of a connection (DeleteConnection); Version is then the
	// version its configuration had, which names the deletion (the connection.deleted event's
	// id). Anyone who may write the log can claim it: readers check that the configuration is
	// really gone.
	Deleted bool `json:"deleted,omitempty"`
	// By and ByID are who wrote the entry, as the writer claims (Options.Writer,
	// Options.WriterID); empty in entries of writers that say nothing.
	By   string `json:"by,omitempty"`
	ByID string `json:"by_id,omitempty"`
}

// The writers that name themselves in the change log (Options.Writer).
const (
	WriterTerraform = "terraform" // the Terraform provider
	WriterCLI       = "cli"       // a tokend command; Options.WriterID is the operator's OS user
)

func (s *Store) changesPath() string { return s.prefix + "/changes" }

// noteChange appends a change to the change log, a single KV v2 secret whose versions are
// the entries: Vault numbers the versions of one key atomically, so concurrent writers need
// no check-and-set and every entry gets its own place. It is best effort: the record is
// already stored, and a reader that misses the entry still finds the record at its next
// refresh or full re-read (tokend serve --recheck-interval). It returns the error for tests
// and callers that care.
func (s *Store) noteChange(ctx context.Context, kind ChangeKind, name string, version int) error {
	return s.note(ctx, Change{Kind: kind, Name: name, Version: version})
}

// note appends c (its At is set now) to the change log, as noteChange.
func (s *Store) note(ctx context.Context, c Change) error {
	kind, name := c.Kind, c.Name
	data := map[string]any{"kind": string(kind), "name": name, "at": now().Format(time.RFC3339Nano)}
	if c.Version > 0 {
		data["version"] = c.Version
	}
	if c.Deleted {
		data["deleted"] = true
	}
	if s.writer != "" {
		data["by"] = s.writer
	}
	if s.writerID != "" {
		data["by_id"] = s.writerID
	}
	sec, err := s.kv.Put(ctx, s.changesPath(), data)
	if err != nil {
		return fmt.Errorf("noting a change of %s %q in Vault: %w", kind, name, redactErr(err))
	}
	if sec != nil && sec.VersionMetadata != nil && sec.VersionMetadata.Version == 1 {
		// The first entry: keep the last changeLogVersions entries (KV v2 keeps 10 by default).
		_ = s.kv.PatchMetadata(ctx, s.changesPath(), vault.KVMetadataPatchInput{MaxVersions: ptr(changeLogVersions)})
	}
	return nil
}

func ptr[T any](v T) *T { return &v }

// ChangesSince returns the change log's entries after position seen, oldest first, and the
// log's current position. With complete false the entries after seen are no longer all in the
// log (or too many to read one by one), and the caller must read everything again. A seen
// below 0 returns only the current position (a reader starting up). One metadata read when
// nothing changed; one more read per entry.
func (s *Store) ChangesSince(ctx context.Context, seen int) (changes []Change, current int, complete bool, err error) {
	md, err := s.kv.GetMetadata(ctx, s.changesPath())
	if err != nil {
		if errors.Is(err, vault.ErrSecretNotFound) {
			return nil, 0, seen <= 0, nil
		}
		return nil, seen, false, fmt.Errorf("reading the change log from Vault: %w", redactErr(err))
	}
	current = md.CurrentVersion
	switch {
	case seen < 0 || seen == current:
		return nil, current, true, nil
	case seen > current || seen+1 < md.OldestVersion || current-seen > maxChangesPerRead:
		// Behind the log's start, ahead of it (the log was deleted and started again), or far
		// behind: read everything again.
		return nil, current, false, nil
	}
	for v := seen + 1; v <= current; v++ {
		c, err := s.change(ctx, v, md)
		if err != nil {
			return changes, v - 1, false, err
		}
		changes = append(changes, c)
	}
	return changes, current, true, nil
}

// change reads log entry v.
func (s *Store) change(ctx context.Context, v int, md *vault.KVMetadata) (Change, error) {
	if vm, ok := md.Versions[strconv.Itoa(v)]; ok && (vm.Destroyed || !vm.DeletionTime.IsZero()) {
		return Change{Seq: v}, nil
	}
	sec, err := s.kv.GetVersion(ctx, s.changesPath(), v)
	if err != nil {
		return Change{}, fmt.Errorf("reading change %d from Vault: %w", v, redactErr(err))
	}
	c := Change{Seq: v}
	c.Kind = ChangeKind(str(sec.Data["kind"]))
	c.Name = str(sec.Data["name"])
	c.At, _ = time.Parse(time.RFC3339Nano, str(sec.Data["at"]))
	c.Deleted, _ = sec.Data["deleted"].(bool)
	c.By, c.ByID = str(sec.Data["by"]), str(sec.Data["by_id"])
	switch n := sec.Data["version"].(type) {
	case float64:
		c.Version = int(n)
	case interface{ String() string }:
		c.Version, _ = strconv.Atoi(n.String())
	}
	return c, nil
}

func str(v any) string { s, _ := v.(string); return s }
