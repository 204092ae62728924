package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	vault "github.com/hashicorp/vault/api"
)

// Status is the authorization state of a connection.
type Status string

const (
	// StatusAuthorized: the token set can be used and refreshed.
	StatusAuthorized Status = "authorized"
	// StatusNeedsReauthorization: the provider refused the refresh token (invalid_grant);
	// an operator must run `tokend authorize NAME` again.
	StatusNeedsReauthorization Status = "needs_reauthorization"
	// StatusNotAuthorized: no token set is stored (the status of a connection without tokens).
	StatusNotAuthorized Status = "not_authorized"
)

// TokenSet is the token record of one connection.
type TokenSet struct {
	AccessToken  string    `json:"access_token,omitempty"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	TokenType    string    `json:"token_type,omitempty"`
	Expiry       time.Time `json:"expiry,omitempty"`
	// ExpiryGuessed is true when the provider sent no expires_in and Expiry is a fallback.
	ExpiryGuessed bool   `json:"expiry_guessed,omitempty"`
	Scope         string `json:"scope,omitempty"`
	// RefreshTokenExpiry is when the refresh token expires, when the provider says
	// (QuickBooks: x_refresh_token_expires_in, a rolling 100 days).
	RefreshTokenExpiry time.Time `json:"refresh_token_expiry,omitempty"`
	// RefreshTokenHardExpiry is an absolute limit on the refresh token chain, when the
	// provider says (QuickBooks: x_refresh_token_lifetime_expires_in, 5 years).
	RefreshTokenHardExpiry time.Time `json:"refresh_token_hard_expiry,omitempty"`
	// Extra holds the other fields of the last token response (id_token, x_* fields, ...).
	Extra map[string]any `json:"extra,omitempty"`
	// CallbackExtras holds extra values from the authorization callback (QuickBooks realmId).
	CallbackExtras map[string]string `json:"callback_extras,omitempty"`

	Status      Status    `json:"status"`
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitempty"`
	// AuthorizedAt is when `tokend authorize` stored this token chain.
	AuthorizedAt time.Time `json:"authorized_at,omitempty"`
	// RefreshedAt is when the access token was last refreshed.
	RefreshedAt time.Time `json:"refreshed_at,omitempty"`
	// Scopes are the scopes requested at authorization; refreshes ask for the same ones.
	Scopes []string `json:"scopes,omitempty"`

	// Version is the KV v2 version this value was read at; PutTokens uses it for check-and-set.
	Version int `json:"-"`
}

// String hides the tokens from fmt and loggers.
func (t TokenSet) String() string {
	return fmt.Sprintf("TokenSet(status=%s, expiry=%s, version=%d)", t.Status, t.Expiry.Format(time.RFC3339), t.Version)
}

// GoString hides the tokens from %#v.
func (t TokenSet) GoString() string { return t.String() }

// TokenStatus is the non-secret summary of a token record, kept in the record's KV v2
// custom metadata so that roles without read access to the tokens (Terraform) can show it.
type TokenStatus struct {
	Status             Status
	Expiry             time.Time
	RefreshTokenExpiry time.Time
	LastError          string
	LastErrorAt        time.Time
	UpdatedAt          time.Time
}

// Summary returns the non-secret summary of t.
func (t *TokenSet) Summary() TokenStatus {
	return TokenStatus{
		Status: t.Status, Expiry: t.Expiry, RefreshTokenExpiry: t.RefreshTokenExpiry,
		LastError: t.LastError, LastErrorAt: t.LastErrorAt,
	}
}

// GetTokens returns the token record of connection name.
func (s *Store) GetTokens(ctx context.Context, name string) (*TokenSet, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	var t TokenSet
	v, err := s.record(ctx, "tokens", name, s.Layout(name).Tokens, &t)
	if err != nil {
		return nil, err
	}
	t.Version = v
	return &t, nil
}

// PutTokens writes t as the token record of connection name if the stored version is still
// t.Version (0: only when there is no token record). On success t.Version holds the new
// version. A lost race returns a ConflictError and writes nothing. After the tokens, it
// updates the non-secret status summary in the record's custom metadata; a failure there is
// returned but the tokens are already stored (t.Version is updated either way).
func (s *Store) PutTokens(ctx context.Context, name string, t *TokenSet) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	if t.Status == "" {
		t.Status = StatusAuthorized
	}
	p := s.Layout(name).Tokens
	cas := t.Version
	if cas == 0 {
		var err error
		cas, err = createVersion(s.record(ctx, "tokens", name, p, &TokenSet{}))
		if err != nil {
			return err
		}
	}
	v, err := s.write(ctx, "tokens", name, p, t, cas)
	if err != nil {
		return err
	}
	t.Version = v
	return s.putSummary(ctx, name, t.Summary())
}

func (s *Store) putSummary(ctx context.Context, name string, st TokenStatus) error {
	md := map[string]any{
		"status":     string(st.Status),
		"expiry":     formatTime(st.Expiry),
		"rt_expiry":  formatTime(st.RefreshTokenExpiry),
		"last_error": truncate(printable(st.LastError), 512),
		"error_at":   formatTime(st.LastErrorAt),
		"updated_at": formatTime(now()),
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
func (s *Store) GetTokenStatus(ctx context.Context, name string) (TokenStatus, error) {
	if err := ValidateName(name); err != nil {
		return TokenStatus{}, err
	}
	md, err := s.kv.GetMetadata(ctx, s.Layout(name).Tokens)
	if err != nil {
		if errors.Is(err, vault.ErrSecretNotFound) {
			return TokenStatus{Status: StatusNotAuthorized}, nil
		}
		return TokenStatus{}, fmt.Errorf("reading the token status of %q from Vault: %w", name, redactErr(err))
	}
	if md.CurrentVersion == 0 {
		return TokenStatus{Status: StatusNotAuthorized}, nil
	}
	if cur, ok := md.Versions[fmt.Sprint(md.CurrentVersion)]; ok && !cur.DeletionTime.IsZero() {
		return TokenStatus{Status: StatusNotAuthorized}, nil
	}
	get := func(k string) string { v, _ := md.CustomMetadata[k].(string); return v }
	st := TokenStatus{
		Status:             Status(get("status")),
		Expiry:             parseTime(get("expiry")),
		RefreshTokenExpiry: parseTime(get("rt_expiry")),
		LastError:          get("last_error"),
		LastErrorAt:        parseTime(get("error_at")),
		UpdatedAt:          parseTime(get("updated_at")),
	}
	if st.Status == "" {
		st.Status = StatusAuthorized
	}
	return st, nil
}

// DeleteTokens removes the token record (all versions) and the refresh lease of connection
// name. The connection and its client secret stay. A missing record is not an error.
func (s *Store) DeleteTokens(ctx context.Context, name string) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	l := s.Layout(name)
	if err := s.destroy(ctx, "tokens", name, l.Tokens); err != nil {
		return err
	}
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

// printable replaces control characters (newlines in multi-line errors) with spaces: Vault
// rejects custom-metadata values that contain them.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || !unicode.IsPrint(r) && r != ' ' {
			return ' '
		}
		return r
	}, s)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
