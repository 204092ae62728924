package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/chromedp"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/authconnection/terraform-provider-tailor/internal/testenv"
)

// webhookReceiver is the demo's webhook receiver: it verifies every delivery with the
// Standard Webhooks library and keeps what it got.
type webhookReceiver struct {
	url string
	wh  *standardwebhooks.Webhook
	mu  sync.Mutex
	got []string // "type connection (verified)"
}

func (r *webhookReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	var p struct {
		Type string `json:"type"`
		Data struct {
			Connection string `json:"connection"`
		} `json:"data"`
	}
	_ = json.Unmarshal(body, &p)
	verified := "signature verified"
	if r.wh == nil || r.wh.Verify(body, req.Header) != nil {
		verified = "BAD SIGNATURE"
	}
	r.mu.Lock()
	r.got = append(r.got, fmt.Sprintf("%s %s (webhook-id %s, %s)", p.Type, p.Data.Connection, req.Header.Get("webhook-id"), verified))
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// wait returns the first delivery that contains want.
func (r *webhookReceiver) wait(want string, d time.Duration) (string, error) {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		r.mu.Lock()
		for _, g := range r.got {
			if strings.Contains(g, want) {
				r.mu.Unlock()
				return g, nil
			}
		}
		r.mu.Unlock()
	}
	return "", fmt.Errorf("no webhook %q within %s", want, d)
}

// webhooks starts the receiver and registers it with `tokend webhooks add`.
func (d *demo) webhooks(ctx context.Context) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	d.receiver = &webhookReceiver{url: "http://" + ln.Addr().String() + "/tailor"}
	srv := &http.Server{Handler: d.receiver, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	d.closers = append(d.closers, func() { _ = srv.Close() })
	out, err := d.tokendCmd(ctx, "webhooks", "add", d.receiver.url, "--events", "all", "--description", "demo receiver")
	if err != nil {
		return fmt.Errorf("webhooks add: %v %s", err, out)
	}
	if d.receiver.wh, err = standardwebhooks.NewWebhook(strings.TrimSpace(firstLine(string(out)))); err != nil {
		return err
	}
	info("webhook receiver at %s; its signing secret whsec_… was printed once and handed to it", d.receiver.url)
	return nil
}

// connectLink has "the company's admin" authorize partner-oauth through a connect link
// in headless Chromium (the operator never sees the consent), and shows the signed
// connection.authorized event.
func (d *demo) connectLink(ctx context.Context) error {
	out, err := d.tokendCmd(ctx, "authorize", "partner-oauth", "--link", "--expires", "1h", "--public-url", d.tokendURL)
	if err != nil {
		return fmt.Errorf("authorize --link: %v %s", err, out)
	}
	link := strings.TrimSpace(firstLine(string(out)))
	id := strings.SplitN(link[strings.Index(link, "#tl_")+4:], "_", 2)[0]
	info("tokend authorize partner-oauth --link -> %s/connect#tl_%s_… (single-use, 1 h; the token is in the fragment, so no server ever sees it in a URL)", d.tokendURL, id)
	b, err := testenv.NewBrowser(testenv.BrowserOptions{Dir: filepath.Join(d.tmp, "chromium-link")})
	if err != nil {
		return err
	}
	defer b.Close()
	vctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	_, text, err := b.VisitUntil(vctx, link, func(u *url.URL) bool { return u.Path == "/v1/callback/partner-oauth" })
	if err != nil || !strings.Contains(text, "Connected") {
		return fmt.Errorf("the connect link: %q %v", text, err)
	}
	info("Chromium opened it, signed in and consented at Hydra; tokend's page says: %q", firstLine(text))
	got, err := d.receiver.wait("connection.authorized partner-oauth", 20*time.Second)
	if err != nil {
		return err
	}
	info("webhook: %s", got)
	lines, _ := d.tokendCmd(ctx, "links", "list")
	info("tokend links list:\n%s", indent(string(lines), "      "))
	return nil
}

// statusPage signs in to /ui with an admin API key in Chromium and prints the table.
func (d *demo) statusPage(ctx context.Context) error {
	out, err := d.tokendCmd(ctx, "keys", "create", "--admin", "--description", "demo status page")
	if err != nil {
		return fmt.Errorf("keys create --admin: %v %s", err, out)
	}
	key := strings.TrimSpace(firstLine(string(out)))
	b, err := testenv.NewBrowser(testenv.BrowserOptions{Dir: filepath.Join(d.tmp, "chromium-ui")})
	if err != nil {
		return err
	}
	defer b.Close()
	tab, closeTab := b.NewTab()
	defer closeTab()
	rctx, cancel := context.WithCancel(tab)
	defer cancel()
	defer context.AfterFunc(ctx, cancel)()
	if err := chromedp.Do(rctx, chromedp.Navigate(d.tokendURL+"/ui"), chromedp.SendKeys(chromedp.ID("key"), key),
		chromedp.Click(chromedp.ID("signin")), chromedp.WaitVisible(chromedp.ID("connections"))); err != nil {
		return fmt.Errorf("signing in to the status page: %w", err)
	}
	table, err := chromedp.Run(rctx, chromedp.Text(chromedp.ID("connections")))
	if err != nil {
		return err
	}
	info("%s/ui after signing in with an admin API key (a session cookie: HttpOnly, SameSite=Strict, signed):\n%s", d.tokendURL, indent(table, "      "))
	return nil
}
