package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/connection"
)

// TestListShowsStatusAndLastError: a connection whose refresh failed shows "reauthorize"
// and the error; an authorized one its expiry.
func TestListShowsStatusAndLastError(t *testing.T) {
	st := cliVault(t)
	ctx := context.Background()
	for _, n := range []string{"alpha", "beta"} {
		r := cliRun(t, "s", "create", "--name", n, "--provider-url", "https://accounts.google.com", "--client-id", "cid", "--client-secret-stdin")
		if r.err != nil {
			t.Fatal(r.err)
		}
	}
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	if _, err := st.PutTokens(ctx, "alpha", &authconn.TokenSet{AccessToken: "tok-a", RefreshToken: "rt-a", Expiry: exp}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := st.PutTokens(ctx, "beta", &authconn.TokenSet{AccessToken: "tok-b", Expiry: exp, Status: authconn.StatusNeedsReauthorization,
		LastError: "refresh failed: invalid_grant (the provider no longer accepts the refresh token: run tokend authorize beta again)", LastErrorAt: time.Now()}, 0); err != nil {
		t.Fatal(err)
	}
	r := cliRun(t, "", "list")
	out := r.stdout.String()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if r.err != nil || len(lines) != 3 || !strings.Contains(lines[1], "yes") || !strings.Contains(lines[1], exp.Format(time.RFC3339)) ||
		!strings.Contains(lines[2], "reauthorize") || !strings.Contains(lines[2], "refresh failed: invalid_grant (the provider") || !strings.HasSuffix(lines[2], "…") { // cut by authconn.Sanitize
		t.Errorf("list:\n%s", out)
	}
	if strings.Contains(out, "tok-a") || strings.Contains(out, "rt-a") {
		t.Error("list printed a token")
	}
	r = cliRun(t, "", "list", "--json")
	var entries []connection.Summary
	if err := json.Unmarshal([]byte(r.stdout.String()), &entries); err != nil || len(entries) != 2 {
		t.Fatalf("%v %s", err, r.stdout)
	}
	if !entries[0].Authorized || entries[0].ExpiresAt == nil || !entries[0].ExpiresAt.Equal(exp) || entries[1].Status != "needs_reauthorization" || entries[1].LastError == "" {
		t.Errorf("entries %+v", entries)
	}
}
