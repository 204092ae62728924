package events

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
)

// receiver records one delivery and answers status.
type receiver struct {
	status int
	header http.Header
	body   []byte
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.header = req.Header.Clone()
	r.body, _ = io.ReadAll(req.Body)
	w.WriteHeader(r.status)
}

func testDeliverer() *Deliverer {
	return NewDeliverer(Options{ReplicaID: "r1", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
}

// TestSendSignsPerStandardWebhooks: a delivery verifies with the Standard Webhooks library
// and the webhook's secret, carries the event's id as webhook-id, and its body says what
// happened without any token.
func TestSendSignsPerStandardWebhooks(t *testing.T) {
	rcv := &receiver{status: http.StatusNoContent}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	secret := NewSecret()
	ev := &authconn.Event{ID: "msg_1", Type: authconn.EventNeedsReauthorization, Connection: "google-oauth",
		Status: authconn.StatusNeedsReauthorization, ErrorCode: "invalid_grant", At: time.Now().UTC()}
	if code, err := testDeliverer().send(context.Background(), ev, &store.Webhook{ID: "wh", URL: srv.URL, Secret: secret}, links{}); err != nil || code != http.StatusNoContent {
		t.Fatalf("send: %d %v", code, err)
	}
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.Verify(rcv.body, rcv.header); err != nil {
		t.Fatalf("invariant «every delivery verifies with the receiver's library»: %v", err)
	}
	var p payload
	if err := json.Unmarshal(rcv.body, &p); err != nil || p.Type != ev.Type || p.Data.Connection != "google-oauth" || p.Data.ErrorCode != "invalid_grant" {
		t.Fatalf("payload %s: %v", rcv.body, err)
	}
	if rcv.header.Get("webhook-id") != "msg_1" {
		t.Errorf("webhook-id %q, want the event's id (the same on every retry, for deduplication)", rcv.header.Get("webhook-id"))
	}
	other, _ := standardwebhooks.NewWebhook(NewSecret())
	if other.Verify(rcv.body, rcv.header) == nil {
		t.Error("control: a delivery verified with another secret")
	}
}

// TestSendRefusalsKeepTheURLOut: a receiver that refuses (5xx) or cannot be reached is an
// error naming the status, and the webhook URL (which may carry a token) is not in it.
func TestSendRefusalsKeepTheURLOut(t *testing.T) {
	rcv := &receiver{status: http.StatusBadGateway}
	srv := httptest.NewServer(rcv)
	ev := &authconn.Event{ID: "msg_2", Type: authconn.EventNeedsReauthorization, Connection: "c", At: time.Now()}
	hook := &store.Webhook{ID: "wh", URL: srv.URL + "/hook?token=hook-token-value", Secret: NewSecret()}
	code, err := testDeliverer().send(context.Background(), ev, hook, links{})
	if err == nil || code != http.StatusBadGateway || !strings.Contains(err.Error(), "502") {
		t.Fatalf("refused delivery: %d %v", code, err)
	}
	srv.Close()
	_, err = testDeliverer().send(context.Background(), ev, hook, links{})
	if err == nil || strings.Contains(err.Error(), "hook-token-value") {
		t.Fatalf("invariant «the webhook URL stays out of errors»: %v", err)
	}
}

// TestBackoffGrowsAndIsBounded: 1-2 s after the first failure, doubling, never above 10
// minutes, never below half the step.
func TestBackoffGrowsAndIsBounded(t *testing.T) {
	for n, lo := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 5: 16 * time.Second, 40: 5 * time.Minute} {
		for range 50 {
			if d := backoff(n); d < lo || d > 2*lo || d > 10*time.Minute {
				t.Fatalf("backoff(%d) = %s, want within [%s, %s] and at most 10m", n, d, lo, 2*lo)
			}
		}
	}
}

// fakeLinks mints links under prefix and records revocations.
type fakeLinks struct {
	prefix  string
	n       int
	revoked []string
}

func (f *fakeLinks) CreateLink(_ context.Context, name string, _ []string, ttl time.Duration, _ string) (string, *authconn.ConnectLink, error) {
	f.n++
	id := fmt.Sprintf("link%d", f.n)
	return f.prefix + "tl_" + id + "_secret", &authconn.ConnectLink{ID: id, Connection: name, ExpiresAt: time.Now().Add(ttl)}, nil
}

func (f *fakeLinks) RevokeLink(_ context.Context, id string) error {
	f.revoked = append(f.revoked, id)
	return nil
}

// TestAttackF7_WebhooksGetNoLiveLinkByDefault: a needs_reauthorization delivery carries the
// status page's URL and no live connect link, unless the webhook opted in; an opted-in
// delivery's link is minted at send time (only its id is kept), a retry revokes the previous
// one, and a link not on this tokend's public URL is never sent.
func TestAttackF7_WebhooksGetNoLiveLinkByDefault(t *testing.T) {
	const public = "https://tokend.example.com"
	fl := &fakeLinks{prefix: public + "/connect#"}
	d := NewDeliverer(Options{ReplicaID: "r1", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Links: fl,
		StatusPageURL: public + "/ui", ReconnectPrefix: public + "/connect#"})
	ctx := context.Background()
	ev := &authconn.Event{ID: "msg_3", Type: authconn.EventNeedsReauthorization, Connection: "c", At: time.Now()}

	dl := &store.Delivery{}
	if l := d.links(ctx, ev, &store.Webhook{ID: "wh_plain"}, dl); l.ReconnectURL != "" || l.StatusURL != public+"/ui" || fl.n != 0 || dl.LinkID != "" {
		t.Fatalf("default webhook: %+v (links minted: %d)", l, fl.n)
	}
	opted := &store.Webhook{ID: "wh_opted", IncludeReconnectLink: true}
	l1 := d.links(ctx, ev, opted, dl)
	if !strings.HasPrefix(l1.ReconnectURL, public+"/connect#tl_") || dl.LinkID != "link1" {
		t.Fatalf("opted-in webhook: %+v, link id %q", l1, dl.LinkID)
	}
	raw, _ := json.Marshal(dl)
	if strings.Contains(string(raw), "tl_") || strings.Contains(string(raw), "secret") {
		t.Fatalf("the delivery record (stored in the outbox) holds the link: %s", raw)
	}
	if l2 := d.links(ctx, ev, opted, dl); l2.ReconnectURL == l1.ReconnectURL || len(fl.revoked) != 1 || fl.revoked[0] != "link1" || dl.LinkID != "link2" {
		t.Fatalf("retry: %+v, revoked %v, id %q", l2, fl.revoked, dl.LinkID)
	}
	fl.prefix = "https://tokend.example.com.evil.example/connect#"
	if l3 := d.links(ctx, ev, opted, dl); l3.ReconnectURL != "" {
		t.Fatalf("a link off the public URL was sent: %q", l3.ReconnectURL)
	}
	if l4 := d.links(ctx, &authconn.Event{Type: authconn.EventRecovered}, opted, &store.Delivery{}); l4 != (links{}) {
		t.Fatalf("links on another event type: %+v", l4)
	}
}

// TestAttackF7_ForgedReconnectURLInTheOutboxIsNotSent: an outbox record written by someone
// else (the Terraform role may create events) with a reconnect_url: the deliverer never
// sends it.
func TestAttackF7_ForgedReconnectURLInTheOutboxIsNotSent(t *testing.T) {
	var rec store.EventRecord
	forged := `{"event":{"id":"msg_0123456789abcdef","type":"connection.needs_reauthorization","connection":"c","reconnect_url":"https://evil.example/connect#tl_phish","at":"2026-12-06T00:00:00Z"},"deliveries":null}`
	if err := json.Unmarshal([]byte(forged), &rec); err != nil {
		t.Fatal(err)
	}
	rcv := &receiver{status: http.StatusNoContent}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	if _, err := testDeliverer().send(context.Background(), &rec.Event, &store.Webhook{ID: "wh", URL: srv.URL, Secret: NewSecret()}, links{}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(rcv.body), "evil.example") || strings.Contains(string(rcv.body), "tl_") {
		t.Fatalf("the forged link was delivered: %s", rcv.body)
	}
}

// TestAuthorizedDeliveriesSayWhetherTheAccountChanged: connection.authorized carries
// account_changed and new_account_requested, false included.
func TestAuthorizedDeliveriesSayWhetherTheAccountChanged(t *testing.T) {
	rcv := &receiver{status: http.StatusNoContent}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	ev := &authconn.Event{ID: "msg_4", Type: authconn.EventAuthorized, Connection: "c", At: time.Now(), NewAccountRequested: true}
	if _, err := testDeliverer().send(context.Background(), ev, &store.Webhook{ID: "wh", URL: srv.URL, Secret: NewSecret()}, links{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(rcv.body), `"account_changed":false`) || !strings.Contains(string(rcv.body), `"new_account_requested":true`) {
		t.Fatalf("body %s", rcv.body)
	}
}

// TestOnlyAuthorizedDeliveriesCarryMetadata: connection.authorized carries the connection's
// metadata and API base URL; other events do not, even when the record holds them.
func TestOnlyAuthorizedDeliveriesCarryMetadata(t *testing.T) {
	rcv := &receiver{status: http.StatusNoContent}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	md := map[string]string{"realmId": "9130357"}
	base := "https://quickbooks.api.intuit.com"
	for _, typ := range []authconn.EventType{authconn.EventAuthorized, authconn.EventNeedsReauthorization} {
		ev := &authconn.Event{ID: "msg_5", Type: typ, Connection: "qb", At: time.Now(), Metadata: md, APIBaseURL: base}
		if _, err := testDeliverer().send(context.Background(), ev, &store.Webhook{ID: "wh", URL: srv.URL, Secret: NewSecret()}, links{}); err != nil {
			t.Fatal(err)
		}
		var p payload
		if err := json.Unmarshal(rcv.body, &p); err != nil {
			t.Fatal(err)
		}
		carried := p.Data.Metadata["realmId"] == "9130357" && p.Data.APIBaseURL == base
		if carried != (typ == authconn.EventAuthorized) {
			t.Errorf("%s: metadata carried=%v: %s", typ, carried, rcv.body)
		}
	}
}
