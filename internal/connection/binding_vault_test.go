package connection_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/connection"
	"github.com/authconnection/terraform-provider-tailor/internal/oauth"
)

// TestOlderSecretIsNotSentToAMovedConnection: a client secret stored without endpoint
// origins (by an earlier version) is sent while the connection points where it pointed when
// Vault stored the secret, and not after its endpoints moved.
func TestOlderSecretIsNotSentToAMovedConnection(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	ctx := context.Background()
	c := customConn("old", "")
	if _, err := st.CreateConnection(ctx, c); err != nil {
		t.Fatal(err)
	}
	// As an earlier version wrote it: the value only.
	if _, err := st.Client().KVv2(st.Mount()).Put(ctx, st.Layout("old").ClientSecret, map[string]any{"client_secret": "legacy-secret"}); err != nil {
		t.Fatal(err)
	}
	cur, err := st.GetConnection(ctx, "old")
	if err != nil {
		t.Fatal(err)
	}
	if creds, _, err := connection.Credentials(ctx, st, &cur.Connection); err != nil || creds.ClientSecret != "legacy-secret" {
		t.Fatalf("an older secret of an unmoved connection: %v", err)
	}
	cur.Scopes = []string{"more"} // a change that moves nothing
	if _, err := st.UpdateConnection(ctx, &cur.Connection, cur.Version); err != nil {
		t.Fatal(err)
	}
	if cur, err = st.GetConnection(ctx, "old"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := connection.Credentials(ctx, st, &cur.Connection); err != nil {
		t.Fatalf("an older secret after a change that moved no endpoint: %v", err)
	}
	cur.TokenURL = "https://attacker.example/token"
	if _, err := st.UpdateConnection(ctx, &cur.Connection, cur.Version); err != nil {
		t.Fatal(err)
	}
	if cur, err = st.GetConnection(ctx, "old"); err != nil {
		t.Fatal(err)
	}
	_, _, err = connection.Credentials(ctx, st, &cur.Connection)
	var moved *authconn.SecretMovedError
	if !errors.As(err, &moved) || !strings.Contains(err.Error(), "https://idp.example.com:443") {
		t.Fatalf("an older secret after token_url moved: %v, want a SecretMovedError naming the old origin", err)
	}
}

// TestRevokeSendsNothingToAMovedEndpoint: tokens authorized at one revocation endpoint are
// not sent to another; the revoke says why and still removes them from Vault.
func TestRevokeSendsNothingToAMovedEndpoint(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	ctx := context.Background()
	var calls atomic.Int64
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { calls.Add(1) }))
	defer sink.Close()
	if err := connection.Create(ctx, st, customConn("moved", "https://idp.example.com/revoke"), connection.Secret{ClientSecret: "the-client-secret"}); err != nil {
		t.Fatal(err)
	}
	ts := &authconn.TokenSet{AccessToken: "at", RefreshToken: "rt", Expiry: time.Now().Add(time.Hour), AuthorizedAt: time.Now().UTC(),
		IssuedBy: &authconn.Issuance{TokenOrigin: "https://idp.example.com:443", RevocationOrigin: "https://idp.example.com:443"}}
	if _, err := st.PutTokens(ctx, "moved", ts, 0); err != nil {
		t.Fatal(err)
	}
	cur, err := st.GetConnection(ctx, "moved")
	if err != nil {
		t.Fatal(err)
	}
	cur.RevocationURL = sink.URL + "/revoke"
	if _, err := st.UpdateConnection(ctx, &cur.Connection, cur.Version); err != nil {
		t.Fatal(err)
	}
	res, err := connection.Revoke(ctx, st, &oauth.Client{}, "moved", connection.Options{})
	if err != nil || calls.Load() != 0 || !res.TokensDeleted || !strings.Contains(res.RevokeSkipped, "the revocation endpoint moved from https://idp.example.com:443") {
		t.Fatalf("revoke after the revocation endpoint moved: %+v %v (%d calls to the new endpoint)", res, err, calls.Load())
	}
}
