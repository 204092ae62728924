package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
)

// TokenRecord is a connection's token set as stored, with the KV v2 version it was read at.
type TokenRecord struct {
	authconn.TokenSet
	Version int
}

// GetTokens returns the token record of connection name.
func (s *Store) GetTokens(ctx context.Context, name string) (*TokenRecord, error) {
	if err := authconn.ValidateName(name); err != nil {
		return nil, err
	}
	var r TokenRecord
	v, err := s.record(ctx, "tokens", name, s.Layout(name).Tokens, &r.TokenSet)
	if err != nil {
		return nil, err
	}
	r.Version = v
	return &r, nil
}

// PutTokens writes t as the token record of connection name if the stored version is still
// version (0: only when there is no token record), and returns the new version. A lost race
// returns a ConflictError and writes nothing. After the tokens, it updates the non-secret
// status summary in the record's custom metadata; a failure there returns the new version
// together with the error: a version above 0 always means the tokens are stored.
func (s *Store) PutTokens(ctx context.Context, name string, t *authconn.TokenSet, version int) (int, error) {
	if err := authconn.ValidateName(name); err != nil {
		return 0, err
	}
	if t.Status == "" {
		t.Status = authconn.StatusAuthorized
	}
	p := s.Layout(name).Tokens
	cas := version
	if cas == 0 {
		var err error
		cas, err = createVersion(s.record(ctx, "tokens", name, p, &authconn.TokenSet{}))
		if err != nil {
			return 0, err
		}
	}
	v, err := s.write(ctx, "tokens", name, p, t, cas)
	if err != nil {
		return 0, err
	}
	// The status summary and the change-log entry are independent: write them at once, so a
	// refresh that callers wait for costs one round trip less.
	noted := make(chan struct{})
	go func() { defer close(noted); _ = s.noteChange(ctx, ChangeTokens, name, v) }()
	err = s.putSummary(ctx, name, t.Summary())
	<-noted
	return v, err
}

func (s *Store) putSummary(ctx context.Context, name string, st authconn.TokenStatus) error {
	md := map[string]any{
		"status":       string(st.Status),
		"expiry":       formatTime(st.Expiry),
		"rt_expiry":    formatTime(st.RefreshTokenExpiry),
		"last_error":   authconn.Sanitize(st.LastError, maxMetadataValue-len("…")),
		"error_at":     formatTime(st.LastErrorAt),
		"updated_at":   formatTime(now()),
		"metadata":     summaryMetadata(st.Metadata),
		"api_base_url": st.APIBaseURL,
	}
	for k, v := range md {
		if v == "" {
			md[k] = nil // Vault rejects empty values; nil removes the key in a patch
		}
	}
	if err := s.kv.PatchMetadata(ctx, s.Layout(name).Tokens, vault.KVMetadataPatchInput{CustomMetadata: md}); err != nil {
		return fmt.Errorf("tokens of %q are stored, but updating their status summary failed: %w", name, redactErr(err))
	}
	return nil
}

// GetTokenStatus returns the non-secret status summary of connection name's tokens. It reads
// only KV v2 metadata. A connection without tokens returns StatusNotAuthorized.
func (s *Store) GetTokenStatus(ctx context.Context, name string) (authconn.TokenStatus, error) {
	if err := authconn.ValidateName(name); err != nil {
		return authconn.TokenStatus{}, err
	}
	md, err := s.kv.GetMetadata(ctx, s.Layout(name).Tokens)
	if err != nil {
		if errors.Is(err, vault.ErrSecretNotFound) {
			return authconn.TokenStatus{Status: authconn.StatusNotAuthorized}, nil
		}
		return authconn.TokenStatus{}, fmt.Errorf("reading the token status of %q from Vault: %w", name, redactErr(err))
	}
	if md.CurrentVersion == 0 {
		return authconn.TokenStatus{Status: authconn.StatusNotAuthorized}, nil
	}
	if cur, ok := md.Versions[fmt.Sprint(md.CurrentVersion)]; ok && !cur.DeletionTime.IsZero() {
		return authconn.TokenStatus{Status: authconn.StatusNotAuthorized}, nil
	}
	get := func(k string) string { v, _ := md.CustomMetadata[k].(string); return v }
	st := authconn.TokenStatus{
		Status:             authconn.Status(get("status")),
		Expiry:             parseTime(get("expiry")),
		RefreshTokenExpiry: parseTime(get("rt_expiry")),
		LastError:          get("last_error"),
		LastErrorAt:        parseTime(get("error_at")),
		UpdatedAt:          parseTime(get("updated_at")),
		Metadata:           parseSummaryMetadata(get("metadata")),
		APIBaseURL:         get("api_base_url"),
	}
	if st.Status == "" {
		st.Status = authconn.StatusAuthorized
	}
	return st, nil
}

// DeleteTokens removes the token record (all versions) and the refresh lease of connection
// name. The connection and its client secret stay. A missing record is not an error.
func (s *Store) DeleteTokens(ctx context.Context, name string) error {
	if err := authconn.ValidateName(name); err != nil {
		return err
	}
	l := s.Layout(name)
	if err := s.destroy(ctx, "tokens", name, l.Tokens); err != nil {
		return err
	}
	_ = s.noteChange(ctx, ChangeTokens, name, 0)
	return s.destroy(ctx, "lease", name, l.RefreshLease)
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func parseTime(s string) time.Time {
	t, _ := time.Parse(time.RFC3339, s)
	return t
}

// summaryMetadata encodes a connection's metadata for the status summary: a JSON object of
// as many values, in key order, as fit in one custom-metadata value (Vault: 512 bytes); ""
// when there are none. The whole set is in the token record; the summary serves readers
// that may not read tokens (Terraform), and catalog values are short ids and URLs.
func summaryMetadata(md map[string]string) string {
	if len(md) == 0 {
		return ""
	}
	kept := map[string]string{}
	for _, k := range slices.Sorted(maps.Keys(md)) {
		kept[k] = md[k]
		if b, _ := json.Marshal(kept); len(b) > maxMetadataValue {
			delete(kept, k)
		}
	}
	b, _ := json.Marshal(kept)
	return string(b)
}

// parseSummaryMetadata decodes summaryMetadata's value; nil when empty or unreadable.
func parseSummaryMetadata(v string) map[string]string {
	var md map[string]string
	if v == "" || json.Unmarshal([]byte(v), &md) != nil || len(md) == 0 {
		return nil
	}
	return md
}

// maxMetadataValue is the longest value Vault accepts in custom metadata (512 bytes); values
// go through authconn.Sanitize, since Vault also rejects control characters there.
const maxMetadataValue = 512
