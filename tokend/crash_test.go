package main

import (
	"context"
	"encoding/json"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv/tailortest"
)

// TestCrashWindow kills a `tokend serve` process (SIGKILL) inside the crash window: Hydra
// has answered its refresh (so the stored refresh token is already rotated away) but the
// answer never reaches tokend and nothing is written to Vault. A second replica then takes
// the expired lease, sees the previous holder died in phase "refreshing", and retries with
// the stored (old) refresh token.
//
// Without a rotation grace period Hydra refuses that (reuse detection): the connection is
// marked needs_reauthorization; no broker can avoid that on its own. With Hydra's
// oauth2.grant.refresh_token.rotation_grace_period the retry succeeds and the connection
// survives the kill.
func TestCrashWindow(t *testing.T) {
	bin := buildTokend(t) // one build for both subtests
	for _, tc := range []struct {
		name        string
		grace       time.Duration
		wantSurvive bool
	}{
		{"no_grace_period", 0, false},
		{"grace_period_1m", time.Minute, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := tailortest.Start(t, testenv.HydraOptions{AccessTokenTTL: 4 * time.Second, RefreshTokenRotationGracePeriod: tc.grace})
			env.AddConnection(t, "crash-conn")
			first := env.Authorize(t, "crash-conn")

			answered := make(chan struct{})
			var once sync.Once
			env.Proxy.OnAnswer(func() { once.Do(func() { close(answered) }) })
			release := env.Proxy.Hold()
			defer release()
			bed := &tokendBed{bin: bin, environ: vaultEnv(env)}
			leaseFlags := []string{"--lease-ttl", "6s", "--lease-safety", "2s", "--insecure-no-auth"}
			victim := bed.serve(t, "victim", withFlags(leaseFlags...))
			if r, b := get(t, victim.URL+"/v1/connections/crash-conn/token", ""); r.StatusCode != 200 {
				t.Fatalf("victim: %d %s", r.StatusCode, b)
			}
			select {
			case <-answered: // Hydra rotated the refresh token; the answer is held in the proxy
			case <-time.After(20 * time.Second):
				t.Fatal("the victim never refreshed")
			}
			_ = syscall.Kill(-victim.cmd.Process.Pid, syscall.SIGKILL)
			_ = victim.cmd.Process.Kill()
			killedAt := time.Now()
			release() // the answer goes to a dead connection
			env.Proxy.OnAnswer(nil)

			ctx := context.Background()
			if cur, _ := env.Store.GetTokens(ctx, "crash-conn"); cur.Version != first.Version {
				t.Fatalf("the victim stored something (version %d -> %d): the kill came too late", first.Version, cur.Version)
			}
			l, _ := env.Store.GetLease(ctx, "crash-conn")
			t.Logf("lease left by the victim: holder %s, phase %q, token version %d, expires in %s", l.Holder, l.Phase, l.TokenVersion, time.Until(l.ExpiresAt).Round(time.Millisecond))

			survivor := bed.serve(t, "survivor", withFlags(leaseFlags...))
			deadline := time.Now().Add(30 * time.Second)
			var status int
			var body []byte
			for time.Now().Before(deadline) {
				r, b := get(t, survivor.URL+"/v1/connections/crash-conn/token", "")
				status, body = r.StatusCode, b
				if status == 200 || status == 409 {
					break
				}
				time.Sleep(200 * time.Millisecond)
			}
			t.Logf("after the kill (%s later): survivor answers %d %s", time.Since(killedAt).Round(time.Millisecond), status, body)
			final, _ := env.Store.GetTokens(ctx, "crash-conn")
			if tc.wantSurvive {
				var tok struct {
					AccessToken string `json:"access_token"`
				}
				_ = json.Unmarshal(body, &tok)
				if status != 200 || final.Status != authconn.StatusAuthorized {
					t.Fatalf("with a grace period the connection should survive: %d %s, status %s", status, body, final.Status)
				}
				if ir, _ := env.Introspect(tok.AccessToken); !ir.Active {
					t.Errorf("served token not active")
				}
				if ir, _ := env.Introspect(final.RefreshToken); !ir.Active {
					t.Errorf("stored refresh token not active")
				}
			} else {
				if status != 409 || final.Status != authconn.StatusNeedsReauthorization {
					t.Fatalf("without a grace period Hydra must refuse the reused token: %d %s, status %s", status, body, final.Status)
				}
			}
		})
	}
}
