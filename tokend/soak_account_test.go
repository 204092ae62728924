package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv/tailortest"
)

// soakReport is what a soak saw, counted for the invariant checks.
type soakReport struct {
	name      string
	statuses  map[int]int
	elapsed   time.Duration
	kills     []kill
	targeted  int
	answers   []tailortest.Answer
	byToken   map[string][]tailortest.Answer // answers that reached Hydra, by presented refresh token
	lost      func(tailortest.Answer) bool
	calls     *callCounts
	nServes   int
	distinct  int
	stale     int
	inactive  int64
	introErrs int64
	glitches  int64

	lostN, unexplained, windowKills, windowKillsRandom int
	badReuse, refused400, refused400Lost, retried5xx   int
	deathCount                                         int
	deaths                                             map[string]int
}

// account reads the proxy's record of every refresh and the final token records, and
// counts lost answers, presentations of refresh tokens and stale serves.
func (s *soak) account() *soakReport {
	r := &soakReport{name: s.t.Name(), statuses: s.env.Proxy.Statuses(), elapsed: s.elapsed, answers: s.env.Proxy.Answers(),
		byToken: map[string][]tailortest.Answer{}, calls: &s.calls, inactive: s.inactive.Load(), introErrs: s.introErrs.Load(),
		glitches: s.introGlitches.Load(), deaths: s.deaths, deathCount: s.deathCount}
	for _, a := range r.answers {
		if a.Reached {
			r.byToken[a.Presented] = append(r.byToken[a.Presented], a)
		}
	}
	finals := map[string]bool{}
	for _, c := range s.conns {
		ts, err := s.env.Store.GetTokens(context.Background(), c)
		if err != nil {
			s.t.Fatal(err)
		}
		finals[tailortest.TokenHash(ts.RefreshToken)] = true
		if ts.Status == authconn.StatusNeedsReauthorization && s.grace == 0 {
			r.deaths[c]++ // died after the monitor's last look
			r.deathCount++
		}
	}
	pres := s.env.Proxy.Presentations()
	// A lost answer: Hydra issued a new refresh token (200) that was never stored: it was
	// never presented later and is no connection's stored token.
	r.lost = func(a tailortest.Answer) bool {
		return a.Status == 200 && a.Returned != "" && pres[a.Returned] == 0 && !finals[a.Returned]
	}
	s.killsMu.Lock()
	r.kills = append([]kill(nil), s.kills...)
	s.killsMu.Unlock()
	for _, k := range r.kills {
		if k.targeted {
			r.targeted++
		}
	}
	r.countLostAnswers(s)
	r.countPresentations()
	r.countStale(s)
	return r
}

// countLostAnswers matches every lost answer with a kill of the replica that held the lease.
func (r *soakReport) countLostAnswers(s *soak) {
	for _, a := range r.answers {
		if !r.lost(a) {
			continue
		}
		r.lostN++
		h, _ := s.holderAt.Load(a.Presented + fmt.Sprint(a.Start.UnixNano()))
		explained := false
		for _, k := range r.kills {
			if k.id == h && k.at.After(a.Start.Add(-time.Second)) && k.at.Before(a.End.Add(5*time.Second)) {
				explained = true
				r.windowKills++
				if !k.targeted {
					r.windowKillsRandom++
				}
				break
			}
		}
		if !explained {
			r.unexplained++
			s.t.Logf("a refresh answer (at %s) was lost, but its lease holder %v was not killed then", a.End.Format(time.RFC3339Nano), h)
		}
	}
}

// countPresentations counts refresh tokens presented more than once. Every presentation but
// the last must have had its answer lost; a refused one (400) must follow a lost answer.
//
// Hydra on in-memory SQLite sometimes fails a refresh under concurrent load: a 500
// ("Unable to serialize access"), or a 400 for a refresh token it accepts moments later. A
// token Hydra truly refused (reuse detection) can never succeed again, because the whole
// chain is revoked, so a 400 followed by a 200 for the same token is such a failure, not a
// refusal, and is counted with the 5xx answers; so is a 400 whose error is not
// invalid_grant.
func (r *soakReport) countPresentations() {
	for _, as := range r.byToken {
		acceptedLater := func(i int) bool {
			for _, b := range as[i+1:] {
				if b.Status == 200 {
					return true
				}
			}
			return false
		}
		for i, a := range as {
			// A 400 is a refusal only with invalid_grant: Hydra under load also answers 400
			// with other codes, which tokend treats as a failure to retry, not a refusal.
			hydraFailed := a.Status >= 500 || (a.Status == 400 && (acceptedLater(i) || a.Error != "" && a.Error != "invalid_grant"))
			if i < len(as)-1 && !r.lost(a) {
				if hydraFailed {
					r.retried5xx++ // Hydra failed the request: nothing was rotated
				} else {
					r.badReuse++
				}
			}
			if a.Status == 400 && !hydraFailed {
				r.refused400++
				for _, b := range as[:i] {
					if r.lost(b) {
						r.refused400Lost++
						break
					}
				}
			}
		}
	}
}

// countStale counts calls that got token k after token k+1 of the same connection had been
// served (Hydra revokes k when k's refresh token is used).
func (r *soakReport) countStale(s *soak) {
	s.servesMu.Lock()
	defer s.servesMu.Unlock()
	seen := map[string]bool{}
	byFirst := make([]soakServe, 0, len(s.firstSeen))
	for _, sv := range s.serves {
		if !seen[sv.token] {
			seen[sv.token] = true
			byFirst = append(byFirst, soakServe{s.firstSeen[sv.token], sv.conn, sv.token})
		}
	}
	sort.Slice(byFirst, func(i, j int) bool { return byFirst[i].start.Before(byFirst[j].start) })
	order, next := map[string][]string{}, map[string]string{}
	for _, sv := range byFirst {
		if o := order[sv.conn]; len(o) > 0 {
			next[o[len(o)-1]] = sv.token
		}
		order[sv.conn] = append(order[sv.conn], sv.token)
	}
	for _, sv := range s.serves {
		if n, ok := next[sv.token]; ok && sv.start.After(s.firstSeen[n]) {
			if r.stale < 5 {
				s.t.Logf("stale: %s call started %s got a token whose successor was first served %s", sv.conn, sv.start.Format("15:04:05.000"), s.firstSeen[n].Format("15:04:05.000"))
			}
			r.stale++
		}
	}
	r.nServes, r.distinct = len(s.serves), len(s.firstSeen)
}

// log writes the soak's figures (docs/reliability.md quotes them).
func (r *soakReport) log(t *testing.T) {
	c := r.calls
	answered := c.ok200.Load() + c.unavailable.Load() + c.reauth409.Load() + c.other.Load()
	t.Logf("%s: %d refreshes at Hydra in %s (statuses %v); %d kills (%d targeted at the crash window), kills that landed in the window: %d (%d of them random); lost refresh answers: %d, unexplained by a kill: %d; connections that needed re-authorization: %d %v; refused refresh tokens (400): %d; refresh tokens presented again after a Hydra failure (5xx, or a 400 for a token accepted later): %d; introspection errors: %d, inactive-then-active answers: %d",
		r.name, r.statuses[200], r.elapsed.Round(time.Second), r.statuses, len(r.kills), r.targeted, r.windowKills, r.windowKillsRandom,
		r.lostN, r.unexplained, r.deathCount, r.deaths, r.refused400, r.retried5xx, r.introErrs, r.glitches)
	t.Logf("calls: %d answered (%d ok, %d 503 = %.2f%%, %d 409), %d to a killed replica; %d distinct access tokens served",
		answered, c.ok200.Load(), c.unavailable.Load(), 100*float64(c.unavailable.Load())/float64(max(answered, 1)), c.reauth409.Load(), c.refused.Load(), r.distinct)
}

func checkOnlyExpectedAnswers(t *testing.T, r *soakReport) {
	if n := r.calls.other.Load(); n > 0 {
		t.Errorf("invariant «answers are 200, 503 or 409»: %d other answers; first: %v", n, r.calls.firstOther.Load())
	}
	if n := r.calls.noRetryAfter.Load(); n > 0 {
		t.Errorf("invariant «every 503 has Retry-After»: %d without", n)
	}
}

func checkNoExpiredTokenServed(t *testing.T, r *soakReport) {
	if n := r.calls.expired.Load(); n > 0 {
		t.Errorf("invariant «no expired token is served»: %d were", n)
	}
}

func checkNoTokenServedAfterItsSuccessor(t *testing.T, r *soakReport) {
	if r.stale > 0 {
		t.Errorf("invariant «no token is served after its successor»: %d of %d calls returned an access token after its successor had been served (Hydra had revoked it)", r.stale, r.nServes)
	}
}

func checkServedTokensWereActive(t *testing.T, r *soakReport) {
	if r.inactive > 0 {
		t.Errorf("invariant «every served access token is active at Hydra»: %d were not active when first seen", r.inactive)
	}
}

func checkLostAnswersCoincideWithKills(t *testing.T, r *soakReport) {
	if r.unexplained > 0 {
		t.Errorf("invariant «an answer is lost only when its lease holder is killed»: %d lost refresh answers do not coincide with a kill of the lease holder", r.unexplained)
	}
}

func checkRefreshTokensPresentedAgainOnlyAfterALostAnswer(t *testing.T, r *soakReport) {
	if r.badReuse == 0 {
		return
	}
	r.logRepeatedPresentations(t)
	t.Errorf("invariant «a refresh token is presented again only after its answer was lost»: %d presentations were followed by another presentation of the same token although their answer was not lost", r.badReuse)
}

func checkRefusalsFollowLostAnswers(t *testing.T, r *soakReport) {
	if r.refused400 == r.refused400Lost {
		return
	}
	r.logRepeatedPresentations(t)
	t.Errorf("invariant «Hydra refuses a refresh token only after a lost answer»: %d refresh tokens were refused, %d of them after a lost answer: a death not caused by the crash window", r.refused400, r.refused400Lost)
}

func errSuffix(code string) string {
	if code == "" {
		return ""
	}
	return " " + code
}

// logRepeatedPresentations shows the answers to every refresh token presented more than
// once, for diagnosis.
func (r *soakReport) logRepeatedPresentations(t *testing.T) {
	for tok, as := range r.byToken {
		if len(as) < 2 && (len(as) == 0 || as[0].Status != 400) {
			continue // a refusal presented once is shown too
		}
		var seq []string
		for _, a := range as {
			seq = append(seq, fmt.Sprintf("%d%s(reached=%v lost=%v at %s)", a.Status, errSuffix(a.Error), a.Reached, r.lost(a), a.End.Format("15:04:05.000")))
		}
		t.Logf("refresh token %s: %s", tok, strings.Join(seq, " -> "))
	}
}

func checkNoConnectionDied(t *testing.T, r *soakReport) {
	if r.deathCount > 0 || r.calls.reauth409.Load() > 0 || r.refused400 > 0 {
		t.Errorf("invariant «with a grace period no connection needs re-authorization»: %d needed it, %d 409 answers, %d refused refresh tokens; want 0",
			r.deathCount, r.calls.reauth409.Load(), r.refused400)
	}
}

func checkFinalRecordsAuthorizedAndActive(t *testing.T, s *soak) {
	for _, c := range s.conns {
		ts, err := s.env.Store.GetTokens(context.Background(), c)
		if err != nil {
			t.Fatal(err)
		}
		if ts.Status != authconn.StatusAuthorized {
			t.Errorf("invariant «every record ends authorized»: %s is %s", c, ts.Status)
		}
		if ir, err := s.env.Introspect(ts.RefreshToken); err != nil || !ir.Active {
			t.Errorf("invariant «the stored refresh token is active at Hydra»: %s is not (%v)", c, err)
		}
	}
}

func checkKillsHitTheCrashWindow(t *testing.T, r *soakReport) {
	if r.targeted == 0 {
		t.Errorf("invariant «the soak kills inside the crash window»: no kill was targeted at it")
	}
}

func checkDeathsHaveLostAnswers(t *testing.T, r *soakReport) {
	if r.deathCount > r.lostN {
		t.Errorf("invariant «a connection dies only with a lost refresh answer»: %d deaths but only %d lost refresh answers", r.deathCount, r.lostN)
	}
}
