package testenv

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	vaultapi "github.com/hashicorp/vault/api"
)

func mustDuration(t *testing.T, s string) time.Duration {
	t.Helper()
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// assertNotInArgv checks that no secret appears in the command line of the
// running process.
func assertNotInArgv(t *testing.T, p *process, secrets ...string) {
	t.Helper()
	p.mu.Lock()
	pid := p.cmd.Process.Pid
	p.mu.Unlock()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		t.Fatalf("reading the command line of %s: %v", p.name, err)
	}
	argv := strings.ReplaceAll(string(b), "\x00", " ")
	for _, s := range secrets {
		if s != "" && strings.Contains(argv, s) {
			t.Errorf("a secret is in the command line of %s: %s", p.name, argv)
		}
	}
}

func TestVaultDevKVv2AndCAS(t *testing.T) {
	t.Parallel()
	v := StartVault(t)
	t.Logf("vault dev start-up: %s", v.StartedIn)
	if !strings.HasPrefix(v.Addr, "http://127.0.0.1:") || v.Token == "" {
		t.Fatalf("Addr=%q Token set=%v", v.Addr, v.Token != "")
	}
	assertNotInArgv(t, v.proc, v.Token)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := v.Client()

	mounts, err := c.Sys().ListMountsWithContext(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if m := mounts["secret/"]; m == nil || m.Type != "kv" || m.Options["version"] != "2" {
		t.Fatalf("secret/ mount = %+v, want kv version 2", m)
	}

	kv := c.KVv2("secret")
	s, err := kv.Put(ctx, "testenv/conn", map[string]any{"refresh_token": "rt-1"})
	if err != nil {
		t.Fatal(err)
	}
	if s.VersionMetadata.Version != 1 {
		t.Errorf("first write: version %d, want 1", s.VersionMetadata.Version)
	}
	got, err := kv.Get(ctx, "testenv/conn")
	if err != nil {
		t.Fatal(err)
	}
	if got.Data["refresh_token"] != "rt-1" || got.VersionMetadata.Version != 1 {
		t.Errorf("read back %v (version %d), want rt-1 at version 1", got.Data, got.VersionMetadata.Version)
	}

	// CAS with the current version succeeds, a stale version fails.
	if s, err = kv.Put(ctx, "testenv/conn", map[string]any{"refresh_token": "rt-2"}, vaultapi.WithCheckAndSet(1)); err != nil {
		t.Fatalf("cas=1 on version 1: %v", err)
	}
	if s.VersionMetadata.Version != 2 {
		t.Errorf("cas write: version %d, want 2", s.VersionMetadata.Version)
	}
	_, err = kv.Put(ctx, "testenv/conn", map[string]any{"refresh_token": "rt-stale"}, vaultapi.WithCheckAndSet(1))
	if err == nil || !strings.Contains(err.Error(), "check-and-set") {
		t.Errorf("cas=1 on version 2: err = %v, want a check-and-set error", err)
	}
	// cas=0 means "create only".
	if _, err = kv.Put(ctx, "testenv/conn", map[string]any{"x": "y"}, vaultapi.WithCheckAndSet(0)); err == nil {
		t.Errorf("cas=0 on an existing secret succeeded, want an error")
	}
	if _, err = kv.Put(ctx, "testenv/new", map[string]any{"x": "y"}, vaultapi.WithCheckAndSet(0)); err != nil {
		t.Errorf("cas=0 on a new secret: %v", err)
	}
	if got, err = kv.Get(ctx, "testenv/conn"); err != nil || got.Data["refresh_token"] != "rt-2" {
		t.Errorf("after the stale write: %v, %v; want rt-2", got, err)
	}

	// Another token is refused.
	bad := v.Client()
	bad.SetToken("not-the-root-token")
	if _, err := bad.KVv2("secret").Get(ctx, "testenv/conn"); err == nil || !strings.Contains(err.Error(), "403") {
		t.Errorf("read with a wrong token: err = %v, want 403", err)
	}
}

func TestVaultFileStorageSurvivesRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	v := StartVaultFileStorage(t, dir)
	t.Logf("vault file-storage start-up (init, unseal, mount): %s", v.StartedIn)
	assertNotInArgv(t, v.proc, v.Token, v.unsealKey)
	if st, err := os.Stat(dir + "/testenv-init.json"); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("testenv-init.json: %v, mode %v; want mode 0600", err, st.Mode())
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := v.Client().KVv2("secret").Put(ctx, "testenv/conn", map[string]any{"refresh_token": "rt-1"}); err != nil {
		t.Fatal(err)
	}
	token := v.Token

	v.Stop()
	if _, err := httpStatus(v.Addr + "/v1/sys/health"); err == nil {
		t.Fatalf("vault still answers at %s after Stop", v.Addr)
	}
	start := time.Now()
	if err := v.Start(); err != nil {
		t.Fatal(err)
	}
	t.Logf("vault file-storage restart (unseal): %s", time.Since(start))
	if v.Token != token {
		t.Errorf("root token changed across restart")
	}
	s, err := v.Client().KVv2("secret").Get(ctx, "testenv/conn")
	if err != nil {
		t.Fatalf("read after restart: %v", err)
	}
	if s.Data["refresh_token"] != "rt-1" {
		t.Errorf("after restart: %v, want rt-1", s.Data)
	}
	// CAS keeps working on the persisted version.
	if _, err := v.Client().KVv2("secret").Put(ctx, "testenv/conn", map[string]any{"refresh_token": "rt-2"}, vaultapi.WithCheckAndSet(1)); err != nil {
		t.Errorf("cas=1 after restart: %v", err)
	}

	// A new server on the same directory unseals with the saved key.
	v.Stop()
	v2 := StartVaultFileStorage(t, dir)
	s, err = v2.Client().KVv2("secret").Get(ctx, "testenv/conn")
	if err != nil || s.Data["refresh_token"] != "rt-2" || s.VersionMetadata.Version != 2 {
		t.Errorf("second server on the same dir: %v, %v; want rt-2 at version 2", s, err)
	}
}
