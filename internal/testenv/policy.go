package testenv

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// DocPolicy returns the Vault policy that docs/vault-layout.md documents for role (the HCL
// block after `<!-- policy:ROLE -->`), with the default mount `secret` and prefix `tailor`
// changed to prefix (when not empty), so tests run exactly the documented policy.
func DocPolicy(t testing.TB, role, prefix string) string {
	t.Helper()
	root, err := RepoRoot()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	doc, err := os.ReadFile(filepath.Join(root, "docs", "vault-layout.md"))
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	_, rest, ok := strings.Cut(string(doc), "<!-- policy:"+role+" -->\n```hcl\n")
	block, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 || !strings.Contains(block, `path "secret/`) {
		t.Fatalf("testenv: docs/vault-layout.md has no HCL policy block after <!-- policy:%s -->", role)
	}
	if prefix != "" {
		block = strings.NewReplacer("secret/data/tailor", "secret/data/"+prefix, "secret/metadata/tailor", "secret/metadata/"+prefix).Replace(block)
	}
	return block
}
