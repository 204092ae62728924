package tokens

import (
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/oauth"
)

var now = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func oldRecord() *authconn.TokenSet {
	return &authconn.TokenSet{
		AccessToken: "old-at", RefreshToken: "old-rt", TokenType: "Bearer", Scope: "openid offline_access",
		Expiry: now.Add(-time.Minute), Scopes: []string{"openid", "offline_access"}, Status: authconn.StatusAuthorized,
		CallbackExtras: map[string]string{"realmId": "123"}, AuthorizedAt: now.Add(-24 * time.Hour),
		RefreshTokenExpiry: now.Add(90 * 24 * time.Hour), RefreshTokenHardExpiry: now.Add(1000 * time.Hour),
		Extra: map[string]any{"id_token": "h.p.s"}, LastError: "refresh failed earlier",
	}
}

func TestRefreshedRotatesAndKeepsTheAuthorizationData(t *testing.T) {
	old := oldRecord()
	got := Refreshed(old, &oauth.Token{AccessToken: "new-at", RefreshToken: "new-rt", TokenType: "Bearer",
		ExpiresIn: time.Hour, ReceivedAt: now, Extra: map[string]any{"x_custom": "kept"}}, 30*time.Minute)
	if got.AccessToken != "new-at" || got.RefreshToken != "new-rt" || !got.Expiry.Equal(now.Add(time.Hour)) || got.ExpiryGuessed {
		t.Fatalf("rotation not taken: %s (rotated=%v)", got, got.RefreshToken == "new-rt")
	}
	if got.CallbackExtras["realmId"] != "123" || !got.AuthorizedAt.Equal(old.AuthorizedAt) || len(got.Scopes) != 2 ||
		!got.RefreshedAt.Equal(now) || got.Status != authconn.StatusAuthorized || got.LastError != "" {
		t.Fatalf("authorization data not carried over, or the old error kept: %+v", got)
	}
	if got.Extra["x_custom"] != "kept" || got.Extra["id_token"] != "h.p.s" || !got.RefreshTokenHardExpiry.Equal(old.RefreshTokenHardExpiry) ||
		got.Scope != old.Scope {
		t.Fatalf("extras, hard expiry or granted scope lost: %v %v %q", got.Extra, got.RefreshTokenHardExpiry, got.Scope)
	}
	if old.RefreshToken != "old-rt" || old.AccessToken != "old-at" {
		t.Fatal("Refreshed modified the old record")
	}
}

func TestRefreshedWithoutARefreshTokenKeepsTheOldOne(t *testing.T) {
	old := oldRecord()
	got := Refreshed(old, &oauth.Token{AccessToken: "new-at", ReceivedAt: now}, 30*time.Minute)
	if got.RefreshToken != "old-rt" || !got.RefreshTokenExpiry.Equal(old.RefreshTokenExpiry) {
		t.Fatalf("the refresh token or its expiry was lost: rt kept=%v expiry %v", got.RefreshToken == "old-rt", got.RefreshTokenExpiry)
	}
	if got.TokenType != "Bearer" {
		t.Fatalf("token type not carried over: %q", got.TokenType)
	}
}

func TestAMissingExpiresInGetsTheFallbackLifetime(t *testing.T) {
	got := Refreshed(oldRecord(), &oauth.Token{AccessToken: "a", ReceivedAt: now}, 30*time.Minute)
	if !got.ExpiryGuessed || !got.Expiry.Equal(now.Add(30*time.Minute)) {
		t.Fatalf("expiry %v guessed %v, want the 30m fallback", got.Expiry, got.ExpiryGuessed)
	}
	got = Authorized(&oauth.Token{AccessToken: "a", ReceivedAt: now}, nil, nil, 0)
	if !got.ExpiryGuessed || !got.Expiry.Equal(now.Add(DefaultFallbackLifetime)) {
		t.Fatalf("expiry %v guessed %v, want the default fallback", got.Expiry, got.ExpiryGuessed)
	}
}

func TestAuthorizedRecordsTheRequestAndTheRefreshTokenLifetimes(t *testing.T) {
	got := Authorized(&oauth.Token{AccessToken: "a", RefreshToken: "r", ExpiresIn: time.Hour, ReceivedAt: now,
		RefreshExpiresIn: 100 * 24 * time.Hour, RefreshHardExpiresIn: 5 * 365 * 24 * time.Hour},
		[]string{"com.intuit.quickbooks.accounting"}, map[string]string{"realmId": "9130"}, time.Hour)
	if got.Status != authconn.StatusAuthorized || !got.AuthorizedAt.Equal(now) || got.Scopes[0] != "com.intuit.quickbooks.accounting" ||
		got.CallbackExtras["realmId"] != "9130" {
		t.Fatalf("authorization data: %+v", got)
	}
	if !got.RefreshTokenExpiry.Equal(now.Add(100*24*time.Hour)) || !got.RefreshTokenHardExpiry.Equal(now.Add(5*365*24*time.Hour)) {
		t.Fatalf("refresh-token expiries %v / %v", got.RefreshTokenExpiry, got.RefreshTokenHardExpiry)
	}
}

func TestKeepRefreshTokenOnlyFromAStillAuthorizedRecord(t *testing.T) {
	next := &authconn.TokenSet{AccessToken: "a2"}
	if !KeepRefreshToken(next, oldRecord()) || next.RefreshToken != "old-rt" || next.RefreshTokenHardExpiry.IsZero() {
		t.Fatalf("the refresh token of the replaced authorized record was not kept: %+v", next)
	}
	dead := oldRecord()
	dead.Status = authconn.StatusNeedsReauthorization
	next = &authconn.TokenSet{AccessToken: "a2"}
	if KeepRefreshToken(next, dead) || next.RefreshToken != "" {
		t.Fatal("a refresh token the provider refused was kept")
	}
	next = &authconn.TokenSet{AccessToken: "a2", RefreshToken: "new"}
	if KeepRefreshToken(next, oldRecord()) || next.RefreshToken != "new" {
		t.Fatal("a new refresh token was replaced by the old one")
	}
	if KeepRefreshToken(&authconn.TokenSet{}, nil) {
		t.Fatal("kept a refresh token from no record")
	}
}

// TestKeepRefreshTokenNeverToAnotherOrigin: a refresh token is carried over only within the
// token endpoint origin that issued it, and a refresh keeps where the chain was issued.
func TestKeepRefreshTokenNeverToAnotherOrigin(t *testing.T) {
	prev := oldRecord()
	prev.IssuedBy = &authconn.Issuance{TokenOrigin: "https://a.example:443"}
	next := &authconn.TokenSet{AccessToken: "a2", IssuedBy: &authconn.Issuance{TokenOrigin: "https://b.example:443"}}
	if KeepRefreshToken(next, prev) || next.RefreshToken != "" {
		t.Fatal("a refresh token issued at https://a.example was carried over to an authorization at https://b.example")
	}
	legacy := oldRecord() // written before IssuedBy was kept: where it came from is unknown
	if KeepRefreshToken(next, legacy) || next.RefreshToken != "" {
		t.Fatal("a refresh token of unknown origin was carried over to a bound authorization")
	}
	next.IssuedBy.TokenOrigin = "https://a.example:443"
	if !KeepRefreshToken(next, prev) || next.RefreshToken != "old-rt" {
		t.Fatal("the refresh token of the same origin was not kept")
	}
	refreshed := Refreshed(prev, &oauth.Token{AccessToken: "a3", ExpiresIn: time.Hour, ReceivedAt: now}, 0)
	if refreshed.IssuedBy == nil || refreshed.IssuedBy.TokenOrigin != "https://a.example:443" || refreshed.IssuedBy == prev.IssuedBy {
		t.Fatalf("a refresh did not keep (a copy of) where the chain was issued: %+v", refreshed.IssuedBy)
	}
}

func TestIssuedClientCredentialsRecords(t *testing.T) {
	first := Issued(nil, &oauth.Token{AccessToken: "cc1", ExpiresIn: time.Minute, ReceivedAt: now}, []string{"read"}, 0)
	if first.Grant != authconn.GrantClientCredentials || first.Status != authconn.StatusAuthorized || !first.AuthorizedAt.Equal(now) ||
		!first.RefreshedAt.IsZero() || first.Scopes[0] != "read" || !first.Expiry.Equal(now.Add(time.Minute)) {
		t.Fatalf("first client-credentials record %+v", first)
	}
	later := now.Add(50 * time.Second)
	failed := *first
	failed.Status, failed.LastError = authconn.StatusFailed, "invalid_client"
	next := Issued(&failed, &oauth.Token{AccessToken: "cc2", ExpiresIn: time.Minute, ReceivedAt: later}, []string{"read"}, 0)
	if !next.AuthorizedAt.Equal(now) || !next.RefreshedAt.Equal(later) || next.Status != authconn.StatusAuthorized || next.LastError != "" {
		t.Fatalf("renewed client-credentials record %+v", next)
	}
}

func TestRefreshedKeepsTheAccount(t *testing.T) {
	old := oldRecord()
	old.Account = &authconn.Account{Issuer: "https://idp.example.com", Subject: "alice"}
	got := Refreshed(old, &oauth.Token{AccessToken: "new-at", ReceivedAt: now}, 0)
	if got.Account == nil || *got.Account != *old.Account || got.Account == old.Account {
		t.Fatalf("account not kept (or shared with the old record): %+v", got.Account)
	}
}

func TestAnEntrysFallbackLifetimeIsMarkedGuessed(t *testing.T) {
	got := Refreshed(oldRecord(), &oauth.Token{AccessToken: "a", ReceivedAt: now, ExpiresIn: 2 * time.Hour, ExpiresInAssumed: true}, 30*time.Minute)
	if !got.ExpiryGuessed || !got.Expiry.Equal(now.Add(2*time.Hour)) {
		t.Fatalf("expiry %v guessed %v, want the entry's 2h, guessed", got.Expiry, got.ExpiryGuessed)
	}
}

// TestRefreshKeepsAndUpdatesMetadata: a refresh keeps the connection's metadata and API
// base URL; a value the new answer carries replaces its key, the others stay.
func TestRefreshKeepsAndUpdatesMetadata(t *testing.T) {
	old := oldRecord()
	old.Metadata = map[string]string{"instance_url": "https://a.my.salesforce.com", "identity_url": "https://login.salesforce.com/id/1"}
	old.APIBaseURL = "https://a.my.salesforce.com/services/data"
	got := Refreshed(old, &oauth.Token{AccessToken: "new-at", ExpiresIn: time.Hour, ReceivedAt: now}, 0)
	if got.Metadata["instance_url"] != "https://a.my.salesforce.com" || got.APIBaseURL != old.APIBaseURL {
		t.Fatalf("metadata or API base URL lost on refresh: %v %q", got.Metadata, got.APIBaseURL)
	}
	if MergeMetadata(got, map[string]string{"identity_url": "https://login.salesforce.com/id/1", "other": ""}) {
		t.Fatal("MergeMetadata reported a change for equal and empty values")
	}
	if !MergeMetadata(got, map[string]string{"instance_url": "https://b.my.salesforce.com"}) {
		t.Fatal("MergeMetadata reported no change for a new value")
	}
	if got.Metadata["instance_url"] != "https://b.my.salesforce.com" || got.Metadata["identity_url"] == "" {
		t.Fatalf("merge: %v", got.Metadata)
	}
	if old.Metadata["instance_url"] != "https://a.my.salesforce.com" {
		t.Fatal("the merge modified the old record's metadata")
	}
	issued := Issued(old, &oauth.Token{AccessToken: "cc", ExpiresIn: time.Hour, ReceivedAt: now}, nil, 0)
	if issued.Metadata["identity_url"] == "" || issued.APIBaseURL != old.APIBaseURL {
		t.Fatalf("a new client-credentials token lost the metadata: %v", issued.Metadata)
	}
}
