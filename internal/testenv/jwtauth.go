package testenv

import (
	"crypto/x509"
	"encoding/pem"
	"maps"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	vaultapi "github.com/hashicorp/vault/api"
)

// JWTIssuer stands in for a CI system's OIDC provider (GitHub Actions, GitLab CI) or a
// Kubernetes cluster: it signs JWTs with a key that the Vault's JWT auth method at Mount
// trusts (jwt_validation_pubkeys, bound_issuer Issuer).
type JWTIssuer struct {
	Issuer, Mount string
	vault         *vaultapi.Client
	signer        jose.Signer
}

// EnableJWTAuth enables the JWT auth method at mount with a new P-256 key of the returned
// issuer as its only trusted key.
func (v *Vault) EnableJWTAuth(t testing.TB, mount string) *JWTIssuer {
	t.Helper()
	key, _ := NewP256Key(t)
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	j := &JWTIssuer{Issuer: "https://ci.test.example", Mount: mount, vault: v.Client(), signer: signer}
	if err := j.vault.Sys().EnableAuthWithOptions(mount, &vaultapi.EnableAuthOptions{Type: "jwt"}); err != nil {
		t.Fatalf("testenv: enabling the JWT auth method: %v", err)
	}
	pub := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	if _, err := j.vault.Logical().Write("auth/"+mount+"/config", map[string]any{
		"jwt_validation_pubkeys": []string{pub}, "bound_issuer": j.Issuer,
	}); err != nil {
		t.Fatalf("testenv: configuring the JWT auth method: %v", err)
	}
	return j
}

// AddRole writes role name of the JWT auth method: role_type jwt, user_claim sub, and the
// fields of role (bound_audiences, bound_subject, bound_claims, token_policies, token_ttl...).
func (j *JWTIssuer) AddRole(t testing.TB, name string, role map[string]any) {
	t.Helper()
	r := map[string]any{"role_type": "jwt", "user_claim": "sub"}
	maps.Copy(r, role)
	if _, err := j.vault.Logical().Write("auth/"+j.Mount+"/role/"+name, r); err != nil {
		t.Fatalf("testenv: writing JWT role %s: %v", name, err)
	}
}

// Sign returns a compact JWT with claims over the defaults: iss Issuer, aud "vault", iat and
// nbf now, exp in five minutes.
func (j *JWTIssuer) Sign(t testing.TB, claims map[string]any) string {
	t.Helper()
	now := time.Now()
	c := map[string]any{"iss": j.Issuer, "aud": "vault", "iat": now.Unix(), "nbf": now.Add(-time.Minute).Unix(), "exp": now.Add(5 * time.Minute).Unix()}
	maps.Copy(c, claims)
	s, err := jwt.Signed(j.signer).Claims(c).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}
