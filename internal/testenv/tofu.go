package testenv

import (
	"os"
	"path/filepath"
	"testing"
)

// SetupTofu prepares the environment of terraform-plugin-testing to run
// acceptance tests with OpenTofu and returns the path of the tofu binary
// (found as [Binary] does; a missing tofu goes through [Require]). It sets,
// with t.Setenv (so the test cannot be parallel):
//
//   - TF_ACC=1
//   - TF_ACC_TERRAFORM_PATH=<absolute path of tofu>
//   - TF_ACC_PROVIDER_NAMESPACE=hashicorp and
//     TF_ACC_PROVIDER_HOST=registry.opentofu.org, without which tofu rejects
//     the reattached provider
//   - TF_CLI_CONFIG_FILE=<an empty file in t.TempDir()>, because a
//     TF_CLI_CONFIG_FILE that points at a missing file makes tofu print a
//     warning that breaks the harness's version parsing
//   - CHECKPOINT_DISABLE=1 and TF_IN_AUTOMATION=1
func SetupTofu(t testing.TB) string {
	t.Helper()
	tofu := Binary(t, "tofu")
	cfg := filepath.Join(t.TempDir(), "tofurc")
	if err := os.WriteFile(cfg, nil, 0o600); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Setenv("TF_ACC", "1")
	t.Setenv("TF_ACC_TERRAFORM_PATH", tofu)
	t.Setenv("TF_ACC_PROVIDER_NAMESPACE", "hashicorp")
	t.Setenv("TF_ACC_PROVIDER_HOST", "registry.opentofu.org")
	t.Setenv("TF_CLI_CONFIG_FILE", cfg)
	t.Setenv("CHECKPOINT_DISABLE", "1")
	t.Setenv("TF_IN_AUTOMATION", "1")
	return tofu
}
