package broker_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/broker"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv/tailortest"
	"github.com/authconnection/terraform-provider-tailor/internal/vaultclient"
)

// failoverSoak is three replicas on a 3-node Vault cluster (each preferring another node),
// Hydra with reuse detection and 6-second tokens, callers on several connections, and a
// killer that SIGKILLs the active Vault node, at random moments and right after Hydra
// answers a refresh (so the refreshed set is written during the election), and restarts
// it. TAILOR_FAILOVER_SOAK=1 runs the full size.
type failoverSoak struct {
	cluster *testenv.VaultCluster
	env     *tailortest.Env
	names   []string
	brokers []*broker.Broker
	obs     *timedObserver
	logs    *messageCounter

	mu    sync.Mutex
	kills []kill
	calls []call
	armed atomic.Bool // kill the active node on the next refresh answer
	armCh chan bool   // after an armed kill: whether a node was killed (and a new one elected)
}

// kill is one SIGKILL of the active node: when, which node, when the next was active,
// and whether it was aimed at a refresh in flight.
type kill struct {
	at, elected time.Time
	node        int
	onRefresh   bool
}

// call is one token request: when, and whether it got a token that had not expired.
type call struct {
	at    time.Time
	valid bool
	err   string
}

func newFailoverSoak(t *testing.T, grace, budget time.Duration, conns int) *failoverSoak {
	t.Helper()
	s := &failoverSoak{cluster: testenv.StartVaultCluster(t, testenv.VaultClusterOptions{}),
		obs: &timedObserver{}, logs: &messageCounter{counts: map[string]int{}}, armCh: make(chan bool, 1)}
	s.env = tailortest.StartOnCluster(t, s.cluster, testenv.HydraOptions{AccessTokenTTL: 6 * time.Second, RefreshTokenRotationGracePeriod: grace})
	for i := range conns {
		name := fmt.Sprintf("ha-%d", i)
		s.env.AddConnection(t, name)
		s.env.Authorize(t, name)
		s.names = append(s.names, name)
	}
	addrs := s.cluster.Addrs()
	for i := range 3 {
		order := append(slices.Clone(addrs[i:]), addrs[:i]...) // replica i prefers node i
		st := s.env.NewStoreWith(t, vaultclient.Config{Address: strings.Join(order, ","), Token: s.cluster.Token, Timeout: 10 * time.Second,
			FailoverBudget: budget})
		b, _ := newBroker(t, s.env, fmt.Sprintf("ha-replica-%d", i), broker.Options{Store: st, Observer: s.obs,
			Logger: slog.New(s.logs).With("replica", i)})
		s.brokers = append(s.brokers, b)
	}
	s.env.Proxy.OnRefresh(func(a tailortest.Answer) {
		if a.Status == 200 && s.armed.CompareAndSwap(true, false) {
			s.killActive(t, true) // before the answer reaches the replica: its write meets the election
		}
	})
	return s
}

// run runs callers and the killer until d has passed and two kills are done (at most
// d + 150 s: check reports a run with fewer kills), then waits for the replicas to settle.
func (s *failoverSoak) run(t *testing.T, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for i := range 30 {
		wg.Add(1)
		go func() { defer wg.Done(); s.caller(ctx, i) }()
	}
	s.killer(t, d, d+150*time.Second)
	cancel()
	wg.Wait()
	s.awaitSettled(t, 30*time.Second)
	for _, b := range s.brokers {
		b.Close()
	}
}

// awaitSettled waits, at most within, until every parked token set was written and every
// connection's record is authorized with a refresh token active at Hydra.
func (s *failoverSoak) awaitSettled(t *testing.T, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		pending := s.unsettled()
		if len(pending) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("not settled %s after the last call: %s", within, strings.Join(pending, "; "))
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// unsettled says what is not settled yet: parked sets not written, connections not
// authorized or whose refresh token is not active.
func (s *failoverSoak) unsettled() []string {
	var out []string
	if parked, written := s.logs.count("refreshed tokens could not be stored in Vault"), s.logs.count("pending refreshed tokens stored after the Vault failure"); parked != written {
		out = append(out, fmt.Sprintf("%d parked sets, %d written", parked, written))
	}
	for _, name := range s.names {
		ts, err := s.env.Store.GetTokens(context.Background(), name)
		if err != nil || ts.Status != authconn.StatusAuthorized {
			out = append(out, fmt.Sprintf("%s not authorized (%v)", name, err))
			continue
		}
		if ir, err := s.env.Introspect(ts.RefreshToken); err != nil || !ir.Active {
			out = append(out, fmt.Sprintf("%s: refresh token not active (%v)", name, err))
		}
	}
	return out
}

func (s *failoverSoak) caller(ctx context.Context, i int) {
	b, name := s.brokers[i%len(s.brokers)], s.names[i%len(s.names)]
	for ctx.Err() == nil {
		tok, err := b.Token(ctx, name)
		now := time.Now()
		if ctx.Err() != nil {
			return
		}
		s.mu.Lock()
		c := call{at: now, valid: err == nil && now.Before(tok.ExpiresAt)}
		if err != nil {
			c.err = err.Error()
		}
		s.calls = append(s.calls, c)
		s.mu.Unlock()
		time.Sleep(time.Duration(20+rand.IntN(30)) * time.Millisecond)
	}
}

// killer alternates a kill at a random moment and one armed for the next refresh answer,
// restarting the killed node after 2 s, until at least d has passed and two kills are done,
// or limit has passed. A kill it started always ends with the election and the restart.
func (s *failoverSoak) killer(t *testing.T, d, limit time.Duration) {
	minimum, cancelMin := context.WithTimeout(context.Background(), d)
	defer cancelMin()
	hard, cancelHard := context.WithTimeout(context.Background(), limit)
	defer cancelHard()
	for n := 0; ; n++ {
		enough := minimum.Done()
		if s.killCount() < 2 {
			enough = nil // d has passed or not: go on until two kills are done
		}
		select {
		case <-enough:
			return
		case <-hard.Done():
			return
		case <-time.After(time.Duration(3000+rand.IntN(3000)) * time.Millisecond):
		}
		killed := false
		if n%2 == 1 {
			var ok bool
			if killed, ok = s.armedKill(hard); !ok {
				return
			}
		} else {
			killed = s.killActive(t, false)
		}
		if killed {
			s.restartKilled(t)
		}
	}
}

// armedKill arms a kill for the next refresh answer and waits for it: whether a node was
// killed, and false for ok when ctx ended before a refresh came.
func (s *failoverSoak) armedKill(ctx context.Context) (killed, ok bool) {
	s.armed.Store(true)
	select {
	case killed = <-s.armCh:
		return killed, true
	case <-ctx.Done():
	}
	if s.armed.Swap(false) {
		return false, false // disarmed before a refresh came
	}
	return <-s.armCh, true // a refresh took it just now: the kill and its election end first
}

// killCount is how many kills are done (their election over).
func (s *failoverSoak) killCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.kills)
}

// killActive SIGKILLs the active node and waits for the election; one aimed at a refresh
// returns right after the kill (the refresh's answer then reaches the replica, whose write
// meets the election), waits in the background and then sends on armCh. It returns (and
// sends) whether it killed a node.
func (s *failoverSoak) killActive(t *testing.T, onRefresh bool) bool {
	i, err := s.cluster.Active()
	if err != nil {
		t.Errorf("no active node to kill: %v", err)
		if onRefresh {
			s.armCh <- false
		}
		return false
	}
	k := kill{at: time.Now(), node: i, onRefresh: onRefresh}
	s.cluster.Kill(i)
	wait := func() {
		if _, err := s.cluster.WaitActive(60 * time.Second); err != nil {
			t.Errorf("no new active node after killing %s: %v", s.cluster.Nodes[i].ID, err)
		}
		k.elected = time.Now()
		s.mu.Lock()
		s.kills = append(s.kills, k)
		s.mu.Unlock()
		if onRefresh {
			s.armCh <- true
		}
	}
	if onRefresh {
		go wait()
		return true
	}
	wait()
	return true
}

// restartKilled starts the last killed node again after 2 s.
func (s *failoverSoak) restartKilled(t *testing.T) {
	s.mu.Lock()
	k := s.kills[len(s.kills)-1]
	s.mu.Unlock()
	time.Sleep(2 * time.Second)
	if err := s.cluster.Start(k.node); err != nil {
		t.Errorf("restarting %s: %v", s.cluster.Nodes[k.node].ID, err)
	}
}

// check asserts the invariants and returns the figures as a table row.
func (s *failoverSoak) check(t *testing.T, label string) string {
	t.Helper()
	lost := 0
	for _, name := range s.names {
		ts, err := s.env.Store.GetTokens(context.Background(), name)
		ir, ierr := s.env.Introspect(ts.RefreshToken)
		if err != nil || ts.Status != authconn.StatusAuthorized || ierr != nil || !ir.Active {
			lost++
			t.Errorf("invariant «no connection lost»: %s: %v status %v, refresh token active %v", name, err, ts.Status, ir.Active)
		}
	}
	if n := s.env.Proxy.ReusedAfterRotation(); n > 0 {
		t.Errorf("invariant «no refresh token presented again once rotated»: %d", n)
		pres := s.env.Proxy.Presentations()
		for _, a := range s.env.Proxy.Answers() {
			if pres[a.Presented] > 1 {
				t.Logf("presented %s at %s: status %d, reached %v, answered after %s", a.Presented, a.Start.Format("15:04:05.000"), a.Status, a.Reached, a.End.Sub(a.Start))
			}
		}
	}
	if n := s.env.Proxy.Reused(); n > 0 {
		t.Logf("%d refresh tokens were presented again after Hydra refused them without rotating (a 4xx or 5xx of its SQLite under load): retried, as they should be", n)
	}
	parked, written := s.logs.count("refreshed tokens could not be stored in Vault"), s.logs.count("pending refreshed tokens stored after the Vault failure")
	if parked != written {
		t.Errorf("invariant «every parked token set is written after the election»: %d parked, %d written", parked, written)
	}
	if len(s.kills) < 2 {
		t.Errorf("only %d kills: the run proves little", len(s.kills))
	}
	valid, inWindow, elections, resume := s.figures()
	errs := map[string]int{}
	for _, c := range s.calls {
		if c.err != "" {
			errs[c.err[:min(len(c.err), 140)]]++
		}
	}
	for e, n := range errs {
		t.Logf("%d× %s", n, e)
	}
	t.Logf("%s: %d kills (%d aimed at a refresh in flight), %d refreshes; elections %s; calls during elections %d, valid %.1f%%; refreshes resumed after %s; parked %d, written %d; connections lost %d",
		label, len(s.kills), s.aimed(), s.obs.successes(), elections, inWindow, valid, resume, parked, written, lost)
	return fmt.Sprintf("| %s | %d (%d at a refresh) | %d | %.1f%% of %d | %s | %s | %d / %d |", label, len(s.kills), s.aimed(), lost, valid, inWindow, elections, resume, parked, written)
}

// figures: the share of valid tokens among calls made during elections, the election
// times, and the time from each kill to the next stored refresh (median and max).
func (s *failoverSoak) figures() (validPct float64, inWindow int, elections, resume string) {
	var el, re []time.Duration
	valid := 0
	for _, k := range s.kills {
		el = append(el, k.elected.Sub(k.at))
		if next, ok := s.obs.firstSuccessAfter(k.at); ok {
			re = append(re, next.Sub(k.at))
		}
		for _, c := range s.calls {
			if !c.at.Before(k.at) && c.at.Before(k.elected) {
				inWindow++
				if c.valid {
					valid++
				}
			}
		}
	}
	if inWindow > 0 {
		validPct = 100 * float64(valid) / float64(inWindow)
	}
	return validPct, inWindow, medianMax(el), medianMax(re)
}

func (s *failoverSoak) aimed() int {
	n := 0
	for _, k := range s.kills {
		if k.onRefresh {
			n++
		}
	}
	return n
}

func medianMax(d []time.Duration) string {
	if len(d) == 0 {
		return "-"
	}
	slices.Sort(d)
	return fmt.Sprintf("%.1f s median, %.1f s max", d[len(d)/2].Seconds(), d[len(d)-1].Seconds())
}

// TestVaultFailoverUnderRefreshLoad runs the soak (at least 30 s and two kills) without and
// with Hydra's rotation grace period; the full size adds a run whose failover budget
// (0.5 s) is shorter than an election, so that refreshed sets are parked in memory and
// written after it.
func TestVaultFailoverUnderRefreshLoad(t *testing.T) {
	type variant struct {
		label         string
		grace, budget time.Duration
	}
	d, conns := 30*time.Second, 2
	variants := []variant{{"no grace period", 0, 0}, {"grace period 10 s", 10 * time.Second, 0}}
	if os.Getenv("TAILOR_FAILOVER_SOAK") != "" {
		d, conns = 3*time.Minute, 5
		variants = append(variants, variant{"no grace period, failover budget 0.5 s", 0, 500 * time.Millisecond})
	}
	for _, v := range variants {
		t.Run(strings.ReplaceAll(v.label, " ", "_"), func(t *testing.T) {
			s := newFailoverSoak(t, v.grace, v.budget, conns)
			s.run(t, d)
			t.Log("figure row: " + s.check(t, v.label))
		})
	}
}

// timedObserver records when refreshes were stored.
type timedObserver struct {
	mu      sync.Mutex
	success []time.Time
}

func (o *timedObserver) CacheHit(string)  {}
func (o *timedObserver) CacheMiss(string) {}
func (o *timedObserver) Refresh(_, outcome string) {
	if outcome == broker.OutcomeSuccess {
		o.mu.Lock()
		o.success = append(o.success, time.Now())
		o.mu.Unlock()
	}
}

func (o *timedObserver) successes() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.success)
}

func (o *timedObserver) firstSuccessAfter(t time.Time) (time.Time, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, s := range o.success {
		if s.After(t) {
			return s, true
		}
	}
	return time.Time{}, false
}

// messageCounter is a slog.Handler that counts records by message (and writes them to
// stderr with TOKEND_TEST_LOG set).
type messageCounter struct {
	mu     sync.Mutex
	counts map[string]int
}

func (m *messageCounter) Enabled(context.Context, slog.Level) bool { return true }
func (m *messageCounter) Handle(_ context.Context, r slog.Record) error {
	m.mu.Lock()
	m.counts[r.Message]++
	m.mu.Unlock()
	if os.Getenv("TOKEND_TEST_LOG") != "" {
		fmt.Fprintf(os.Stderr, "%s %s %s\n", r.Time.Format("15:04:05.000"), r.Level, r.Message)
	}
	return nil
}
func (m *messageCounter) WithAttrs([]slog.Attr) slog.Handler { return m }
func (m *messageCounter) WithGroup(string) slog.Handler      { return m }

// count returns how many records had a message starting with prefix.
func (m *messageCounter) count(prefix string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for msg, c := range m.counts {
		if strings.HasPrefix(msg, prefix) {
			n += c
		}
	}
	return n
}
