package events

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
)

// TestAttackF14_WebhookRedirectIsAFailureNotAResend (security review, finding 14): a
// receiver that answers 307 to another host gets a failed delivery that names the Location's
// host; the signed body is never sent to the target, neither by a 307 nor a 308 nor a 302.
func TestAttackF14_WebhookRedirectIsAFailureNotAResend(t *testing.T) {
	var hits atomic.Int32
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer sink.Close()
	for _, status := range []int{http.StatusTemporaryRedirect, http.StatusPermanentRedirect, http.StatusFound} {
		rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, sink.URL+"/capture-webhook-redirected", status)
		}))
		ev := &authconn.Event{ID: "msg_r", Type: authconn.EventNeedsReauthorization, Connection: "c", At: time.Now()}
		hook := &store.Webhook{ID: "wh", URL: rcv.URL + "/hooks/path-token-value", Secret: NewSecret()}
		code, err := testDeliverer().send(context.Background(), ev, hook, links{})
		rcv.Close()
		if err == nil || code != status {
			t.Fatalf("%d: send = %d, %v; want a failure with status %d", status, code, err, status)
		}
		host := strings.TrimPrefix(sink.URL, "http://")
		if msg := err.Error(); !strings.Contains(msg, host) || strings.Contains(msg, "path-token-value") {
			t.Errorf("%d: message %q should name the Location's host %s and not the webhook URL's path", status, msg, host)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the redirect target received %d deliveries, want 0", n)
	}
}
