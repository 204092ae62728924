package main

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv/tailortest"
)

// TestVaultOutage stops Vault (file storage, so the restart keeps the data) under a running
// `tokend serve` that callers reach with an API key, for TAILOR_OUTAGE_SECONDS (default
// 12; docs/reliability.md has the 60 s figures). Two connections on two Hydras:
//
//   - outage-steady: access tokens that outlive the outage (outage + 60 s). Every call
//     during the outage must get 200 with the cached token (100%), although the API key's
//     cache time (--key-cache-ttl 2s) runs out meanwhile.
//   - outage-rotating: 6 s tokens. Vault is stopped inside its first refresh, after Hydra
//     answered and before tokend could store the answer: the rotated refresh token exists
//     only in tokend's memory for the whole outage. It must not be lost: neither token is
//     served meanwhile (503 with Retry-After), and after the restart the pending write is
//     stored and refreshes go on.
//
// Asserted as well: /readyz answers 503 during the outage and 200 after; afterwards every
// refresh Hydra answered is one new version of the record (nothing lost, nothing written
// twice), no refresh token reached Hydra twice, the records are authorized and their
// refresh tokens active at Hydra.
func TestVaultOutage(t *testing.T) {
	o := newOutageBed(t, time.Duration(envInt(t, "TAILOR_OUTAGE_SECONDS", 12))*time.Second)
	began := o.awaitStopInsideRefresh(t)
	during := o.callThroughOutage(t, began)
	if err := o.vault.Start(); err != nil {
		t.Error(err)
	}
	after := o.awaitRecovery(t, time.Now())
	t.Logf("Vault down %s: outage-steady %d/%d calls answered 200 with the cached token; outage-rotating %d 503 (refreshed set pending), %d served; /readyz during the outage %v; ready %s after the restart; outage-rotating served again %s after it; %d refreshes since",
		o.outage, during.steadyOK, during.steadyOK+during.steadyBad, during.rot503, during.rotServed, during.ready,
		after.ready.Round(time.Millisecond), after.rotServed.Round(time.Millisecond), o.short.Proxy.Statuses()[200]-after.okBefore)
	checkReadyzRefusedDuringOutage(t, during)
	checkSteadyServedThroughOutage(t, during)
	o.short.Proxy.OnRefresh(nil)
	o.checkNothingLost(t)
}

// outageBed is TestVaultOutage's Vault (file storage), two Hydras, one `tokend serve` and
// the refresh answer that was held when Vault stopped.
type outageBed struct {
	outage            time.Duration
	vault             *testenv.Vault
	long, short       *tailortest.Env
	key               string
	proc              *tokendProc
	steadyURL, rotURL string
	steady0, rot0     *store.TokenRecord
	stoppedAt         chan time.Time
	heldAnswer        atomic.Value // tailortest.Answer
}

// newOutageBed starts everything, arms the stop of Vault inside the first refresh of
// outage-rotating, and checks that outage-steady serves the authorized token.
func newOutageBed(t *testing.T, outage time.Duration) *outageBed {
	o := &outageBed{outage: outage, vault: testenv.StartVaultFileStorage(t, t.TempDir()), stoppedAt: make(chan time.Time, 1)}
	o.long = tailortest.StartWithVault(t, o.vault, testenv.HydraOptions{AccessTokenTTL: outage + time.Minute})
	o.short = tailortest.StartWithVault(t, o.vault, testenv.HydraOptions{AccessTokenTTL: 6 * time.Second})
	o.long.AddConnection(t, "outage-steady")
	o.short.AddConnection(t, "outage-rotating")
	bed := newTokendBed(t, o.long)
	o.key = bed.createKey(t, "--connections", "outage-*", "--description", "outage test")

	// Stop Vault inside the first refresh of outage-rotating, before its answer goes on.
	var once sync.Once
	o.short.Proxy.OnRefresh(func(a tailortest.Answer) {
		if a.Status != 200 {
			return
		}
		once.Do(func() {
			o.heldAnswer.Store(a)
			o.vault.Stop()
			o.stoppedAt <- time.Now()
		})
	})
	t.Cleanup(func() { o.short.Proxy.OnRefresh(nil) })

	o.steady0 = o.long.Authorize(t, "outage-steady")
	o.rot0 = o.short.Authorize(t, "outage-rotating")
	o.proc = bed.serve(t, "outage", withFlags("--key-cache-ttl", "2s", "--lease-ttl", "20s", "--lease-safety", "5s",
		"--backoff-base", "250ms", "--backoff-max", "2s"))
	o.steadyURL = o.proc.URL + "/v1/connections/outage-steady/token"
	o.rotURL = o.proc.URL + "/v1/connections/outage-rotating/token"
	if tokenWithKey(t, o.steadyURL, o.key, 200) != o.steady0.AccessToken {
		t.Fatalf("outage-steady: not the authorized token")
	}
	return o
}

// awaitStopInsideRefresh returns when Vault was stopped inside a refresh of
// outage-rotating.
func (o *outageBed) awaitStopInsideRefresh(t *testing.T) time.Time {
	t.Helper()
	select {
	case began := <-o.stoppedAt:
		t.Logf("Vault stopped inside a refresh of outage-rotating; outage of %s", o.outage)
		return began
	case <-time.After(60 * time.Second):
		t.Fatal("outage-rotating was never refreshed")
		return time.Time{}
	}
}

// outageCalls counts the answers during the outage: of outage-steady, of outage-rotating,
// and of /readyz by status.
type outageCalls struct {
	steadyOK, steadyBad, rotServed, rot503, rotOther int
	ready                                            map[int]int
}

// callThroughOutage calls both connections (and, alongside, /readyz) until the outage
// ends. outage-steady must answer its cached, unexpired token; outage-rotating must answer
// 503 with Retry-After, never a token, while its refreshed set waits for Vault.
func (o *outageBed) callThroughOutage(t *testing.T, began time.Time) outageCalls {
	t.Helper()
	c := outageCalls{}
	ready := o.pollReadyz(began)
	for time.Since(began) < o.outage {
		o.callSteady(t, &c)
		resp, body, err := getAuth(o.rotURL, "Bearer "+o.key)
		switch {
		case err == nil && resp.StatusCode == 200:
			c.rotServed++
			t.Errorf("outage-rotating: a token was served while its refreshed set waited for Vault: %s", body)
		case err == nil && resp.StatusCode == 503 && resp.Header.Get("Retry-After") != "":
			c.rot503++
		default:
			c.rotOther++
			if c.rotOther == 1 {
				t.Errorf("outage-rotating during the outage: %v %v %s", err, statusOf(resp), body)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.ready = ready()
	return c
}

// callSteady calls outage-steady once during the outage and counts the answer.
func (o *outageBed) callSteady(t *testing.T, c *outageCalls) {
	t.Helper()
	resp, body, err := getAuth(o.steadyURL, "Bearer "+o.key)
	if err != nil || resp.StatusCode != 200 {
		c.steadyBad++
		if c.steadyBad == 1 {
			t.Errorf("outage-steady during the outage: %v %v %s", err, statusOf(resp), body)
		}
		return
	}
	var tk tokenBody
	_ = json.Unmarshal(body, &tk)
	if tk.AccessToken != o.steady0.AccessToken || !time.Now().Before(tk.ExpiresAt.Add(time.Second)) {
		t.Fatalf("outage-steady: a different or expired token during the outage")
	}
	c.steadyOK++
}

// pollReadyz counts /readyz's statuses during the outage in a goroutine; the returned
// function stops it and returns the counts.
func (o *outageBed) pollReadyz(began time.Time) func() map[int]int {
	statuses := map[int]int{}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			resp, _, err := getAuth(o.proc.URL+"/readyz", "")
			if err == nil && time.Since(began) < o.outage {
				statuses[resp.StatusCode]++
			}
			time.Sleep(200 * time.Millisecond)
		}
	}()
	return func() map[int]int { close(stop); <-done; return statuses }
}

// recovery is how long after Vault's restart tokend was ready again and served
// outage-rotating again, and the count of refreshes Hydra had answered when it was ready.
type recovery struct {
	ready, rotServed time.Duration
	okBefore         int
}

// awaitRecovery waits (60 s at most for each) until /readyz answers 200 and Hydra answered
// two more refreshes of outage-rotating.
func (o *outageBed) awaitRecovery(t *testing.T, restarted time.Time) recovery {
	t.Helper()
	var r recovery
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if resp, _, err := getAuth(o.proc.URL+"/readyz", ""); err == nil && resp.StatusCode == 200 {
			r.ready = time.Since(restarted)
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("/readyz not ready 60 s after Vault came back")
		}
	}
	r.okBefore = o.short.Proxy.Statuses()[200]
	for deadline := time.Now().Add(60 * time.Second); o.short.Proxy.Statuses()[200] < r.okBefore+2; time.Sleep(100 * time.Millisecond) {
		if resp, _, err := getAuth(o.rotURL, "Bearer "+o.key); err == nil && resp.StatusCode == 200 && r.rotServed == 0 {
			r.rotServed = time.Since(restarted)
		}
		if time.Now().After(deadline) {
			t.Fatalf("refreshes of outage-rotating did not resume (%v)", o.short.Proxy.Statuses())
		}
	}
	return r
}

// checkReadyzRefusedDuringOutage: /readyz answered only 503 while Vault was down.
func checkReadyzRefusedDuringOutage(t *testing.T, c outageCalls) {
	t.Helper()
	if c.ready[200] > 0 || c.ready[503] == 0 {
		t.Errorf("/readyz during the outage: %v; want only 503", c.ready)
	}
}

// checkSteadyServedThroughOutage: every call of outage-steady during the outage got 200.
func checkSteadyServedThroughOutage(t *testing.T, c outageCalls) {
	t.Helper()
	if c.steadyOK == 0 || c.steadyBad > 0 {
		t.Errorf("outage-steady: %d of %d calls failed during the outage", c.steadyBad, c.steadyOK+c.steadyBad)
	}
}

// checkNothingLost: the refresh token Hydra issued during the outage was stored or used,
// each refresh is one new record version, both records are authorized with a refresh token
// active at Hydra, and no refresh token reached Hydra twice.
func (o *outageBed) checkNothingLost(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	held := o.heldAnswer.Load().(tailortest.Answer)
	rot, err := o.short.Store.GetTokens(ctx, "outage-rotating")
	if err != nil {
		t.Fatal(err)
	}
	if pres := o.short.Proxy.Presentations(); pres[held.Returned] == 0 && tailortest.TokenHash(rot.RefreshToken) != held.Returned {
		t.Errorf("the refresh token Hydra issued during the outage was lost (never stored, never used)")
	}
	refreshes := o.short.Proxy.Statuses()[200]
	if rot.Version-o.rot0.Version < refreshes-1 || rot.Version-o.rot0.Version > refreshes {
		// The last answer may still be on its way to Vault.
		t.Errorf("outage-rotating went from version %d to %d for %d refreshes", o.rot0.Version, rot.Version, refreshes)
	}
	steady, err := o.long.Store.GetTokens(ctx, "outage-steady")
	if err != nil {
		t.Fatal(err)
	}
	if steady.Version-o.steady0.Version != o.long.Proxy.Statuses()[200] {
		t.Errorf("outage-steady went from version %d to %d for %d refreshes", o.steady0.Version, steady.Version, o.long.Proxy.Statuses()[200])
	}
	for _, c := range []struct {
		env *tailortest.Env
		ts  *store.TokenRecord
	}{{o.short, rot}, {o.long, steady}} {
		if c.ts.Status != authconn.StatusAuthorized {
			t.Errorf("status %s after the outage", c.ts.Status)
		}
		if ir, err := c.env.Introspect(c.ts.RefreshToken); err != nil || !ir.Active {
			t.Errorf("a stored refresh token is not active at Hydra after the outage (%v)", err)
		}
		if n := c.env.Proxy.Reused(); n > 0 {
			t.Errorf("%d refresh tokens reached Hydra twice", n)
		}
	}
}

func tokenWithKey(t *testing.T, url, key string, want int) string {
	t.Helper()
	resp, body, err := getAuth(url, "Bearer "+key)
	if err != nil || resp.StatusCode != want {
		t.Fatalf("GET %s: %v %v %s", url, err, statusOf(resp), body)
	}
	var tk tokenBody
	_ = json.Unmarshal(body, &tk)
	return tk.AccessToken
}

func statusOf(resp *http.Response) int {
	if resp == nil {
		return 0
	}
	return resp.StatusCode
}
