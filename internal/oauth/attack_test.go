package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/egress"
)

// Attack tests of the security review (docs: security-review.md, findings 2 and 3). Each
// failed before the egress policy and discovery pinning.

// capture is a sink that counts what reaches it, standing in for an attacker's host.
func capture(t *testing.T) (*httptest.Server, *atomic.Int32) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"access_token":"attacker-at","token_type":"Bearer","expires_in":3600}`)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// redirecting answers every request with status to target, with body.
func redirecting(t *testing.T, status int, target, body string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", target)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// redirectConn is a connection whose token and revocation endpoints are src, and whose
// authorization endpoint is on the sink's origin: the sink is an operator-typed origin, so
// only the no-redirect rule keeps the secret from it.
func redirectConn(src, sink string) *authconn.Connection {
	return &authconn.Connection{Name: "victim", ProviderURL: src, AuthURL: sink + "/authorize", TokenURL: src + "/token", RevocationURL: src + "/revoke"}
}

func TestAttackF2_TokenEndpointRedirectSendsNothingToTheTarget(t *testing.T) {
	sink, hits := capture(t)
	creds := Credentials{ClientID: "cid", ClientSecret: "CS-secret"}
	for _, status := range []int{301, 302, 307, 308} {
		for _, body := range []string{"", `{"error":"invalid_client"}`} {
			src := redirecting(t, status, sink.URL+"/capture", body)
			c := &Client{}
			p, err := c.Resolve(context.Background(), redirectConn(src.URL, sink.URL))
			if err != nil {
				t.Fatal(err)
			}
			_, rerr := c.Refresh(context.Background(), p, creds, "RT-secret", nil)
			_, cerr := c.ClientCredentials(context.Background(), p, creds, nil)
			for what, err := range map[string]error{"refresh": rerr, "client credentials": cerr} {
				var re *egress.RedirectError
				if !errors.As(err, &re) || KindOf(err) != KindRejected {
					t.Errorf("%d %q %s: err = %v, want a rejected *egress.RedirectError", status, body, what, err)
				} else if !strings.Contains(err.Error(), "redirecting to host 127.0.0.1") || strings.Contains(err.Error(), "CS-secret") {
					t.Errorf("%s: message %q should name the Location's host and no secret", what, err)
				}
			}
		}
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the redirect target received %d token requests, want 0", n)
	}
}

func TestAttackF2_RevocationRedirectIsAFailure(t *testing.T) {
	sink, hits := capture(t)
	src := redirecting(t, http.StatusTemporaryRedirect, sink.URL+"/capture-revoke", "")
	c := &Client{}
	p, err := c.Resolve(context.Background(), redirectConn(src.URL, sink.URL))
	if err != nil {
		t.Fatal(err)
	}
	err = c.Revoke(context.Background(), p, Credentials{ClientID: "cid", ClientSecret: "CS-secret"}, "RT-secret", "refresh_token")
	if err == nil {
		t.Fatal("a revocation answered with 307 was reported as done")
	}
	if !strings.Contains(err.Error(), "307") || !strings.Contains(err.Error(), "127.0.0.1") {
		t.Errorf("message %q should name the status and the Location's host", err)
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the redirect target received %d revocation requests, want 0", n)
	}
}

// A client that follows redirects (one a test or an embedding program injects): the answer
// of another host still does not count as revoked.
func TestRevocationCountsOnlyTheRegisteredEndpointsAnswer(t *testing.T) {
	sink, _ := capture(t)
	src := redirecting(t, http.StatusTemporaryRedirect, sink.URL+"/capture-revoke", "")
	c := &Client{HTTP: &http.Client{Timeout: 5 * time.Second}}
	p, err := c.Resolve(context.Background(), redirectConn(src.URL, sink.URL))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Revoke(context.Background(), p, Credentials{ClientID: "cid", ClientSecret: "s"}, "RT", "refresh_token"); err == nil {
		t.Fatal("a 200 from the redirect target was counted as revoked")
	}
}

// discoveryServer serves a discovery document at both well-known paths; doc gets its own URL.
func discoveryServer(t *testing.T, doc func(self string) map[string]any) *httptest.Server {
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.URL.Path, "/.well-known/") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(doc(srv.URL))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestAttackF3_DiscoveryNamingALoopbackTokenEndpointIsRefused(t *testing.T) {
	sink, hits := capture(t)
	idp := discoveryServer(t, func(self string) map[string]any {
		return map[string]any{"issuer": self, "authorization_endpoint": self + "/authorize", "token_endpoint": sink.URL + "/v1/sys/tools/random"}
	})
	c := &Client{}
	conn := &authconn.Connection{Name: "disco", ProviderURL: idp.URL, IssuerURL: idp.URL}
	if _, err := c.Resolve(context.Background(), conn); err == nil || !strings.Contains(err.Error(), "token_endpoint") || !strings.Contains(err.Error(), "own origin") {
		t.Fatalf("Resolve: err = %v, want the token_endpoint refused (not on the loopback issuer's origin)", err)
	}
	if err := c.Pin(context.Background(), conn); err == nil || !strings.Contains(err.Error(), "token_url") {
		t.Fatalf("Pin: err = %v, want a refusal that says to set token_url", err)
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the loopback sink received %d requests, want 0", n)
	}
	// A remote (https) issuer may not name an http or internal endpoint either, nor one on
	// another site.
	for _, ep := range []string{"http://127.0.0.1:8200/v1/sys/tools/random", "https://127.0.0.1:8200/token", "https://169.254.169.254/latest", "https://evil.example.net/token", "http://idp.example.com/token"} {
		doc := `{"issuer":"https://idp.example.com","authorization_endpoint":"https://idp.example.com/a","token_endpoint":"` + ep + `"}`
		if _, err := ParseMetadata([]byte(doc), "https://idp.example.com"); err == nil || !strings.Contains(err.Error(), "token_endpoint") {
			t.Errorf("token_endpoint %s: err = %v, want a refusal naming it", ep, err)
		}
	}
	doc := `{"issuer":"https://id.example.com","authorization_endpoint":"https://login.example.com/a","token_endpoint":"https://id.example.com/t"}`
	if _, err := ParseMetadata([]byte(doc), "https://id.example.com"); err != nil {
		t.Errorf("an endpoint on the issuer's registrable domain: %v", err)
	}
}

func TestAttackF3_DiscoveryRedirectIsNotFollowed(t *testing.T) {
	sink, hits := capture(t)
	idp := redirecting(t, http.StatusFound, sink.URL+"/v1/sys/seal-status", "")
	_, err := (&Client{}).Discover(context.Background(), idp.URL)
	var re *egress.RedirectError
	if !errors.As(err, &re) {
		t.Fatalf("err = %v, want an *egress.RedirectError", err)
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the redirect target received %d requests, want 0", n)
	}
}

func TestAttackF3_DiscoveryIsPinnedAndAChangeIsReportedNotFollowed(t *testing.T) {
	var moved atomic.Bool
	idp := discoveryServer(t, func(self string) map[string]any {
		tok := self + "/token"
		if moved.Load() {
			tok = self + "/moved-token"
		}
		return map[string]any{"issuer": self, "authorization_endpoint": self + "/authorize", "token_endpoint": tok}
	})
	c := &Client{}
	conn := &authconn.Connection{Name: "pinned", ProviderURL: idp.URL, IssuerURL: idp.URL}
	if err := c.Pin(context.Background(), conn); err != nil {
		t.Fatal(err)
	}
	if conn.Discovered == nil || conn.Discovered.TokenEndpoint != idp.URL+"/token" || conn.Discovered.At.IsZero() {
		t.Fatalf("pinned %+v", conn.Discovered)
	}
	moved.Store(true)
	p, err := c.Resolve(context.Background(), conn)
	if err != nil {
		t.Fatal(err)
	}
	if p.TokenURL != idp.URL+"/token" {
		t.Fatalf("Resolve followed the changed document: token endpoint %s", p.TokenURL)
	}
	changes, err := c.PinChanges(context.Background(), conn)
	if err != nil || len(changes) != 1 || !strings.Contains(changes[0], "token_endpoint") || !strings.Contains(changes[0], "/moved-token") {
		t.Fatalf("PinChanges = %q, %v; want the token_endpoint change", changes, err)
	}
	// A connection stored before pinning resolves live, under the same rules.
	conn.Discovered = nil
	if p, err := c.Resolve(context.Background(), conn); err != nil || p.TokenURL != idp.URL+"/moved-token" {
		t.Fatalf("unpinned Resolve: %v, %v", p, err)
	}
	// An unreachable provider at create time is an error that says what to do.
	idp.Close()
	err = c.Pin(context.Background(), conn)
	var pe *PinError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "auth_url and token_url") {
		t.Fatalf("Pin of an unreachable provider: %v", err)
	}
}

// A pinned result written into the config by someone else than tailor obeys the same rule.
func TestAttackF3_APinnedEndpointOffTheIssuersOriginIsRefused(t *testing.T) {
	conn := &authconn.Connection{Name: "tampered", ProviderURL: "https://idp.example.com", IssuerURL: "https://idp.example.com",
		Discovered: &authconn.Discovered{AuthorizationEndpoint: "https://idp.example.com/a", TokenEndpoint: "http://127.0.0.1:8200/v1/sys/tools/random"}}
	if _, err := (&Client{}).Resolve(context.Background(), conn); err == nil || !strings.Contains(err.Error(), "token_endpoint") {
		t.Fatalf("Resolve of a tampered pin: %v", err)
	}
	conn.Discovered.TokenEndpoint = "https://login.example.com/token"
	if p, err := (&Client{}).Resolve(context.Background(), conn); err != nil || p.TokenURL != "https://login.example.com/token" {
		t.Fatalf("Resolve of a good pin: %v %v", p, err)
	}
}
