package broker_test

import (
	"context"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/broker"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv/tailortest"
	"github.com/authconnection/terraform-provider-tailor/internal/vaultclient"
)

// staleRun is what three replicas behind a lagging standby did to one connection.
type staleRun struct {
	env    *tailortest.Env
	proxy  *tailortest.StaleVault
	calls  *callResult
	status authconn.Status
	active bool // the stored refresh token is still active at Hydra
}

// runBehindStaleStandby authorizes a connection, then three replicas whose Vault is the
// StaleVault proxy (every token-record read a version behind unless a header asks for the
// latest), with consistency mode, serve 30 callers for 12 s of 4-second Hydra tokens.
func runBehindStaleStandby(t *testing.T, mode string) *staleRun {
	t.Helper()
	r := &staleRun{env: tailortest.Start(t, testenv.HydraOptions{AccessTokenTTL: 4 * time.Second})}
	r.env.AddConnection(t, "stale")
	r.env.Authorize(t, "stale")
	r.proxy = tailortest.NewStaleVault(t, r.env.Vault.Addr, r.env.Prefix)
	var brokers []*broker.Broker
	for i := range 3 {
		cfg := vaultclient.Config{Address: r.proxy.URL, Token: r.env.Vault.Token, Timeout: 5 * time.Second, Consistency: mode}
		b, _ := newBroker(t, r.env, mode+"-replica-"+string(rune('0'+i)), broker.Options{Store: r.env.NewStoreWith(t, cfg)})
		brokers = append(brokers, b)
	}
	r.calls = callFor(brokers, "stale", 30, 12*time.Second, func(string) {})
	for _, b := range brokers {
		b.Close()
	}
	final, err := r.env.Store.GetTokens(context.Background(), "stale")
	if err != nil {
		t.Fatal(err)
	}
	r.status = final.Status
	ir, err := r.env.Introspect(final.RefreshToken)
	r.active = err == nil && ir.Active
	t.Logf("%s: %d calls, %d failed; %d refreshes, %d refresh tokens presented twice; proxy: %d stale reads, %d current by header; final status %s, refresh token active %v",
		mode, r.calls.calls, r.calls.failures, r.env.Proxy.Refreshes(), r.env.Proxy.Reused(), r.proxy.Stale.Load(), r.proxy.Current.Load(), r.status, r.active)
	return r
}

// TestConsistentReadsBehindALaggingStandby: with the default consistency, the reads under
// the refresh lease carry the replica's X-Vault-Index, so no replica ever presents a
// rotated refresh token even though every other read of the record lags a version behind;
// Hydra, which revokes the whole chain on reuse, keeps the connection valid.
func TestConsistentReadsBehindALaggingStandby(t *testing.T) {
	t.Parallel()
	r := runBehindStaleStandby(t, vaultclient.ConsistencyStrong)
	if n := r.env.Proxy.Reused(); n != 0 {
		t.Errorf("invariant «no rotated refresh token is presented»: %d presented twice", n)
	}
	if r.status != authconn.StatusAuthorized || !r.active {
		t.Errorf("invariant «the connection survives»: status %s, refresh token active %v", r.status, r.active)
	}
	if r.env.Proxy.Refreshes() < 2 || r.proxy.Stale.Load() == 0 || r.proxy.Current.Load() == 0 {
		t.Errorf("the run proves nothing: %d refreshes, %d stale reads, %d consistent reads", r.env.Proxy.Refreshes(), r.proxy.Stale.Load(), r.proxy.Current.Load())
	}
	if r.calls.failures > 0 {
		t.Errorf("%d of %d calls failed; first: %v", r.calls.failures, r.calls.calls, r.calls.firstErr)
	}
}

// TestEventualReadsBehindALaggingStandbyBreakTheChain is the control: with consistency
// eventual, the same run presents an already rotated refresh token, Hydra detects the
// reuse, and the connection needs authorizing again. It shows that the proxy lags for real.
func TestEventualReadsBehindALaggingStandbyBreakTheChain(t *testing.T) {
	t.Parallel()
	r := runBehindStaleStandby(t, vaultclient.ConsistencyEventual)
	if r.env.Proxy.Reused() == 0 && r.status == authconn.StatusAuthorized && r.active {
		t.Errorf("the control run kept the chain valid (%d refreshes): the lagging proxy did not bite", r.env.Proxy.Refreshes())
	}
}
