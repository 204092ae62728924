package main

import (
	"strings"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/testenv"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv/tailortest"
)

// TestChangesReachEveryServeProcess: two `tokend serve` processes that re-read records only
// hourly (--recheck-interval 1h) serve a connection; `tokend revoke` and `tokend keys revoke`,
// run as separate commands, reach both through the change log: the token answers 409, the
// revoked API key 401, each within seconds.
func TestChangesReachEveryServeProcess(t *testing.T) {
	t.Parallel()
	env := tailortest.Start(t, testenv.HydraOptions{AccessTokenTTL: time.Hour})
	env.AddConnection(t, "google-oauth")
	env.Authorize(t, "google-oauth")
	bed := newTokendBed(t, env)
	key := bed.createKey(t, "--connections", "google-*")
	other := bed.createKey(t, "--connections", "google-*")
	var urls []string
	for _, r := range []string{"changes-a", "changes-b"} {
		urls = append(urls, bed.serve(t, r, withFlags("--recheck-interval", "1h", "--key-cache-ttl", "1h")).URL)
	}
	path := "/v1/connections/google-oauth/token"
	for _, u := range urls {
		for _, k := range []string{key, other} {
			if resp, body := get(t, u+path, k); resp.StatusCode != 200 {
				t.Fatalf("before: %d %s", resp.StatusCode, body)
			}
		}
	}
	if _, stderr, err := bed.run("keys", "revoke", strings.SplitN(other, "_", 3)[1]); err != nil {
		t.Fatalf("keys revoke: %v\n%s", err, stderr)
	}
	for _, u := range urls {
		reaches(t, "the revoked API key", func() bool { r, _ := get(t, u+path, other); return r.StatusCode == 401 })
	}
	if _, stderr, err := bed.run("revoke", "google-oauth"); err != nil {
		t.Fatalf("revoke: %v\n%s", err, stderr)
	}
	for _, u := range urls {
		reaches(t, "the revoke", func() bool { r, _ := get(t, u+path, key); return r.StatusCode == 409 })
	}
}

// reaches waits for ok and logs how long it took; 20 s is far below the hour after which the
// processes would re-read on their own.
func reaches(t *testing.T, what string, ok func() bool) {
	t.Helper()
	start := time.Now()
	for time.Since(start) < 20*time.Second {
		if ok() {
			t.Logf("%s reached a tokend serve process after %s", what, time.Since(start).Round(time.Millisecond))
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("invariant «a change reaches every replica through the change log»: %s not seen after 20 s", what)
}
