package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/connection"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv/tailortest"
)

// TestListShowsSecretExpiryAndMetadata: `tokend list` shows each connection's catalog entry,
// when its client secret expires, and its metadata and API base URL, in the table and in
// JSON; a terminal escape in a value from the provider never reaches the terminal, and no
// token or secret is printed.
func TestListShowsSecretExpiryAndMetadata(t *testing.T) {
	env := &tailortest.Env{Vault: testenv.StartVault(t), Prefix: "tailor"}
	st := env.NewStore(t)
	ctx := context.Background()
	soon := time.Now().Add(12*24*time.Hour + time.Hour).UTC().Truncate(time.Second)
	gone := time.Now().Add(-48 * time.Hour).UTC().Truncate(time.Second)
	for name, exp := range map[string]time.Time{"quickbooks-oauth": soon, "ms365-oauth": gone} {
		c := &authconn.Connection{Name: name, ProviderURL: "https://appcenter.intuit.com", ClientID: "cid", Provider: "quickbooks", ClientSecretExpiresAt: exp}
		if name == "ms365-oauth" {
			c.ProviderURL, c.Provider = "https://login.microsoftonline.com/common", ""
		}
		if err := connection.Create(ctx, st, c, connection.Secret{ClientSecret: "cs-list-expiry-0123456789"}); err != nil {
			t.Fatal(err)
		}
	}
	md := map[string]string{"realmId": "9130357", "company": "Acme\x1b[31m red\x1b]0;pwned\x07"}
	if _, err := st.PutTokens(ctx, "quickbooks-oauth", &authconn.TokenSet{AccessToken: "at-list-expiry", RefreshToken: "rt-list-expiry",
		Expiry: time.Now().Add(time.Hour), Metadata: md, APIBaseURL: "https://quickbooks.api.intuit.com"}, 0); err != nil {
		t.Fatal(err)
	}
	bed := newTokendBed(t, env)
	out, stderr, err := bed.run("list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if err != nil || len(lines) != 3 {
		t.Fatalf("list: %v\n%s\n%s", err, out, stderr)
	}
	if !strings.Contains(lines[0], "CLIENT SECRET") || !strings.Contains(lines[0], "METADATA") || !strings.Contains(lines[0], "API BASE URL") {
		t.Errorf("header %q", lines[0])
	}
	qb, ms := lines[2], lines[1] // sorted by name
	for _, want := range []string{"quickbooks", "expires in 13 days (" + soon.Format(time.DateOnly) + ")", "realmId=9130357", "company=Acme", "https://quickbooks.api.intuit.com"} {
		if !strings.Contains(qb, want) {
			t.Errorf("quickbooks-oauth's line lacks %q: %s", want, qb)
		}
	}
	if !strings.Contains(ms, "microsoft") || !strings.Contains(ms, "expired ("+gone.Format(time.DateOnly)+")") {
		t.Errorf("ms365-oauth's line: %s", ms)
	}
	if strings.ContainsAny(out, "\x1b\x07") {
		t.Errorf("invariant «no terminal escape from a provider reaches the terminal»: %q", out)
	}
	out, _, err = bed.run("list", "--json")
	if err != nil {
		t.Fatalf("tokend list --json: %v", err)
	}
	var entries []connection.Summary
	if err := json.Unmarshal([]byte(out), &entries); err != nil || len(entries) != 2 {
		t.Fatalf("%v %s", err, out)
	}
	q := entries[1]
	if q.Name != "quickbooks-oauth" || q.Provider != "quickbooks" || q.ClientSecretExpiresAt == nil || !q.ClientSecretExpiresAt.Equal(soon) ||
		q.ClientSecretExpiry != "expires in 13 days" || q.Metadata["realmId"] != "9130357" || q.APIBaseURL != "https://quickbooks.api.intuit.com" ||
		entries[0].ClientSecretExpiry != "expired" {
		t.Errorf("entries %+v", entries)
	}
	for _, secret := range []string{"at-list-expiry", "rt-list-expiry", "cs-list-expiry"} {
		if strings.Contains(out, secret) {
			t.Errorf("list --json printed %s", secret)
		}
	}
}
