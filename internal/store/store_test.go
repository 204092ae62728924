package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv"
)

// newStore starts a Vault dev server for the test and returns a store on it.
func newStore(t *testing.T, prefix string) (*store.Store, *testenv.Vault) {
	t.Helper()
	v := testenv.StartVault(t)
	st, err := store.New(v.Client(), store.Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	return st, v
}

func testConnection(name string) *authconn.Connection {
	return &authconn.Connection{
		Name:        name,
		Type:        authconn.TypeOAuth2,
		ProviderURL: "https://accounts.google.com",
		IssuerURL:   "https://accounts.google.com",
		ClientID:    "client-" + name,
		Scopes:      []string{"openid", "email"},
	}
}

func TestConnectionLifecycle(t *testing.T) {
	t.Parallel()
	st, _ := newStore(t, "")
	ctx := context.Background()

	_, err := st.GetConnection(ctx, "google-oauth")
	var nf *store.NotFoundError
	if !errors.As(err, &nf) || !errors.Is(err, store.ErrNotFound) || nf.Kind != "connection" {
		t.Fatalf("GetConnection of a missing connection: got %v, want a *NotFoundError", err)
	}

	c := testConnection("google-oauth")
	v1, err := st.CreateConnection(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if v1 != 1 || c.CreatedAt.IsZero() {
		t.Fatalf("after create: version %d, created %v", v1, c.CreatedAt)
	}
	// Creating again is a conflict, never an overwrite.
	dup := testConnection("google-oauth")
	dup.ClientID = "other"
	_, err = st.CreateConnection(ctx, dup)
	if !errors.Is(err, store.ErrConflict) || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("second create: got %v, want a conflict saying it already exists", err)
	}

	got, err := st.GetConnection(ctx, "google-oauth")
	if err != nil {
		t.Fatal(err)
	}
	if got.ClientID != "client-google-oauth" || got.Version != 1 || strings.Join(got.Scopes, ",") != "openid,email" {
		t.Fatalf("read back %+v", got)
	}

	got.ClientID = "new-client"
	v2, err := st.UpdateConnection(ctx, &got.Connection, got.Version)
	if err != nil {
		t.Fatal(err)
	}
	if v2 != 2 {
		t.Fatalf("version after update = %d, want 2", v2)
	}
	// A writer holding the old version loses.
	c.ClientID = "stale"
	if _, err := st.UpdateConnection(ctx, c, v1); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("stale update: got %v, want ErrConflict", err)
	}
	again, _ := st.GetConnection(ctx, "google-oauth")
	if again.ClientID != "new-client" {
		t.Fatalf("stale update changed the record: client_id %q", again.ClientID)
	}

	names, err := st.ListConnections(ctx)
	if err != nil || len(names) != 1 || names[0] != "google-oauth" {
		t.Fatalf("ListConnections = %v, %v", names, err)
	}

	if err := st.DeleteConnection(ctx, "google-oauth"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.GetConnection(ctx, "google-oauth"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
	// Deleting again is fine.
	if err := st.DeleteConnection(ctx, "google-oauth"); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	// And the name can be created again from scratch.
	if _, err := st.CreateConnection(ctx, testConnection("google-oauth")); err != nil {
		t.Fatalf("re-create after delete: %v", err)
	}
}

func TestCreateAfterSoftDelete(t *testing.T) {
	t.Parallel()
	st, v := newStore(t, "")
	ctx := context.Background()
	if _, err := st.CreateConnection(ctx, testConnection("soft")); err != nil {
		t.Fatal(err)
	}
	// Someone runs `vault kv delete` (a soft delete) outside tailor.
	if err := v.Client().KVv2("secret").Delete(ctx, st.Layout("soft").Config); err != nil {
		t.Fatal(err)
	}
	if _, err := st.GetConnection(ctx, "soft"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("soft-deleted connection: got %v, want ErrNotFound", err)
	}
	ver, err := st.CreateConnection(ctx, testConnection("soft"))
	if err != nil {
		t.Fatalf("create over a soft-deleted record: %v", err)
	}
	if ver != 2 {
		t.Fatalf("version = %d, want 2", ver)
	}
}

// TestCreateClientSecret: the first secret is one write and no change-log entry (the
// connection's creation is the entry); over an existing secret it stores a new version, and
// the previous one stays readable for the fallback.
func TestCreateClientSecret(t *testing.T) {
	t.Parallel()
	st, _ := newStore(t, "create-secret")
	ctx := context.Background()
	if _, err := st.CreateConnection(ctx, testConnection("first")); err != nil {
		t.Fatal(err)
	}
	_, before, _, err := st.ChangesSince(ctx, -1)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := st.CreateClientSecret(ctx, "first", "s3cret-1"); err != nil || v != 1 {
		t.Fatalf("first secret: version %d: %v", v, err)
	}
	if _, after, _, err := st.ChangesSince(ctx, -1); err != nil || after != before {
		t.Fatalf("the first secret added change-log entries: position %d -> %d (%v)", before, after, err)
	}
	if v, err := st.CreateClientSecret(ctx, "first", "s3cret-2"); err != nil || v != 2 {
		t.Fatalf("over an existing secret: version %d, want 2: %v", v, err)
	}
	sec, err := st.GetClientSecret(ctx, "first")
	if err != nil || sec.Value != "s3cret-2" {
		t.Fatalf("current secret: %v", err)
	}
	prev, err := st.GetPreviousClientSecret(ctx, "first", sec.Version)
	if err != nil || prev.Value != "s3cret-1" {
		t.Fatalf("previous secret: %v", err)
	}
	if _, err := st.CreateClientSecret(ctx, "first", ""); err == nil {
		t.Fatal("an empty secret was accepted")
	}
}

func TestConfigAndTokensAreIndependent(t *testing.T) {
	t.Parallel()
	st, _ := newStore(t, "")
	ctx := context.Background()
	c := testConnection("indep")
	cv, err := st.CreateConnection(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.PutClientSecret(ctx, "indep", "s3cret-1"); err != nil {
		t.Fatal(err)
	}
	ts := &authconn.TokenSet{AccessToken: "at-1", RefreshToken: "rt-1", TokenType: "Bearer", Expiry: time.Now().Add(time.Hour).UTC().Truncate(time.Second)}
	if _, err := st.PutTokens(ctx, "indep", ts, 0); err != nil {
		t.Fatal(err)
	}

	// A config update leaves tokens and secret alone.
	c.ClientID = "changed"
	if _, err := st.UpdateConnection(ctx, c, cv); err != nil {
		t.Fatal(err)
	}
	got, err := st.GetTokens(ctx, "indep")
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != 1 || got.RefreshToken != "rt-1" || !got.Expiry.Equal(ts.Expiry) {
		t.Fatalf("tokens after config update: %+v (refresh token kept: %v)", got, got.RefreshToken == "rt-1")
	}
	// A token write and a secret rotation leave the config alone.
	got.AccessToken = "at-2"
	if _, err := st.PutTokens(ctx, "indep", &got.TokenSet, got.Version); err != nil {
		t.Fatal(err)
	}
	if v, err := st.PutClientSecret(ctx, "indep", "s3cret-2"); err != nil || v != 2 {
		t.Fatalf("rotate secret: version %d, %v", v, err)
	}
	cfg, _ := st.GetConnection(ctx, "indep")
	if cfg.Version != 2 || cfg.ClientID != "changed" {
		t.Fatalf("config after token write: version %d client %q", cfg.Version, cfg.ClientID)
	}
	sec, err := st.GetClientSecret(ctx, "indep")
	if err != nil || sec.Value != "s3cret-2" || sec.Version != 2 {
		t.Fatalf("client secret = %v, %v", sec.Version, err)
	}
	prev, err := st.GetPreviousClientSecret(ctx, "indep", sec.Version)
	if err != nil || prev.Value != "s3cret-1" {
		t.Fatalf("previous client secret: %v", err)
	}
	tok, _ := st.GetTokens(ctx, "indep")
	if tok.AccessToken != "at-2" || tok.Version != 2 {
		t.Fatalf("tokens after secret rotation: version %d", tok.Version)
	}
	// Deleting tokens (revoke) keeps config and secret.
	if err := st.DeleteTokens(ctx, "indep"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.GetTokens(ctx, "indep"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("tokens after DeleteTokens: %v", err)
	}
	if _, err := st.GetConnection(ctx, "indep"); err != nil {
		t.Fatalf("config after DeleteTokens: %v", err)
	}
	if _, err := st.GetClientSecret(ctx, "indep"); err != nil {
		t.Fatalf("secret after DeleteTokens: %v", err)
	}
	recs, err := st.Records(ctx)
	want := []string{"tailor/connections/indep/client-secret", "tailor/connections/indep/config"}
	if err != nil || strings.Join(recs, ",") != strings.Join(want, ",") {
		t.Fatalf("Records = %v, %v; want %v", recs, err, want)
	}
	// Deleting the connection removes everything.
	if err := st.DeleteConnection(ctx, "indep"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.GetClientSecret(ctx, "indep"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("secret after delete: %v", err)
	}
	if recs, err := st.Records(ctx); err != nil || len(recs) != 0 {
		t.Fatalf("Records after delete = %v, %v", recs, err)
	}
}

func TestTokenRecordRoundTripAndStatus(t *testing.T) {
	t.Parallel()
	st, _ := newStore(t, "")
	ctx := context.Background()
	exp := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	ts := &authconn.TokenSet{
		AccessToken: "AT-SECRET-VALUE", RefreshToken: "RT-SECRET-VALUE", TokenType: "Bearer", Expiry: exp, Scope: "openid email",
		RefreshTokenExpiry:     exp.Add(100 * 24 * time.Hour),
		RefreshTokenHardExpiry: exp.Add(5 * 365 * 24 * time.Hour),
		Extra:                  map[string]any{"id_token": "x.y.z", "x_custom": float64(42)},
		CallbackExtras:         map[string]string{"realmId": "9130350"},
		Metadata:               map[string]string{"realmId": "9130350"},
		APIBaseURL:             "https://quickbooks.api.intuit.com",
		Scopes:                 []string{"openid", "email"},
	}
	if st2, err := st.GetTokenStatus(ctx, "qb"); err != nil || st2.Status != authconn.StatusNotAuthorized {
		t.Fatalf("status without tokens = %v, %v", st2.Status, err)
	}
	if _, err := st.PutTokens(ctx, "qb", ts, 0); err != nil {
		t.Fatal(err)
	}
	got, err := st.GetTokens(ctx, "qb")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != authconn.StatusAuthorized || !got.RefreshTokenExpiry.Equal(ts.RefreshTokenExpiry) ||
		!got.RefreshTokenHardExpiry.Equal(ts.RefreshTokenHardExpiry) || got.CallbackExtras["realmId"] != "9130350" ||
		got.Extra["x_custom"] != float64(42) || got.Extra["id_token"] != "x.y.z" || len(got.Scopes) != 2 {
		t.Fatalf("round trip lost data: %s extras=%v callback=%v", got, got.Extra, got.CallbackExtras)
	}
	sum, err := st.GetTokenStatus(ctx, "qb")
	if err != nil || sum.Status != authconn.StatusAuthorized || !sum.Expiry.Equal(exp) {
		t.Fatalf("status summary = %+v, %v", sum, err)
	}
	// The metadata and the API base URL reach readers of the summary (Terraform).
	if sum.Metadata["realmId"] != "9130350" || len(sum.Metadata) != 1 || sum.APIBaseURL != "https://quickbooks.api.intuit.com" {
		t.Fatalf("status summary metadata = %v, api_base_url %q", sum.Metadata, sum.APIBaseURL)
	}
	got.Status = authconn.StatusNeedsReauthorization
	got.LastError = "refresh failed:\ninvalid_grant\t(Vault's errors span lines)"
	got.LastErrorAt = exp
	if _, err := st.PutTokens(ctx, "qb", &got.TokenSet, got.Version); err != nil {
		t.Fatal(err)
	}
	sum, _ = st.GetTokenStatus(ctx, "qb")
	if sum.Status != authconn.StatusNeedsReauthorization || sum.LastError != "refresh failed: invalid_grant (Vault's errors span lines)" || !sum.LastErrorAt.Equal(exp) {
		t.Fatalf("status after failure = %+v", sum)
	}
	// The summary holds no token.
	raw, _ := json.Marshal(sum)
	if strings.Contains(string(raw), "SECRET-VALUE") {
		t.Fatalf("status summary leaks a token: %s", raw)
	}
	// fmt never prints tokens.
	if s := fmt.Sprintf("%v %+v %#v %s", got, got, got, *got); strings.Contains(s, "SECRET-VALUE") || strings.Contains(s, "x.y.z") {
		t.Fatalf("formatting a TokenSet prints secrets: %s", s)
	}
}

// TestConcurrentReadModifyWrite has 50 goroutines each add one entry to the token record's
// Extra map with read-modify-write under check-and-set. No update may be lost, and losers
// must see typed conflicts.
func TestConcurrentReadModifyWrite(t *testing.T) {
	t.Parallel()
	st, _ := newStore(t, "")
	ctx := context.Background()
	if _, err := st.PutTokens(ctx, "race", &authconn.TokenSet{AccessToken: "at", Extra: map[string]any{}}, 0); err != nil {
		t.Fatal(err)
	}
	const writers = 50
	var conflicts atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for attempt := 0; attempt < 500; attempt++ {
				ts, err := st.GetTokens(ctx, "race")
				if err != nil {
					errs <- err
					return
				}
				if ts.Extra == nil {
					ts.Extra = map[string]any{}
				}
				ts.Extra[fmt.Sprintf("w%02d", i)] = true
				_, err = st.PutTokens(ctx, "race", &ts.TokenSet, ts.Version)
				if err == nil {
					return
				}
				var ce *store.ConflictError
				if !errors.As(err, &ce) {
					errs <- fmt.Errorf("writer %d: %v is not a *ConflictError", i, err)
					return
				}
				conflicts.Add(1)
			}
			errs <- fmt.Errorf("writer %d never won", i)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	final, err := st.GetTokens(ctx, "race")
	if err != nil {
		t.Fatal(err)
	}
	if len(final.Extra) != writers {
		t.Fatalf("lost updates: %d of %d writers' entries present", len(final.Extra), writers)
	}
	if final.Version != writers+1 {
		t.Fatalf("version = %d, want %d (one per successful write)", final.Version, writers+1)
	}
	if conflicts.Load() == 0 {
		t.Fatalf("50 concurrent writers saw no conflict: check-and-set is not in effect")
	}
	t.Logf("%d writers, %d conflicts retried, final version %d", writers, conflicts.Load(), final.Version)
}

func TestPrefixesAreIsolated(t *testing.T) {
	t.Parallel()
	v := testenv.StartVault(t)
	ctx := context.Background()
	dev, _ := store.New(v.Client(), store.Options{Prefix: "tailor-dev"})
	prod, _ := store.New(v.Client(), store.Options{Prefix: "tailor-prod"})
	if _, err := dev.CreateConnection(ctx, testConnection("google-oauth")); err != nil {
		t.Fatal(err)
	}
	if _, err := dev.PutTokens(ctx, "google-oauth", &authconn.TokenSet{AccessToken: "dev"}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := prod.GetConnection(ctx, "google-oauth"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("prod sees dev's connection: %v", err)
	}
	if _, err := prod.GetTokens(ctx, "google-oauth"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("prod sees dev's tokens: %v", err)
	}
	if names, _ := prod.ListConnections(ctx); len(names) != 0 {
		t.Fatalf("prod lists %v", names)
	}
	// The same name in prod is a separate record.
	if _, err := prod.CreateConnection(ctx, testConnection("google-oauth")); err != nil {
		t.Fatalf("create in prod: %v", err)
	}
	if err := prod.DeleteConnection(ctx, "google-oauth"); err != nil {
		t.Fatal(err)
	}
	if _, err := dev.GetConnection(ctx, "google-oauth"); err != nil {
		t.Fatalf("deleting in prod removed dev's connection: %v", err)
	}
}

func TestLease(t *testing.T) {
	t.Parallel()
	st, _ := newStore(t, "")
	ctx := context.Background()
	l, prev, err := st.AcquireLease(ctx, "conn", "replica-a", 2*time.Second)
	if err != nil || prev.Holder != "" {
		t.Fatalf("first acquire: %v (prev %+v)", err, prev)
	}
	_, _, err = st.AcquireLease(ctx, "conn", "replica-b", time.Minute)
	var held *store.LeaseHeldError
	if !errors.As(err, &held) || !errors.Is(err, store.ErrLeaseHeld) || held.Holder != "replica-a" {
		t.Fatalf("acquire while held: %v", err)
	}
	l.Phase = "refreshing"
	if err := st.UpdateLease(ctx, l); err != nil {
		t.Fatal(err)
	}
	// Concurrent acquirers of an expired lease: exactly one wins (the winner keeps the lease
	// until all have tried, so no one can find it free after a release), and the winner sees
	// the dead holder's record, phase included, as the previous lease.
	awaitLeaseExpired(t, st, "conn")
	type result struct {
		lease, prev *store.Lease
		err         error
	}
	results := make(chan result, 10)
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nl, prev, err := st.AcquireLease(ctx, "conn", fmt.Sprintf("r%d", i), time.Minute)
			results <- result{nl, prev, err}
		}()
	}
	wg.Wait()
	close(results)
	var winners []result
	for r := range results {
		switch {
		case r.err == nil:
			winners = append(winners, r)
		case !errors.Is(r.err, store.ErrLeaseHeld):
			t.Errorf("a losing acquirer got %v, want ErrLeaseHeld", r.err)
		}
	}
	if len(winners) != 1 {
		t.Fatalf("%d acquirers won the expired lease, want exactly 1", len(winners))
	}
	if w := winners[0]; w.prev.Phase != "refreshing" || w.prev.Holder != "replica-a" {
		t.Errorf("the winner did not see the dead holder's phase: prev %+v", w.prev)
	}
	if err := st.ReleaseLease(ctx, winners[0].lease); err != nil {
		t.Fatal(err)
	}
	// The original holder's stale update must fail: it no longer holds the lease.
	if err := st.UpdateLease(ctx, l); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("stale holder update: %v, want ErrConflict", err)
	}
	// Released: anyone can take it at once.
	if _, _, err := st.AcquireLease(ctx, "conn", "replica-c", time.Minute); err != nil {
		t.Fatalf("acquire after release: %v", err)
	}
}

// awaitLeaseExpired waits until the expiry recorded in name's lease has passed (10 s at
// most).
func awaitLeaseExpired(t *testing.T, st *store.Store, name string) {
	t.Helper()
	l, err := st.GetLease(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); !time.Now().After(l.ExpiresAt); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("lease of %s still live 10 s on: it expires at %s", name, l.ExpiresAt)
		}
	}
}

func TestAPIKeys(t *testing.T) {
	t.Parallel()
	st, _ := newStore(t, "")
	ctx := context.Background()
	k := &store.APIKey{ID: "abcdef123456", Hash: strings.Repeat("ab", 32), Connections: []string{"google-*"}}
	if err := st.CreateAPIKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateAPIKey(ctx, &store.APIKey{ID: "abcdef123456", Hash: "x", Connections: []string{"*"}}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate key id: %v", err)
	}
	got, err := st.GetAPIKey(ctx, "abcdef123456")
	if err != nil || got.Hash != k.Hash || got.Connections[0] != "google-*" {
		t.Fatalf("GetAPIKey = %+v, %v", got, err)
	}
	list, err := st.ListAPIKeys(ctx)
	if err != nil || len(list) != 1 {
		t.Fatalf("ListAPIKeys = %v, %v", list, err)
	}
	if err := st.DeleteAPIKey(ctx, "abcdef123456"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.GetAPIKey(ctx, "abcdef123456"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
	if err := st.DeleteAPIKey(ctx, "abcdef123456"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("delete missing: %v", err)
	}
}

// TestAPIKeyGrants: a key's grants are stored and read back, its Connections hold only the
// patterns that allow token (what a reader without grants sees), and a proxy-only key with
// no such pattern is a valid record.
func TestAPIKeyGrants(t *testing.T) {
	t.Parallel()
	st, _ := newStore(t, "")
	ctx := context.Background()
	k := &store.APIKey{ID: "grants123456", Hash: strings.Repeat("ab", 32)}
	k.SetGrants([]store.KeyGrant{{Pattern: "quickbooks-*", Allow: []string{"proxy"}}})
	if len(k.Connections) != 0 {
		t.Fatalf("a proxy-only key has token patterns: %q", k.Connections)
	}
	if err := st.CreateAPIKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	got, err := st.GetAPIKey(ctx, k.ID)
	if err != nil || len(got.Grants) != 1 || got.Grants[0].Pattern != "quickbooks-*" || !slices.Equal(got.Grants[0].Allow, []string{"proxy"}) || len(got.Connections) != 0 {
		t.Fatalf("GetAPIKey = %+v, %v", got, err)
	}
	bad := &store.APIKey{ID: "grants654321", Hash: k.Hash, Grants: []store.KeyGrant{{Pattern: "x"}}}
	if err := st.CreateAPIKey(ctx, bad); err == nil {
		t.Fatal("a grant without permissions was stored")
	}
}

func TestNewRejectsBadPaths(t *testing.T) {
	if _, err := store.New(nil, store.Options{Prefix: "../x"}); err == nil {
		t.Fatal("New accepted a prefix with ..")
	}
}
