package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
)

// TestSecretsKeepTheirEndpointOrigins: a client secret and an assertion key are stored with
// the endpoint origins they were written for (given, or the connection's as stored), and the
// previous-secret fallback reads them too.
func TestSecretsKeepTheirEndpointOrigins(t *testing.T) {
	t.Parallel()
	st, _ := newStore(t, "binding")
	ctx := context.Background()
	c := testConnection("b")
	c.TokenURL = "https://oauth2.googleapis.com/token"
	if _, err := st.CreateConnection(ctx, c); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateClientSecret(ctx, "b", "s3cret-1", "https://given.example:443"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.PutClientSecret(ctx, "b", "s3cret-2"); err != nil { // no origins given: the config's
		t.Fatal(err)
	}
	cs, err := st.GetClientSecret(ctx, "b")
	if err != nil || !authconn.SameOrigins(cs.EndpointOrigins, authconn.EndpointOrigins(c)) || len(cs.EndpointOrigins) != 2 {
		t.Fatalf("current secret written for %v (%v), want %v", cs.EndpointOrigins, err, authconn.EndpointOrigins(c))
	}
	prev, err := st.GetPreviousClientSecret(ctx, "b", cs.Version)
	if err != nil || prev.Value != "s3cret-1" || !authconn.SameOrigins(prev.EndpointOrigins, []string{"https://given.example:443"}) {
		t.Fatalf("previous secret: %v %v", prev.EndpointOrigins, err)
	}
}

// TestConnectionAt: the configuration current at a time is the latest version Vault created
// by then; none before the first one.
func TestConnectionAt(t *testing.T) {
	t.Parallel()
	st, _ := newStore(t, "history")
	ctx := context.Background()
	c := testConnection("h")
	if _, err := st.CreateConnection(ctx, c); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // Vault's created_time has sub-second precision; keep clear of clock granularity
	between := time.Now()
	time.Sleep(1100 * time.Millisecond)
	cur, err := st.GetConnection(ctx, "h")
	if err != nil {
		t.Fatal(err)
	}
	moved := cur.Connection
	moved.TokenURL = "https://attacker.example/token"
	if _, err := st.UpdateConnection(ctx, &moved, cur.Version); err != nil {
		t.Fatal(err)
	}
	then, err := st.ConnectionAt(ctx, "h", between)
	if err != nil || then.Version != 1 || then.TokenURL != "" {
		t.Fatalf("config at %v: %+v %v, want version 1 without the moved token_url", between, then, err)
	}
	now, err := st.ConnectionAt(ctx, "h", time.Now().Add(time.Minute))
	if err != nil || now.Version != 2 || now.TokenURL != moved.TokenURL {
		t.Fatalf("config now: %+v %v", now, err)
	}
	if _, err := st.ConnectionAt(ctx, "h", between.Add(-time.Hour)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("config before it existed: %v, want not found", err)
	}
}
