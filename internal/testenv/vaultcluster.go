package testenv

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	vaultapi "github.com/hashicorp/vault/api"
)

// VaultCluster is a Vault cluster on loopback: Nodes servers with integrated storage
// (Raft), initialised with one Shamir key share that the test holds, unsealed, joined as
// voters, and with secret/ mounted as KV version 2. Any node, the active one included, can
// be killed (SIGKILL) and started again; it rejoins with its Raft data. Ports are random, so
// several clusters run side by side. NewVaultCluster starts one; Close stops it.
type VaultCluster struct {
	Nodes []*VaultNode
	// Token is the root token.
	Token string

	unsealKey string
	tmp       string
	ownTmp    bool
}

// VaultNode is one server of a VaultCluster.
type VaultNode struct {
	// ID is the Raft node id, node-0, node-1, ...
	ID string
	// Addr is the API address, http://127.0.0.1:<port>; it stays the same across restarts.
	Addr    string
	LogPath string

	proc        *process
	clusterPort int
	dir         string
}

// VaultClusterOptions configures NewVaultCluster.
type VaultClusterOptions struct {
	// Nodes is the number of servers; 3 when zero.
	Nodes int
	// Bin is the vault binary; FindTool("vault") when empty.
	Bin string
	// Dir holds the nodes' data, configuration and logs; a new temporary directory that
	// Close removes when empty.
	Dir string
}

// NewVaultCluster starts the cluster and returns once every node is unsealed, every node
// is a Raft voter, and KV v2 at secret/ answers.
func NewVaultCluster(o VaultClusterOptions) (*VaultCluster, error) {
	if o.Nodes == 0 {
		o.Nodes = 3
	}
	if o.Bin == "" {
		bin, err := FindTool("vault")
		if err != nil {
			return nil, err
		}
		o.Bin = bin
	}
	c := &VaultCluster{}
	var home string
	var err error
	if c.tmp, home, c.ownTmp, err = workDir(o.Dir, "testenv-vault-cluster-"); err != nil {
		return nil, err
	}
	// Another process may take a port between FreePort and the bind: start over on new
	// ports then, as the single servers do.
	for attempt := 0; ; attempt++ {
		err = c.start(home, o)
		if err == nil {
			return c, nil
		}
		c.stopNodes()
		if !errors.Is(err, errAddrInUse) || attempt == 2 {
			c.Close()
			return nil, err
		}
	}
}

// start makes fresh nodes on new ports and bootstraps them.
func (c *VaultCluster) start(home string, o VaultClusterOptions) error {
	c.Nodes = nil
	for i := range o.Nodes {
		n, err := newVaultNode(c.tmp, home, o.Bin, i)
		if err != nil {
			return err
		}
		c.Nodes = append(c.Nodes, n)
	}
	return c.bootstrap()
}

// stopNodes stops the nodes and removes their data, for a new start.
func (c *VaultCluster) stopNodes() {
	for _, n := range c.Nodes {
		n.proc.stop(10 * time.Second)
		_ = os.RemoveAll(filepath.Join(n.dir, "raft"))
	}
}

// newVaultNode prepares node i with random API and cluster ports.
func newVaultNode(tmp, home, bin string, i int) (*VaultNode, error) {
	api, err := FreePort()
	if err != nil {
		return nil, err
	}
	cport, err := FreePort()
	if err != nil {
		return nil, err
	}
	n := &VaultNode{ID: "node-" + strconv.Itoa(i), Addr: "http://127.0.0.1:" + strconv.Itoa(api), clusterPort: cport,
		dir: filepath.Join(tmp, "node-"+strconv.Itoa(i))}
	if err := os.MkdirAll(filepath.Join(n.dir, "raft"), 0o700); err != nil {
		return nil, err
	}
	n.LogPath = filepath.Join(n.dir, "vault.log")
	n.proc = &process{name: "vault " + n.ID, path: bin, env: baseEnv(home), dir: n.dir, logPath: n.LogPath,
		args: []string{"server", "-config=" + filepath.Join(n.dir, "vault.hcl")}}
	return n, nil
}

// config is node n's server configuration: Raft storage, on ports of its own. The nodes
// join by an explicit sys/storage/raft/join (see bootstrap) rather than retry_join, whose
// backoff made a loaded machine wait past the start-up timeout now and then; a restarted
// node finds its peers in its Raft data.
func (n *VaultNode) config() string {
	listen := strings.TrimPrefix(n.Addr, "http://")
	// performance_multiplier 1 is the production tuning of Raft's timeouts (the default, 5,
	// suits slow development machines and makes an election take about 20 s).
	return fmt.Sprintf(`storage "raft" {
  path    = %s
  node_id = %q
  performance_multiplier = 1
}
listener "tcp" {
  address         = %q
  cluster_address = "127.0.0.1:%d"
  tls_disable     = true
}
api_addr      = %q
cluster_addr  = "https://127.0.0.1:%d"
disable_mlock = true
ui            = false
`, strconv.Quote(filepath.Join(n.dir, "raft")), n.ID, listen, n.clusterPort, n.Addr, n.clusterPort)
}

// bootstrap writes the configurations, starts every node, initialises and unseals the
// first, joins the others to it and unseals them, and waits for voters and KV.
func (c *VaultCluster) bootstrap() error {
	for _, n := range c.Nodes {
		if err := os.WriteFile(filepath.Join(n.dir, "vault.hcl"), []byte(n.config()), 0o600); err != nil {
			return err
		}
		if err := n.launch(); err != nil {
			return err
		}
	}
	first := c.Nodes[0].client("")
	ctx, cancel := context.WithTimeout(context.Background(), vaultReadyTimeout)
	defer cancel()
	res, err := first.Sys().InitWithContext(ctx, &vaultapi.InitRequest{SecretShares: 1, SecretThreshold: 1})
	if err != nil {
		return fmt.Errorf("testenv: initialising the cluster: %w", err)
	}
	c.Token, c.unsealKey = res.RootToken, res.KeysB64[0]
	if err := c.unseal(c.Nodes[0], http.StatusOK); err != nil {
		return err
	}
	// Promote joined servers to voters after 1 s instead of autopilot's 10 s default.
	if _, err := c.Nodes[0].client(c.Token).Logical().WriteWithContext(ctx, "sys/storage/raft/autopilot/configuration",
		map[string]any{"server_stabilization_time": "1s", "cleanup_dead_servers": false}); err != nil {
		return fmt.Errorf("testenv: autopilot configuration: %w", err)
	}
	for _, n := range c.Nodes[1:] {
		if err := c.join(ctx, n); err != nil {
			return err
		}
		if err := c.unseal(n, http.StatusTooManyRequests); err != nil {
			return err
		}
	}
	if err := c.waitVoters(); err != nil {
		return err
	}
	return c.mountKV(ctx)
}

// launch starts the node's process and waits until its listener answers.
func (n *VaultNode) launch() error {
	if err := n.proc.start(); err != nil {
		return err
	}
	return n.proc.waitReady(vaultReadyTimeout, func() error {
		_, err := httpStatus(n.Addr + "/v1/sys/health")
		return err
	})
}

// join asks n to join the first node's cluster (retrying while the leader settles); with a
// Shamir seal the join completes when n is unsealed.
func (c *VaultCluster) join(ctx context.Context, n *VaultNode) error {
	cl := n.client("")
	leader := c.Nodes[0].Addr
	return n.proc.waitReady(vaultReadyTimeout, func() error {
		res, err := cl.Sys().RaftJoinWithContext(ctx, &vaultapi.RaftJoinRequest{LeaderAPIAddr: leader})
		if err == nil && !res.Joined {
			err = errors.New("not joined yet")
		}
		if err != nil {
			return fmt.Errorf("%s: joining %s: %w", n.ID, leader, err)
		}
		return nil
	})
}

// unseal submits the key to n until sys/health answers want (200 active, 429 standby): a
// node that is still joining answers "not initialized" for a while.
func (c *VaultCluster) unseal(n *VaultNode, want int) error {
	cl := n.client("")
	return n.proc.waitReady(vaultReadyTimeout, func() error {
		code, err := httpStatus(n.Addr + "/v1/sys/health?standbycode=429&perfstandbyok=true")
		if err == nil && code == want {
			return nil
		}
		if st, err := cl.Sys().SealStatus(); err == nil && st.Initialized && st.Sealed {
			_, _ = cl.Sys().Unseal(c.unsealKey)
		}
		return fmt.Errorf("%s: sys/health %d (%v), want %d", n.ID, code, err, want)
	})
}

// waitVoters waits until the Raft configuration lists every node as a voter.
func (c *VaultCluster) waitVoters() error {
	return c.Nodes[0].proc.waitReady(vaultReadyTimeout, func() error {
		cfg, err := c.Client().Logical().Read("sys/storage/raft/configuration")
		if err != nil || cfg == nil {
			return fmt.Errorf("raft configuration: %v", err)
		}
		servers, _ := cfg.Data["config"].(map[string]any)["servers"].([]any)
		voters := 0
		for _, s := range servers {
			if v, _ := s.(map[string]any)["voter"].(bool); v {
				voters++
			}
		}
		if voters != len(c.Nodes) {
			return fmt.Errorf("%d of %d servers are voters", voters, len(c.Nodes))
		}
		return nil
	})
}

// mountKV mounts secret/ as KV v2 and waits until it answers.
func (c *VaultCluster) mountKV(ctx context.Context) error {
	cl := c.Client()
	if err := cl.Sys().MountWithContext(ctx, "secret", &vaultapi.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
		return fmt.Errorf("testenv: mounting secret/: %w", err)
	}
	return c.Nodes[0].proc.waitReady(vaultReadyTimeout, func() error {
		s, err := cl.Logical().Read("secret/config")
		if err == nil && (s == nil || s.Data == nil) {
			err = errors.New("secret/config is not there yet")
		}
		return err
	})
}

// Close stops every node and removes the temporary directory NewVaultCluster made.
func (c *VaultCluster) Close() {
	for _, n := range c.Nodes {
		n.proc.stop(10 * time.Second)
	}
	if c.ownTmp {
		_ = os.RemoveAll(c.tmp)
	}
}

// Addrs returns the nodes' API addresses.
func (c *VaultCluster) Addrs() []string {
	var a []string
	for _, n := range c.Nodes {
		a = append(a, n.Addr)
	}
	return a
}

// Client returns a root client of the active node (or the first live one).
func (c *VaultCluster) Client() *vaultapi.Client {
	if i, err := c.Active(); err == nil {
		return c.Nodes[i].client(c.Token)
	}
	for _, n := range c.Nodes {
		if n.proc.running() {
			return n.client(c.Token)
		}
	}
	return c.Nodes[0].client(c.Token)
}

// Active returns the index of the active node, asking the live nodes.
func (c *VaultCluster) Active() (int, error) {
	for i, n := range c.Nodes {
		if !n.proc.running() {
			continue
		}
		if code, err := httpStatus(n.Addr + "/v1/sys/health"); err == nil && code == http.StatusOK {
			return i, nil
		}
	}
	return -1, errors.New("no active node")
}

// WaitActive waits up to timeout for a live active node and returns its index.
func (c *VaultCluster) WaitActive(timeout time.Duration) (int, error) {
	deadline := time.Now().Add(timeout)
	for {
		i, err := c.Active()
		if err == nil || time.Now().After(deadline) {
			return i, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Kill ends node i with SIGKILL, as a crash would: no step-down, no flush.
func (c *VaultCluster) Kill(i int) {
	n := c.Nodes[i]
	n.proc.mu.Lock()
	cmd, done := n.proc.cmd, n.proc.done
	n.proc.mu.Unlock()
	if cmd == nil || isClosed(done) {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-done
}

// Start starts node i again (on the same ports and Raft data) and unseals it; it returns
// once the node is active, or a standby that knows the active node.
func (c *VaultCluster) Start(i int) error {
	n := c.Nodes[i]
	if err := relaunch(n.proc, n.launch); err != nil {
		return err
	}
	cl := n.client("")
	return n.proc.waitReady(vaultReadyTimeout, func() error {
		code, err := httpStatus(n.Addr + "/v1/sys/health?standbycode=200")
		if err == nil && code == http.StatusOK {
			// Unsealed; a standby forwards only once it knows the active node.
			if l, err := cl.Sys().Leader(); err == nil && l.LeaderClusterAddress != "" {
				return nil
			}
		}
		if st, err := cl.Sys().SealStatus(); err == nil && st.Sealed {
			_, _ = cl.Sys().Unseal(c.unsealKey)
		}
		return fmt.Errorf("%s: sys/health %d (%v)", n.ID, code, err)
	})
}

// Running reports whether node i's process runs.
func (c *VaultCluster) Running(i int) bool { return c.Nodes[i].proc.running() }

func (n *VaultNode) client(token string) *vaultapi.Client {
	cfg := vaultapi.DefaultConfig()
	cfg.Address = n.Addr
	cfg.Timeout = 10 * time.Second
	cfg.MaxRetries = 0
	cl, err := vaultapi.NewClient(cfg)
	if err != nil {
		panic("testenv: vault client: " + err.Error())
	}
	cl.ClearNamespace()
	if token == "" {
		cl.ClearToken()
	} else {
		cl.SetToken(token)
	}
	return cl
}

// StartVaultCluster starts a cluster for the test (see NewVaultCluster); it stops in
// t.Cleanup, and the tails of the nodes' logs are printed when the test fails.
func StartVaultCluster(t testing.TB, o VaultClusterOptions) *VaultCluster {
	t.Helper()
	o.Bin, o.Dir = Binary(t, "vault"), t.TempDir()
	start := time.Now()
	c, err := NewVaultCluster(o)
	if err != nil {
		t.Fatalf("testenv: starting the vault cluster: %v", err)
	}
	for _, n := range c.Nodes {
		manage(t, "vault "+n.ID, n.LogPath, func() {})
	}
	t.Cleanup(c.Close)
	t.Logf("testenv: vault cluster of %d Raft nodes ready in %s: %s", len(c.Nodes), time.Since(start).Round(time.Millisecond), strings.Join(c.Addrs(), " "))
	return c
}
