package events

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
)

// TestAttackF12_WebhookMessageIsSanitized (security review, finding 12): an event whose
// message is a provider's error with terminal escapes (stored by an older tokend, or by any
// writer of the outbox) is delivered without control characters; the receiver prints it on
// a terminal or a chat. No \u001b (such as \u001b[2J) reaches the receiver.
func TestAttackF12_WebhookMessageIsSanitized(t *testing.T) {
	rcv := &receiver{status: http.StatusNoContent}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	ev := &authconn.Event{ID: "msg_2", Type: authconn.EventRefreshFailed, Connection: "google-oauth", Status: authconn.StatusAuthorized,
		ErrorCode: "server_error\x1b[2J", Message: "provider said: \x1b[2J\x1b]0;pwned\x07 try later\u202e", At: time.Now().UTC()}
	if code, err := testDeliverer().send(context.Background(), ev, &store.Webhook{ID: "wh", URL: srv.URL, Secret: NewSecret()}, links{}); err != nil || code != http.StatusNoContent {
		t.Fatalf("send: %d %v", code, err)
	}
	var p payload
	if err := json.Unmarshal(rcv.body, &p); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(p.Data.Message, "provider said:") || !strings.Contains(p.Data.Message, "try later") {
		t.Fatalf("control: the message is delivered: %q", p.Data.Message)
	}
	for _, s := range []string{p.Data.Message, p.Data.ErrorCode} {
		if strings.ContainsAny(s, "\x1b\x07\u202e") {
			t.Errorf("invariant «webhook messages carry no control characters»: %q", s)
		}
	}
}
