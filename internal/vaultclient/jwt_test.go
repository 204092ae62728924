package vaultclient_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/testenv"
	"github.com/authconnection/terraform-provider-tailor/internal/vaultclient"
)

const mainBranch = "repo:acme/infra:ref:refs/heads/main"

// jwtBed is a Vault with the JWT auth method at jwt/, trusting issuer, and the role ci that
// admits only JWTs for audience vault from the main branch of acme/infra.
type jwtBed struct {
	v      *testenv.Vault
	issuer *testenv.JWTIssuer
}

func newJWTBed(t *testing.T) *jwtBed {
	t.Helper()
	clearVaultEnv(t)
	b := &jwtBed{v: testenv.StartVault(t)}
	b.issuer = b.v.EnableJWTAuth(t, "jwt")
	if err := b.v.Client().Sys().PutPolicy("writer", `path "secret/data/tailor/*" { capabilities = ["read", "create", "update"] }`); err != nil {
		t.Fatal(err)
	}
	b.issuer.AddRole(t, "ci", map[string]any{"bound_audiences": []string{"vault"}, "bound_subject": mainBranch,
		"token_policies": []string{"writer"}, "token_ttl": "5m"})
	return b
}

func (b *jwtBed) login(j *vaultclient.JWT) (*vaultclient.Client, error) {
	return vaultclient.New(context.Background(), vaultclient.Config{Address: b.v.Addr, JWT: j})
}

// TestJWTLoginFromEachSource: the JWT as a value, from a file and from an environment
// variable each gets a token with the role's policy, and only that policy.
func TestJWTLoginFromEachSource(t *testing.T) {
	b := newJWTBed(t)
	good := b.issuer.Sign(t, map[string]any{"sub": mainBranch})
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte(good+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CI_VAULT_ID_TOKEN", good)
	for name, j := range map[string]*vaultclient.JWT{
		"value": {Role: "ci", Token: good}, "file": {Role: "ci", File: file}, "env": {Role: "ci", Env: "CI_VAULT_ID_TOKEN"},
	} {
		c, err := b.login(j)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		ctx := context.Background()
		if _, err := c.KVv2("secret").Put(ctx, "tailor/x", map[string]any{"a": "b"}); err != nil {
			t.Errorf("%s: a write the role's policy allows: %v", name, err)
		}
		if _, err := c.KVv2("secret").Put(ctx, "other/x", map[string]any{"a": "b"}); err == nil {
			t.Errorf("%s: a write outside the role's policy succeeded: not the JWT login's token", name)
		}
		if c.Method() != "jwt" {
			t.Errorf("%s: method %q", name, c.Method())
		}
		c.Close()
	}
}

// TestJWTLoginErrorsSayWhatToCheck: every refusal names what to fix, and no error carries
// the JWT.
func TestJWTLoginErrorsSayWhatToCheck(t *testing.T) {
	b := newJWTBed(t)
	past := time.Now().Add(-time.Hour)
	cases := []struct {
		name   string
		jwt    *vaultclient.JWT
		claims map[string]any
		want   string
	}{
		{"unknown role", &vaultclient.JWT{Role: "nope"}, map[string]any{"sub": mainBranch}, "the role does not exist"},
		{"other audience", &vaultclient.JWT{Role: "ci"}, map[string]any{"sub": mainBranch, "aud": "sts.amazonaws.com"}, "bound_audiences"},
		{"expired", &vaultclient.JWT{Role: "ci"}, map[string]any{"sub": mainBranch, "exp": past.Unix(), "iat": past.Add(-time.Minute).Unix(), "nbf": past.Add(-time.Minute).Unix()}, "has expired"},
		{"other branch", &vaultclient.JWT{Role: "ci"}, map[string]any{"sub": "repo:acme/infra:ref:refs/heads/feature"}, "bound_subject or bound_claims"},
		{"wrong mount", &vaultclient.JWT{Role: "ci", MountPath: "gitlab"}, map[string]any{"sub": mainBranch}, "no auth method is mounted"},
	}
	for _, tc := range cases {
		tok := b.issuer.Sign(t, tc.claims)
		tc.jwt.Token = tok
		_, err := b.login(tc.jwt)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", tc.name, err, tc.want)
		} else if strings.Contains(err.Error(), tok) || strings.Contains(err.Error(), strings.Split(tok, ".")[2]) {
			t.Errorf("%s: the error carries the JWT", tc.name)
		}
	}
	for name, j := range map[string]*vaultclient.JWT{
		"no role":      {Token: "a.b.c"},
		"no JWT":       {Role: "ci"},
		"two sources":  {Role: "ci", Token: "a.b.c", Env: "X"},
		"missing file": {Role: "ci", File: filepath.Join(t.TempDir(), "absent")},
		"empty env":    {Role: "ci", Env: "TAILOR_TEST_UNSET_VARIABLE"},
		"not a JWT":    {Role: "ci", Token: "not-a-jwt"},
	} {
		if _, err := b.login(j); err == nil || !strings.Contains(err.Error(), "JWT") {
			t.Errorf("%s: %v", name, err)
		}
	}
}
