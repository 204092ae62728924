package main

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	vaultapi "github.com/hashicorp/vault/api"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv/tailortest"
)

// TestAttackF4_TerraformRoleCannotForgeEvents: the review's finding 4. With the documented
// Terraform policy, writing an event to the webhooks' outbox is refused by Vault (403); a
// connection deleted by that role (as terraform destroy does) while tokend serve runs gives
// exactly one connection.deleted delivery, signed by tokend, with no message and no link,
// although two replicas read the deletion in the change log.
func TestAttackF4_TerraformRoleCannotForgeEvents(t *testing.T) {
	t.Parallel()
	env := &tailortest.Env{Vault: testenv.StartVault(t), Prefix: "tailor"}
	env.Store = env.NewStore(t)
	ctx := context.Background()
	c := &authconn.Connection{Name: "crm-oauth", Type: authconn.TypeOAuth2, ProviderURL: "http://127.0.0.1:9", ClientID: "id",
		AuthURL: "http://127.0.0.1:9/auth", TokenURL: "http://127.0.0.1:9/token"}
	if _, err := env.Store.CreateConnection(ctx, c); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Store.PutClientSecret(ctx, c.Name, "s3cret-value"); err != nil {
		t.Fatal(err)
	}
	bed := newTokendBed(t, env)
	r := newReceiver(t)
	out := bed.runIn(t, "", "webhooks", "add", r.srv.URL+"/hook", "--events", "all")
	secret := strings.Fields(out[strings.Index(out, "whsec_"):])[0]
	var err error
	if r.wh, err = standardwebhooks.NewWebhook(secret); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"f4-a", "f4-b"} {
		bed.serve(t, id, withFlags("--webhook-interval", "200ms"))
	}
	tf := env.RoleStore(t, "terraform")

	forged := map[string]any{"options": map[string]any{"cas": 0}, "data": map[string]any{"event": map[string]any{
		"id": "msg_0123456789abcdef01234567", "type": "connection.needs_reauthorization", "connection": c.Name,
		"message": "reconnect now", "reconnect_url": "https://tokend.example.com.evil.example/connect#tl_phish",
		"at": time.Now().UTC().Format(time.RFC3339Nano)}}}
	_, err = tf.Client().Logical().WriteWithContext(ctx, "secret/data/"+env.Prefix+"/events/msg_0123456789abcdef01234567", forged)
	var re *vaultapi.ResponseError
	if !errors.As(err, &re) || re.StatusCode != http.StatusForbidden {
		t.Fatalf("the Terraform role wrote to the outbox: %v, want 403", err)
	}

	if err := tf.DeleteConnection(ctx, c.Name); err != nil {
		t.Fatalf("the Terraform role could not delete the connection: %v", err)
	}
	r.waitFor(t, string(authconn.EventDeleted), 1, 20*time.Second)
	time.Sleep(2 * time.Second) // the other replica, and any retry, had time to deliver again
	got, ids := r.of(string(authconn.EventDeleted))
	if len(ids) != 1 {
		t.Fatalf("connection.deleted delivered under %d webhook-ids (%v), want exactly 1", len(ids), ids)
	}
	for _, g := range got {
		if g.connection != c.Name || !g.verified || strings.Contains(g.body, "reconnect_url") || strings.Contains(g.body, `"message"`) {
			t.Errorf("delivery %+v: want connection %q, a verified signature, no message and no link", g, c.Name)
		}
	}
	if forgedGot, _ := r.of(string(authconn.EventNeedsReauthorization)); len(forgedGot) != 0 {
		t.Errorf("a forged event was delivered: %+v", forgedGot)
	}

	// `tokend delete` stores the event itself, under the id tokend serve gives the deletion
	// it reads in the change log: still one delivery.
	c.Name = "erp-oauth"
	if _, err := env.Store.CreateConnection(ctx, c); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Store.PutClientSecret(ctx, c.Name, "s3cret-value"); err != nil {
		t.Fatal(err)
	}
	bed.runIn(t, "", "delete", c.Name)
	r.waitFor(t, string(authconn.EventDeleted), 2, 20*time.Second)
	time.Sleep(2 * time.Second)
	got, _ = r.of(string(authconn.EventDeleted))
	perConn := map[string]map[string]bool{}
	for _, g := range got {
		if perConn[g.connection] == nil {
			perConn[g.connection] = map[string]bool{}
		}
		perConn[g.connection][g.id] = true
	}
	if len(perConn[c.Name]) != 1 {
		t.Fatalf("connection.deleted of %q (tokend delete, and tokend serve from the change log) under %d webhook-ids, want 1", c.Name, len(perConn[c.Name]))
	}
}
