package console

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/connect"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv"
)

// TestReconnectWithADifferentAccountMakesANewAccountLink: Reconnect makes a link that keeps
// the connection's account; with "a different account" ticked, a new-account link (stored so
// on the link record), and its page says so and passes the choice to Authorize now.
func TestReconnectWithADifferentAccountMakesANewAccountLink(t *testing.T) {
	v := testenv.StartVault(t)
	st, err := store.New(v.Client(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	conn := &authconn.Connection{Name: "google-oauth", Type: authconn.TypeOAuth2, ProviderURL: "https://accounts.google.com", ClientID: "client"}
	if _, err := st.CreateConnection(ctx, conn); err != nil {
		t.Fatal(err)
	}
	b := newPageBed(t)
	cs, err := connect.New(connect.Options{Store: st, PublicURL: "https://tokend.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	b.c.o.Connect = cs
	c := b.signIn(t)
	ss, err := b.c.sessions.check(&http.Request{Header: http.Header{"Cookie": {c.String()}}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	csrf := b.c.sessions.csrf(ss)
	reconnect := func(form url.Values) string {
		form.Set("csrf", csrf)
		req, _ := http.NewRequest(http.MethodPost, b.srv.URL+"/ui/connections/google-oauth/reconnect", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(c)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("reconnect: %d %s", resp.StatusCode, body)
		}
		return string(body)
	}
	plain := reconnect(url.Values{})
	asked := reconnect(url.Values{"new_account": {"1"}})
	if strings.Contains(plain, `id="new-account"`) || !strings.Contains(plain, "another account is refused") {
		t.Errorf("a plain Reconnect's page: %s", plain)
	}
	if !strings.Contains(asked, `id="new-account"`) || !strings.Contains(asked, `name="new_account" value="1"`) {
		t.Errorf("a new-account Reconnect's page: %s", asked)
	}
	links, err := cs.Links(ctx)
	if err != nil || len(links) != 2 {
		t.Fatalf("links: %v %v", links, err)
	}
	var n int
	for _, l := range links {
		if l.NewAccount {
			n++
		}
	}
	if n != 1 {
		t.Errorf("invariant «only the ticked Reconnect makes a new-account link»: %d of 2", n)
	}
}
