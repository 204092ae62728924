package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/testenv"
)

// hostedSecrets are the hosted features' own secrets, searched for like the tokens: the
// admin API key, the webhook's signing secret and a connect link. Each is printed once, by
// the command that makes it, and that output is the one place it may be.
type hostedSecrets struct {
	adminKey, webhookSecret, link string
	receiver                      *webhookRecorder
}

// webhookRecorder is a webhook receiver that keeps every delivery (headers and body) as an
// artifact.
type webhookRecorder struct {
	hb    *hygieneBed
	mu    sync.Mutex
	types []string
	srv   *httptest.Server
}

func newWebhookRecorder(t *testing.T, hb *hygieneBed) *webhookRecorder {
	w := &webhookRecorder{hb: hb}
	w.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.mu.Lock()
		n := len(w.types) + 1
		w.types = append(w.types, string(body))
		w.mu.Unlock()
		hb.arts.add(fmt.Sprintf("webhook delivery #%d", n), append([]byte(headerLines(r.Header)), body...))
		rw.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(w.srv.Close)
	return w
}

// waitFor waits until a delivery of event type typ arrived.
func (w *webhookRecorder) waitFor(t *testing.T, typ string) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		w.mu.Lock()
		for _, b := range w.types {
			if strings.Contains(b, `"type":"`+typ+`"`) {
				w.mu.Unlock()
				return
			}
		}
		w.mu.Unlock()
	}
	t.Fatalf("no %s webhook delivery within 20 s", typ)
}

// secretRun runs a tokend command that prints a secret once: its stdout is returned and not
// kept as an artifact (everything else it wrote is).
func (hb *hygieneBed) secretRun(t *testing.T, args ...string) string {
	t.Helper()
	out := hb.tokendRun(t, args...)
	hb.arts.mu.Lock()
	delete(hb.arts.items, fmt.Sprintf("tokend-%02d-%s.stdout", hb.step, args[0]))
	hb.arts.mu.Unlock()
	return out
}

// hosted sets up what `tokend serve --public-url` adds: a webhook to the recorder, an admin
// key, a connect link; then it visits the sign-in page, signs in, and keeps the status page
// and the link's landing page as artifacts.
func (hb *hygieneBed) hosted(t *testing.T) {
	hs := &hostedSecrets{receiver: newWebhookRecorder(t, hb)}
	hb.hostedSecrets = hs
	out := hb.secretRun(t, "webhooks", "add", hs.receiver.srv.URL+"/hook", "--events", "all")
	hs.webhookSecret = findWord(out, "whsec_")
	hs.adminKey = strings.TrimSpace(hb.secretRun(t, "keys", "create", "--admin", "--description", "hygiene admin"))
	out = hb.secretRun(t, "authorize", "hygiene-pending", "--link", "--public-url", hb.base)
	hs.link = findWord(out, "tl_")
	if hs.webhookSecret == "" || !strings.HasPrefix(hs.adminKey, "tk_") || hs.link == "" {
		t.Fatalf("the hosted secrets were not printed: webhook %v, admin key %v, link %v", hs.webhookSecret != "", hs.adminKey != "", hs.link != "")
	}
	hb.page(t, "GET /ui/login", http.MethodGet, "/ui/login", nil, nil)
	jar := hb.signIn(t, hs.adminKey)
	body := hb.page(t, "GET /ui (signed in)", http.MethodGet, "/ui", nil, jar)
	if !strings.Contains(body, "hygiene-pending") {
		t.Fatalf("the status page does not list the connections:\n%s", body)
	}
	hb.page(t, "GET /connect", http.MethodGet, "/connect", nil, nil)
}

// findWord returns the first whitespace-separated word of s that contains marker, up to its
// end (a URL's fragment included).
func findWord(s, marker string) string {
	for _, w := range strings.Fields(s) {
		if i := strings.Index(w, marker); i >= 0 {
			return w[i:]
		}
	}
	return ""
}

// signIn posts the admin key to the sign-in form and returns the session cookies.
func (hb *hygieneBed) signIn(t *testing.T, key string) []*http.Cookie {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, hb.base+"/ui/login", strings.NewReader(url.Values{"key": {key}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", hb.base)
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	hb.arts.add(fmt.Sprintf("POST /ui/login -> %d", resp.StatusCode), b)
	if len(resp.Cookies()) == 0 {
		t.Fatalf("sign-in with the admin key set no session cookie: %d %s", resp.StatusCode, b)
	}
	return resp.Cookies()
}

// page fetches path and keeps the answer (headers and body) as an artifact.
func (hb *hygieneBed) page(t *testing.T, name, method, path string, body io.Reader, cookies []*http.Cookie) string {
	t.Helper()
	req, _ := http.NewRequest(method, hb.base+path, body)
	for _, c := range cookies {
		req.AddCookie(c)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	hb.arts.add(fmt.Sprintf("%s -> %d", name, resp.StatusCode), append([]byte(headerLines(resp.Header)), b...))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %d %s", name, resp.StatusCode, b)
	}
	return string(b)
}

// hostedSecretList is what the search looks for besides the tokens and the client secret.
func (hs *hostedSecrets) list() []testenv.Secret {
	if hs == nil {
		return nil
	}
	_, linkSecret, _ := strings.Cut(strings.TrimPrefix(hs.link, "tl_"), "_")
	_, keySecret, _ := strings.Cut(strings.TrimPrefix(hs.adminKey, "tk_"), "_")
	return []testenv.Secret{{Kind: "admin API key", Value: hs.adminKey}, {Kind: "admin API key's secret part", Value: keySecret},
		{Kind: "webhook signing secret", Value: hs.webhookSecret}, {Kind: "webhook signing secret (base64 part)", Value: strings.TrimPrefix(hs.webhookSecret, "whsec_")},
		{Kind: "connect link token", Value: hs.link}, {Kind: "connect link's secret part", Value: linkSecret}}
}
