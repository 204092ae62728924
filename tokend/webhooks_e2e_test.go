package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/authconnection/terraform-provider-tailor/internal/testenv"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv/tailortest"
)

// received is one delivery as the receiver saw it.
type received struct {
	id, typ, connection, status, errorCode, userAgent string
	verified                                          bool
	answered                                          int
	body                                              string
}

// receiver is a webhook receiver that verifies every delivery with the Standard Webhooks
// library, and can be down (503) or hold its first delivery until released.
type receiver struct {
	srv *httptest.Server
	wh  *standardwebhooks.Webhook

	mu      sync.Mutex
	got     []received
	down    bool
	holdOne bool
	held    chan string // the User-Agent of the held delivery
	release chan struct{}
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{held: make(chan string, 1), release: make(chan struct{})}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	var p struct {
		Type string `json:"type"`
		Data struct {
			Connection, Status string
			ErrorCode          string `json:"error_code"`
		} `json:"data"`
	}
	_ = json.Unmarshal(body, &p)
	rec := received{id: req.Header.Get("webhook-id"), typ: p.Type, connection: p.Data.Connection, status: p.Data.Status,
		errorCode: p.Data.ErrorCode, userAgent: req.UserAgent(), body: string(body), verified: r.wh != nil && r.wh.Verify(body, req.Header) == nil}
	r.mu.Lock()
	hold, down := r.holdOne, r.down
	r.holdOne = false
	r.mu.Unlock()
	rec.answered = http.StatusOK
	if down {
		rec.answered = http.StatusServiceUnavailable
	}
	if hold {
		r.held <- rec.userAgent
		<-r.release // the delivering replica is killed meanwhile: its acknowledgement is lost
	}
	r.mu.Lock()
	r.got = append(r.got, rec)
	r.mu.Unlock()
	w.WriteHeader(rec.answered)
}

// of returns the deliveries of event type typ, and the distinct webhook-ids among them.
func (r *receiver) of(typ string) ([]received, map[string]int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []received
	ids := map[string]int{}
	for _, g := range r.got {
		if g.typ == typ {
			out = append(out, g)
			if g.answered == 200 {
				ids[g.id]++
			}
		}
	}
	return out, ids
}

// waitFor waits until the receiver acknowledged n distinct events of typ.
func (r *receiver) waitFor(t *testing.T, typ string, n int, d time.Duration) map[string]int {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if _, ids := r.of(typ); len(ids) >= n {
			return ids
		}
	}
	_, ids := r.of(typ)
	t.Fatalf("the receiver acknowledged %d %s events, want %d", len(ids), typ, n)
	return nil
}

// TestWebhooksAcrossReplicas: three tokend serve replicas, a webhook for every event. An
// invalid_grant at Hydra gives exactly one connection.needs_reauthorization event, signed
// (the receiver verifies it with the Standard Webhooks library); the replica delivering it
// is SIGKILLed mid-delivery and another delivers it again with the same webhook-id. Then,
// with the receiver down, the next one is retried and delivered once it is back.
func TestWebhooksAcrossReplicas(t *testing.T) {
	t.Parallel()
	env := tailortest.Start(t, testenv.HydraOptions{AccessTokenTTL: 4 * time.Second})
	env.AddConnection(t, "crm-oauth")
	env.Authorize(t, "crm-oauth")
	bed := newTokendBed(t, env)
	r := newReceiver(t)
	secret := strings.TrimSpace(bed.runIn(t, "", "webhooks", "add", r.srv.URL+"/hook", "--events", "all"))
	secret = secret[strings.Index(secret, "whsec_"):]
	secret = strings.Fields(secret)[0]
	var err error
	if r.wh, err = standardwebhooks.NewWebhook(secret); err != nil {
		t.Fatal(err)
	}
	procs := map[string]*tokendProc{}
	for i := range 3 {
		id := "wh-replica-" + strconv.Itoa(i)
		procs[id] = bed.serve(t, id, withFlags("--webhook-interval", "200ms", "--webhook-claim-ttl", "3s"))
	}
	checkKilledMidDelivery(t, env, r, procs)
	checkReceiverDown(t, env, r)
	checkWebhookBodies(t, env, r)
}

// checkKilledMidDelivery: the first needs_reauthorization delivery is held, its replica
// killed, and the event delivered again by another, with the same id.
func checkKilledMidDelivery(t *testing.T, env *tailortest.Env, r *receiver, procs map[string]*tokendProc) {
	r.mu.Lock()
	r.holdOne = true
	r.mu.Unlock()
	env.SpendRefreshToken(t, "crm-oauth") // the next refresh gets invalid_grant
	var ua string
	select {
	case ua = <-r.held:
	case <-time.After(60 * time.Second):
		t.Fatal("no needs_reauthorization delivery within 60 s")
	}
	killed := ""
	for id, p := range procs {
		if strings.Contains(ua, id) {
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			_ = p.cmd.Wait()
			killed = id
		}
	}
	close(r.release)
	if killed == "" {
		t.Fatalf("the held delivery came from %q, no replica of ours", ua)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if got, _ := r.of("connection.needs_reauthorization"); len(got) >= 2 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	got, ids := r.of("connection.needs_reauthorization")
	if len(ids) != 1 || len(got) != 2 || got[0].id != got[1].id || strings.Contains(got[1].userAgent, killed) {
		t.Fatalf("invariant «a delivery survives its replica's death, with the same webhook-id»: %d events, deliveries %+v (killed %s)", len(ids), got, killed)
	}
	t.Logf("needs_reauthorization delivered by %s after %s was killed mid-delivery", got[1].userAgent, killed)
}

// checkReceiverDown: with the receiver answering 503 for TAILOR_WEBHOOK_DOWN_SECONDS (10 in
// CI), the next needs_reauthorization is retried and delivered once it is up.
func checkReceiverDown(t *testing.T, env *tailortest.Env, r *receiver) {
	down := 10 * time.Second
	if s, err := strconv.Atoi(os.Getenv("TAILOR_WEBHOOK_DOWN_SECONDS")); err == nil {
		down = time.Duration(s) * time.Second
	}
	env.Authorize(t, "crm-oauth")
	r.waitFor(t, "connection.authorized", 1, 30*time.Second)
	r.mu.Lock()
	r.down = true
	r.mu.Unlock()
	wentDown := time.Now()
	env.SpendRefreshToken(t, "crm-oauth")
	// Down for at least `down`, and until it has refused an attempt: on a loaded machine the
	// event may come later than `down`, and a receiver up again by then proves nothing.
	for deadline := wentDown.Add(down + 2*time.Minute); time.Since(wentDown) < down || refusedAttempts(r) == 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the receiver was never asked while it was down: no needs_reauthorization delivery was attempted")
		}
	}
	r.mu.Lock()
	r.down = false
	r.mu.Unlock()
	up := time.Now()
	ids := r.waitFor(t, "connection.needs_reauthorization", 2, 2*time.Minute)
	refused := refusedAttempts(r)
	for id, n := range ids {
		if n > 2 {
			t.Errorf("invariant «each transition delivered once (a duplicate only after a lost acknowledgement)»: %s acknowledged %d times", id, n)
		}
	}
	t.Logf("receiver down %s: %d refused attempts, delivered %s after it came back", down, refused, time.Since(up).Round(100*time.Millisecond))
}

// refusedAttempts counts the needs_reauthorization deliveries r did not acknowledge.
func refusedAttempts(r *receiver) int {
	got, _ := r.of("connection.needs_reauthorization")
	n := 0
	for _, g := range got {
		if g.answered != 200 {
			n++
		}
	}
	return n
}

// checkWebhookBodies: every delivery was signed, names the connection and its status, and
// holds no token or secret.
func checkWebhookBodies(t *testing.T, env *tailortest.Env, r *receiver) {
	ts, _ := env.Store.GetTokens(t.Context(), "crm-oauth")
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, g := range r.got {
		if !g.verified || g.connection != "crm-oauth" || g.status == "" {
			t.Errorf("invariant «signed, and says which connection and status»: %+v", g)
		}
		if g.typ == "connection.needs_reauthorization" && g.errorCode != "invalid_grant" {
			t.Errorf("needs_reauthorization without the error code: %+v", g)
		}
		for _, sec := range []string{ts.AccessToken, ts.RefreshToken, env.ClientSecret} {
			if sec != "" && strings.Contains(g.body, sec) {
				t.Errorf("invariant «no token or secret in an event»: %s", g.typ)
			}
		}
	}
}
