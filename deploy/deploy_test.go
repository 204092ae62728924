// Package deploy holds tokend's deployment files: the Helm chart (helm/tokend), the systemd
// unit (systemd/) and the container image definition (container/). Its tests render, verify
// and build them with the real tools (the pinned helm, systemd-analyze, tools/image) and
// assert the properties that matter: they find their tools through internal/testenv, so in
// CI (CI=true) a missing tool fails them and elsewhere it skips them.
package deploy

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/authconnection/terraform-provider-tailor/internal/testenv"
)

// work is a directory the tests share (builds of tokend and tools/image), removed by TestMain.
var work string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tailor-deploy-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	work = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// repoRoot returns the repository's root directory.
func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// build runs `go build` in dir (a module's directory) with env added, and fails the test
// with go's output when it fails.
func build(t testing.TB, dir string, env []string, args ...string) {
	t.Helper()
	cmd := exec.Command("go", append([]string{"build"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s (in %s): %v\n%s", strings.Join(args, " "), dir, err, out)
	}
}

var (
	tokendOnce sync.Once
	tokendPath string
)

// staticTokend builds tokend once, as the Dockerfile does: CGO_ENABLED=0, -trimpath.
func staticTokend(t testing.TB) string {
	t.Helper()
	tokendOnce.Do(func() {
		p := filepath.Join(work, "tokend")
		build(t, repoRoot(t), []string{"CGO_ENABLED=0"}, "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", p, "./tokend")
		tokendPath = p
	})
	if tokendPath == "" {
		t.Fatal("tokend did not build (see the first test that built it)")
	}
	return tokendPath
}

// run runs name with args and returns its standard output and standard error apart.
func run(name string, env []string, args ...string) (stdout, stderr string, err error) {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	var o, e strings.Builder
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}
