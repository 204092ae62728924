package testenv

import (
	"context"
	"testing"
	"time"
)

// TestVaultClusterSurvivesTheActiveNodeKilled: a 3-node Raft cluster elects a new active
// node when the active one is SIGKILLed, keeps the data written before, and takes the
// killed node back as a standby.
func TestVaultClusterSurvivesTheActiveNodeKilled(t *testing.T) {
	t.Parallel()
	c := StartVaultCluster(t, VaultClusterOptions{})
	ctx := context.Background()
	if _, err := c.Client().KVv2("secret").Put(ctx, "x", map[string]any{"v": "1"}); err != nil {
		t.Fatal(err)
	}
	first, err := c.Active()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	c.Kill(first)
	next, err := c.WaitActive(30 * time.Second)
	if err != nil || next == first {
		t.Fatalf("invariant «a standby takes over»: active %d after killing %d: %v", next, first, err)
	}
	t.Logf("new active node %s %s after the kill", c.Nodes[next].ID, time.Since(start).Round(time.Millisecond))
	s, err := c.Client().KVv2("secret").Get(ctx, "x")
	if err != nil || s.Data["v"] != "1" {
		t.Fatalf("invariant «committed data survives»: %v %v", s, err)
	}
	if err := c.Start(first); err != nil {
		t.Fatal(err)
	}
	// The restarted node answers reads (forwarding to the active node).
	s, err = c.Nodes[first].client(c.Token).KVv2("secret").Get(ctx, "x")
	if err != nil || s.Data["v"] != "1" {
		t.Fatalf("invariant «the restarted node serves the cluster's data»: %v %+v", s, err)
	}
}
