package broker

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/oauth"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv/tailortest"
)

// pinOAuth is fakeOAuth whose provider's discovery document moved since the pin.
type pinOAuth struct {
	fakeOAuth
	changes []string
}

func (p *pinOAuth) PinChanges(context.Context, *authconn.Connection) ([]string, error) {
	return p.changes, nil
}

// syncBuf is a log sink safe for the report's goroutine.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestAChangedDiscoveryDocumentIsReportedNotFollowed: resolving a pinned connection's new
// config version logs each moved endpoint, and a failed request names the change; the
// provider the broker uses is still the one Resolve gave (the pinned endpoints).
func TestAChangedDiscoveryDocumentIsReportedNotFollowed(t *testing.T) {
	oa := &pinOAuth{changes: []string{`token_endpoint is now "https://idp.example.com/new" (pinned: "https://idp.example.com/token")`}}
	log := &syncBuf{}
	b, err := New(Options{Store: tailortest.NewMemStore(), OAuth: oa, ReplicaID: "me", Logger: slog.New(slog.NewTextHandler(log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	conn := &store.ConnectionRecord{Connection: authconn.Connection{Name: "c", Discovered: &authconn.Discovered{TokenEndpoint: "https://idp.example.com/token"}}, Version: 2}
	if _, err := b.provider(context.Background(), conn); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(log.String(), "discovery document changed") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if out := log.String(); !strings.Contains(out, "token_endpoint is now") || !strings.Contains(out, "connection=c") {
		t.Fatalf("log %q: want a warning naming the changed endpoint", out)
	}
	failed := &oauth.Error{Op: "refresh", Kind: oauth.KindRejected, StatusCode: 404}
	err = b.withPinNote(context.Background(), conn, failed)
	if !errors.Is(err, failed) || !strings.Contains(err.Error(), "token_endpoint is now") || !strings.Contains(err.Error(), "update the connection") {
		t.Fatalf("withPinNote = %v", err)
	}
	if got := b.withPinNote(context.Background(), &store.ConnectionRecord{Connection: authconn.Connection{Name: "unpinned"}}, failed); got != failed {
		t.Fatalf("an unpinned connection's error changed: %v", got)
	}
}
