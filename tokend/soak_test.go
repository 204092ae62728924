package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/testenv"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv/tailortest"
)

// TestCrashSoak runs three real `tokend serve` processes on one Vault against Hydra with
// 3-second access tokens and five connections, with callers hitting every replica
// continuously, while a killer SIGKILLs a random replica at random moments and restarts it
// (one replica down at a time; the other two keep running). It runs until Hydra has
// answered TAILOR_SOAK_CYCLES refreshes (default 40; docs/reliability.md has the 500-cycle
// figures).
//
// grace_period: Hydra keeps a used refresh token valid for one minute
// (oauth2.grant.refresh_token.rotation_grace_period). Besides the random kills, 15% of the
// refresh answers are held in the proxy while the replica holding the connection's lease is
// killed: a kill inside the crash window, every time. Every invariant below holds, and no
// connection needs re-authorization.
//
// no_grace_period: the same with random kills only, against Hydra without a grace period:
// a kill that lands between a refresh request and its Vault write loses the only valid
// refresh token, and the connection needs re-authorization (the window no broker closes
// alone). The test re-authorizes such connections, as an operator would, and checks the
// accounting: every death had a lost refresh answer, which a kill of the lease holder
// explains. The figures (kills, kills inside the window, deaths) are logged.
func TestCrashSoak(t *testing.T) {
	cycles := envInt(t, "TAILOR_SOAK_CYCLES", 40)
	bin := buildTokend(t)
	t.Run("grace_period", func(t *testing.T) { runSoak(t, bin, cycles, time.Minute, 0.15) })
	t.Run("no_grace_period", func(t *testing.T) { runSoak(t, bin, cycles, 0, 0) })
}

// runSoak is one soak: set up, run until cycles refreshes, stop, then check each invariant.
func runSoak(t *testing.T, bin string, cycles int, grace time.Duration, targetP float64) {
	s := newSoak(t, bin, grace, soakLease(t))
	s.targetCrashWindow(targetP)
	s.startKiller()
	s.startCallers()
	s.startIntrospection()
	s.monitor(cycles)
	s.stop()
	r := s.account()
	r.log(t)

	checkOnlyExpectedAnswers(t, r)
	checkNoExpiredTokenServed(t, r)
	checkNoTokenServedAfterItsSuccessor(t, r)
	checkServedTokensWereActive(t, r)
	checkLostAnswersCoincideWithKills(t, r)
	checkRefreshTokensPresentedAgainOnlyAfterALostAnswer(t, r)
	checkRefusalsFollowLostAnswers(t, r)
	if grace > 0 {
		checkNoConnectionDied(t, r)
		checkFinalRecordsAuthorizedAndActive(t, s)
		if targetP > 0 {
			checkKillsHitTheCrashWindow(t, r)
		}
	} else {
		checkDeathsHaveLostAnswers(t, r)
	}
}

// soakLease is the refresh lease of the soak's replicas. The lease must outlast any stall of
// its holder between the provider's answer and the Vault write, or a peer takes over and
// presents the refresh token again (allowed by the grace period, fenced by check-and-set,
// but then not a kill this test can account for). On a 2-core CI machine running other test
// packages at once, stalls of seconds happen: 10 s by default; the figures in
// docs/reliability.md were measured with TAILOR_SOAK_LEASE=4s, which recovers faster.
func soakLease(t *testing.T) time.Duration {
	v := os.Getenv("TAILOR_SOAK_LEASE")
	if v == "" {
		return 10 * time.Second
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 2*time.Second {
		t.Fatalf("TAILOR_SOAK_LEASE=%q: want a duration of at least 2s", v)
	}
	return d
}

// soakLogDir is where the replicas write their logs: TAILOR_SOAK_LOGDIR keeps them.
func soakLogDir(t *testing.T) string {
	d := os.Getenv("TAILOR_SOAK_LOGDIR")
	if d == "" {
		return t.TempDir()
	}
	d = filepath.Join(d, filepath.Base(t.Name()))
	if err := os.MkdirAll(d, 0o700); err != nil {
		t.Fatal(err)
	}
	return d
}

// newSoak starts Vault, Hydra (3-second access tokens, the given grace period), five
// authorized connections and three replicas.
func newSoak(t *testing.T, bin string, grace, lease time.Duration) *soak {
	env := tailortest.Start(t, testenv.HydraOptions{AccessTokenTTL: 3 * time.Second, RefreshTokenRotationGracePeriod: grace})
	s := &soak{t: t, env: env, grace: grace, lease: lease, bin: bin, logDir: soakLogDir(t), firstSeen: map[string]time.Time{},
		newTokens: make(chan string, 1024), deaths: map[string]int{}}
	for i := range 5 {
		n := fmt.Sprintf("soak-%d", i)
		env.AddConnection(t, n)
		ts := env.Authorize(t, n)
		s.connOf.Store(tailortest.TokenHash(ts.RefreshToken), n)
		s.conns = append(s.conns, n)
	}
	s.args = []string{"--insecure-no-auth", "--lease-ttl", lease.String(), "--lease-safety", (lease / 4).String(), "--request-timeout", "3s",
		"--recheck-interval", "2s", "--log-level", "info"}
	t.Cleanup(s.killAll)
	for i := range 3 {
		r := &replica{slot: i}
		if err := s.spawn(r); err != nil {
			t.Fatal(err)
		}
		s.reps = append(s.reps, r)
	}
	return s
}
