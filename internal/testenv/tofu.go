package testenv

import (
	"fmt"
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

// TofuDevConfig writes a CLI configuration file into dir that makes tofu load the provider
// authconnection/tailor from the directory providerDir, which holds a
// terraform-provider-tailor binary (dev_overrides, for the registry.terraform.io and
// registry.opentofu.org addresses alike), and returns its path. Give it to tofu as
// TF_CLI_CONFIG_FILE; `tofu init` is not needed.
func TofuDevConfig(dir, providerDir string) (string, error) {
	rc := filepath.Join(dir, "tofurc")
	cfg := fmt.Sprintf(`provider_installation {
  dev_overrides {
    "registry.terraform.io/authconnection/tailor" = %[1]q
    "registry.opentofu.org/authconnection/tailor" = %[1]q
  }
  direct {}
}
`, providerDir)
	return rc, os.WriteFile(rc, []byte(cfg), 0o600)
}

// TofuEnv is the environment for running tofu non-interactively with the CLI
// configuration rc: no checkpoint calls, automation output.
func TofuEnv(rc string) []string {
	return []string{"TF_CLI_CONFIG_FILE=" + rc, "CHECKPOINT_DISABLE=1", "TF_IN_AUTOMATION=1"}
}
