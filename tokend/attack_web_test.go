package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/authconnection/terraform-provider-tailor/internal/apikey"
	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
)

// controlFree reports whether s has no control character other than newlines (which end
// the table's lines), and no invisible format character.
func controlFree(s string) bool {
	for _, r := range s {
		if r != '\n' && authconn.Sanitize(string(r), 0) != string(r) {
			return false
		}
	}
	return true
}

// TestAttackF12_ListsPrintNoTerminalEscapes (security review, finding 12): descriptions with
// ESC and BEL (a terminal escape that clears the screen, an OSC that sets the window title)
// are refused by `tokend authorize --link`, `webhooks add` and `keys create`; records that
// hold them anyway (written by an older version, or straight into Vault) are printed by
// `links list`, `webhooks list` and `keys list` without control characters: neither
// `^[[2Jx` nor `^[]0;pwned^Gdesc` reaches the operator's terminal.
func TestAttackF12_ListsPrintNoTerminalEscapes(t *testing.T) {
	st := cliVault(t)
	ctx := context.Background()
	const clear, title = "\x1b[2Jx", "\x1b]0;pwned\x07desc"
	for _, args := range [][]string{
		{"authorize", "google-oauth", "--link", "--public-url", "https://tokend.example.com", "--description", clear},
		{"webhooks", "add", "https://h.example/x", "--events", "connection.revoked", "--description", title},
		{"keys", "create", "--connections", "google-*", "--description", title},
	} {
		r := cliRun(t, "", args...)
		if r.err == nil || !strings.Contains(r.err.Error(), "--description") || !strings.Contains(r.err.Error(), "U+001B") {
			t.Errorf("invariant «a description with ESC is refused, naming the flag»: tokend %s: %v", strings.Join(args[:2], " "), r.err)
		}
	}
	if recs, err := st.Records(ctx); err != nil || len(recs) != 0 {
		t.Fatalf("invariant «a refused command stores nothing»: %v %v", recs, err)
	}

	k, _ := apikey.GenerateLink()
	now := time.Now().UTC()
	if err := st.CreateLink(ctx, &authconn.ConnectLink{ID: k.ID, Hash: k.Hash, Connection: "google-oauth", Description: clear, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	wk, _ := apikey.Generate()
	if err := st.CreateWebhook(ctx, &store.Webhook{ID: "wh_" + wk.ID, URL: "https://h.example/x", Events: []authconn.EventType{authconn.EventRevoked},
		Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", Description: title, CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	ak, _ := apikey.Generate()
	if err := st.CreateAPIKey(ctx, &store.APIKey{ID: ak.ID, Hash: ak.Hash, Connections: []string{"google-*"}, Description: title}); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"links", "list"}, {"webhooks", "list"}, {"keys", "list"}} {
		r := cliRun(t, "", args...)
		out := r.stdout.String()
		if r.err != nil || !strings.Contains(out, "x") && !strings.Contains(out, "desc") {
			t.Fatalf("control: tokend %s lists the record: %v\n%s", strings.Join(args, " "), r.err, out)
		}
		if !controlFree(out) {
			t.Errorf("invariant «lists print no control characters»: tokend %s printed %q", strings.Join(args, " "), out)
		}
	}
}

// TestAttackF13_BadInputIsRefusedAndNothingIsStored (finding 13): a secret file that is not
// UTF-8 (and holds NUL), scopes with SOH or invalid UTF-8, a client id with a newline and an
// escape sequence are refused with a message naming the field; nothing is stored. On the old
// code each create succeeded, the secret stored as \ufffd\ufffd\u0000secret.
func TestAttackF13_BadInputIsRefusedAndNothingIsStored(t *testing.T) {
	st := cliVault(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin_sec")
	if err := os.WriteFile(bin, []byte("\xff\xfe\x00secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "good_sec")
	if err := os.WriteFile(good, []byte("good-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := []string{"create", "--provider-url", "https://idp.example.com", "--auth-url", "https://idp.example.com/a", "--token-url", "https://idp.example.com/t"}
	for _, tc := range []struct {
		name  string
		extra []string
		stdin string
		want  []string
	}{
		{"bad9", []string{"--client-id", "x", "--client-secret-file", bin}, "", []string{"client secret", "not valid UTF-8", bin}},
		{"bad8", []string{"--client-id", "x", "--client-secret-stdin"}, "abc\x00def\n", []string{"client secret", "U+0000"}},
		{"bad7", []string{"--client-id", "x", "--client-secret-file", good, "--scopes", "a\x01b,c\xff"}, "", []string{"invalid scope", `"a\x01b"`, "U+0001", "not valid UTF-8"}},
		{"bad6", []string{"--client-id", "x", "--client-secret-file", good, "--scopes", "read\x1b[31m"}, "", []string{"invalid scope", "U+001B"}},
		{"bad5", []string{"--client-id", "x\n\x1b[31mred", "--client-secret-file", good}, "", []string{"client_id", "U+000A"}},
		{"bad4", []string{"--client-id", strings.Repeat("i", 1025), "--client-secret-file", good}, "", []string{"client_id", "limit is 1024"}},
	} {
		args := append(append(append([]string{}, base...), "--name", tc.name), tc.extra...)
		r := cliRun(t, tc.stdin, args...)
		if r.err == nil {
			t.Errorf("%s: accepted", tc.name)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(r.err.Error(), w) {
				t.Errorf("%s: %q does not contain %q", tc.name, r.err, w)
			}
		}
		if strings.Contains(r.err.Error(), "secret\x00") || strings.Contains(r.err.Error(), "good-secret") || strings.Contains(r.err.Error(), "def") {
			t.Errorf("%s: the message holds the secret", tc.name)
		}
	}
	if recs, err := st.Records(context.Background()); err != nil || len(recs) != 0 {
		t.Errorf("invariant «refused input stores nothing»: %v %v", recs, err)
	}
}

// TestAttackF16_HeadersAuthorizeNowInChromium (finding 16): with form-action in every page's
// content security policy, the status page's "Authorize now" (a form answered with a
// redirect to the provider, which Chromium checks against form-action too) still takes the
// administrator through Hydra's consent to the callback over HTTPS; the session cookie is
// out of scripts' reach (HttpOnly; its __Host- name and attributes are checked in
// internal/console).
func TestAttackF16_HeadersAuthorizeNowInChromium(t *testing.T) {
	t.Parallel()
	s := newStatusBed(t)
	tab, cancel := s.browser.NewTab()
	defer cancel()
	ctx, stop := context.WithTimeout(tab, 2*time.Minute)
	defer stop()
	s.signIn(t, ctx)
	cookies, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.cookie`))
	if err != nil || cookies != "" {
		t.Errorf("invariant «the session cookie is HttpOnly»: document.cookie %q %v", cookies, err)
	}
	err = chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#conn-ms365-oauth .reconnect")), chromedp.WaitVisible(chromedp.ID("authorize-now")),
		chromedp.Click(chromedp.ID("authorize-now")), chromedp.WaitVisible(chromedp.ID("result")))
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	text, _ := chromedp.Run(ctx, chromedp.Text(chromedp.ID("result")))
	if err != nil || !strings.HasPrefix(loc, s.public+"/v1/callback") || !strings.Contains(text, "Connected") {
		body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
		t.Fatalf("invariant «Authorize now reaches the provider and back despite form-action»: at %s, %q (%v); the page says %q", loc, text, err, body)
	}
	s.waitStatus(t, authconn.StatusAuthorized)
}
