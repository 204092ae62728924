package events

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv"
)

// TestAttackF7_OutboxHoldsNoLiveLink: against a real Vault, a needs_reauthorization event
// goes through the outbox to two receivers: the default one gets the status page's URL and
// no connect link; the opted-in one gets a link minted at send time. The outbox record in
// Vault holds no link token at any point, only the link's id.
func TestAttackF7_OutboxHoldsNoLiveLink(t *testing.T) {
	t.Parallel()
	v := testenv.StartVault(t)
	st, err := store.New(v.Client(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	plain, opted := &receiver{status: http.StatusNoContent}, &receiver{status: http.StatusNoContent}
	for id, r := range map[string]*receiver{"wh_plainreceiver": plain, "wh_optedreceiver": opted} {
		srv := httptest.NewServer(r)
		t.Cleanup(srv.Close)
		w := &store.Webhook{ID: id, URL: srv.URL, Events: authconn.EventTypes, Secret: NewSecret(), CreatedAt: time.Now().UTC().Add(-time.Minute),
			IncludeReconnectLink: id == "wh_optedreceiver"}
		if err := st.CreateWebhook(ctx, w); err != nil {
			t.Fatal(err)
		}
	}
	ev := authconn.Event{ID: authconn.EventID(authconn.EventNeedsReauthorization, "c", 7), Type: authconn.EventNeedsReauthorization, Connection: "c",
		Status: authconn.StatusNeedsReauthorization, ErrorCode: "invalid_grant"}
	(&Emitter{Store: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).Emit(ctx, ev)
	const public = "https://tokend.example.com"
	d := NewDeliverer(Options{Store: st, ReplicaID: "r1", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Links: &fakeLinks{prefix: public + "/connect#"},
		StatusPageURL: public + "/ui", ReconnectPrefix: public + "/connect#"})
	d.Pass(ctx)
	d.Pass(ctx)
	if !strings.Contains(string(plain.body), `"status_url":"`+public+`/ui"`) || strings.Contains(string(plain.body), "tl_") {
		t.Errorf("invariant «no live link by default»: %s", plain.body)
	}
	if !strings.Contains(string(opted.body), `"reconnect_url":"`+public+`/connect#tl_`) {
		t.Errorf("the opted-in receiver got no link: %s", opted.body)
	}
	sec, err := v.Client().KVv2("secret").Get(ctx, "tailor/events/"+ev.ID)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(sec.Data)
	if strings.Contains(string(raw), "tl_") || strings.Contains(string(raw), "connect#") || !strings.Contains(string(raw), `"link_id":"link1"`) {
		t.Errorf("invariant «the outbox holds no live link, only its id»: %s", raw)
	}
}
