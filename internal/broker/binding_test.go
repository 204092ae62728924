package broker

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/oauth"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv/tailortest"
)

// movedOAuth resolves every connection to tokenURL.
type movedOAuth struct {
	fakeOAuth
	tokenURL string
}

func (m *movedOAuth) Resolve(context.Context, *authconn.Connection) (*oauth.Provider, error) {
	return &oauth.Provider{Endpoints: oauth.Endpoints{TokenURL: m.tokenURL}}, nil
}

// TestRefreshTokenIsNotSentToAnotherOrigin: a token endpoint that resolves to another origin
// than the one recorded at authorization gets no call; the record is marked
// needs_reauthorization with a message that says the endpoint moved.
func TestRefreshTokenIsNotSentToAnotherOrigin(t *testing.T) {
	st := tailortest.NewMemStore()
	st.Conns["c"] = true
	st.Tokens["c"] = store.TokenRecord{TokenSet: authconn.TokenSet{AccessToken: "old", RefreshToken: "rt-secret", Expiry: time.Now().Add(-time.Minute),
		Status: authconn.StatusAuthorized, IssuedBy: &authconn.Issuance{TokenOrigin: "https://a.example:443"}}, Version: 1}
	oa := &movedOAuth{fakeOAuth: fakeOAuth{life: time.Hour}, tokenURL: "https://b.example/token"}
	b := newTestBroker(t, st, oa)
	_, err := b.Token(context.Background(), "c")
	var na *NotAuthorizedError
	if !errors.As(err, &na) || na.Status != authconn.StatusNeedsReauthorization {
		t.Fatalf("Token = %v, want needs_reauthorization", err)
	}
	if oa.calls.Load() != 0 {
		t.Fatal("the refresh token was sent to the moved token endpoint")
	}
	rec := st.Tokens["c"]
	if rec.Status != authconn.StatusNeedsReauthorization || !strings.Contains(rec.LastError, "the token endpoint moved from https://a.example:443 to https://b.example:443") {
		t.Fatalf("stored %s, last error %q", rec.Status, rec.LastError)
	}

	// The same origin (another path, default port spelled out) refreshes, and keeps the binding.
	st.Conns["d"] = true
	st.Tokens["d"] = store.TokenRecord{TokenSet: authconn.TokenSet{AccessToken: "old", RefreshToken: "rt", Expiry: time.Now().Add(-time.Minute),
		Status: authconn.StatusAuthorized, IssuedBy: &authconn.Issuance{TokenOrigin: "https://b.example:443"}}, Version: 5}
	if _, err := b.Token(context.Background(), "d"); err != nil || oa.calls.Load() != 1 {
		t.Fatalf("refresh at the same origin: %v (%d calls)", err, oa.calls.Load())
	}
	if got := st.Tokens["d"].IssuedBy; got == nil || got.TokenOrigin != "https://b.example:443" {
		t.Fatalf("the refreshed record lost its binding: %+v", got)
	}
}

// TestOlderRecordIsBoundAtItsFirstRefresh: a record without IssuedBy whose configuration has
// not changed since it was authorized refreshes, and is bound to the origin then.
func TestOlderRecordIsBoundAtItsFirstRefresh(t *testing.T) {
	st := tailortest.NewMemStore()
	st.Conns["c"] = true
	st.Tokens["c"] = store.TokenRecord{TokenSet: authconn.TokenSet{AccessToken: "old", RefreshToken: "rt", Expiry: time.Now().Add(-time.Minute),
		Status: authconn.StatusAuthorized, AuthorizedAt: time.Now().Add(-time.Hour)}, Version: 1}
	oa := &movedOAuth{fakeOAuth: fakeOAuth{life: time.Hour}, tokenURL: "https://a.example/token"}
	b := newTestBroker(t, st, oa)
	if _, err := b.Token(context.Background(), "c"); err != nil {
		t.Fatal(err)
	}
	if got := st.Tokens["c"].IssuedBy; got == nil || got.TokenOrigin != "https://a.example:443" {
		t.Fatalf("not bound at the first refresh: %+v", got)
	}
}
