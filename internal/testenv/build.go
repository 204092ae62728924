package testenv

import (
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Build builds the command in pkg (a path relative to the repository root: "." for the
// provider, "./tokend") into dir as name, and returns the binary's path.
func Build(t testing.TB, pkg, dir, name string) string {
	t.Helper()
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, name)
	start := time.Now()
	cmd := exec.Command("go", "build", "-o", bin, pkg)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("testenv: go build %s: %v\n%s", pkg, err, out)
	}
	t.Logf("testenv: built %s in %s", name, time.Since(start).Round(time.Millisecond))
	return bin
}
