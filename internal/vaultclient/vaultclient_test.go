package vaultclient_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	vault "github.com/hashicorp/vault/api"

	"github.com/authconnection/terraform-provider-tailor/internal/testenv"
	"github.com/authconnection/terraform-provider-tailor/internal/vaultclient"
)

// clearVaultEnv keeps the developer's VAULT_* settings out of the test.
func clearVaultEnv(t *testing.T) {
	for _, k := range []string{"VAULT_ADDR", "VAULT_TOKEN", "VAULT_NAMESPACE", "VAULT_ROLE_ID", "VAULT_SECRET_ID_FILE", "VAULT_CACERT", "VAULT_SKIP_VERIFY"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	t.Setenv("HOME", t.TempDir()) // no ~/.vault-token
}

func TestTokenAndErrors(t *testing.T) {
	clearVaultEnv(t)
	v := testenv.StartVault(t)
	ctx := context.Background()

	if _, err := vaultclient.New(ctx, vaultclient.Config{Token: "x"}); err == nil || !strings.Contains(err.Error(), "VAULT_ADDR") {
		t.Fatalf("no address: %v", err)
	}
	if _, err := vaultclient.New(ctx, vaultclient.Config{Address: v.Addr}); err == nil || !strings.Contains(err.Error(), "VAULT_TOKEN") {
		t.Fatalf("no token: %v", err)
	}

	c, err := vaultclient.New(ctx, vaultclient.Config{Address: v.Addr, Token: v.Token})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Verify(ctx); err != nil {
		t.Fatalf("valid token: %v", err)
	}

	bad, err := vaultclient.New(ctx, vaultclient.Config{Address: v.Addr, Token: "hvs.not-a-token"})
	if err != nil {
		t.Fatal(err)
	}
	err = bad.Verify(ctx)
	if err == nil || !strings.Contains(err.Error(), "refused the token") || strings.Contains(err.Error(), "hvs.not-a-token") {
		t.Fatalf("invalid token: %v (must say the token was refused, without echoing it)", err)
	}

	// The environment works like the Vault CLI's.
	t.Setenv("VAULT_ADDR", v.Addr)
	t.Setenv("VAULT_TOKEN", v.Token)
	envc, err := vaultclient.New(ctx, vaultclient.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := envc.Verify(ctx); err != nil {
		t.Fatalf("from the environment: %v", err)
	}

	unreachable, err := vaultclient.New(ctx, vaultclient.Config{Address: "http://127.0.0.1:1", Token: "t", Timeout: 2e9})
	if err != nil {
		t.Fatal(err)
	}
	if err := unreachable.Verify(ctx); err == nil || !strings.Contains(err.Error(), "cannot reach Vault at http://127.0.0.1:1") {
		t.Fatalf("unreachable: %v", err)
	}
}

func TestAppRole(t *testing.T) {
	clearVaultEnv(t)
	v := testenv.StartVault(t)
	ctx := context.Background()
	root := v.Client()
	if err := root.Sys().EnableAuthWithOptions("approle", &vault.EnableAuthOptions{Type: "approle"}); err != nil {
		t.Fatal(err)
	}
	if err := root.Sys().PutPolicy("reader", `path "secret/data/tailor/*" { capabilities = ["read", "create", "update"] }`); err != nil {
		t.Fatal(err)
	}
	if _, err := root.Logical().Write("auth/approle/role/tokend", map[string]any{"token_policies": "reader", "token_ttl": "1m", "token_max_ttl": "10m"}); err != nil {
		t.Fatal(err)
	}
	rid, err := root.Logical().Read("auth/approle/role/tokend/role-id")
	if err != nil {
		t.Fatal(err)
	}
	sid, err := root.Logical().Write("auth/approle/role/tokend/secret-id", nil)
	if err != nil {
		t.Fatal(err)
	}
	roleID := rid.Data["role_id"].(string)
	secretFile := filepath.Join(t.TempDir(), "secret-id")
	if err := os.WriteFile(secretFile, []byte(sid.Data["secret_id"].(string)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	c, err := vaultclient.New(ctx, vaultclient.Config{Address: v.Addr, AppRole: &vaultclient.AppRole{RoleID: roleID, SecretIDFile: secretFile}})
	if err != nil {
		t.Fatalf("AppRole login: %v", err)
	}
	defer c.Close()
	if c.Token() == "" || c.Token() == v.Token {
		t.Fatal("AppRole login did not set its own token")
	}
	if err := c.Verify(ctx); err != nil {
		t.Fatal(err)
	}
	// The token has the role's policy: it can write under tailor/ and nothing else.
	if _, err := c.KVv2("secret").Put(ctx, "tailor/x", map[string]any{"a": "b"}); err != nil {
		t.Fatalf("write allowed by the role's policy: %v", err)
	}
	if _, err := c.KVv2("secret").Put(ctx, "other/x", map[string]any{"a": "b"}); err == nil {
		t.Fatal("write outside the role's policy succeeded: the client is not using the AppRole token")
	}

	// The same through the environment, as tokend reads it.
	t.Setenv("VAULT_ADDR", v.Addr)
	t.Setenv("VAULT_ROLE_ID", roleID)
	t.Setenv("VAULT_SECRET_ID_FILE", secretFile)
	envc, err := vaultclient.New(ctx, vaultclient.Config{})
	if err != nil {
		t.Fatalf("AppRole from the environment: %v", err)
	}
	envc.Close()

	// A wrong secret id: an actionable error that does not echo it.
	wrong := filepath.Join(t.TempDir(), "wrong")
	if err := os.WriteFile(wrong, []byte("00000000-0000-0000-0000-000000000000"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = vaultclient.New(ctx, vaultclient.Config{Address: v.Addr, AppRole: &vaultclient.AppRole{RoleID: roleID, SecretIDFile: wrong}})
	if err == nil || !strings.Contains(err.Error(), "check the role id and the secret id file") || strings.Contains(err.Error(), "00000000-0000") {
		t.Fatalf("wrong secret id: %v", err)
	}
	if _, err := vaultclient.New(ctx, vaultclient.Config{Address: v.Addr, AppRole: &vaultclient.AppRole{RoleID: roleID}}); err == nil || !strings.Contains(err.Error(), "VAULT_SECRET_ID_FILE") {
		t.Fatalf("missing secret id file: %v", err)
	}
}
