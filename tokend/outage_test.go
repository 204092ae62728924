package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
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
	outage := time.Duration(envInt(t, "TAILOR_OUTAGE_SECONDS", 12)) * time.Second
	v := testenv.StartVaultFileStorage(t, t.TempDir())
	long := tailortest.StartWithVault(t, v, testenv.HydraOptions{AccessTokenTTL: outage + time.Minute})
	short := tailortest.StartWithVault(t, v, testenv.HydraOptions{AccessTokenTTL: 6 * time.Second})
	long.AddConnection(t, "outage-steady")
	short.AddConnection(t, "outage-rotating")
	bin := buildTokend(t)
	key, stderr, err := runTokend(t, bin, long, "keys", "create", "--connections", "outage-*", "--description", "outage test")
	if err != nil {
		t.Fatalf("keys create: %v %s", err, stderr)
	}
	key = strings.TrimSpace(key)

	// Stop Vault inside the first refresh of outage-rotating, before its answer goes on.
	stoppedAt := make(chan time.Time, 1)
	var heldAnswer atomic.Value // tailortest.Answer
	var once sync.Once
	short.Proxy.OnRefresh(func(a tailortest.Answer) {
		if a.Status != 200 {
			return
		}
		once.Do(func() {
			heldAnswer.Store(a)
			v.Stop()
			stoppedAt <- time.Now()
		})
	})
	defer short.Proxy.OnRefresh(nil)

	steady0 := long.Authorize(t, "outage-steady")
	rot0 := short.Authorize(t, "outage-rotating")
	p := startServe(t, bin, long, "outage", "--key-cache-ttl", "2s", "--lease-ttl", "20s", "--lease-safety", "5s",
		"--backoff-base", "250ms", "--backoff-max", "2s")
	steadyURL := p.URL + "/v1/connections/outage-steady/token"
	rotURL := p.URL + "/v1/connections/outage-rotating/token"
	steadyTok := tokenWithKey(t, steadyURL, key, 200)
	if steadyTok != steady0.AccessToken {
		t.Fatalf("outage-steady: not the authorized token")
	}

	var began time.Time
	select {
	case began = <-stoppedAt:
	case <-time.After(60 * time.Second):
		t.Fatal("outage-rotating was never refreshed")
	}
	t.Logf("Vault stopped inside a refresh of outage-rotating; outage of %s", outage)

	// During the outage.
	var steadyOK, steadyBad, rotServed, rot503, rotOther int
	readyStatuses := map[int]int{}
	var readyMu sync.Mutex
	stopReady := make(chan struct{})
	readyDone := make(chan struct{})
	go func() {
		defer close(readyDone)
		for {
			select {
			case <-stopReady:
				return
			default:
			}
			resp, _, err := getAuth(p.URL+"/readyz", "")
			if err == nil && time.Since(began) < outage {
				readyMu.Lock()
				readyStatuses[resp.StatusCode]++
				readyMu.Unlock()
			}
			time.Sleep(200 * time.Millisecond)
		}
	}()
	for time.Since(began) < outage {
		resp, body, err := getAuth(steadyURL, "Bearer "+key)
		switch {
		case err == nil && resp.StatusCode == 200:
			var tk tokenBody
			_ = json.Unmarshal(body, &tk)
			if tk.AccessToken != steadyTok || !time.Now().Before(tk.ExpiresAt.Add(time.Second)) {
				t.Fatalf("outage-steady: a different or expired token during the outage")
			}
			steadyOK++
		default:
			steadyBad++
			if steadyBad == 1 {
				t.Errorf("outage-steady during the outage: %v %v %s", err, statusOf(resp), body)
			}
		}
		resp, body, err = getAuth(rotURL, "Bearer "+key)
		switch {
		case err == nil && resp.StatusCode == 200:
			rotServed++
			t.Errorf("outage-rotating: a token was served while its refreshed set waited for Vault: %s", body)
		case err == nil && resp.StatusCode == 503 && resp.Header.Get("Retry-After") != "":
			rot503++
		default:
			rotOther++
			if rotOther == 1 {
				t.Errorf("outage-rotating during the outage: %v %v %s", err, statusOf(resp), body)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	close(stopReady)
	<-readyDone
	if err := v.Start(); err != nil {
		t.Error(err)
	}
	restarted := time.Now()

	// After: ready again, the held refresh answer stored, refreshes going on.
	var readyAfter time.Duration
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if resp, _, err := getAuth(p.URL+"/readyz", ""); err == nil && resp.StatusCode == 200 {
			readyAfter = time.Since(restarted)
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("/readyz not ready 60 s after Vault came back")
		}
	}
	okBefore := short.Proxy.Statuses()[200]
	var rotBack time.Duration
	for deadline := time.Now().Add(60 * time.Second); short.Proxy.Statuses()[200] < okBefore+2; time.Sleep(100 * time.Millisecond) {
		if resp, _, err := getAuth(rotURL, "Bearer "+key); err == nil && resp.StatusCode == 200 && rotBack == 0 {
			rotBack = time.Since(restarted)
		}
		if time.Now().After(deadline) {
			t.Fatalf("refreshes of outage-rotating did not resume (%v)", short.Proxy.Statuses())
		}
	}
	readyMu.Lock()
	t.Logf("Vault down %s: outage-steady %d/%d calls answered 200 with the cached token; outage-rotating %d 503 (refreshed set pending), %d served; /readyz during the outage %v; ready %s after the restart; outage-rotating served again %s after it; %d refreshes since",
		outage, steadyOK, steadyOK+steadyBad, rot503, rotServed, readyStatuses, readyAfter.Round(time.Millisecond), rotBack.Round(time.Millisecond), short.Proxy.Statuses()[200]-okBefore)
	if readyStatuses[200] > 0 || readyStatuses[503] == 0 {
		t.Errorf("/readyz during the outage: %v; want only 503", readyStatuses)
	}
	readyMu.Unlock()
	if steadyOK == 0 || steadyBad > 0 {
		t.Errorf("outage-steady: %d of %d calls failed during the outage", steadyBad, steadyOK+steadyBad)
	}

	// Nothing lost.
	short.Proxy.OnRefresh(nil)
	ctx := context.Background()
	held := heldAnswer.Load().(tailortest.Answer)
	rot, err := short.Store.GetTokens(ctx, "outage-rotating")
	if err != nil {
		t.Fatal(err)
	}
	if pres := short.Proxy.Presentations(); pres[held.Returned] == 0 && tailortest.TokenHash(rot.RefreshToken) != held.Returned {
		t.Errorf("the refresh token Hydra issued during the outage was lost (never stored, never used)")
	}
	refreshes := short.Proxy.Statuses()[200]
	if rot.Version-rot0.Version < refreshes-1 || rot.Version-rot0.Version > refreshes {
		// The last answer may still be on its way to Vault.
		t.Errorf("outage-rotating went from version %d to %d for %d refreshes", rot0.Version, rot.Version, refreshes)
	}
	steady, err := long.Store.GetTokens(ctx, "outage-steady")
	if err != nil {
		t.Fatal(err)
	}
	if steady.Version-steady0.Version != long.Proxy.Statuses()[200] {
		t.Errorf("outage-steady went from version %d to %d for %d refreshes", steady0.Version, steady.Version, long.Proxy.Statuses()[200])
	}
	for _, c := range []struct {
		env *tailortest.Env
		ts  *store.TokenRecord
	}{{short, rot}, {long, steady}} {
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
