// Package tokens turns what an OAuth2 provider answered (an oauth.Token) into the token
// record tailor stores (an authconn.TokenSet), with the rules a token broker must keep. The
// refresher (internal/broker) and the authorization flows (internal/authorize) both write
// records through it, so the rules exist once:
//
//   - a refresh answer without a refresh token keeps the stored one (and its expiry);
//   - a refresh keeps the authorization's data: requested scopes, callback extras (QuickBooks'
//     realmId), authorized-at, the account that authorized, the ID token, and the granted scope and token type when the
//     answer leaves them out;
//   - a refresh keeps the connection's metadata (realmId, instance_url, tenant id) and its API
//     base URL; a value the new answer carries replaces the kept one (MergeMetadata);
//   - an answer without expires_in gets a fallback lifetime (the entry's, or the default),
//     marked as guessed;
//   - a new authorization without a refresh token keeps the refresh token of the record it
//     replaces, while that record is still authorized (Google on re-consent).
package tokens

import (
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/oauth"
)

// DefaultFallbackLifetime is the access-token lifetime assumed when a provider sends no
// expires_in.
const DefaultFallbackLifetime = time.Hour

// fromToken builds the record of answer t, status authorized.
func fromToken(t *oauth.Token, fallback time.Duration) *authconn.TokenSet {
	if fallback <= 0 {
		fallback = DefaultFallbackLifetime
	}
	at := t.ReceivedAt.UTC()
	ts := &authconn.TokenSet{
		AccessToken: t.AccessToken, RefreshToken: t.RefreshToken, TokenType: t.TokenType, Scope: t.Scope,
		Expiry: at.Add(t.ExpiresIn), Extra: maps.Clone(t.Extra), Status: authconn.StatusAuthorized,
		ValidAfterRefresh: t.ValidAfterRefresh,
	}
	if t.ExpiresIn <= 0 {
		ts.Expiry, ts.ExpiryGuessed = at.Add(fallback), true
	} else if t.ExpiresInAssumed {
		ts.ExpiryGuessed = true // the entry's fallback lifetime, not the provider's word
	}
	if t.RefreshExpiresIn > 0 {
		ts.RefreshTokenExpiry = at.Add(t.RefreshExpiresIn)
	}
	if t.RefreshHardExpiresIn > 0 {
		ts.RefreshTokenHardExpiry = at.Add(t.RefreshHardExpiresIn)
	}
	return ts
}

// Authorized returns the record of a new authorization: t is the answer to the code
// exchange, scopes the scopes requested, extras the callback's extra values.
func Authorized(t *oauth.Token, scopes []string, extras map[string]string, fallback time.Duration) *authconn.TokenSet {
	ts := fromToken(t, fallback)
	ts.Scopes = slices.Clone(scopes)
	ts.AuthorizedAt = t.ReceivedAt.UTC()
	if len(extras) > 0 {
		ts.CallbackExtras = maps.Clone(extras)
	}
	return ts
}

// Refreshed returns the record to store after a refresh of old answered with t. old is not
// modified.
func Refreshed(old *authconn.TokenSet, t *oauth.Token, fallback time.Duration) *authconn.TokenSet {
	ts := fromToken(t, fallback)
	if ts.RefreshToken == "" {
		ts.RefreshToken = old.RefreshToken
		if ts.RefreshTokenExpiry.IsZero() {
			ts.RefreshTokenExpiry = old.RefreshTokenExpiry
		}
	}
	if ts.RefreshTokenHardExpiry.IsZero() {
		ts.RefreshTokenHardExpiry = old.RefreshTokenHardExpiry
	}
	if ts.Scope == "" {
		ts.Scope = old.Scope
	}
	if ts.TokenType == "" {
		ts.TokenType = old.TokenType
	}
	if idt, ok := old.Extra["id_token"]; ok {
		if _, has := ts.Extra["id_token"]; !has {
			if ts.Extra == nil {
				ts.Extra = map[string]any{}
			}
			ts.Extra["id_token"] = idt
		}
	}
	ts.Scopes = slices.Clone(old.Scopes)
	ts.CallbackExtras = maps.Clone(old.CallbackExtras)
	ts.Metadata, ts.APIBaseURL = maps.Clone(old.Metadata), old.APIBaseURL
	if strings.HasPrefix(old.LastError, MetadataNote) {
		ts.LastError, ts.LastErrorAt = old.LastError, old.LastErrorAt
	}
	ts.AuthorizedAt = old.AuthorizedAt
	ts.IssuedBy = cloneIssuance(old.IssuedBy)
	if old.Account != nil {
		acct := *old.Account
		ts.Account = &acct
	}
	ts.RefreshedAt = t.ReceivedAt.UTC()
	return ts
}

func cloneIssuance(in *authconn.Issuance) *authconn.Issuance {
	if in == nil {
		return nil
	}
	out := *in
	return &out
}

// KeepRefreshToken applies the re-authorization rule to next, a new authorization that
// replaces prev (nil when there was none): when next has no refresh token and prev is still
// authorized with one that was issued by the same token endpoint origin (both IssuedBy
// record the same TokenOrigin, or neither records one), next keeps prev's refresh token and
// its expiries. A refresh token is never carried over to another origin: it would then be
// sent there. It reports whether it did.
func KeepRefreshToken(next, prev *authconn.TokenSet) bool {
	if next.RefreshToken != "" || prev == nil || prev.RefreshToken == "" || prev.Status != authconn.StatusAuthorized {
		return false
	}
	if tokenOrigin(next) != tokenOrigin(prev) {
		return false
	}
	next.RefreshToken = prev.RefreshToken
	next.RefreshTokenExpiry = prev.RefreshTokenExpiry
	next.RefreshTokenHardExpiry = prev.RefreshTokenHardExpiry
	return true
}

func tokenOrigin(ts *authconn.TokenSet) string {
	if ts.IssuedBy == nil {
		return ""
	}
	return ts.IssuedBy.TokenOrigin
}

// Issued returns the record of a client-credentials token t, asked for with scopes, that
// replaces prev (nil for the first one). There is no refresh token to keep: the client asks
// again before expiry.
func Issued(prev *authconn.TokenSet, t *oauth.Token, scopes []string, fallback time.Duration) *authconn.TokenSet {
	ts := fromToken(t, fallback)
	ts.Grant = authconn.GrantClientCredentials
	ts.Scopes = slices.Clone(scopes)
	ts.AuthorizedAt = t.ReceivedAt.UTC()
	if prev != nil && !prev.AuthorizedAt.IsZero() {
		ts.AuthorizedAt = prev.AuthorizedAt
		ts.RefreshedAt = t.ReceivedAt.UTC()
	}
	if prev != nil {
		ts.Metadata, ts.APIBaseURL = maps.Clone(prev.Metadata), prev.APIBaseURL
	}
	return ts
}

// MetadataNote begins the LastError of a record whose tokens were stored although the
// entry's metadata could not be had (the post-connect call failed, timed out, or found
// several tenants or none): the status stays authorized, and the note stays across refreshes
// until an authorization gets the metadata.
const MetadataNote = "connected, but the connection's metadata is incomplete: "

// NoteMetadataFailure records err, a failed metadata call or API base URL, on ts (status
// unchanged) with MetadataNote, at at, and how it is retried: by the next token of a
// client-credentials connection, by an authorization otherwise.
func NoteMetadataFailure(ts *authconn.TokenSet, err error, at time.Time) {
	retry := "; authorize again to retry"
	if ts.Grant == authconn.GrantClientCredentials {
		retry = "; tokend retries with the next token"
	}
	ts.LastError = authconn.Sanitize(MetadataNote+err.Error()+retry, 480)
	ts.LastErrorAt = at.UTC()
}

// MergeMetadata applies the metadata rule of a refresh (or a new client-credentials token)
// to ts, whose Metadata holds the values kept so far: each non-empty value of fresh (what
// the new token answer carries) replaces or adds its key; the other kept values stay. It
// reports whether Metadata changed, so the caller fills the API base URL again.
func MergeMetadata(ts *authconn.TokenSet, fresh map[string]string) bool {
	changed := false
	for k, v := range fresh {
		if v == "" || ts.Metadata[k] == v {
			continue
		}
		if ts.Metadata == nil {
			ts.Metadata = map[string]string{}
		}
		ts.Metadata[k], changed = v, true
	}
	return changed
}
