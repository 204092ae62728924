package vaultclient_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/vaultclient"
	vault "github.com/hashicorp/vault/api"
)

// TestKeepaliveLogsInAgainAcrossTokenLifetimes: with a role whose tokens live 3 s (at most
// 6 s), a client logged in from a JWT file stays usable for 15 s, several token lifetimes,
// by logging in again (re-reading the file, as a rotated Kubernetes token needs). When the
// file then holds an expired JWT, Health reports the login failure once the token has
// expired; a good JWT in the file brings it back.
func TestKeepaliveLogsInAgainAcrossTokenLifetimes(t *testing.T) {
	b := newJWTBed(t)
	b.issuer.AddRole(t, "short", map[string]any{"bound_audiences": []string{"vault"}, "bound_subject": mainBranch,
		"token_policies": []string{"writer"}, "token_ttl": "3s", "token_max_ttl": "6s"})
	file := filepath.Join(t.TempDir(), "token")
	writeJWT(t, file, b.issuer.Sign(t, map[string]any{"sub": mainBranch}))
	c, err := vaultclient.New(context.Background(), vaultclient.Config{Address: b.v.Addr, JWT: &vaultclient.JWT{Role: "short", File: file},
		Logger: slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tokens := usableFor(t, c, 15*time.Second)
	if tokens < 3 {
		t.Errorf("invariant «logs in again before the token expires»: %d distinct tokens in 15 s of 3-6 s tokens", tokens)
	}

	past := time.Now().Add(-time.Hour)
	writeJWT(t, file, b.issuer.Sign(t, map[string]any{"sub": mainBranch, "exp": past.Unix(), "iat": past.Unix(), "nbf": past.Unix()}))
	if err := waitHealth(c, 15*time.Second, false); err == nil || !strings.Contains(err.Error(), "has expired") {
		t.Fatalf("invariant «Health reports a failing login once the token expired»: %v", err)
	}
	writeJWT(t, file, b.issuer.Sign(t, map[string]any{"sub": mainBranch}))
	if err := waitHealth(c, 40*time.Second, true); err != nil {
		t.Fatalf("invariant «a good JWT brings the client back»: %v", err)
	}
}

// TestKeepaliveRenewsAGivenToken: a renewable token with a 2 s TTL and a 6 s max TTL is
// renewed past its TTL; past its max TTL, Health says it could not be renewed.
func TestKeepaliveRenewsAGivenToken(t *testing.T) {
	b := newJWTBed(t)
	sec, err := b.v.Client().Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{"writer"}, TTL: "2s", ExplicitMaxTTL: "6s", Renewable: ptr(true)})
	if err != nil {
		t.Fatal(err)
	}
	c, err := vaultclient.New(context.Background(), vaultclient.Config{Address: b.v.Addr, Token: sec.Auth.ClientToken})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	time.Sleep(4 * time.Second) // twice the TTL
	if err := c.Verify(context.Background()); err != nil || c.Health() != nil {
		t.Fatalf("invariant «a renewable token is renewed»: Verify %v, Health %v", err, c.Health())
	}
	if err := waitHealth(c, 10*time.Second, false); err == nil || !strings.Contains(err.Error(), "could not be renewed") {
		t.Fatalf("invariant «Health reports the end of a token's max TTL»: %v", err)
	}
}

// usableFor writes through c every 200 ms for d and returns how many distinct tokens it
// used; any failed write fails the test.
func usableFor(t *testing.T, c *vaultclient.Client, d time.Duration) int {
	t.Helper()
	seen := map[string]bool{}
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		seen[c.Token()] = true
		if _, err := c.KVv2("secret").Put(context.Background(), "tailor/keepalive", map[string]any{"at": time.Now().String()}); err != nil {
			t.Fatalf("invariant «the client stays usable»: write failed at %s after %d tokens: %v", time.Now().Format("05.000"), len(seen), err)
		}
		if err := c.Health(); err != nil {
			t.Fatalf("Health while usable: %v", err)
		}
	}
	return len(seen)
}

// waitHealth waits until c.Health() is nil (healthy) or not nil, and returns it.
func waitHealth(c *vaultclient.Client, d time.Duration, healthy bool) error {
	var err error
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		if err = c.Health(); (err == nil) == healthy {
			return err
		}
	}
	return err
}

func writeJWT(t *testing.T, path, jwt string) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(jwt), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil { // atomic, like a kubelet's projected volume
		t.Fatal(err)
	}
}

// tWriter sends a logger's lines to the test log.
type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func ptr[T any](v T) *T { return &v }
