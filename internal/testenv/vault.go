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

// Vault is a Vault server on loopback: a dev server that keeps everything in
// memory, or a server with file storage whose data survives Stop and Start.
// NewVault starts one; Close stops it and removes its files.
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

	proc      *process
	dev       bool
	port      int
	tmp       string
	ownTmp    bool // tmp was made by NewVault and is removed by Close
	unsealKey string
}

// VaultOptions configures NewVault. The zero value starts a dev server with the
// vault binary that FindTool finds.
type VaultOptions struct {
	// Bin is the vault binary; FindTool("vault") when empty.
	Bin string
	// StorageDir makes a server with file storage in StorageDir/storage instead of
	// a dev server. On the first start it is initialised with one key share, the
	// unseal key and root token are kept in StorageDir/testenv-init.json (mode
	// 0600), it is unsealed and secret/ is mounted as KV version 2; a later start
	// on the same StorageDir unseals with the saved key.
	StorageDir string
	// Dir holds the log and configuration; a new temporary directory that Close
	// removes when empty.
	Dir string
}

// vaultInit is what StartVaultFileStorage keeps in <dir>/testenv-init.json.
type vaultInit struct {
	UnsealKey string `json:"unseal_key"`
	RootToken string `json:"root_token"`
}

// NewVault starts a Vault server on 127.0.0.1 with a random port and waits
// until secret/ (KV version 2) answers. A dev server gets a random root token,
// passed in VAULT_DEV_ROOT_TOKEN_ID, never in argv. Stop it with Close.
func NewVault(o VaultOptions) (*Vault, error) {
	if o.Bin == "" {
		bin, err := FindTool("vault")
		if err != nil {
			return nil, err
		}
		o.Bin = bin
	}
	v := &Vault{dev: o.StorageDir == "", StorageDir: o.StorageDir}
	var home string
	var err error
	if v.tmp, home, v.ownTmp, err = workDir(o.Dir, "testenv-vault-"); err != nil {
		return nil, err
	}
	if !v.dev {
		if err := os.MkdirAll(filepath.Join(o.StorageDir, "storage"), 0o700); err != nil {
			return nil, err
		}
	}
	v.LogPath = filepath.Join(v.tmp, "vault.log")
	env := baseEnv(home)
	if v.dev {
		v.Token = "root-" + randomHex(16)
		env = append(env, "VAULT_DEV_ROOT_TOKEN_ID="+v.Token)
	}
	v.proc = &process{name: "vault", path: o.Bin, env: env, dir: v.tmp, logPath: v.LogPath}
	if err := v.startFresh(); err != nil {
		v.Close()
		return nil, err
	}
	return v, nil
}

// Close stops the server and removes the temporary directory NewVault made.
func (v *Vault) Close() {
	v.proc.stop(10 * time.Second)
	if v.ownTmp {
		_ = os.RemoveAll(v.tmp)
	}
}

// LogTail returns the last n lines of the server's output.
func (v *Vault) LogTail(n int) string { return tailFile(v.LogPath, n) }

// StartVault starts a Vault dev server for the test (see NewVault): it
// keeps everything in memory, so Restart gives an empty Vault with the same
// address and token. It stops in t.Cleanup, and the tail of its log is
// printed when the test fails.
func StartVault(t testing.TB) *Vault {
	t.Helper()
	return startVault(t, VaultOptions{})
}

// StartVaultFileStorage starts a Vault with file storage in dir for the test
// (see VaultOptions.StorageDir), so that data survives Stop and Start, in this
// test or a later one on the same dir. It stops in t.Cleanup.
func StartVaultFileStorage(t testing.TB, dir string) *Vault {
	t.Helper()
	return startVault(t, VaultOptions{StorageDir: dir})
}

func startVault(t testing.TB, o VaultOptions) *Vault {
	t.Helper()
	o.Bin, o.Dir = Binary(t, "vault"), t.TempDir()
	v, err := NewVault(o)
	if err != nil {
		t.Fatalf("testenv: starting vault: %v", err)
	}
	manage(t, "vault", v.LogPath, v.Close)
	kind := "dev server"
	if !v.dev {
		kind = "file storage in " + o.StorageDir
	}
	t.Logf("testenv: vault (%s) ready at %s in %s", kind, v.Addr, v.StartedIn.Round(time.Millisecond))
	return v
}

// startFresh starts the server on a new random port, retrying when the port
// is taken.
func (v *Vault) startFresh() error {
	var err error
	for attempt := 1; attempt <= 5; attempt++ {
		if v.port, err = FreePort(); err != nil {
			return err
		}
		v.Addr = "http://127.0.0.1:" + strconv.Itoa(v.port)
		if err = v.launch(); !errors.Is(err, errAddrInUse) {
			break
		}
	}
	return err
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
	c, err := v.newClient(v.Token)
	if err != nil {
		panic("testenv: vault client: " + err.Error()) // only a malformed address fails
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
func (v *Vault) Start() error { return relaunch(v.proc, v.launch) }

// Restart is Stop followed by Start.
func (v *Vault) Restart() error {
	v.Stop()
	return v.Start()
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
