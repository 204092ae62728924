package connect_test

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/connect"
	"github.com/authconnection/terraform-provider-tailor/internal/oauth"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv/tailortest"
)

// hostedBed is two tokend replicas' connect services on one Vault, behind a public HTTPS
// front (a test CA's certificate) that sends the hosted callback to replica B and
// everything else to replica A, so that every completed flow began on another replica.
type hostedBed struct {
	env       *tailortest.Env
	ca        *testenv.TestCA
	public    string
	a, b      *connect.Service
	client    *http.Client // trusts the CA, follows no redirect
	mu        sync.Mutex
	routed    map[string]string // path -> replica that served it last
	callbacks []string          // callback queries seen at the front
}

func newHostedBed(t *testing.T, pendingTTL time.Duration) *hostedBed {
	t.Helper()
	h := &hostedBed{env: tailortest.Start(t, testenv.HydraOptions{}), ca: testenv.NewTestCA(t), routed: map[string]string{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.public = "https://" + ln.Addr().String()
	// Each connection's own redirect URI, and the shared one of flows begun before them.
	id, secret := h.env.Hydra.CreateClient(t, testenv.ClientSpec{RedirectURIs: []string{h.public + "/v1/callback/hosted",
		h.public + "/v1/callback/other", h.public + "/v1/callback"}})
	h.env.AddConnectionFor(t, "hosted", id, secret)
	h.env.AddConnectionFor(t, "other", id, secret)
	h.a, h.b = h.replica(t, pendingTTL), h.replica(t, pendingTTL)
	h.front(t, ln)
	h.client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: h.ca.Pool}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return h
}

// replica is one tokend's connect service on its own Vault client.
func (h *hostedBed) replica(t *testing.T, pendingTTL time.Duration) *connect.Service {
	t.Helper()
	s, err := connect.New(connect.Options{Store: h.env.NewStore(t), OAuth: &oauth.Client{}, PublicURL: h.public, PendingTTL: pendingTTL})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// front serves the public URL: the callback goes to replica B, the rest to A.
func (h *hostedBed) front(t *testing.T, ln net.Listener) {
	t.Helper()
	backend := func(s *connect.Service) *url.URL {
		srv := httptest.NewServer(serveRoutes(t, s))
		t.Cleanup(srv.Close)
		u, _ := url.Parse(srv.URL)
		return u
	}
	ua, ub := backend(h.a), backend(h.b)
	pa, pb := httputil.NewSingleHostReverseProxy(ua), httputil.NewSingleHostReverseProxy(ub)
	srv := &httptest.Server{Listener: ln, TLS: h.ca.ServerTLS(), Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		replica, p := "A", pa
		if strings.HasPrefix(r.URL.Path, "/v1/callback") {
			replica, p = "B", pb
			h.mu.Lock()
			h.callbacks = append(h.callbacks, r.URL.RawQuery)
			h.mu.Unlock()
		}
		h.mu.Lock()
		h.routed[strings.TrimSuffix(r.URL.Path, "/hosted")] = replica
		h.mu.Unlock()
		p.ServeHTTP(w, r)
	})}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
}

// post sends a link token to /v1/connect and returns the answer.
func (h *hostedBed) post(t *testing.T, token string) (*http.Response, string) {
	t.Helper()
	resp, err := h.client.PostForm(h.public+"/v1/connect", url.Values{"link": {token}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// token is the link token of a link URL (its fragment).
func token(t *testing.T, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil || u.Fragment == "" || u.RawQuery != "" {
		t.Fatalf("link %q: want the token in the fragment only", link)
	}
	return u.Fragment
}

// TestHostedAuthorizeThroughALinkInChromium: Chromium, trusting only the test CA's server
// key, opens a connect link; the page posts the token from the fragment, Hydra's login and
// consent follow, the callback lands on the other replica, and the tokens are in Vault.
// The link is used up, and the token is in no URL the servers saw.
func TestHostedAuthorizeThroughALinkInChromium(t *testing.T) {
	t.Parallel()
	h := newHostedBed(t, 0)
	browser := testenv.StartBrowserWith(t, testenv.BrowserOptions{ExtraFlags: h.ca.ChromiumTrust()})
	link, l, err := h.a.CreateLink(context.Background(), "hosted", nil, time.Hour, "the workspace owner")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	final, text, err := browser.VisitUntil(ctx, link, func(u *url.URL) bool { return u.Path == "/v1/callback/hosted" })
	if err != nil || !strings.Contains(text, "Connected") {
		t.Fatalf("invariant «the link authorizes»: ended at %s: %q %v", final, text, err)
	}
	ts, err := h.env.Store.GetTokens(ctx, "hosted")
	if err != nil || ts.Status != authconn.StatusAuthorized || ts.RefreshToken == "" {
		t.Fatalf("invariant «the tokens are in Vault»: %v %v", ts, err)
	}
	if h.routed["/v1/connect"] != "A" || h.routed["/v1/callback"] != "B" {
		t.Errorf("invariant «the callback may land on another replica»: routed %v", h.routed)
	}
	stored, _, _ := h.env.Store.GetLink(ctx, l.ID)
	if stored.State(time.Now()) != authconn.LinkUsed || strings.Contains(stored.Hash, token(t, link)) {
		t.Errorf("invariant «the link is used up, stored hashed»: %+v", stored)
	}
	for _, q := range h.callbacks {
		if strings.Contains(q, strings.SplitN(token(t, link), "_", 3)[2]) {
			t.Error("invariant «the link token is in no URL»: it is in the callback")
		}
	}
	if resp, body := h.post(t, token(t, link)); resp.StatusCode != http.StatusGone || !strings.Contains(body, "used already") {
		t.Errorf("invariant «a link works once»: %d %s", resp.StatusCode, body)
	}
}

// TestAttackF6_OneLinkPostedRepeatedlyWritesFewPendingRecords: a link holder who POSTs the
// link 50 times gets the same authorization URL each time, and Vault holds at most
// connect.MaxFlowsPerLink pending records (one here): a repeated POST neither writes a
// pending record nor fetches discovery again (security review 6).
func TestAttackF6_OneLinkPostedRepeatedlyWritesFewPendingRecords(t *testing.T) {
	t.Parallel()
	h := newHostedBed(t, 0)
	ctx := context.Background()
	if _, err := h.env.Store.SweepPending(ctx, time.Now().Add(24*time.Hour)); err != nil { // start from none
		t.Fatal(err)
	}
	link, _, err := h.a.CreateLink(ctx, "hosted", nil, time.Hour, "")
	if err != nil {
		t.Fatal(err)
	}
	locations := map[string]int{}
	for range 50 {
		resp, body := h.post(t, token(t, link))
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("POST /v1/connect: %d %s", resp.StatusCode, body)
		}
		locations[resp.Header.Get("Location")]++
	}
	n, err := h.env.Store.SweepPending(ctx, time.Now().Add(24*time.Hour)) // counts (and removes) them
	if err != nil {
		t.Fatal(err)
	}
	if n > connect.MaxFlowsPerLink || len(locations) != n {
		t.Errorf("invariant «one link POSTed 50 times writes at most %d pending records»: %d records, %d distinct authorization URLs", connect.MaxFlowsPerLink, n, len(locations))
	}
}
