package broker_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/broker"
	"github.com/authconnection/terraform-provider-tailor/internal/connection"
	"github.com/authconnection/terraform-provider-tailor/internal/oauth"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv/tailortest"
)

// changeBed is two replicas that follow the change log and never re-read on their own (a
// recheck interval and a negative-answer TTL of an hour): whatever reaches them within the
// test came through the log.
type changeBed struct {
	env  *tailortest.Env
	a, b *broker.Broker
	st   *store.Store // an operator's or Terraform's own store
}

func newChangeBed(t *testing.T) *changeBed {
	t.Helper()
	env := tailortest.Start(t, testenv.HydraOptions{})
	c := &changeBed{env: env, st: env.NewStore(t)}
	for i, r := range []**broker.Broker{&c.a, &c.b} {
		st := env.NewStore(t)
		*r, _ = newBroker(t, env, []string{"replica-a", "replica-b"}[i], broker.Options{Store: st, Changes: st,
			RecheckInterval: time.Hour, NegativeTTL: time.Hour})
	}
	return c
}

// propagated waits until check(b) holds and returns how long that took; it fails the test
// after 20 s (the recheck interval is an hour, so only the change log can make it hold).
func propagated(t *testing.T, b *broker.Broker, what string, check func(*broker.Token, error) bool) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < 20*time.Second {
		if check(b.Token(context.Background(), "c")) {
			return time.Since(start)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("invariant «a change reaches every replica through the change log»: %s not seen after 20 s", what)
	return 0
}

// TestChangesReachEveryReplica: a re-authorization, a revoke, a new connection and a deletion
// made by another process reach both replicas, which had the old state cached.
func TestChangesReachEveryReplica(t *testing.T) {
	t.Parallel()
	c := newChangeBed(t)
	ctx := context.Background()
	c.env.AddConnection(t, "c")
	first := c.env.Authorize(t, "c")
	for _, r := range []*broker.Broker{c.a, c.b} {
		if tok, err := r.Token(ctx, "c"); err != nil || tok.AccessToken != first.AccessToken {
			t.Fatalf("first token: %v", err)
		}
	}
	second := c.env.Authorize(t, "c") // re-authorization: a new chain
	for _, r := range []*broker.Broker{c.a, c.b} {
		d := propagated(t, r, "the re-authorization", func(tok *broker.Token, err error) bool { return err == nil && tok.AccessToken == second.AccessToken })
		t.Logf("re-authorization seen after %s", d.Round(time.Millisecond))
	}
	if _, err := connection.Revoke(ctx, c.st, &oauth.Client{}, "c", connection.Options{}); err != nil {
		t.Fatal(err)
	}
	for _, r := range []*broker.Broker{c.a, c.b} {
		d := propagated(t, r, "the revoke", func(_ *broker.Token, err error) bool {
			var na *broker.NotAuthorizedError
			return errors.As(err, &na)
		})
		t.Logf("revoke seen after %s", d.Round(time.Millisecond))
	}
	if err := c.st.DeleteConnection(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	for _, r := range []*broker.Broker{c.a, c.b} {
		d := propagated(t, r, "the deletion", func(_ *broker.Token, err error) bool { return errors.Is(err, broker.ErrNotFound) })
		t.Logf("deletion seen after %s", d.Round(time.Millisecond))
	}
	c.env.AddConnection(t, "c")
	third := c.env.Authorize(t, "c")
	for _, r := range []*broker.Broker{c.a, c.b} {
		d := propagated(t, r, "the new connection", func(tok *broker.Token, err error) bool { return err == nil && tok.AccessToken == third.AccessToken })
		t.Logf("new connection seen after %s", d.Round(time.Millisecond))
	}
}
