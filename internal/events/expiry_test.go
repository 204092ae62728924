package events

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
)

// TestSecretExpiryDeliveriesCarryTheDate: the client secret notices carry its expiry date
// and the days left, 0 included once it expired; other events carry neither.
func TestSecretExpiryDeliveriesCarryTheDate(t *testing.T) {
	rcv := &receiver{status: http.StatusNoContent}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	exp := time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		ev   authconn.Event
		want []string
	}{
		{authconn.Event{ID: "msg_5", Type: authconn.EventClientSecretExpiring, Connection: "c", ClientSecretExpiresAt: exp, DaysLeft: 7},
			[]string{`"client_secret_expires_at":"2027-03-01T12:00:00Z"`, `"days_left":7`}},
		{authconn.Event{ID: "msg_6", Type: authconn.EventClientSecretExpired, Connection: "c", ClientSecretExpiresAt: exp},
			[]string{`"client_secret_expires_at":"2027-03-01T12:00:00Z"`, `"days_left":0`}},
	} {
		c.ev.At = time.Now()
		if _, err := testDeliverer().send(context.Background(), &c.ev, &store.Webhook{ID: "wh", URL: srv.URL, Secret: NewSecret()}, links{}); err != nil {
			t.Fatal(err)
		}
		for _, w := range c.want {
			if !strings.Contains(string(rcv.body), w) {
				t.Errorf("%s: body %s lacks %s", c.ev.Type, rcv.body, w)
			}
		}
	}
	ev := &authconn.Event{ID: "msg_7", Type: authconn.EventRevoked, Connection: "c", At: time.Now()}
	if _, err := testDeliverer().send(context.Background(), ev, &store.Webhook{ID: "wh", URL: srv.URL, Secret: NewSecret()}, links{}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(rcv.body), "days_left") || strings.Contains(string(rcv.body), "client_secret_expires_at") {
		t.Errorf("revoked: body %s", rcv.body)
	}
}

// keepStore is a DeliveryStore of delivered events, recording which it removes.
type keepStore struct {
	recs    map[string]*store.EventRecord
	deleted []string
}

func (k *keepStore) ListWebhooks(context.Context) ([]*store.Webhook, error) { return nil, nil }
func (k *keepStore) ListEvents(context.Context) ([]string, error) {
	return []string{"msg_kept", "msg_gone"}, nil
}
func (k *keepStore) GetEvent(_ context.Context, id string) (*store.EventRecord, error) {
	return k.recs[id], nil
}
func (k *keepStore) UpdateEvent(context.Context, *store.EventRecord) error { return nil }
func (k *keepStore) DeleteEvent(_ context.Context, id string) error {
	k.deleted = append(k.deleted, id)
	return nil
}

// TestDeliveredEventStaysUntilKeepUntil: a delivered event is removed after Keep, unless it
// asked to be kept longer (an emitter may store the same id again until then).
func TestDeliveredEventStaysUntilKeepUntil(t *testing.T) {
	at := time.Now().Add(-2 * time.Hour)
	done := func() map[string]*store.Delivery {
		return map[string]*store.Delivery{"wh": {Attempts: 1, DeliveredAt: at}}
	}
	ks := &keepStore{recs: map[string]*store.EventRecord{
		"msg_kept": {Event: authconn.Event{ID: "msg_kept", At: at, KeepUntil: time.Now().Add(time.Hour)}, Deliveries: done()},
		"msg_gone": {Event: authconn.Event{ID: "msg_gone", At: at}, Deliveries: done()},
	}}
	d := testDeliverer()
	d.o.Store = ks
	d.Pass(context.Background())
	if len(ks.deleted) != 1 || ks.deleted[0] != "msg_gone" {
		t.Fatalf("removed %v, want only msg_gone", ks.deleted)
	}
}
