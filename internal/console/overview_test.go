package console

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/connection"
)

// TestStatusPageShowsSecretExpiryAndMetadata: the page shows the catalog entry, when the
// client secret expires, and the connection's metadata and API base URL, with every value
// escaped (metadata comes from the provider's answers).
func TestStatusPageShowsSecretExpiryAndMetadata(t *testing.T) {
	b := newPageBed(t)
	soon, gone := time.Now().Add(5*24*time.Hour).UTC(), time.Now().Add(-time.Hour).UTC()
	b.sums = []connection.Summary{
		{Name: "quickbooks-oauth", Provider: "quickbooks", Status: "authorized", Grant: "authorization_code",
			ClientSecretExpiresAt: &soon, ClientSecretExpiry: "expires in 5 days",
			Metadata:   map[string]string{"realmId": "9130357", "company": `<script>alert(1)</script>`},
			APIBaseURL: `https://quickbooks.api.intuit.com/"><img src=x onerror=alert(2)>`},
		{Name: "ms365-oauth", Provider: "microsoft", Status: "authorized", Grant: "client_credentials",
			ClientSecretExpiresAt: &gone, ClientSecretExpiry: "expired"},
		{Name: "google-oauth", Provider: "google", Status: "not_authorized", Grant: "authorization_code"},
	}
	req, _ := http.NewRequest(http.MethodGet, b.srv.URL+"/ui", nil)
	req.AddCookie(b.signIn(t))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	page := string(body)
	for _, want := range []string{
		"<th>Client secret</th><th>Metadata</th>",
		`<td class="secret-expiry warn">expires in 5 days<br><small>` + soon.Format("2006-01-02 15:04:05") + `</small></td>`,
		`<td class="secret-expiry fail">expired<br>`,
		`<span class="mono">realmId</span>: <span class="mono">9130357</span>`,
		`&lt;script&gt;alert(1)&lt;/script&gt;`,
		`https://quickbooks.api.intuit.com/&#34;&gt;&lt;img src=x onerror=alert(2)&gt;`,
		`<td>quickbooks</td>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	if strings.Contains(page, "<script>alert") || strings.Contains(page, "<img src=x") {
		t.Error("invariant «every value on the page is escaped»")
	}
	if i := strings.Index(page, `id="conn-google-oauth"`); i < 0 || !strings.Contains(page[i:], `<td class="secret-expiry">-</td>`) {
		t.Error("a connection without an expiry date shows -")
	}
}
