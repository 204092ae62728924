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

// TestKeepaliveLogsInAgainAcrossTokenLifetimes: with a role whose tokens live 6 s (at most
// 12 s), a client logged in from a JWT file stays usable while it goes through three
// tokens, that is beyond the first token's max TTL, by logging in again (re-reading the
// file, as a rotated Kubernetes token needs). When the file then holds an expired JWT,
// Health reports the login failure once the token has expired; a good JWT in the file
// brings it back. (Renewals and re-logins keep a third of the TTL, 2 s or more, as margin
// against a slow machine.)
func TestKeepaliveLogsInAgainAcrossTokenLifetimes(t *testing.T) {
	b := newJWTBed(t)
	b.issuer.AddRole(t, "short", map[string]any{"bound_audiences": []string{"vault"}, "bound_subject": mainBranch,
		"token_policies": []string{"writer"}, "token_ttl": "6s", "token_max_ttl": "12s"})
	file := filepath.Join(t.TempDir(), "token")
	writeJWT(t, file, b.issuer.Sign(t, map[string]any{"sub": mainBranch}))
	c, err := vaultclient.New(context.Background(), vaultclient.Config{Address: b.v.Addr, JWT: &vaultclient.JWT{Role: "short", File: file},
		Logger: slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Three tokens take about 16 s (a re-login every 8 s); the minute only bounds a failure.
	if tokens := usableUntil(t, c, 3, time.Minute); tokens < 3 {
		t.Errorf("invariant «logs in again before the token expires»: %d distinct tokens in a minute of 6-12 s tokens", tokens)
	}

	past := time.Now().Add(-time.Hour)
	writeJWT(t, file, b.issuer.Sign(t, map[string]any{"sub": mainBranch, "exp": past.Unix(), "iat": past.Unix(), "nbf": past.Unix()}))
	if err := waitHealth(c, 40*time.Second, false); err == nil || !strings.Contains(err.Error(), "has expired") {
		t.Fatalf("invariant «Health reports a failing login once the token expired»: %v", err)
	}
	writeJWT(t, file, b.issuer.Sign(t, map[string]any{"sub": mainBranch}))
	if err := waitHealth(c, 40*time.Second, true); err != nil {
		t.Fatalf("invariant «a good JWT brings the client back»: %v", err)
	}
}

// TestKeepaliveRenewsAGivenToken: a renewable token with a 10 s TTL and a 24 s max TTL is
// renewed past its TTL (two renewals, and lookup-self's expire_time is later than creation
// plus the TTL); past its max TTL, Health says it could not be renewed.
func TestKeepaliveRenewsAGivenToken(t *testing.T) {
	b := newJWTBed(t)
	created := time.Now()
	sec, err := b.v.Client().Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{"writer"}, TTL: "10s", ExplicitMaxTTL: "24s", Renewable: ptr(true)})
	if err != nil {
		t.Fatal(err)
	}
	logs := newLogWatch(t)
	c, err := vaultclient.New(context.Background(), vaultclient.Config{Address: b.v.Addr, Token: sec.Auth.ClientToken, Logger: slog.New(logs)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Renewals come every 6-7 s; the second well before the max TTL (at about 13 s).
	if n := logs.waitFor("renewed the Vault token", 2, 20*time.Second); n < 2 {
		t.Fatalf("invariant «a renewable token is renewed»: %d renewals in 20 s of a 10 s token", n)
	}
	if exp := expireTime(t, c); !exp.After(created.Add(10 * time.Second)) {
		t.Fatalf("invariant «a renewable token is renewed past its TTL»: expires at %s, created at %s with a 10 s TTL", exp.Format(time.RFC3339Nano), created.Format(time.RFC3339Nano))
	}
	if err := c.Verify(context.Background()); err != nil || c.Health() != nil {
		t.Fatalf("invariant «a renewed token is usable»: Verify %v, Health %v", err, c.Health())
	}
	if err := waitHealth(c, 40*time.Second, false); err == nil || !strings.Contains(err.Error(), "could not be renewed") {
		t.Fatalf("invariant «Health reports the end of a token's max TTL»: %v", err)
	}
}

// expireTime is when c's token expires, from lookup-self.
func expireTime(t *testing.T, c *vaultclient.Client) time.Time {
	t.Helper()
	s, err := c.Auth().Token().LookupSelf()
	if err != nil {
		t.Fatalf("lookup-self: %v", err)
	}
	v, _ := s.Data["expire_time"].(string)
	exp, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		t.Fatalf("lookup-self's expire_time %q: %v", v, err)
	}
	return exp
}

// usableUntil writes through c every 200 ms until it has used the given number of
// distinct tokens, or for at most within, and returns how many it used; any failed write
// fails the test.
func usableUntil(t *testing.T, c *vaultclient.Client, tokens int, within time.Duration) int {
	t.Helper()
	seen := map[string]bool{}
	for end := time.Now().Add(within); len(seen) < tokens && time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
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

// logWatch is a slog.Handler that writes records to the test log and lets the test wait
// for records with a given message.
type logWatch struct {
	t    *testing.T
	msgs chan string
}

func newLogWatch(t *testing.T) *logWatch { return &logWatch{t: t, msgs: make(chan string, 1000)} }

func (w *logWatch) Enabled(context.Context, slog.Level) bool { return true }
func (w *logWatch) Handle(_ context.Context, r slog.Record) error {
	line := r.Level.String() + " " + r.Message
	r.Attrs(func(a slog.Attr) bool { line += " " + a.String(); return true })
	w.t.Log(line)
	select {
	case w.msgs <- r.Message:
	default: // more records than a test waits for
	}
	return nil
}
func (w *logWatch) WithAttrs([]slog.Attr) slog.Handler { return w }
func (w *logWatch) WithGroup(string) slog.Handler      { return w }

// waitFor waits until n records with message msg have come, or for at most within, and
// returns how many came.
func (w *logWatch) waitFor(msg string, n int, within time.Duration) int {
	timeout := time.After(within)
	got := 0
	for got < n {
		select {
		case m := <-w.msgs:
			if m == msg {
				got++
			}
		case <-timeout:
			return got
		}
	}
	return got
}
