package console

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// statusPage returns the status page of a signed-in administrator of b.
func (b *pageBed) statusPage(t *testing.T) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.srv.URL+"/ui", nil)
	req.AddCookie(b.signIn(t))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestStatusPageListsKeyPermissions: the status page lists every API key with its
// permissions per pattern (read-only), escaped, and says so when Vault cannot list them.
func TestStatusPageListsKeyPermissions(t *testing.T) {
	b := newPageBed(t)
	if _, page := b.statusPage(t); strings.Contains(page, `id="keys"`) {
		t.Error("control: a page without Options.Keys lists keys")
	}
	created := time.Date(2026, 4, 1, 9, 30, 0, 0, time.UTC)
	var keysErr error
	b.c.o.Keys = func(context.Context) ([]KeySummary, error) {
		return []KeySummary{
			{ID: "proxyonly123", Grants: []string{"quickbooks-*=proxy"}, Description: `<b>functions</b>`, CreatedAt: created},
			{ID: "oldkey456789", Grants: []string{"google-*=token"}, CreatedAt: created},
			{ID: "adminkey7890", Admin: true, CreatedAt: created},
		}, keysErr
	}
	status, page := b.statusPage(t)
	if status != http.StatusOK {
		t.Fatalf("status page: %d", status)
	}
	for _, want := range []string{
		`<tr id="key-proxyonly123"><td class="mono">proxyonly123</td><td class="grants"><span class="mono">quickbooks-*=proxy</span><br></td><td>-</td><td class="nowrap">2026-04-01 09:30</td><td>&lt;b&gt;functions&lt;/b&gt;</td></tr>`,
		`<span class="mono">google-*=token</span>`,
		`<tr id="key-adminkey7890"><td class="mono">adminkey7890</td><td class="grants">-</td><td>admin</td>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	if strings.Contains(page, "<b>functions") {
		t.Error("a key's description is not escaped")
	}
	keysErr = errors.New("vault unreachable")
	status, page = b.statusPage(t)
	if status != http.StatusOK || !strings.Contains(page, `id="keys-error"`) || strings.Contains(page, "vault unreachable") {
		t.Errorf("keys unreadable: %d, want the connections with a notice about keys and no Vault error text", status)
	}
}
