package broker

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/oauth"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv/tailortest"
	"github.com/authconnection/terraform-provider-tailor/internal/tokens"
	"github.com/authconnection/terraform-provider-tailor/internal/wire"
)

// entryOAuth resolves every connection to p and answers refreshes with extra in the token
// answer.
type entryOAuth struct {
	fakeOAuth
	p     *oauth.Provider
	extra map[string]any
	// refreshedAt records the refresh endpoint each refresh was sent to.
	refreshedAt []string
}

func (e *entryOAuth) Resolve(context.Context, *authconn.Connection) (*oauth.Provider, error) {
	return e.p, nil
}

func (e *entryOAuth) Refresh(ctx context.Context, p *oauth.Provider, c oauth.Credentials, rt string, s []string) (*oauth.Token, error) {
	e.refreshedAt = append(e.refreshedAt, p.RefreshEndpoint())
	tok, err := e.fakeOAuth.Refresh(ctx, p, c, rt, s)
	if tok != nil {
		tok.Extra = e.extra
	}
	return tok, err
}

func salesforce(t *testing.T) *oauth.Provider {
	t.Helper()
	p, err := (&oauth.Client{}).Resolve(context.Background(), &authconn.Connection{Name: "sf", Type: authconn.TypeOAuth2, ClientID: "cid", Provider: "salesforce"})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRefreshKeepsAndUpdatesMetadata: a refresh keeps the connection's metadata and API
// base URL, takes a new value the token answer carries (Salesforce's instance_url) and fills
// the API base URL again; the token answer serves both.
func TestRefreshKeepsAndUpdatesMetadata(t *testing.T) {
	p := salesforce(t)
	st := tailortest.NewMemStore()
	st.Conns["sf"] = true
	md := map[string]string{"instance_url": "https://a.my.salesforce.com", "identity_url": "https://login.salesforce.com/id/00D/005"}
	st.Tokens["sf"] = store.TokenRecord{TokenSet: authconn.TokenSet{AccessToken: "old", RefreshToken: "rt", Expiry: time.Now().Add(-time.Minute),
		Status: authconn.StatusAuthorized, IssuedBy: p.Issuance(), Metadata: md, APIBaseURL: "https://a.my.salesforce.com/services/data"}, Version: 1}
	oa := &entryOAuth{fakeOAuth: fakeOAuth{life: time.Hour}, p: p}
	b := newTestBroker(t, st, oa)
	tok, err := b.Token(context.Background(), "sf")
	if err != nil {
		t.Fatal(err)
	}
	rec := st.Tokens["sf"]
	if rec.AccessToken == "old" || rec.Metadata["instance_url"] != md["instance_url"] || rec.Metadata["identity_url"] != md["identity_url"] ||
		rec.APIBaseURL != "https://a.my.salesforce.com/services/data" {
		t.Fatalf("invariant «a refresh keeps the metadata»: %v %q", rec.Metadata, rec.APIBaseURL)
	}
	var w wire.Token
	if err := json.Unmarshal(tok.JSON, &w); err != nil || w.Metadata["instance_url"] != md["instance_url"] || w.APIBaseURL != rec.APIBaseURL {
		t.Fatalf("invariant «the token answer carries the metadata»: %s %v", tok.JSON, err)
	}

	oa.extra = map[string]any{"instance_url": "https://b.my.salesforce.com"}
	st.Tokens["sf"] = store.TokenRecord{TokenSet: func() authconn.TokenSet { ts := rec.TokenSet; ts.Expiry = time.Now().Add(-time.Minute); return ts }(), Version: 3}
	if _, err := newTestBroker(t, st, oa).Token(context.Background(), "sf"); err != nil {
		t.Fatal(err)
	}
	rec = st.Tokens["sf"]
	if rec.Metadata["instance_url"] != "https://b.my.salesforce.com" || rec.Metadata["identity_url"] != md["identity_url"] ||
		!strings.HasPrefix(rec.APIBaseURL, "https://b.my.salesforce.com/services/data") {
		t.Fatalf("invariant «a value the answer carries replaces its key»: %v %q", rec.Metadata, rec.APIBaseURL)
	}
}

// TestRefreshBindingChecksTheRefreshEndpoint: an entry whose refresh URL is on another
// origin than its token URL is checked against the refresh origin recorded at authorization
// (not the token origin): the same refresh origin refreshes there, another one is refused
// without a call.
func TestRefreshBindingChecksTheRefreshEndpoint(t *testing.T) {
	p := &oauth.Provider{Endpoints: oauth.Endpoints{TokenURL: "https://a.example/token", RefreshURL: "https://r.example/refresh"}}
	for _, tc := range []struct {
		recorded string
		ok       bool
	}{{"https://r.example:443", true}, {"https://evil.example:443", false}} {
		st := tailortest.NewMemStore()
		st.Conns["c"] = true
		st.Tokens["c"] = store.TokenRecord{TokenSet: authconn.TokenSet{AccessToken: "old", RefreshToken: "rt", Expiry: time.Now().Add(-time.Minute),
			Status: authconn.StatusAuthorized, IssuedBy: &authconn.Issuance{TokenOrigin: "https://a.example:443", RefreshOrigin: tc.recorded}}, Version: 1}
		oa := &entryOAuth{fakeOAuth: fakeOAuth{life: time.Hour}, p: p}
		_, err := newTestBroker(t, st, oa).Token(context.Background(), "c")
		var na *NotAuthorizedError
		switch {
		case tc.ok && (err != nil || len(oa.refreshedAt) != 1 || oa.refreshedAt[0] != "https://r.example/refresh"):
			t.Errorf("recorded %s: %v, refreshed at %v", tc.recorded, err, oa.refreshedAt)
		case !tc.ok && (!errors.As(err, &na) || na.Status != authconn.StatusNeedsReauthorization || len(oa.refreshedAt) != 0):
			t.Errorf("invariant «the refresh token goes only to the recorded refresh origin»: recorded %s: %v, refreshed at %v", tc.recorded, err, oa.refreshedAt)
		}
	}
}

// fetchingOAuth is a fakeOAuth that also makes metadata calls: it answers md, or err.
type fetchingOAuth struct {
	fakeOAuth
	md      map[string]string
	err     error
	fetches int
}

func (f *fetchingOAuth) FetchMetadata(context.Context, *oauth.Provider, string, map[string]string) (map[string]string, error) {
	f.fetches++
	return f.md, f.err
}

// TestClientCredentialsMetadata: a client-credentials connection makes its entry's metadata
// call with its first token and keeps the answer with the next tokens (no second call); a
// failed call keeps the token, served, and says so in last_error.
func TestClientCredentialsMetadata(t *testing.T) {
	st := tailortest.NewMemStore()
	st.Conns["cc"], st.Conns["bad"] = true, true
	st.Grants["cc"], st.Grants["bad"] = authconn.GrantClientCredentials, authconn.GrantClientCredentials
	oa := &fetchingOAuth{fakeOAuth: fakeOAuth{life: time.Hour}, md: map[string]string{"tenant_id": "t-1"}}
	if _, err := newTestBroker(t, st, oa).Token(context.Background(), "cc"); err != nil {
		t.Fatal(err)
	}
	if rec := st.Tokens["cc"]; rec.Metadata["tenant_id"] != "t-1" || rec.LastError != "" || oa.fetches != 1 {
		t.Fatalf("invariant «the first client-credentials token gets the metadata»: %v %q (%d calls)", rec.Metadata, rec.LastError, oa.fetches)
	}
	rec := st.Tokens["cc"]
	rec.Expiry = time.Now().Add(-time.Minute)
	st.Tokens["cc"] = rec
	if _, err := newTestBroker(t, st, oa).Token(context.Background(), "cc"); err != nil {
		t.Fatal(err)
	}
	if rec := st.Tokens["cc"]; rec.Metadata["tenant_id"] != "t-1" || oa.fetches != 1 {
		t.Fatalf("invariant «the next token keeps the metadata without a second call»: %v (%d calls)", rec.Metadata, oa.fetches)
	}

	oa.err = &oauth.MetadataError{Kind: oauth.MetadataNone}
	if _, err := newTestBroker(t, st, oa).Token(context.Background(), "bad"); err != nil {
		t.Fatalf("invariant «a failed metadata call keeps the token»: %v", err)
	}
	if rec := st.Tokens["bad"]; rec.AccessToken == "" || rec.Status != authconn.StatusAuthorized || len(rec.Metadata) != 0 ||
		!strings.HasPrefix(rec.LastError, tokens.MetadataNote) || !strings.Contains(rec.LastError, "retries with the next token") {
		t.Fatalf("stored %v, last error %q", rec.Metadata, rec.LastError)
	}
}

// TestRefreshKeepsAnOperatorsTokenURL: a connection of a catalog entry whose token_url the
// operator set refreshes there even with metadata (the entry's templates are not filled
// again over it).
func TestRefreshKeepsAnOperatorsTokenURL(t *testing.T) {
	conn := authconn.Connection{Name: "sf", Type: authconn.TypeOAuth2, ClientID: "cid", Provider: "salesforce", TokenURL: "https://proxy.example/services/oauth2/token"}
	p, err := (&oauth.Client{}).Resolve(context.Background(), &conn)
	if err != nil {
		t.Fatal(err)
	}
	st := tailortest.NewMemStore()
	st.Conns["sf"] = true
	st.Configs["sf"] = conn
	st.Tokens["sf"] = store.TokenRecord{TokenSet: authconn.TokenSet{AccessToken: "old", RefreshToken: "rt", Expiry: time.Now().Add(-time.Minute),
		Status: authconn.StatusAuthorized, IssuedBy: p.Issuance(), Metadata: map[string]string{"instance_url": "https://a.my.salesforce.com"}}, Version: 1}
	oa := &entryOAuth{fakeOAuth: fakeOAuth{life: time.Hour}, p: p}
	if _, err := newTestBroker(t, st, oa).Token(context.Background(), "sf"); err != nil {
		t.Fatal(err)
	}
	if len(oa.refreshedAt) != 1 || oa.refreshedAt[0] != conn.TokenURL {
		t.Fatalf("invariant «an operator's token_url stays where refreshes go»: %v", oa.refreshedAt)
	}
}
