package connect_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/authorize"
	"github.com/authconnection/terraform-provider-tailor/internal/connect"
	"github.com/authconnection/terraform-provider-tailor/internal/events"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv/tailortest"
)

// consentAs is consent with Hydra's login app signing in subject, through a link made
// with o (the connection "hosted" when o.Name is empty).
func (h *hostedBed) consentAs(t *testing.T, ctx context.Context, subject string, o connect.LinkOptions) url.Values {
	t.Helper()
	h.env.Hydra.SetSubject(subject)
	if o.Name == "" {
		o.Name = "hosted"
	}
	link, _, err := h.a.CreateLinkWith(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	return h.openLink(t, ctx, link)
}

// addWebhook registers a receiver, so that events are kept in the outbox (nothing delivers
// them in this bed).
func (h *hostedBed) addWebhook(t *testing.T, ctx context.Context) {
	t.Helper()
	w := &store.Webhook{ID: "wh_accounttest01", URL: "https://127.0.0.1:1/hook", Events: authconn.EventTypes, Secret: events.NewSecret(),
		CreatedAt: time.Now().UTC().Add(-time.Minute)}
	if err := h.env.Store.CreateWebhook(ctx, w); err != nil {
		t.Fatal(err)
	}
}

// authorizedEvent is the outbox's connection.authorized event of token record tr.
func (h *hostedBed) authorizedEvent(t *testing.T, ctx context.Context, tr *store.TokenRecord) authconn.Event {
	t.Helper()
	rec, err := h.env.Store.GetEvent(ctx, authconn.AuthorizedEventID("hosted", tr.Version, tr.AuthorizedAt))
	if err != nil {
		t.Fatalf("the connection.authorized event of version %d: %v", tr.Version, err)
	}
	return rec.Event
}

// TestAttackF7_AnotherAccountThroughALinkIsRefused: a connection authorized by alice; a link
// holder who signs in as mallory gets a page that says whose connection it is, and nothing
// stored changes (the token record's version, the account); a new-account link lets mallory
// in, and the event says the account changed because an operator asked; after a revoke
// removed the tokens, the account record still refuses the other account.
func TestAttackF7_AnotherAccountThroughALinkIsRefused(t *testing.T) {
	t.Parallel()
	h := newHostedBed(t, 0)
	ctx := context.Background()
	h.addWebhook(t, ctx)
	if resp, body := h.get(t, "/v1/callback/hosted?"+h.consentAs(t, ctx, "alice@example.com", connect.LinkOptions{}).Encode()); resp.StatusCode != http.StatusOK {
		t.Fatalf("alice's authorization: %d %s", resp.StatusCode, body)
	}
	first, err := h.env.Store.GetTokens(ctx, "hosted")
	if err != nil || first.Account == nil || first.Account.Subject != "alice@example.com" || first.Account.Issuer == "" {
		t.Fatalf("invariant «the first authorization records its account»: %+v %v", first.Account, err)
	}
	if ev := h.authorizedEvent(t, ctx, first); ev.AccountChanged || ev.NewAccountRequested || !strings.Contains(ev.Message, "alice@example.com") {
		t.Errorf("alice's event: %+v", ev)
	}

	resp, body := h.get(t, "/v1/callback/hosted?"+h.consentAs(t, ctx, "mallory@example.com", connect.LinkOptions{}).Encode())
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "alice@example.com") || !strings.Contains(body, "mallory@example.com") ||
		!strings.Contains(body, "new-account") || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("invariant «another account is refused with a page»: %d %s", resp.StatusCode, body)
	}
	if now, _ := h.env.Store.GetTokens(ctx, "hosted"); now.Version != first.Version || now.Account.Subject != "alice@example.com" {
		t.Fatalf("invariant «a refused account stores nothing»: version %d (was %d), account %+v", now.Version, first.Version, now.Account)
	}

	q := h.consentAs(t, ctx, "mallory@example.com", connect.LinkOptions{NewAccount: true})
	if resp, body := h.get(t, "/v1/callback/hosted?"+q.Encode()); resp.StatusCode != http.StatusOK {
		t.Fatalf("invariant «a new-account link may change the account»: %d %s", resp.StatusCode, body)
	}
	next, err := h.env.Store.GetTokens(ctx, "hosted")
	if err != nil || next.Account == nil || next.Account.Subject != "mallory@example.com" {
		t.Fatalf("the new account is not recorded: %+v %v", next, err)
	}
	if acct, err := h.env.Store.GetAccount(ctx, "hosted"); err != nil || acct.Account.Subject != "mallory@example.com" {
		t.Fatalf("the account record: %+v %v", acct, err)
	}
	if ev := h.authorizedEvent(t, ctx, next); !ev.AccountChanged || !ev.NewAccountRequested {
		t.Errorf("invariant «the event says the account changed, as asked»: %+v", ev)
	}

	// A revoke removes the token record; the account record stays and still decides: now
	// alice is the other account.
	if err := h.env.Store.DeleteTokens(ctx, "hosted"); err != nil {
		t.Fatal(err)
	}
	if resp, body := h.get(t, "/v1/callback/hosted?"+h.consentAs(t, ctx, "alice@example.com", connect.LinkOptions{}).Encode()); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("invariant «the account outlives a revoke»: %d %s", resp.StatusCode, body)
	}
	if _, err := h.env.Store.GetTokens(ctx, "hosted"); err == nil {
		t.Fatal("invariant «a refused account stores nothing»: a token record appeared after the revoke")
	}
}

// TestAttackF16_MixUpCallbackAtAnotherConnectionsPathIsRefused: the callback of a flow of
// connection "hosted" presented at /v1/callback/other (or at the shared /v1/callback) is
// refused with a page and stores nothing; a flow begun with the shared /v1/callback (before an
// upgrade) still completes there.
func TestAttackF16_MixUpCallbackAtAnotherConnectionsPathIsRefused(t *testing.T) {
	t.Parallel()
	h := newHostedBed(t, 0)
	ctx := context.Background()
	for _, path := range []string{"/v1/callback/other?", "/v1/callback?"} {
		q := h.consentAs(t, ctx, "alice@example.com", connect.LinkOptions{})
		if resp, body := h.get(t, path+q.Encode()); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "another connection") {
			t.Errorf("invariant «a callback at another redirect URI is refused» (%s): %d %s", path, resp.StatusCode, body)
		}
	}
	for _, name := range []string{"hosted", "other"} {
		if _, err := h.env.Store.GetTokens(ctx, name); err == nil {
			t.Errorf("invariant «a refused callback stores nothing»: %s has tokens", name)
		}
	}

	// A flow as the previous version began it: redirect URI {public-url}/v1/callback.
	a, err := authorize.Begin(ctx, h.env.Store, authorize.Request{Name: "hosted", RedirectURI: h.public + "/v1/callback"})
	if err != nil {
		t.Fatal(err)
	}
	pa, now := a.Request.Pending(), time.Now().UTC()
	if err := h.env.Store.PutPending(ctx, &authconn.PendingAuthorization{Connection: "hosted", State: pa.State, Nonce: pa.Nonce, Verifier: pa.Verifier,
		RedirectURL: pa.RedirectURL, Scopes: pa.Scopes, CreatedAt: now, ExpiresAt: now.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	q, err := tailortest.FollowToRedirect(ctx, a.Request.URL, h.public+"/v1/callback")
	if err != nil {
		t.Fatal(err)
	}
	if resp, body := h.get(t, "/v1/callback?"+q.Encode()); resp.StatusCode != http.StatusOK || !strings.Contains(body, "Connected") {
		t.Errorf("invariant «flows begun with /v1/callback still complete there»: %d %s", resp.StatusCode, body)
	}
}

// TestAttackF15_CraftedErrorDescriptionOnTheCallbackPage: a link holder crafts an error
// callback for their state; the page on tokend's origin shows the description only cut
// short and marked as the provider's, and not for access_denied, which tokend explains.
func TestAttackF15_CraftedErrorDescriptionOnTheCallbackPage(t *testing.T) {
	t.Parallel()
	h := newHostedBed(t, 0)
	ctx := context.Background()
	phish := "Your Microsoft 365 session expired. Call IT support at +1-555-0100 or visit https://evil.example/reset " + strings.Repeat("now ", 30) + "END"
	for _, c := range []struct{ code, want string }{{"invalid_request", "the provider said"}, {"access_denied", "consent was refused"}} {
		q := h.consentAs(t, ctx, "alice@example.com", connect.LinkOptions{})
		crafted := url.Values{"state": {q.Get("state")}, "error": {c.code}, "error_description": {phish}}
		resp, body := h.get(t, "/v1/callback/hosted?"+crafted.Encode())
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, c.want) || strings.Contains(body, "END") {
			t.Errorf("%s: %d %s", c.code, resp.StatusCode, body)
		}
		if c.code == "access_denied" && strings.Contains(body, "evil.example") {
			t.Errorf("access_denied: the provider's description is shown: %s", body)
		}
	}
}
