package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/authconnection/terraform-provider-tailor/internal/testenv"
)

// The provider's addresses in the two registries: tofu resolves the short source
// "authconnection/tailor" to the OpenTofu one.
const (
	terraformAddr = "registry.terraform.io/authconnection/tailor"
	opentofuAddr  = "registry.opentofu.org/authconnection/tailor"
)

// checkTofu installs the provider zip with `tofu init` from a filesystem mirror that holds it
// twice: unpacked for registry.terraform.io (<mirror>/HOST/NAMESPACE/TYPE/VERSION/OS_ARCH/) and
// packed, the zip itself under its release name, for registry.opentofu.org. Then it reads the
// schema with `tofu providers schema -json`, which runs the installed binaries, and the lock
// file.
func checkTofu(t *testing.T, zipPath string, p platform) {
	tofu := testenv.Binary(t, "tofu")
	tmp := t.TempDir()
	mirror := filepath.Join(tmp, "mirror")
	unpackZip(t, zipPath, filepath.Join(mirror, terraformAddr, testVersion, p.String()),
		[]string{providerName + "_v" + testVersion})
	packed := filepath.Join(mirror, opentofuAddr)
	if err := os.MkdirAll(packed, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := copyFile(zipPath, filepath.Join(packed, filepath.Base(zipPath))); err != nil {
		t.Fatal(err)
	}
	rc := filepath.Join(tmp, "tofurc")
	writeFile(t, rc, fmt.Sprintf(`provider_installation {
  filesystem_mirror {
    path    = %q
    include = [%q, %q]
  }
}
`, mirror, terraformAddr, opentofuAddr))
	work := filepath.Join(tmp, "work")
	writeFile(t, filepath.Join(work, "main.tf"), fmt.Sprintf(`terraform {
  required_providers {
    tailor = {
      source  = %q
      version = %q
    }
    tailor-opentofu = {
      source  = "authconnection/tailor"
      version = %q
    }
  }
}
`, terraformAddr, testVersion, testVersion))
	env := append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + tmp}, testenv.TofuEnv(rc)...)
	runTofu(t, tofu, work, env, "init", "-input=false", "-no-color")
	checkSchema(t, runTofu(t, tofu, work, env, "providers", "schema", "-json"))
	checkLock(t, string(readFile(t, filepath.Join(work, ".terraform.lock.hcl"))))
}

// h1RE is a package hash of a lock file: the hash of the unpacked contents.
var h1RE = regexp.MustCompile(`"h1:[A-Za-z0-9+/=]+"`)

// checkLock checks that tofu locked both addresses at testVersion, with one h1: hash: what it
// found in the packed zip is what was unpacked from it.
func checkLock(t *testing.T, lock string) {
	t.Helper()
	for _, addr := range []string{terraformAddr, opentofuAddr} {
		if !strings.Contains(lock, fmt.Sprintf("provider %q {\n  version     = %q", addr, testVersion)) {
			t.Errorf("the lock file has no %s %s:\n%s", addr, testVersion, lock)
		}
	}
	if h := h1RE.FindAllString(lock, -1); len(h) != 2 || h[0] != h[1] {
		t.Errorf("the lock file's h1: hashes %q, want the same twice:\n%s", h, lock)
	}
}

// runTofu runs tofu in dir and returns its standard output.
func runTofu(t *testing.T, tofu, dir string, env []string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(tofu, args...)
	cmd.Dir, cmd.Env = dir, env
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tofu %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.String())
	}
	return out
}

// checkSchema checks that the schema names the resource tailor_authconnection under both
// addresses.
func checkSchema(t *testing.T, out []byte) {
	t.Helper()
	var schema struct {
		ProviderSchemas map[string]struct {
			ResourceSchemas map[string]json.RawMessage `json:"resource_schemas"`
		} `json:"provider_schemas"`
	}
	if err := json.Unmarshal(out, &schema); err != nil {
		t.Fatalf("tofu providers schema -json: %v\n%.500s", err, out)
	}
	for _, addr := range []string{terraformAddr, opentofuAddr} {
		if _, ok := schema.ProviderSchemas[addr].ResourceSchemas["tailor_authconnection"]; !ok {
			t.Errorf("the schema of %s has no tailor_authconnection resource; providers: %v", addr, keys(schema.ProviderSchemas))
		}
	}
}

// keys returns the keys of m.
func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// writeFile writes data to path, creating its directory.
func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}
