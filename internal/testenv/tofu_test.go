package testenv

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestSetupTofu(t *testing.T) {
	tofu := SetupTofu(t)
	for k, want := range map[string]string{
		"TF_ACC": "1", "TF_ACC_TERRAFORM_PATH": tofu,
		"TF_ACC_PROVIDER_NAMESPACE": "hashicorp", "TF_ACC_PROVIDER_HOST": "registry.opentofu.org",
	} {
		if got := os.Getenv(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if st, err := os.Stat(os.Getenv("TF_CLI_CONFIG_FILE")); err != nil || st.Size() != 0 {
		t.Errorf("TF_CLI_CONFIG_FILE %q: %v; want an existing empty file", os.Getenv("TF_CLI_CONFIG_FILE"), err)
	}

	// terraform-plugin-testing parses `version -json`; no warning may come first.
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(tofu, "version", "-json")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("tofu version: %v: %s", err, stderr.String())
	}
	var v struct {
		Version string `json:"terraform_version"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &v); err != nil {
		t.Fatalf("tofu version -json: %v: %q", err, stdout.String())
	}
	if v.Version == "" || strings.Contains(v.Version, "dev") {
		t.Errorf("tofu version %q, want a release version", v.Version)
	}
	if strings.TrimSpace(stderr.String()) != "" {
		t.Errorf("tofu printed on stderr: %s", stderr.String())
	}
	t.Logf("tofu %s at %s", v.Version, tofu)
}
