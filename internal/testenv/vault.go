package testenv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	vaultapi "github.com/hashicorp/vault/api"
)

// vaultReadyTimeout bounds the wait for a Vault server to answer. The binary
// is large, and a busy 2-core CI runner can take seconds to start it.
const vaultReadyTimeout = 60 * time.Second

// Vault is a Vault server that runs for one test. Its methods must be called
// from the test's goroutine, because they fail the test on errors.
type Vault struct {
	// Addr is the address of the API, http://127.0.0.1:<port>. It stays the
	// same across Stop and Start.
	Addr string
	// Token is the root token.
	Token string
	// LogPath is the file that receives the server's output. Its tail is
	// printed when the test fails.
	LogPath string
	// StorageDir is the directory of the file storage, or "" for a dev
	// server (which keeps everything in memory).
	StorageDir string
	// StartedIn is how long the last start took until the server was ready.
	StartedIn time.Duration

	t         testing.TB
	proc      *process
	dev       bool
	port      int
	tmp       string
	unsealKey string
}

// vaultInit is what StartVaultFileStorage keeps in <dir>/testenv-init.json.
type vaultInit struct {
	UnsealKey string `json:"unseal_key"`
	RootToken string `json:"root_token"`
}

// StartVault starts `vault server -dev` on 127.0.0.1 with a random port and a
// random root token (passed in VAULT_DEV_ROOT_TOKEN_ID, not in argv), and
// waits until secret/ (KV version 2) answers. The server keeps everything in
// memory: Restart gives an empty Vault with the same address and token. The
// server stops in t.Cleanup.
func StartVault(t testing.TB) *Vault {
	t.Helper()
	bin := Binary(t, "vault")
	v := newVault(t, bin, true)
	v.startFresh()
	t.Logf("testenv: vault dev server ready at %s in %s", v.Addr, v.StartedIn.Round(time.Millisecond))
	return v
}

// StartVaultFileStorage starts a non-dev Vault server whose data lives in dir
// (file storage in dir/storage), so that data survives Stop and Start. On the
// first start the helper initialises Vault with one key share, keeps the
// unseal key and root token in dir/testenv-init.json (mode 0600), unseals it
// and mounts secret/ as KV version 2. Starting again on the same dir, in this
// test or a later one, unseals with the saved key. The server stops in
// t.Cleanup.
func StartVaultFileStorage(t testing.TB, dir string) *Vault {
	t.Helper()
	bin := Binary(t, "vault")
	if err := os.MkdirAll(filepath.Join(dir, "storage"), 0o700); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	v := newVault(t, bin, false)
	v.StorageDir = dir
	v.startFresh()
	t.Logf("testenv: vault (file storage in %s) ready at %s in %s", dir, v.Addr, v.StartedIn.Round(time.Millisecond))
	return v
}

func newVault(t testing.TB, bin string, dev bool) *Vault {
	tmp := t.TempDir()
	home := filepath.Join(tmp, "home")
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	v := &Vault{t: t, dev: dev, tmp: tmp, LogPath: filepath.Join(tmp, "vault.log")}
	env := baseEnv(home)
	if dev {
		v.Token = "root-" + randomHex(16)
		env = append(env, "VAULT_DEV_ROOT_TOKEN_ID="+v.Token)
	}
	v.proc = &process{name: "vault", path: bin, env: env, dir: tmp, logPath: v.LogPath}
	v.proc.manage(t)
	return v
}

// startFresh starts the server on a new random port, retrying when the port
// is taken.
func (v *Vault) startFresh() {
	v.t.Helper()
	var err error
	for attempt := 1; attempt <= 5; attempt++ {
		if v.port, err = freePort(); err != nil {
			v.t.Fatalf("testenv: %v", err)
		}
		v.Addr = "http://127.0.0.1:" + strconv.Itoa(v.port)
		if err = v.launch(); !errors.Is(err, errAddrInUse) {
			break
		}
		v.t.Logf("testenv: vault port %d was taken, retrying", v.port)
	}
	if err != nil {
		v.proc.stop(5 * time.Second)
		v.t.Fatalf("testenv: starting vault: %v", err)
	}
}

// launch starts the process on v.port and brings it to the ready state.
func (v *Vault) launch() error {
	start := time.Now()
	listen := "127.0.0.1:" + strconv.Itoa(v.port)
	if v.dev {
		v.proc.args = []string{"server", "-dev", "-dev-listen-address=" + listen, "-dev-no-store-token"}
	} else {
		cfg := filepath.Join(v.tmp, "vault.hcl")
		hcl := fmt.Sprintf(`storage "file" {
  path = %s
}
listener "tcp" {
  address     = %q
  tls_disable = true
}
api_addr      = %q
disable_mlock = true
ui            = false
`, strconv.Quote(filepath.Join(v.StorageDir, "storage")), listen, v.Addr)
		if err := os.WriteFile(cfg, []byte(hcl), 0o600); err != nil {
			return err
		}
		v.proc.args = []string{"server", "-config=" + cfg}
	}
	if err := v.proc.start(); err != nil {
		return err
	}
	// Any answer of sys/health means that the listener is up; a dev server
	// answers 200 once it is unsealed and active.
	err := v.proc.waitReady(vaultReadyTimeout, func() error {
		code, err := httpStatus(v.Addr + "/v1/sys/health")
		if err != nil {
			return err
		}
		if v.dev && code != http.StatusOK {
			return fmt.Errorf("sys/health: %d", code)
		}
		return nil
	})
	if err != nil {
		v.proc.stop(5 * time.Second)
		return err
	}
	if !v.dev {
		if err := v.initAndUnseal(); err != nil {
			v.proc.stop(5 * time.Second)
			return err
		}
	}
	if err := v.waitKV(); err != nil {
		v.proc.stop(5 * time.Second)
		return err
	}
	v.StartedIn = time.Since(start)
	return nil
}

// initAndUnseal initialises a new file-storage Vault or reads the saved key,
// unseals it, waits until it is active and mounts secret/ as KV v2.
func (v *Vault) initAndUnseal() error {
	ctx, cancel := context.WithTimeout(context.Background(), vaultReadyTimeout)
	defer cancel()
	c, err := v.newClient("")
	if err != nil {
		return err
	}
	initPath := filepath.Join(v.StorageDir, "testenv-init.json")
	st, err := c.Sys().InitStatusWithContext(ctx)
	if err != nil {
		return fmt.Errorf("sys/init: %w", err)
	}
	var vi vaultInit
	if !st {
		res, err := c.Sys().InitWithContext(ctx, &vaultapi.InitRequest{SecretShares: 1, SecretThreshold: 1})
		if err != nil {
			return fmt.Errorf("initialising vault: %w", err)
		}
		vi = vaultInit{UnsealKey: res.KeysB64[0], RootToken: res.RootToken}
		b, _ := json.Marshal(vi)
		if err := os.WriteFile(initPath, b, 0o600); err != nil {
			return err
		}
	} else {
		b, err := os.ReadFile(initPath)
		if err != nil {
			return fmt.Errorf("vault in %s is initialised but its keys are unknown: %w", v.StorageDir, err)
		}
		if err := json.Unmarshal(b, &vi); err != nil {
			return fmt.Errorf("%s: %w", initPath, err)
		}
	}
	v.Token, v.unsealKey = vi.RootToken, vi.UnsealKey
	if _, err := c.Sys().UnsealWithContext(ctx, v.unsealKey); err != nil {
		return fmt.Errorf("unsealing vault: %w", err)
	}
	if err := v.proc.waitReady(vaultReadyTimeout, func() error {
		code, err := httpStatus(v.Addr + "/v1/sys/health")
		if err == nil && code != http.StatusOK {
			err = fmt.Errorf("sys/health: %d", code)
		}
		return err
	}); err != nil {
		return err
	}
	c.SetToken(v.Token)
	mounts, err := c.Sys().ListMountsWithContext(ctx)
	if err != nil {
		return fmt.Errorf("listing mounts: %w", err)
	}
	if _, ok := mounts["secret/"]; !ok {
		err := c.Sys().MountWithContext(ctx, "secret", &vaultapi.MountInput{Type: "kv", Options: map[string]string{"version": "2"}})
		if err != nil {
			return fmt.Errorf("mounting secret/ as kv-v2: %w", err)
		}
	}
	return nil
}

// waitKV waits until the KV v2 engine at secret/ serves requests (a new or
// newly unsealed mount answers "upgrading" for a moment).
func (v *Vault) waitKV() error {
	c, err := v.newClient(v.Token)
	if err != nil {
		return err
	}
	return v.proc.waitReady(vaultReadyTimeout, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		s, err := c.Logical().ReadWithContext(ctx, "secret/config")
		if err == nil && (s == nil || s.Data == nil) {
			err = errors.New("secret/config is not there yet")
		}
		return err
	})
}

// Client returns a new API client for the server, with the root token.
// Settings of the environment (VAULT_ADDR, VAULT_TOKEN, VAULT_NAMESPACE) are
// not used.
func (v *Vault) Client() *vaultapi.Client {
	v.t.Helper()
	c, err := v.newClient(v.Token)
	if err != nil {
		v.t.Fatalf("testenv: vault client: %v", err)
	}
	return c
}

func (v *Vault) newClient(token string) (*vaultapi.Client, error) {
	cfg := vaultapi.DefaultConfig()
	cfg.Address = v.Addr
	cfg.Timeout = 30 * time.Second
	c, err := vaultapi.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	c.ClearNamespace()
	if token == "" {
		c.ClearToken()
	} else {
		c.SetToken(token)
	}
	return c, nil
}

// Stop stops the server (SIGTERM, then SIGKILL after 15 s) and waits until it
// has exited; clients then get "connection refused". Data of a file-storage
// server stays in StorageDir.
func (v *Vault) Stop() {
	v.proc.stop(15 * time.Second)
}

// Start starts a stopped server again on the same address. A file-storage
// server is unsealed and keeps its data and root token; a dev server starts
// empty (with the same root token). Start waits up to a minute for the port
// to be free again.
func (v *Vault) Start() {
	v.t.Helper()
	if v.proc.running() {
		v.t.Fatalf("testenv: vault is already running")
	}
	deadline := time.Now().Add(time.Minute)
	for {
		err := v.launch()
		if err == nil {
			v.t.Logf("testenv: vault restarted at %s in %s", v.Addr, v.StartedIn.Round(time.Millisecond))
			return
		}
		if !errors.Is(err, errAddrInUse) || time.Now().After(deadline) {
			v.t.Fatalf("testenv: restarting vault on %s: %v", v.Addr, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// Restart is Stop followed by Start.
func (v *Vault) Restart() {
	v.t.Helper()
	v.Stop()
	v.Start()
}

// httpStatus does a GET with a short timeout and returns the status code.
func httpStatus(url string) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}
