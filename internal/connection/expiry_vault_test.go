package connection_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/connection"
	"github.com/authconnection/terraform-provider-tailor/internal/events"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
)

// TestExpiryNoticeStoredOnceInVault: three watchers (three replicas) passing at once store
// one notice in Vault's outbox, with the date, the days left and how long it must stay.
func TestExpiryNoticeStoredOnceInVault(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	ctx := context.Background()
	wh := &store.Webhook{ID: "wh_expiryvault01", URL: "https://hooks.example.com/tailor", Events: authconn.EventTypes, Secret: events.NewSecret(), CreatedAt: time.Now().UTC()}
	if err := st.CreateWebhook(ctx, wh); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	exp := now.Add(30*24*time.Hour - time.Hour).Truncate(time.Second)
	c := customConn("ms365-oauth", "")
	c.ClientSecretExpiresAt = exp
	if err := connection.Create(ctx, st, c, connection.Secret{ClientSecret: "cs-expiry-vault"}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 3 {
		w := connection.NewExpiryWatcher(connection.ExpiryOptions{Store: st, Now: func() time.Time { return now }})
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w.Pass(ctx); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	ids, err := st.ListEvents(ctx)
	if err != nil || len(ids) != 1 {
		t.Fatalf("events %v %v, want one", ids, err)
	}
	rec, err := st.GetEvent(ctx, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	ev := rec.Event
	if ev.ID != authconn.SecretExpiryEventID(authconn.EventClientSecretExpiring, "ms365-oauth", 30, exp) || ev.Type != authconn.EventClientSecretExpiring ||
		ev.DaysLeft != 30 || !ev.ClientSecretExpiresAt.Equal(exp) || !ev.KeepUntil.After(now.Add(connection.ExpiryNoticeWindow-2*time.Hour)) {
		t.Errorf("event %+v", ev)
	}
}
