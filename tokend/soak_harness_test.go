package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv/tailortest"
)

// soak is the running crash soak: replicas, the killer, the callers and what they saw.
type soak struct {
	t      *testing.T
	env    *tailortest.Env
	bin    string
	args   []string
	logDir string
	grace  time.Duration
	lease  time.Duration
	conns  []string
	reps   []*replica
	connOf sync.Map // refresh-token hash -> connection
	// holderAt is the lease holder when Hydra answered a refresh: presented hash + start.
	holderAt sync.Map

	procsMu  sync.Mutex
	allProcs []*tokendProc
	spawnErr atomic.Value

	down    atomic.Bool // a replica is down: one at a time
	killsMu sync.Mutex
	kills   []kill

	ctx        context.Context
	stopCalls  context.CancelFunc
	stopKiller context.CancelFunc
	killerDone chan struct{}
	callers    sync.WaitGroup
	began      time.Time
	elapsed    time.Duration

	servesMu  sync.Mutex
	serves    []soakServe
	firstSeen map[string]time.Time
	newTokens chan string
	calls     callCounts

	inactive, introErrs, introGlitches atomic.Int64
	introDone                          chan struct{}

	deaths     map[string]int
	deathCount int
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

// callCounts are the callers' answers by kind.
type callCounts struct {
	ok200, unavailable, refused, expired, other, noRetryAfter, reauth409 atomic.Int64
	firstOther                                                           atomic.Value
}

// spawn starts a new incarnation of r.
func (s *soak) spawn(r *replica) error {
	r.gen++
	r.id = fmt.Sprintf("soak-r%d-g%d", r.slot, r.gen)
	p, err := spawnServe(s.bin, s.env, s.logDir, r.id, s.args...)
	if err != nil {
		return err
	}
	s.procsMu.Lock()
	s.allProcs = append(s.allProcs, p)
	s.procsMu.Unlock()
	r.proc = p
	u := p.URL
	r.url.Store(&u)
	return nil
}

// killAll kills every process the soak started (cleanup).
func (s *soak) killAll() {
	s.procsMu.Lock()
	defer s.procsMu.Unlock()
	for _, p := range s.allProcs {
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		_ = p.cmd.Wait()
	}
}

// killAndRestart SIGKILLs r and starts its next incarnation, in the background unless wait.
// The caller holds s.down; r.mu stays locked until the restart.
func (s *soak) killAndRestart(r *replica, targeted, wait bool) {
	r.mu.Lock()
	p := r.proc
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	_ = p.cmd.Process.Kill()
	s.killsMu.Lock()
	s.kills = append(s.kills, kill{at: time.Now(), id: r.id, targeted: targeted})
	s.killsMu.Unlock()
	restart := func() {
		defer r.mu.Unlock()
		defer s.down.Store(false)
		_ = p.cmd.Wait()
		time.Sleep(time.Duration(rand.IntN(300)) * time.Millisecond)
		if err := s.spawn(r); err != nil {
			s.spawnErr.CompareAndSwap(nil, err)
		}
	}
	if wait {
		restart()
	} else {
		go restart()
	}
}

// targetCrashWindow records the lease holder of every refresh Hydra answers, and with
// probability p kills that holder while the proxy holds Hydra's successful answer: a kill
// inside the crash window.
func (s *soak) targetCrashWindow(p float64) {
	s.env.Proxy.OnRefresh(func(a tailortest.Answer) {
		c, ok := s.connOf.Load(a.Presented)
		if !ok {
			return
		}
		if a.Returned != "" {
			s.connOf.Store(a.Returned, c)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		l, err := s.env.Store.GetLease(ctx, c.(string))
		if err != nil {
			return
		}
		s.holderAt.Store(a.Presented+fmt.Sprint(a.Start.UnixNano()), l.Holder)
		if a.Status != 200 || p == 0 || rand.Float64() >= p || !s.down.CompareAndSwap(false, true) {
			return
		}
		for _, r := range s.reps {
			if r.mu.TryLock() {
				if r.id == l.Holder {
					r.mu.Unlock()
					s.killAndRestart(r, true, false)
					return
				}
				r.mu.Unlock()
			}
		}
		s.down.Store(false)
	})
	s.t.Cleanup(func() { s.env.Proxy.OnRefresh(nil) })
}

// startKiller kills a random replica every 0.5 to 2.5 s, one down at a time.
func (s *soak) startKiller() {
	s.ctx, s.stopCalls = context.WithCancel(context.Background())
	var killCtx context.Context
	killCtx, s.stopKiller = context.WithCancel(s.ctx)
	s.killerDone = make(chan struct{})
	s.t.Cleanup(s.stopCalls)
	go func() {
		defer close(s.killerDone)
		for {
			select {
			case <-killCtx.Done():
				return
			case <-time.After(time.Duration(500+rand.IntN(2000)) * time.Millisecond):
			}
			if s.down.CompareAndSwap(false, true) {
				s.killAndRestart(s.reps[rand.IntN(len(s.reps))], false, true)
			}
		}
	}()
}

// startCallers starts one caller per replica and connection, asking every 10 to 40 ms.
func (s *soak) startCallers() {
	s.began = time.Now()
	for _, r := range s.reps {
		for _, c := range s.conns {
			s.callers.Add(1)
			go func() {
				defer s.callers.Done()
				for s.ctx.Err() == nil {
					s.call(r, c)
					time.Sleep(time.Duration(10+rand.IntN(30)) * time.Millisecond)
				}
			}()
		}
	}
}

// call asks replica r for connection c's token once and records the answer.
func (s *soak) call(r *replica, c string) {
	start := time.Now()
	resp, body, err := getAuth(*r.url.Load()+"/v1/connections/"+c+"/token", "")
	now := time.Now()
	switch {
	case err != nil:
		s.calls.refused.Add(1) // the replica is down (killed)
	case resp.StatusCode == 200:
		var tk tokenBody
		_ = json.Unmarshal(body, &tk)
		if !now.Before(tk.ExpiresAt.Add(time.Second)) {
			s.calls.expired.Add(1)
		}
		s.calls.ok200.Add(1)
		s.servesMu.Lock()
		if _, seen := s.firstSeen[tk.AccessToken]; !seen {
			s.firstSeen[tk.AccessToken] = now
			s.newTokens <- tk.AccessToken
		}
		s.serves = append(s.serves, soakServe{start, c, tk.AccessToken})
		s.servesMu.Unlock()
	case resp.StatusCode == 503:
		s.calls.unavailable.Add(1)
		if resp.Header.Get("Retry-After") == "" {
			s.calls.noRetryAfter.Add(1)
		}
	case resp.StatusCode == 409:
		s.calls.reauth409.Add(1)
	default:
		s.calls.other.Add(1)
		s.calls.firstOther.CompareAndSwap(nil, fmt.Sprintf("%d %s", resp.StatusCode, body))
	}
}

// startIntrospection asks Hydra about every access token when it is first served.
func (s *soak) startIntrospection() {
	s.introDone = make(chan struct{})
	go func() {
		defer close(s.introDone)
		for tok := range s.newTokens {
			active, err := s.introspect(tok)
			switch {
			case err != nil:
				s.introErrs.Add(1)
			case !active:
				s.inactive.Add(1)
			}
		}
	}()
}

// introspect reports whether Hydra holds tok active. Hydra's in-memory SQLite sometimes
// answers 500/401 under load (retried), or inactive for a moment (asked again: a revoked
// token stays inactive).
func (s *soak) introspect(tok string) (bool, error) {
	var ir tailortest.Introspection
	var err error
	for range 5 {
		if ir, err = s.env.Introspect(tok); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for i := 0; err == nil && !ir.Active && i < 3; i++ {
		time.Sleep(100 * time.Millisecond)
		var ir2 tailortest.Introspection
		if ir2, err = s.env.Introspect(tok); err == nil && ir2.Active {
			s.introGlitches.Add(1)
			ir = ir2
		}
	}
	return ir.Active, err
}

// monitor waits until Hydra has answered cycles refreshes, re-authorizing connections that
// died (without a grace period) as an operator would.
func (s *soak) monitor(cycles int) {
	limit := time.Duration(cycles)*2*time.Second + 2*time.Minute
	for {
		time.Sleep(250 * time.Millisecond)
		if err := s.spawnErr.Load(); err != nil {
			s.stopCalls()
			<-s.killerDone
			s.callers.Wait()
			s.t.Fatalf("restarting a replica: %v", err)
		}
		if s.env.Proxy.Statuses()[200] >= cycles {
			return
		}
		if time.Since(s.began) > limit {
			s.t.Errorf("only %d refreshes in %s", s.env.Proxy.Statuses()[200], limit)
			return
		}
		for _, c := range s.conns {
			ts, err := s.env.Store.GetTokens(context.Background(), c)
			if err != nil || ts.Status != authconn.StatusNeedsReauthorization {
				continue
			}
			s.deaths[c]++
			s.deathCount++
			if s.grace == 0 { // with a grace period a death is a failure: do not hide it
				nts := s.env.Authorize(s.t, c)
				s.connOf.Store(tailortest.TokenHash(nts.RefreshToken), c)
			}
		}
	}
}

// stop stops killing, waits until every lease a killed replica left was taken over, then
// stops the callers and shuts the replicas down with SIGTERM.
func (s *soak) stop() {
	s.stopKiller()
	<-s.killerDone
	for _, r := range s.reps {
		r.mu.Lock() // waits for a pending restart to finish
		//lint:ignore SA2001 the empty section is the wait
		r.mu.Unlock()
	}
	s.awaitLeasesTakenOver()
	s.stopCalls()
	s.callers.Wait()
	s.elapsed = time.Since(s.began)
	close(s.newTokens)
	<-s.introDone
	for _, r := range s.reps {
		_ = syscall.Kill(-r.proc.cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = r.proc.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			s.t.Errorf("%s did not stop on SIGTERM", r.id)
		}
	}
	s.env.Proxy.OnRefresh(nil)
}

// spawnServe starts `tokend serve` on a free port against env's Vault (launchServe), on
// another one (3 tries) when another process took the port in between.
func spawnServe(bin string, env *tailortest.Env, logDir, replica string, extra ...string) (*tokendProc, error) {
	for attempt := 1; ; attempt++ {
		addr, err := freeAddrQuiet()
		if err != nil {
			return nil, err
		}
		p, err := launchServe(bin, vaultEnv(env), logDir, addr, replica, extra)
		if err == nil || !errors.Is(err, errAddrInUse) || attempt == 3 {
			return p, err
		}
	}
}

// freeAddrQuiet is freeAddr without testing.T, for goroutines.
func freeAddrQuiet() (string, error) {
	port, err := testenv.FreePort()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), err
}

// awaitLeasesTakenOver waits until a lease taken before the last kill has expired (one
// TTL after that kill) and no connection's lease is held past its expiry: the survivors
// took over what a killed holder left. Past the TTL plus 10 s it fails the soak.
func (s *soak) awaitLeasesTakenOver() {
	s.killsMu.Lock()
	settled := s.began
	if n := len(s.kills); n > 0 {
		settled = s.kills[n-1].at
	}
	s.killsMu.Unlock()
	settled = settled.Add(s.lease)
	deadline := time.Now().Add(s.lease + 10*time.Second)
	for {
		stale := s.leasesHeldPastExpiry()
		if len(stale) == 0 && time.Now().After(settled) {
			return
		}
		if time.Now().After(deadline) {
			s.t.Errorf("leases still held past their expiry (not taken over): %v", stale)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// leasesHeldPastExpiry lists the connections whose lease has a holder but has expired.
func (s *soak) leasesHeldPastExpiry() []string {
	var stale []string
	for _, c := range s.conns {
		l, err := s.env.Store.GetLease(context.Background(), c)
		if err != nil || (l.Holder != "" && l.ExpiresAt.Before(time.Now())) {
			stale = append(stale, c)
		}
	}
	return stale
}
