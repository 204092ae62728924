package connection_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/authorize"
	"github.com/authconnection/terraform-provider-tailor/internal/connection"
	"github.com/authconnection/terraform-provider-tailor/internal/oauth"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv"
)

func newStore(t *testing.T) *store.Store {
	t.Helper()
	v := testenv.StartVault(t)
	st, err := store.New(v.Client(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// vaultPaths lists every record under the store's prefix.
func vaultPaths(t *testing.T, st *store.Store) []string {
	t.Helper()
	recs, err := st.Records(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// revoker is an httptest RFC 7009 endpoint that records the tokens it revoked.
type revoker struct {
	srv     *httptest.Server
	mu      sync.Mutex
	revoked []url.Values
	status  int
}

func newRevoker(t *testing.T) *revoker {
	r := &revoker{status: http.StatusOK}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		form, _ := url.ParseQuery(string(body))
		id, sec, _ := req.BasicAuth()
		r.mu.Lock()
		defer r.mu.Unlock()
		if id != "cid" || sec != "the-client-secret" {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"invalid_client"}`))
			return
		}
		if r.status != http.StatusOK {
			w.WriteHeader(r.status)
			return
		}
		r.revoked = append(r.revoked, form)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *revoker) setStatus(s int) {
	r.mu.Lock()
	r.status = s
	r.mu.Unlock()
}

func (r *revoker) tokens() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, f := range r.revoked {
		out = append(out, f.Get("token_type_hint")+"="+f.Get("token"))
	}
	return out
}

func customConn(name, revURL string) *authconn.Connection {
	return &authconn.Connection{Name: name, Type: authconn.TypeOAuth2, ProviderURL: "https://idp.example.com", ClientID: "cid",
		AuthURL: "https://idp.example.com/auth", TokenURL: "https://idp.example.com/token", RevocationURL: revURL}
}

func putTokens(t *testing.T, st *store.Store, name string) {
	t.Helper()
	ts := &authconn.TokenSet{AccessToken: "at-" + name, RefreshToken: "rt-" + name, Expiry: time.Now().Add(time.Hour), AuthorizedAt: time.Now().UTC()}
	if _, err := st.PutTokens(context.Background(), name, ts, 0); err != nil {
		t.Fatal(err)
	}
}

func TestCreate(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	ctx := context.Background()
	c := customConn("made", "")
	c.Type = ""
	if err := connection.Create(ctx, st, c, connection.Secret{ClientSecret: "the-client-secret"}); err != nil {
		t.Fatal(err)
	}
	got, err := st.GetConnection(ctx, "made")
	if err != nil || got.Type != authconn.TypeOAuth2 || got.ClientID != "cid" {
		t.Fatalf("stored %+v %v", got, err)
	}
	cs, err := st.GetClientSecret(ctx, "made")
	if err != nil || cs.Value != "the-client-secret" {
		t.Errorf("secret stored wrongly (%v)", err)
	}
	err = connection.Create(ctx, st, customConn("made", ""), connection.Secret{ClientSecret: "x"})
	if err == nil || !strings.Contains(err.Error(), "already exists") || !strings.Contains(err.Error(), "tokend delete made") {
		t.Errorf("duplicate: %v", err)
	}
	if err := connection.Create(ctx, st, customConn("empty", ""), connection.Secret{ClientSecret: " \n"}); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty secret: %v", err)
	}
	bad := customConn("Bad_Name", "")
	if err := connection.Create(ctx, st, bad, connection.Secret{ClientSecret: "x"}); err == nil || !strings.Contains(err.Error(), "invalid connection name") {
		t.Errorf("bad name: %v", err)
	}
	if _, err := st.GetConnection(ctx, "empty"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a refused create left a record: %v", err)
	}
}

func TestRevokeAndDeleteWithHTTPTestProvider(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	ctx := context.Background()
	rv := newRevoker(t)
	oc := &oauth.Client{}
	if err := connection.Create(ctx, st, customConn("conn", rv.srv.URL+"/revoke"), connection.Secret{ClientSecret: "the-client-secret"}); err != nil {
		t.Fatal(err)
	}

	// No tokens: nothing to revoke, still fine.
	res, err := connection.Revoke(ctx, st, oc, "conn", connection.Options{})
	if err != nil || res.HadTokens || res.RevokeSkipped == "" {
		t.Errorf("revoke without tokens: %+v %v", res, err)
	}

	// Provider down: tokens are kept, the error names --force.
	putTokens(t, st, "conn")
	rv.setStatus(http.StatusServiceUnavailable)
	_, err = connection.Revoke(ctx, st, oc, "conn", connection.Options{})
	if err == nil || !strings.Contains(err.Error(), "kept in Vault") || !strings.Contains(err.Error(), "--force") {
		t.Errorf("revoke with the provider down: %v", err)
	}
	assertNoToken(t, err, "conn")
	if _, err := st.GetTokens(ctx, "conn"); err != nil {
		t.Errorf("tokens gone after a failed revocation: %v", err)
	}
	// The lease was released: a refresh can take it.
	if l, _, err := st.AcquireLease(ctx, "conn", "tokend-serve", time.Second); err != nil {
		t.Errorf("lease not released: %v", err)
	} else {
		_ = st.ReleaseLease(ctx, l)
	}

	// --force removes them anyway and reports the failure.
	res, err = connection.Revoke(ctx, st, oc, "conn", connection.Options{Force: true})
	if err != nil || res.RevokeError == nil || !res.TokensDeleted {
		t.Errorf("forced revoke: %+v %v", res, err)
	}
	if _, err := st.GetTokens(ctx, "conn"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("tokens after forced revoke: %v", err)
	}

	// Provider up: refresh token first, then access token.
	rv.setStatus(http.StatusOK)
	putTokens(t, st, "conn")
	res, err = connection.Revoke(ctx, st, oc, "conn", connection.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(rv.tokens(), " "); got != "refresh_token=rt-conn access_token=at-conn" {
		t.Errorf("revoked %q", got)
	}
	if strings.Join(res.Revoked, ",") != "refresh_token,access_token" || !res.TokensDeleted {
		t.Errorf("result %+v", res)
	}
	if _, err := st.GetConnection(ctx, "conn"); err != nil {
		t.Errorf("revoke removed the connection: %v", err)
	}
	if _, err := st.GetClientSecret(ctx, "conn"); err != nil {
		t.Errorf("revoke removed the client secret: %v", err)
	}

	// A refresh in progress (lease held by tokend serve) makes revoke wait, then give up.
	putTokens(t, st, "conn")
	if _, _, err := st.AcquireLease(ctx, "conn", "tokend-serve", time.Minute); err != nil {
		t.Fatal(err)
	}
	_, err = connection.Revoke(ctx, st, oc, "conn", connection.Options{LeaseWait: 700 * time.Millisecond})
	if !errors.Is(err, store.ErrLeaseHeld) || !strings.Contains(err.Error(), "run the command again") {
		t.Errorf("revoke during a refresh: %v", err)
	}

	// Delete refuses while the refresh runs (nothing is deleted), and then removes everything.
	_, err = connection.Delete(ctx, st, oc, "conn", connection.Options{LeaseWait: 200 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "was not deleted") {
		t.Errorf("delete during a refresh: %v", err)
	}
	if _, err := st.GetConnection(ctx, "conn"); err != nil {
		t.Errorf("connection deleted although revocation could not run: %v", err)
	}
	if err := st.DeleteTokens(ctx, "conn"); err != nil { // the refresher's lease ends
		t.Fatal(err)
	}
	putTokens(t, st, "conn")
	res, err = connection.Delete(ctx, st, oc, "conn", connection.Options{})
	if err != nil || !res.Found || !res.Deleted || len(res.Revoked) != 2 {
		t.Errorf("delete: %+v %v", res, err)
	}
	if p := vaultPaths(t, st); len(p) != 0 {
		t.Errorf("left in Vault after delete: %v", p)
	}

	// Unknown connections.
	if _, err := connection.Revoke(ctx, st, oc, "conn", connection.Options{}); !errors.Is(err, store.ErrNotFound) || !strings.Contains(err.Error(), "tokend list") {
		t.Errorf("revoke unknown: %v", err)
	}
	if res, err := connection.Delete(ctx, st, oc, "conn", connection.Options{}); err != nil || res.Found {
		t.Errorf("delete unknown: %+v %v", res, err)
	}
}

func TestRevokeWithoutEndpoint(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	ctx := context.Background()
	// Microsoft has no RFC 7009 endpoint; the preset applies, nothing is sent anywhere.
	c := &authconn.Connection{Name: "ms", Type: authconn.TypeOAuth2, ProviderURL: "https://login.microsoftonline.com/common", ClientID: "cid"}
	if err := connection.Create(ctx, st, c, connection.Secret{ClientSecret: "the-client-secret"}); err != nil {
		t.Fatal(err)
	}
	putTokens(t, st, "ms")
	res, err := connection.Revoke(ctx, st, &oauth.Client{}, "ms", connection.Options{})
	if err != nil || !res.TokensDeleted || !strings.Contains(res.RevokeSkipped, "no token revocation endpoint") || len(res.Revoked) != 0 {
		t.Errorf("revoke: %+v %v", res, err)
	}
	if _, err := st.GetTokens(ctx, "ms"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("tokens: %v", err)
	}
}

func assertNoToken(t *testing.T, err error, name string) {
	t.Helper()
	if err != nil && (strings.Contains(err.Error(), "at-"+name) || strings.Contains(err.Error(), "rt-"+name) || strings.Contains(err.Error(), "the-client-secret")) {
		t.Errorf("error leaks a secret: %v", err)
	}
}

// TestRevokeAndDeleteWithHydra authorizes with Chromium against Hydra, revokes (Hydra then
// reports both tokens inactive, the connection stays), authorizes again, and deletes
// (nothing is left in Vault).
func TestRevokeAndDeleteWithHydra(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	h := testenv.StartHydra(t, testenv.HydraOptions{})
	b := testenv.StartBrowser(t)
	ctx := context.Background()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	id, secret := h.CreateClient(t, testenv.ClientSpec{RedirectURIs: []string{authorize.RedirectURI(port)}})
	if err := connection.Create(ctx, st, &authconn.Connection{Name: "hydra", ProviderURL: h.Issuer, ClientID: id}, connection.Secret{ClientSecret: secret}); err != nil {
		t.Fatal(err)
	}
	auth := func() *store.TokenRecord {
		t.Helper()
		op := b.NewOpener(time.Minute)
		_, err := authorize.Run(ctx, st, authorize.Options{Name: "hydra", Port: port, Timeout: time.Minute, UI: &authorize.TextUI{Out: io.Discard, Err: io.Discard, Open: op.Open}})
		if err != nil {
			t.Fatalf("authorize: %v", err)
		}
		op.Wait(t, time.Minute)
		ts, err := st.GetTokens(ctx, "hydra")
		if err != nil {
			t.Fatal(err)
		}
		if !h.Introspect(t, ts.AccessToken).Active || !h.Introspect(t, ts.RefreshToken).Active {
			t.Fatal("fresh tokens inactive")
		}
		return ts
	}
	oc := &oauth.Client{}

	ts := auth()
	res, err := connection.Revoke(ctx, st, oc, "hydra", connection.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(res.Revoked, ",") != "refresh_token,access_token" {
		t.Errorf("revoked %v", res.Revoked)
	}
	if ir := h.Introspect(t, ts.AccessToken); ir.Active {
		t.Errorf("access token still active after revoke: %+v", ir)
	}
	if ir := h.Introspect(t, ts.RefreshToken); ir.Active {
		t.Errorf("refresh token still active after revoke: %+v", ir)
	}
	if _, err := st.GetTokens(ctx, "hydra"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("tokens in Vault after revoke: %v", err)
	}
	if s, _ := st.GetTokenStatus(ctx, "hydra"); s.Status != authconn.StatusNotAuthorized {
		t.Errorf("status after revoke %q", s.Status)
	}
	if _, err := st.GetConnection(ctx, "hydra"); err != nil {
		t.Errorf("connection gone after revoke: %v", err)
	}

	// A client registered for client_secret_post: Hydra's metadata offers both methods, so
	// the exchange and the revocation find the one the client uses.
	pid, psecret := h.CreateClient(t, testenv.ClientSpec{RedirectURIs: []string{authorize.RedirectURI(port)}, TokenEndpointAuthMethod: "client_secret_post"})
	if err := connection.Create(ctx, st, &authconn.Connection{Name: "hydra-post", ProviderURL: h.Issuer, ClientID: pid}, connection.Secret{ClientSecret: psecret}); err != nil {
		t.Fatal(err)
	}
	op := b.NewOpener(time.Minute)
	if _, err := authorize.Run(ctx, st, authorize.Options{Name: "hydra-post", Port: port, Timeout: time.Minute, UI: &authorize.TextUI{Out: io.Discard, Err: io.Discard, Open: op.Open}}); err != nil {
		t.Fatalf("authorize with a client_secret_post client: %v", err)
	}
	op.Wait(t, time.Minute)
	pts, err := st.GetTokens(ctx, "hydra-post")
	if err != nil || !h.Introspect(t, pts.RefreshToken).Active {
		t.Fatalf("post client tokens: %v", err)
	}
	if _, err := connection.Revoke(ctx, st, oc, "hydra-post", connection.Options{}); err != nil {
		t.Fatalf("revoke with a client_secret_post client: %v", err)
	}
	if h.Introspect(t, pts.RefreshToken).Active || h.Introspect(t, pts.AccessToken).Active {
		t.Error("post client's tokens active after revoke")
	}
	if _, err := connection.Delete(ctx, st, oc, "hydra-post", connection.Options{}); err != nil {
		t.Fatal(err)
	}

	ts2 := auth() // can be authorized again
	res, err = connection.Delete(ctx, st, oc, "hydra", connection.Options{})
	if err != nil || !res.Deleted {
		t.Fatalf("delete: %+v %v", res, err)
	}
	if h.Introspect(t, ts2.RefreshToken).Active || h.Introspect(t, ts2.AccessToken).Active {
		t.Error("tokens active at Hydra after delete")
	}
	if p := vaultPaths(t, st); len(p) != 0 {
		t.Errorf("left in Vault after delete: %v", p)
	}
}
