package main

import (
	"context"
	"encoding/json"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/testenv"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv/tailortest"
)

// TestProviderFaults runs one real `tokend serve` against Hydra (persistent storage, 4 s
// access tokens) behind the counting proxy, and breaks the token endpoint in four ways, one
// connection each: Hydra stopped (the proxy gets connection refused and answers 502), slow
// (requests wait longer than --request-timeout and the provider-call deadline before they
// are forwarded), 503 answers, and connections closed without an answer. For each fault
// it asserts:
//
//   - every 200 carries a token that has not expired, and it is the token from before the
//     fault (nothing was rotated); every other answer is 503 with a Retry-After of at least
//     1 s; before the serving cutoff every call is a 200;
//   - after the token expired, calls get 503 (the fault outlasts the token);
//   - the failed attempts reaching the proxy follow the backoff schedule: the gap before
//     attempt n+1 is at least half of min(base·2^(n-1), max) (equal jitter), so their number
//     is bounded; the figure is logged next to the schedule's bound;
//   - once the fault ends, tokend recovers by itself: a new token, active at Hydra, and no
//     refresh token ever reached Hydra twice.
//
// TAILOR_FAULT_SECONDS sets how long each fault lasts (default 6; docs/reliability.md has
// the 60 s figures).
func TestProviderFaults(t *testing.T) {
	faultFor := time.Duration(envInt(t, "TAILOR_FAULT_SECONDS", 6)) * time.Second
	const backoffBase, backoffMax = 250 * time.Millisecond, 2 * time.Second
	env := tailortest.Start(t, testenv.HydraOptions{AccessTokenTTL: 4 * time.Second, Persistent: true})
	p := newTokendBed(t, env).serve(t, "faults", withFlags("--insecure-no-auth", "--lease-ttl", "6s", "--lease-safety", "2s",
		"--request-timeout", "2s", "--backoff-base", backoffBase.String(), "--backoff-max", backoffMax.String()))

	modes := []struct {
		name       string
		start, end func()
	}{
		{"hydra_stopped", env.Hydra.Stop, func() {
			if err := env.Hydra.Start(); err != nil {
				t.Error(err)
			}
		}},
		{"slow", func() { env.Proxy.SetFault(tailortest.FaultDelay, 6*time.Second) }, func() { env.Proxy.SetFault(tailortest.FaultNone, 0) }},
		{"http_503", func() { env.Proxy.SetFault(tailortest.Fault5xx, 0) }, func() { env.Proxy.SetFault(tailortest.FaultNone, 0) }},
		{"connection_reset", func() { env.Proxy.SetFault(tailortest.FaultReset, 0) }, func() { env.Proxy.SetFault(tailortest.FaultNone, 0) }},
	}
	ctx := context.Background()
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			name := sanitizeName("fault-" + m.name)
			env.AddConnection(t, name)
			env.Authorize(t, name)
			url := p.URL + "/v1/connections/" + name + "/token"
			tok0, exp0 := mustToken(t, url)
			rec, err := env.Store.GetTokens(ctx, name)
			if err != nil || rec.AccessToken != tok0 {
				t.Fatalf("the first token is not the authorized one (%v)", err)
			}
			oldRT := tailortest.TokenHash(rec.RefreshToken)

			m.start()
			began := time.Now()
			var ok200, unavailable, beforeCutoff int
			for time.Since(began) < faultFor {
				resp, body, err := getAuth(url, "")
				done := time.Now()
				if err != nil {
					t.Fatalf("tokend unreachable: %v", err)
				}
				switch resp.StatusCode {
				case 200:
					var tk tokenBody
					_ = json.Unmarshal(body, &tk)
					if tk.AccessToken != tok0 {
						t.Fatalf("a new token was served during the fault")
					}
					if !done.Before(tk.ExpiresAt.Add(time.Second)) { // expires_at is rounded down
						t.Fatalf("served an expired token (expires_at %s)", tk.ExpiresAt)
					}
					ok200++
				case 503:
					ra, err := strconv.Atoi(resp.Header.Get("Retry-After"))
					if err != nil || ra < 1 {
						t.Fatalf("503 without a valid Retry-After (%q): %s", resp.Header.Get("Retry-After"), body)
					}
					if done.Before(exp0.Add(-2 * time.Second)) {
						// Before the serving cutoff (expiry − lead − skew; lead is a third of 4 s)
						// the cached token must be served whatever the provider does.
						beforeCutoff++
					}
					unavailable++
				default:
					t.Fatalf("status %d during the fault: %s", resp.StatusCode, body)
				}
				time.Sleep(50 * time.Millisecond)
			}
			faultEnd := time.Now()
			m.end()
			if beforeCutoff > 0 {
				t.Errorf("%d calls got 503 before the serving cutoff of a valid token", beforeCutoff)
			}
			if ok200 == 0 || unavailable == 0 {
				t.Errorf("%d 200s and %d 503s during a %s fault: want both (the token is valid for 4 s)", ok200, unavailable, faultFor)
			}

			// Recovery without intervention.
			var tok1 string
			for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
				resp, body, err := getAuth(url, "")
				if err == nil && resp.StatusCode == 200 {
					var tk tokenBody
					_ = json.Unmarshal(body, &tk)
					if tk.AccessToken != tok0 {
						tok1 = tk.AccessToken
						break
					}
				}
				if time.Now().After(deadline) {
					t.Fatalf("no recovery within 60 s after the fault ended")
				}
			}
			recovered := time.Since(faultEnd)
			if ir, err := env.Introspect(tok1); err != nil || !ir.Active {
				t.Errorf("the token after recovery is not active at Hydra (%+v, %v)", ir, err)
			}

			// Attempts with the pre-fault refresh token that failed: the backoff schedule.
			var failed []tailortest.Answer
			for _, a := range env.Proxy.Answers() {
				if a.Presented == oldRT && a.Status != 200 {
					failed = append(failed, a)
				}
			}
			if len(failed) == 0 {
				t.Fatalf("no failed refresh attempt reached the proxy")
			}
			for i := 1; i < len(failed); i++ {
				gap := failed[i].Start.Sub(failed[i-1].Start)
				if want := backoffStep(i, backoffBase, backoffMax) / 2; gap < want-50*time.Millisecond {
					t.Errorf("attempt %d came %s after attempt %d; the backoff schedule allows no less than %s", i+1, gap, i, want)
				}
			}
			span := failed[len(failed)-1].Start.Sub(failed[0].Start)
			t.Logf("%s for %s: %d calls served the still-valid token, %d got 503 with Retry-After; %d failed refresh attempts in %s (schedule bound %d: %s doubling to %s, equal jitter); recovered %s after the fault ended",
				m.name, faultFor.Round(time.Second), ok200, unavailable, len(failed), span.Round(time.Millisecond),
				maxAttempts(span, backoffBase, backoffMax), backoffBase, backoffMax, recovered.Round(time.Millisecond))
			if n := env.Proxy.Reused(); n > 0 {
				t.Errorf("%d refresh tokens reached Hydra twice", n)
			}
		})
	}
}

// backoffStep is the broker's backoff before attempt n+1 without jitter.
func backoffStep(n int, base, maxD time.Duration) time.Duration {
	d := base
	for i := 1; i < n && d < maxD; i++ {
		d *= 2
	}
	return min(d, maxD)
}

// maxAttempts is the most attempts the schedule allows in span after the first one: every
// wait is at least half its step.
func maxAttempts(span, base, maxD time.Duration) int {
	n, used := 1, time.Duration(0)
	for {
		used += backoffStep(n, base, maxD) / 2
		if used > span+50*time.Millisecond {
			return n
		}
		n++
	}
}

type tokenBody struct {
	AccessToken string    `json:"access_token"`
	ExpiresAt   time.Time `json:"expires_at"`
}

func mustToken(t *testing.T, url string) (string, time.Time) {
	t.Helper()
	resp, body, err := getAuth(url, "")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %v %s", url, err, body)
	}
	var tk tokenBody
	if err := json.Unmarshal(body, &tk); err != nil || tk.AccessToken == "" {
		t.Fatalf("token body: %v", err)
	}
	return tk.AccessToken, tk.ExpiresAt
}

func sanitizeName(s string) string {
	out := []byte(s)
	for i, c := range out {
		if c == '_' {
			out[i] = '-'
		}
	}
	return string(out)
}

// envInt reads a positive integer test size from the environment.
func envInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive integer", name, v)
	}
	t.Logf("%s=%d", name, n)
	return n
}
