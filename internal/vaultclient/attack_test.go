package vaultclient

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestAttackF16_VaultFailoverRedirectOnlyToConfiguredNodes (security review, finding 16): a
// node answering 307 to a host that is not a configured node is not followed (the request
// carries X-Vault-Token); the next configured node serves the request.
func TestAttackF16_VaultFailoverRedirectOnlyToConfiguredNodes(t *testing.T) {
	sink := newNode(t, ok)
	standby := newNode(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, sink.srv.URL+r.URL.Path, http.StatusTemporaryRedirect)
	})
	active := newNode(t, ok)
	f, err := newFailover(http.DefaultTransport, []string{standby.srv.URL, active.srv.URL}, 2*time.Second, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, standby.srv.URL+"/v1/secret/data/x", nil)
	req.Header.Set("X-Vault-Token", "hvs.secret-token")
	resp, err := f.RoundTrip(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("%v %v: want the active node's answer", resp, err)
	}
	resp.Body.Close()
	if sink.hits.Load() != 0 || active.hits.Load() != 1 {
		t.Fatalf("sink hit %d times (want 0), active %d (want 1)", sink.hits.Load(), active.hits.Load())
	}
}

// TestAttackF16_VaultRedirectToAnUnconfiguredHostIsRefused: with one address (no failover),
// vault/api would follow a 307 once, with the token; the guard refuses it and names the host.
func TestAttackF16_VaultRedirectToAnUnconfiguredHostIsRefused(t *testing.T) {
	sink := newNode(t, ok)
	vault := newNode(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, sink.srv.URL+r.URL.Path, http.StatusTemporaryRedirect)
	})
	c, err := newAPIClient(Config{Address: vault.srv.URL, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken("hvs.secret-token")
	_, err = c.Logical().ReadWithContext(context.Background(), "secret/data/x")
	var re *RedirectError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), strings.TrimPrefix(sink.srv.URL, "http://")) {
		t.Fatalf("err = %v, want a *RedirectError naming the sink's host", err)
	}
	if sink.hits.Load() != 0 {
		t.Fatalf("the redirect target received %d requests with the Vault token, want 0", sink.hits.Load())
	}
	// A redirect to a configured node is still followed (a standby naming the active node).
	active := newNode(t, ok)
	standby := newNode(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, active.srv.URL+r.URL.Path, http.StatusTemporaryRedirect)
	})
	c, err = newAPIClient(Config{Address: standby.srv.URL + "," + active.srv.URL, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken("hvs.secret-token")
	if _, err := c.Logical().ReadWithContext(context.Background(), "secret/data/x"); err != nil {
		t.Fatalf("redirect to a configured node: %v", err)
	}
}
