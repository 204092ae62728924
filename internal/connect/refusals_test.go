package connect_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/testenv/tailortest"
)

// TestLinksThatCannotBeUsedGetAPage: an expired, a revoked, a tampered and an unknown link,
// and one that is not a link at all, each get an HTML page that says so, and no flow
// begins.
func TestLinksThatCannotBeUsedGetAPage(t *testing.T) {
	t.Parallel()
	h := newHostedBed(t, 0)
	ctx := context.Background()
	expired, l, _ := h.a.CreateLink(ctx, "hosted", nil, time.Hour, "")
	stored, v, _ := h.env.Store.GetLink(ctx, l.ID)
	stored.ExpiresAt = time.Now().Add(-time.Minute)
	if err := h.env.Store.UpdateLink(ctx, stored, v); err != nil {
		t.Fatal(err)
	}
	revoked, l2, _ := h.a.CreateLink(ctx, "hosted", nil, time.Hour, "")
	if err := h.a.RevokeLink(ctx, l2.ID); err != nil {
		t.Fatal(err)
	}
	good, _, _ := h.a.CreateLink(ctx, "hosted", nil, time.Hour, "")
	tampered := token(t, good)
	tampered = tampered[:len(tampered)-4] + "AAAA"
	unknown := "tl_abcdefghijkl_" + strings.Repeat("A", 43)
	for _, c := range []struct {
		name, token string
		status      int
		says        string
	}{
		{"expired", token(t, expired), http.StatusGone, "has expired"},
		{"revoked", token(t, revoked), http.StatusGone, "was revoked"},
		{"tampered", tampered, http.StatusNotFound, "not valid"},
		{"unknown", unknown, http.StatusNotFound, "not valid"},
		{"not a link", "hello", http.StatusNotFound, "not valid"},
	} {
		resp, body := h.post(t, c.token)
		if resp.StatusCode != c.status || !strings.Contains(body, c.says) || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Errorf("%s link: %d %s, want %d and a page saying %q", c.name, resp.StatusCode, body, c.status, c.says)
		}
	}
	if n, _ := h.env.Store.SweepPending(ctx, time.Now().Add(time.Hour)); n != 0 {
		t.Errorf("invariant «a refused link begins no flow»: %d pending authorizations", n)
	}
	if resp, _ := h.post(t, token(t, good)); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("the good link next to them: %d", resp.StatusCode)
	}
}

// TestHostedCallbackIsSingleUseAndExpires: a callback replayed after it completed, a
// callback for a state nobody began, and one that comes after the flow expired each get a
// page, and store nothing.
func TestHostedCallbackIsSingleUseAndExpires(t *testing.T) {
	t.Parallel()
	const pendingTTL = 2 * time.Second
	h := newHostedBed(t, pendingTTL)
	ctx := context.Background()
	q := h.consent(t, ctx)
	if resp, body := h.get(t, "/v1/callback/hosted?"+q.Encode()); resp.StatusCode != 200 || !strings.Contains(body, "Connected") {
		t.Fatalf("the callback: %d %s", resp.StatusCode, body)
	}
	first, _ := h.env.Store.GetTokens(ctx, "hosted")
	if resp, body := h.get(t, "/v1/callback/hosted?"+q.Encode()); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "not completed") {
		t.Errorf("invariant «a callback completes once»: replay got %d %s", resp.StatusCode, body)
	}
	forged := url.Values{"code": {"x"}, "state": {"made-up"}}
	if resp, body := h.get(t, "/v1/callback/hosted?"+forged.Encode()); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "unknown") {
		t.Errorf("a made-up state: %d %s", resp.StatusCode, body)
	}
	late := h.consent(t, ctx)
	expired := time.Now().Add(pendingTTL) // the flow began before consent returned
	for !time.Now().After(expired) {
		time.Sleep(time.Until(expired) + time.Millisecond)
	}
	if resp, body := h.get(t, "/v1/callback/hosted?"+late.Encode()); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "expired") {
		t.Errorf("invariant «a flow expires»: %d %s", resp.StatusCode, body)
	}
	if now, _ := h.env.Store.GetTokens(ctx, "hosted"); now.Version != first.Version {
		t.Errorf("invariant «a refused callback stores nothing»: version %d, want %d", now.Version, first.Version)
	}
}

// consent opens a new link, follows Hydra's login and consent with an HTTP client and
// returns the callback's query, without calling it.
func (h *hostedBed) consent(t *testing.T, ctx context.Context) url.Values {
	t.Helper()
	link, _, err := h.a.CreateLink(ctx, "hosted", nil, time.Hour, "")
	if err != nil {
		t.Fatal(err)
	}
	return h.openLink(t, ctx, link)
}

// openLink opens link as its holder's browser would, follows Hydra's login and consent, and
// returns the callback's query without calling it.
func (h *hostedBed) openLink(t *testing.T, ctx context.Context, link string) url.Values {
	t.Helper()
	resp, body := h.post(t, token(t, link))
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("opening the link: %d %s", resp.StatusCode, body)
	}
	q, err := tailortest.FollowToRedirect(ctx, resp.Header.Get("Location"), h.public+"/v1/callback/")
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func (h *hostedBed) get(t *testing.T, path string) (*http.Response, string) {
	t.Helper()
	resp, err := h.client.Get(h.public + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}
