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
	if code, err := testDeliverer().send(context.Background(), ev, &store.Webhook{ID: "wh", URL: srv.URL, Secret: secret}); err != nil || code != http.StatusNoContent {
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
	code, err := testDeliverer().send(context.Background(), ev, hook)
	if err == nil || code != http.StatusBadGateway || !strings.Contains(err.Error(), "502") {
		t.Fatalf("refused delivery: %d %v", code, err)
	}
	srv.Close()
	_, err = testDeliverer().send(context.Background(), ev, hook)
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
