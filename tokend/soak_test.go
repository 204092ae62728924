package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/broker/brokertest"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv"
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
// killed: a kill inside the crash window, every time. Asserted: 0 connections need
// re-authorization; every refresh token reached Hydra once, except that the token of a
// refresh whose answer died with its replica was presented exactly once more (the
// deliberate retry by the replica that took over the expired lease) and that a token Hydra
// answered with a 5xx (nothing rotated) is presented again, and every such lost answer
// coincides with a kill of the replica that held the lease; every access token
// served was active at Hydra when first seen (introspection) and no call got token k after
// token k+1 had been served (Hydra revokes k when k's refresh token is used); no expired
// token served; answers are 200 or 503; the final refresh tokens are active and every
// record is authorized.
//
// no_grace_period: the same with random kills only, against Hydra without a grace period:
// a kill that lands between a refresh request and its Vault write loses the only valid
// refresh token, and the connection needs re-authorization (the window no broker closes
// alone). The test re-authorizes such connections, as an operator would, and asserts only
// the accounting: every dead connection had lost a refresh answer, every lost answer
// coincides with a kill of the replica holding the lease, and every refused refresh token
// is one whose answer was lost. The figures (kills, kills inside the window, deaths) are
// logged.
func TestCrashSoak(t *testing.T) {
	cycles := envInt(t, "TAILOR_SOAK_CYCLES", 40)
	bin := buildTokend(t)
	t.Run("grace_period", func(t *testing.T) { runSoak(t, bin, cycles, time.Minute, 0.15) })
	t.Run("no_grace_period", func(t *testing.T) { runSoak(t, bin, cycles, 0, 0) })
}

// replica is one slot of the soak: the current process and its incarnation.
type replica struct {
	slot int
	mu   sync.Mutex
	proc *tokendProc
	id   string
	gen  int
	url  atomic.Pointer[string]
}

type kill struct {
	at       time.Time
	id       string
	targeted bool
}

type soakServe struct {
	start time.Time
	conn  string
	token string
}

func runSoak(t *testing.T, bin string, cycles int, grace time.Duration, targetP float64) {
	env := brokertest.Start(t, testenv.HydraOptions{AccessTokenTTL: 3 * time.Second, RefreshTokenRotationGracePeriod: grace})
	const nConns = 5
	var conns []string
	connOf := sync.Map{} // refresh-token hash -> connection
	for i := range nConns {
		n := fmt.Sprintf("soak-%d", i)
		env.AddConnection(t, n)
		ts := env.Authorize(t, n)
		connOf.Store(brokertest.TokenHash(ts.RefreshToken), n)
		conns = append(conns, n)
	}
	logDir := t.TempDir()
	if d := os.Getenv("TAILOR_SOAK_LOGDIR"); d != "" { // keep the replicas' logs
		logDir = filepath.Join(d, filepath.Base(t.Name()))
		if err := os.MkdirAll(logDir, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	// The lease must outlast any stall of its holder between the provider's answer and the
	// Vault write, or a peer takes over and presents the refresh token again (allowed by the
	// grace period, fenced by check-and-set, but then not a kill this test can account for).
	// On a 2-core CI machine running other test packages at once, stalls of seconds happen:
	// 10 s by default; the figures in docs/reliability.md were measured with
	// TAILOR_SOAK_LEASE=4s, which recovers faster after a kill.
	lease := 10 * time.Second
	if v := os.Getenv("TAILOR_SOAK_LEASE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 2*time.Second {
			t.Fatalf("TAILOR_SOAK_LEASE=%q: want a duration of at least 2s", v)
		}
		lease = d
	}
	args := []string{"--insecure-no-auth", "--lease-ttl", lease.String(), "--lease-safety", (lease / 4).String(), "--request-timeout", "3s",
		"--recheck-interval", "2s", "--log-level", "info"}

	var procsMu sync.Mutex
	var allProcs []*tokendProc
	t.Cleanup(func() {
		procsMu.Lock()
		defer procsMu.Unlock()
		for _, p := range allProcs {
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			_ = p.cmd.Wait()
		}
	})
	spawn := func(r *replica) error {
		r.gen++
		r.id = fmt.Sprintf("soak-r%d-g%d", r.slot, r.gen)
		p, err := spawnServe(bin, env, logDir, r.id, args...)
		if err != nil {
			return err
		}
		procsMu.Lock()
		allProcs = append(allProcs, p)
		procsMu.Unlock()
		r.proc = p
		u := p.URL
		r.url.Store(&u)
		return nil
	}
	reps := make([]*replica, 3)
	for i := range reps {
		reps[i] = &replica{slot: i}
		if err := spawn(reps[i]); err != nil {
			t.Fatal(err)
		}
	}

	// Kills: one replica down at a time.
	var down atomic.Bool
	var killsMu sync.Mutex
	var kills []kill
	var spawnErr atomic.Value
	killAndRestart := func(r *replica, targeted, wait bool) {
		r.mu.Lock()
		p := r.proc
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		_ = p.cmd.Process.Kill()
		at := time.Now()
		killsMu.Lock()
		kills = append(kills, kill{at: at, id: r.id, targeted: targeted})
		killsMu.Unlock()
		restart := func() {
			defer r.mu.Unlock()
			defer down.Store(false)
			_ = p.cmd.Wait()
			time.Sleep(time.Duration(rand.IntN(300)) * time.Millisecond)
			if err := spawn(r); err != nil {
				spawnErr.CompareAndSwap(nil, err)
			}
		}
		if wait {
			restart()
		} else {
			go restart()
		}
	}
	holderAt := sync.Map{} // presented hash -> lease holder when Hydra answered
	env.Proxy.OnRefresh(func(a brokertest.Answer) {
		c, ok := connOf.Load(a.Presented)
		if !ok {
			return
		}
		if a.Returned != "" {
			connOf.Store(a.Returned, c)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		l, err := env.Store.GetLease(ctx, c.(string))
		if err != nil {
			return
		}
		holderAt.Store(a.Presented+fmt.Sprint(a.Start.UnixNano()), l.Holder)
		if a.Status != 200 || targetP == 0 || rand.Float64() >= targetP || !down.CompareAndSwap(false, true) {
			return
		}
		for _, r := range reps {
			if r.mu.TryLock() {
				if r.id == l.Holder {
					r.mu.Unlock()
					killAndRestart(r, true, false)
					return
				}
				r.mu.Unlock()
			}
		}
		down.Store(false)
	})
	defer env.Proxy.OnRefresh(nil)

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	killCtx, stopKiller := context.WithCancel(ctx)
	defer stopKiller()
	var wg sync.WaitGroup
	killerDone := make(chan struct{})
	go func() { // the killer
		defer close(killerDone)
		for {
			select {
			case <-killCtx.Done():
				return
			case <-time.After(time.Duration(500+rand.IntN(2000)) * time.Millisecond):
			}
			if !down.CompareAndSwap(false, true) {
				continue
			}
			killAndRestart(reps[rand.IntN(len(reps))], false, true)
		}
	}()

	// Callers: one per replica and connection.
	var servesMu sync.Mutex
	var serves []soakServe
	firstSeen := map[string]time.Time{}
	newTokens := make(chan string, 1024)
	var ok200, unavailable, refused, expired, otherStatus, noRetryAfter, reauth409 atomic.Int64
	var firstOther atomic.Value
	for _, r := range reps {
		for _, c := range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					start := time.Now()
					resp, body, err := getAuth(*r.url.Load()+"/v1/connections/"+c+"/token", "")
					now := time.Now()
					switch {
					case err != nil:
						refused.Add(1) // the replica is down (killed)
					case resp.StatusCode == 200:
						var tk tokenBody
						_ = json.Unmarshal(body, &tk)
						if !now.Before(tk.ExpiresAt.Add(time.Second)) {
							expired.Add(1)
						}
						ok200.Add(1)
						servesMu.Lock()
						if _, seen := firstSeen[tk.AccessToken]; !seen {
							firstSeen[tk.AccessToken] = now
							newTokens <- tk.AccessToken
						}
						serves = append(serves, soakServe{start, c, tk.AccessToken})
						servesMu.Unlock()
					case resp.StatusCode == 503:
						unavailable.Add(1)
						if resp.Header.Get("Retry-After") == "" {
							noRetryAfter.Add(1)
						}
					case resp.StatusCode == 409:
						reauth409.Add(1)
					default:
						otherStatus.Add(1)
						firstOther.CompareAndSwap(nil, fmt.Sprintf("%d %s", resp.StatusCode, body))
					}
					time.Sleep(time.Duration(10+rand.IntN(30)) * time.Millisecond)
				}
			}()
		}
	}
	// Introspect every new access token when first seen.
	var inactive, introErrs, introGlitches atomic.Int64
	introDone := make(chan struct{})
	go func() {
		defer close(introDone)
		for tok := range newTokens {
			var ir brokertest.Introspection
			var err error
			for range 5 { // Hydra's in-memory SQLite sometimes answers 500/401 under load
				if ir, err = env.Introspect(tok); err == nil {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			for i := 0; err == nil && !ir.Active && i < 3; i++ {
				// Inactive: ask again; a revoked token stays inactive.
				time.Sleep(100 * time.Millisecond)
				var ir2 brokertest.Introspection
				if ir2, err = env.Introspect(tok); err == nil && ir2.Active {
					introGlitches.Add(1)
					ir = ir2
				}
			}
			if err != nil {
				introErrs.Add(1)
			} else if !ir.Active {
				inactive.Add(1)
			}
		}
	}()

	// Monitor: count refreshes, re-authorize dead connections (no grace period).
	began := time.Now()
	limit := time.Duration(cycles)*2*time.Second + 2*time.Minute
	deaths := map[string]int{}
	var deathCount int
	for {
		time.Sleep(250 * time.Millisecond)
		if err := spawnErr.Load(); err != nil {
			stop()
			<-killerDone
			wg.Wait()
			t.Fatalf("restarting a replica: %v", err)
		}
		if env.Proxy.Statuses()[200] >= cycles {
			break
		}
		if time.Since(began) > limit {
			t.Errorf("only %d refreshes in %s", env.Proxy.Statuses()[200], limit)
			break
		}
		for _, c := range conns {
			ts, err := env.Store.GetTokens(context.Background(), c)
			if err == nil && ts.Status == authconn.StatusNeedsReauthorization {
				deaths[c]++
				deathCount++
				if grace > 0 {
					continue // asserted below; do not hide it
				}
				nts := env.Authorize(t, c)
				connOf.Store(brokertest.TokenHash(nts.RefreshToken), c)
			}
		}
	}
	// Stop killing; let a retry after the last kill finish (a lease outlives its holder by
	// at most --lease-ttl), then stop the callers and shut the replicas down.
	stopKiller()
	<-killerDone
	for _, r := range reps {
		r.mu.Lock() // waits for a pending restart
		r.mu.Unlock()
	}
	time.Sleep(lease + 2*time.Second)
	stop()
	wg.Wait()
	elapsed := time.Since(began)
	close(newTokens)
	<-introDone
	for _, r := range reps {
		_ = syscall.Kill(-r.proc.cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = r.proc.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Errorf("%s did not stop on SIGTERM", r.id)
		}
	}
	env.Proxy.OnRefresh(nil)

	// Accounting.
	answers := env.Proxy.Answers()
	pres := env.Proxy.Presentations()
	presentedAt := map[string][]brokertest.Answer{}
	for _, a := range answers {
		if a.Reached {
			presentedAt[a.Presented] = append(presentedAt[a.Presented], a)
		}
	}
	finals := map[string]bool{}
	for _, c := range conns {
		ts, err := env.Store.GetTokens(context.Background(), c)
		if err != nil {
			t.Fatal(err)
		}
		finals[brokertest.TokenHash(ts.RefreshToken)] = true
		if ts.Status == authconn.StatusNeedsReauthorization && grace == 0 {
			deaths[c]++ // died after the monitor's last look
			deathCount++
		}
		if grace > 0 {
			if ts.Status != authconn.StatusAuthorized {
				t.Errorf("%s: final status %s", c, ts.Status)
			}
			if ir, err := env.Introspect(ts.RefreshToken); err != nil || !ir.Active {
				t.Errorf("%s: the stored refresh token is not active at Hydra (%v)", c, err)
			}
		}
	}
	killsMu.Lock()
	allKills := append([]kill(nil), kills...)
	killsMu.Unlock()
	targeted := 0
	for _, k := range allKills {
		if k.targeted {
			targeted++
		}
	}
	// A lost answer: Hydra issued a new refresh token (200) that was never stored: it was
	// never presented later and is no connection's stored token.
	isLost := func(a brokertest.Answer) bool {
		return a.Status == 200 && a.Returned != "" && pres[a.Returned] == 0 && !finals[a.Returned]
	}
	lostN := 0
	unexplained := 0
	var windowKills, windowKillsRandom int
	for _, a := range answers {
		if !isLost(a) {
			continue
		}
		lostN++
		h, _ := holderAt.Load(a.Presented + fmt.Sprint(a.Start.UnixNano()))
		explained := false
		for _, k := range allKills {
			if k.id == h && k.at.After(a.Start.Add(-time.Second)) && k.at.Before(a.End.Add(5*time.Second)) {
				explained = true
				windowKills++
				if !k.targeted {
					windowKillsRandom++
				}
				break
			}
		}
		if !explained {
			unexplained++
			t.Logf("a refresh answer (at %s) was lost, but its lease holder %v was not killed then", a.End.Format(time.RFC3339Nano), h)
		}
	}
	// Refresh tokens presented more than once: only the retry after a lost answer. Every
	// presentation but the last must have had its answer lost; a refused one (400) must
	// follow a lost answer.
	//
	// Hydra on in-memory SQLite sometimes fails a refresh under concurrent load: a 500
	// ("Unable to serialize access"), or a 400 for a refresh token it accepts moments later.
	// A token Hydra truly refused (reuse detection) can never succeed again, because the
	// whole chain is revoked, so a 400 followed by a 200 for the same token is such a
	// failure, not a refusal, and is counted with the 5xx answers.
	var badReuse, refused400, refused400Lost, retried5xx int
	for _, as := range presentedAt {
		acceptedLater := func(i int) bool {
			for _, b := range as[i+1:] {
				if b.Status == 200 {
					return true
				}
			}
			return false
		}
		for i, a := range as {
			hydraFailed := a.Status >= 500 || a.Status == 400 && acceptedLater(i)
			if i < len(as)-1 && !isLost(a) {
				if hydraFailed {
					retried5xx++ // Hydra failed the request: nothing was rotated
				} else {
					badReuse++
				}
			}
			if a.Status == 400 && !hydraFailed {
				refused400++
				for _, b := range as[:i] {
					if isLost(b) {
						refused400Lost++
						break
					}
				}
			}
		}
	}
	// Ordering: per connection, once token k+1 was served, no call that started later got k.
	servesMu.Lock()
	order := map[string][]string{}
	seenOrder := map[string]bool{}
	byFirst := make([]soakServe, 0, len(firstSeen))
	for _, s := range serves {
		if !seenOrder[s.token] {
			seenOrder[s.token] = true
			byFirst = append(byFirst, soakServe{firstSeen[s.token], s.conn, s.token})
		}
	}
	sort.Slice(byFirst, func(i, j int) bool { return byFirst[i].start.Before(byFirst[j].start) })
	next := map[string]string{}
	for _, s := range byFirst {
		o := order[s.conn]
		if len(o) > 0 {
			next[o[len(o)-1]] = s.token
		}
		order[s.conn] = append(o, s.token)
	}
	stale := 0
	for _, s := range serves {
		if n, ok := next[s.token]; ok && s.start.After(firstSeen[n]) {
			if stale < 5 {
				t.Logf("stale: %s call started %s got a token whose successor was first served %s", s.conn, s.start.Format("15:04:05.000"), firstSeen[n].Format("15:04:05.000"))
			}
			stale++
		}
	}
	nServes := len(serves)
	servesMu.Unlock()

	answered := ok200.Load() + unavailable.Load() + reauth409.Load() + otherStatus.Load()
	t.Logf("%s: %d refreshes at Hydra in %s (statuses %v); %d kills (%d targeted at the crash window), kills that landed in the window: %d (%d of them random); lost refresh answers: %d, unexplained by a kill: %d; connections that needed re-authorization: %d %v; refused refresh tokens (400): %d; refresh tokens presented again after a Hydra failure (5xx, or a 400 for a token accepted later): %d; introspection errors: %d, inactive-then-active answers: %d",
		t.Name(), env.Proxy.Statuses()[200], elapsed.Round(time.Second), env.Proxy.Statuses(), len(allKills), targeted, windowKills, windowKillsRandom,
		lostN, unexplained, deathCount, deaths, refused400, retried5xx, introErrs.Load(), introGlitches.Load())
	t.Logf("calls: %d answered (%d ok, %d 503 = %.2f%%, %d 409), %d to a killed replica; %d distinct access tokens served",
		answered, ok200.Load(), unavailable.Load(), 100*float64(unavailable.Load())/float64(max(answered, 1)), reauth409.Load(), refused.Load(), len(firstSeen))

	if n := otherStatus.Load(); n > 0 {
		t.Errorf("%d answers other than 200/503/409; first: %v", n, firstOther.Load())
	}
	if n := expired.Load(); n > 0 {
		t.Errorf("%d expired tokens served", n)
	}
	if n := noRetryAfter.Load(); n > 0 {
		t.Errorf("%d 503s without Retry-After", n)
	}
	if stale > 0 {
		t.Errorf("%d of %d calls returned an access token after its successor had been served (Hydra had revoked it)", stale, nServes)
	}
	if n := inactive.Load(); n > 0 {
		t.Errorf("%d served access tokens were not active at Hydra when first seen", n)
	}
	if unexplained > 0 {
		t.Errorf("%d lost refresh answers do not coincide with a kill of the lease holder", unexplained)
	}
	if badReuse > 0 || refused400 != refused400Lost {
		// Show the answers to every refresh token presented more than once, for diagnosis.
		for tok, as := range presentedAt {
			if len(as) < 2 {
				continue
			}
			var seq []string
			for _, a := range as {
				seq = append(seq, fmt.Sprintf("%d(reached=%v lost=%v at %s)", a.Status, a.Reached, isLost(a), a.End.Format("15:04:05.000")))
			}
			t.Logf("refresh token %s: %s", tok, strings.Join(seq, " -> "))
		}
	}
	if badReuse > 0 {
		t.Errorf("%d refresh-token presentations were followed by another presentation of the same token although their answer was not lost", badReuse)
	}
	if refused400 != refused400Lost {
		t.Errorf("%d refresh tokens were refused, %d of them after a lost answer: a death not caused by the crash window", refused400, refused400Lost)
	}
	if grace > 0 {
		if deathCount > 0 || reauth409.Load() > 0 || refused400 > 0 {
			t.Errorf("with a grace period: %d connections needed re-authorization, %d 409 answers, %d refused refresh tokens; want 0", deathCount, reauth409.Load(), refused400)
		}
		if targetP > 0 && targeted == 0 {
			t.Errorf("no kill was targeted at the crash window")
		}
	} else if deathCount > lostN {
		t.Errorf("%d deaths but only %d lost refresh answers", deathCount, lostN)
	}
}

// spawnServe starts `tokend serve` and waits for /readyz without touching testing.T, so
// that it can run in a goroutine. The caller kills the process.
func spawnServe(bin string, env *brokertest.Env, logDir, replica string, extra ...string) (*tokendProc, error) {
	addr, err := freeAddrQuiet()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(logDir, replica+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child has its own descriptor
	args := append([]string{"serve", "--listen", addr, "--replica-id", replica}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Env = vaultEnv(env)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &tokendProc{URL: "http://" + addr, cmd: cmd, log: logPath}
	hc := &http.Client{Timeout: 2 * time.Second}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err := hc.Get(p.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p, nil
			}
		}
		if time.Now().After(deadline) {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			_ = cmd.Wait()
			b, _ := os.ReadFile(logPath)
			return nil, errors.Join(fmt.Errorf("tokend %s not ready: %v", replica, err), errors.New(string(b)))
		}
	}
}

func freeAddrQuiet() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
