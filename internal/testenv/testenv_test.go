package testenv

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// fakeTB records Fatalf and Skipf instead of stopping the test.
type fakeTB struct {
	testing.TB
	fatal, skip string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.fatal = fmt.Sprintf(format, args...)
}
func (f *fakeTB) Skipf(format string, args ...any) {
	f.skip = fmt.Sprintf(format, args...)
}

func TestRequireFailsInCIAndSkipsElsewhere(t *testing.T) {
	t.Setenv("CI", "true")
	f := &fakeTB{TB: t}
	Require(f, "widget", "apt-get install widget")
	if f.skip != "" || !strings.Contains(f.fatal, "widget") || !strings.Contains(f.fatal, "apt-get install widget") {
		t.Errorf("CI=true: fatal=%q skip=%q; want a failure naming the component and how to install it", f.fatal, f.skip)
	}

	t.Setenv("CI", "")
	f = &fakeTB{TB: t}
	Require(f, "widget", "apt-get install widget")
	if f.fatal != "" || !strings.Contains(f.skip, "widget") || !strings.Contains(f.skip, "apt-get install widget") {
		t.Errorf("CI unset: fatal=%q skip=%q; want a skip naming the component and how to install it", f.fatal, f.skip)
	}
}

func TestRepoRoot(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "module github.com/authconnection/terraform-provider-tailor") {
		t.Errorf("%s/go.mod is not this repository's", root)
	}
	if _, err := os.Stat(filepath.Join(root, "internal", "testenv")); err != nil {
		t.Errorf("repo root %s has no internal/testenv: %v", root, err)
	}
}

func TestBinaryResolutionOrder(t *testing.T) {
	const name = "testenvfaketool"
	tmp := t.TempDir()
	onPath := filepath.Join(tmp, "path", name)
	viaEnv := filepath.Join(tmp, "env", name)
	for _, p := range []string{onPath, viaEnv} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	envVar := "TAILOR_TESTENVFAKETOOL"
	t.Setenv("PATH", filepath.Dir(onPath))

	t.Setenv(envVar, "")
	if got := Binary(t, name); got != onPath {
		t.Errorf("without %s: Binary = %q, want the one on PATH %q", envVar, got, onPath)
	}
	t.Setenv(envVar, viaEnv)
	if got := Binary(t, name); got != viaEnv {
		t.Errorf("with %s: Binary = %q, want %q", envVar, got, viaEnv)
	}

	// TAILOR_<TOOL> that is not an executable is an error, not a fallback.
	notExec := filepath.Join(tmp, "plain")
	if err := os.WriteFile(notExec, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv(envVar, notExec)
	if p, err := FindTool(name); err == nil || errors.Is(err, ErrToolMissing) {
		t.Errorf("FindTool with a non-executable %s = %q, %v; want a configuration error", envVar, p, err)
	}

	// A missing tool fails in CI and skips elsewhere, with the install hint.
	t.Setenv(envVar, "")
	t.Setenv("PATH", tmp)
	t.Setenv("CI", "true")
	f := &fakeTB{TB: t}
	Binary(f, name)
	if !strings.Contains(f.fatal, "put "+name+" on PATH") {
		t.Errorf("missing tool in CI: fatal = %q, want the install hint", f.fatal)
	}
	t.Setenv("CI", "false")
	f = &fakeTB{TB: t}
	Binary(f, name)
	if f.fatal != "" || !strings.Contains(f.skip, "put "+name+" on PATH") {
		t.Errorf("missing tool outside CI: fatal=%q skip=%q, want a skip with the install hint", f.fatal, f.skip)
	}
	// A known tool's hint says how to build or install it.
	if !strings.Contains(Tools["vault"].Install, "make tools") || !strings.Contains(Tools["chromium"].Install, "apt-get install chromium") {
		t.Errorf("install hints: %q, %q", Tools["vault"].Install, Tools["chromium"].Install)
	}
}

func TestToolVersionOnPath(t *testing.T) {
	tmp := t.TempDir()
	write := func(name, version string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(tmp, name), []byte("#!/bin/sh\necho 'Vault v"+version+" (abc)'\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write("vault", "1.14.9")
	tool := Tool{Name: "vault", Names: []string{"vault"}, MinVersion: "1.15.0", VersionArgs: []string{"version"}}
	if tool.versionOK(filepath.Join(tmp, "vault")) {
		t.Error("vault 1.14.9 accepted for a minimum of 1.15.0")
	}
	write("vault", "1.21.0")
	if !tool.versionOK(filepath.Join(tmp, "vault")) {
		t.Error("vault 1.21.0 refused for a minimum of 1.15.0")
	}
	for _, c := range []struct {
		v, min string
		ok     bool
	}{{"1.10.0", "1.9.9", true}, {"2.3.0", "2.3.0", true}, {"20.20.2", "20.0.0", true}, {"1.2.3", "1.12.0", false}} {
		if versionAtLeast(c.v, c.min) != c.ok {
			t.Errorf("versionAtLeast(%s, %s) != %v", c.v, c.min, c.ok)
		}
	}
}

func TestHydraDuration(t *testing.T) {
	for d, want := range map[string]string{"1h": "3600s", "90s": "90s", "1500ms": "1500ms", "2m": "120s"} {
		if got := hydraDuration(mustDuration(t, d)); got != want {
			t.Errorf("hydraDuration(%s) = %q, want %q", d, got, want)
		}
	}
}

// TestStartRetriesWhenThePortIsTaken makes the first port that the helpers
// pick busy and checks that Vault and Hydra start on other ports. It swaps
// pickPort, so it must not run in parallel.
func TestStartRetriesWhenThePortIsTaken(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyPort := busy.Addr().(*net.TCPAddr).Port
	real := pickPort
	t.Cleanup(func() { pickPort = real })
	arm := func() {
		first := true
		pickPort = func() (int, error) {
			if first {
				first = false
				return busyPort, nil
			}
			return real()
		}
	}

	arm()
	v := StartVault(t)
	if strings.HasSuffix(v.Addr, ":"+strconv.Itoa(busyPort)) {
		t.Errorf("vault at %s, the busy port", v.Addr)
	}
	if b, _ := os.ReadFile(v.LogPath); !strings.Contains(string(b), "address already in use") {
		t.Errorf("vault log does not show the first, failed attempt")
	}

	arm()
	h := StartHydra(t, HydraOptions{})
	if strings.HasSuffix(h.PublicURL, ":"+strconv.Itoa(busyPort)) {
		t.Errorf("hydra at %s, the busy port", h.PublicURL)
	}
	if b, _ := os.ReadFile(h.LogPath); !strings.Contains(string(b), "address already in use") {
		t.Errorf("hydra log does not show the first, failed attempt")
	}
	if code, err := httpStatus(h.PublicURL + "/.well-known/openid-configuration"); err != nil || code != 200 {
		t.Errorf("hydra discovery after a retry: %d %v", code, err)
	}
}

// TestFindSecrets: a secret is found as it is and URL-encoded, named by its kind; an
// empty secret (one never captured) is found everywhere, so the search cannot pass by it.
func TestFindSecrets(t *testing.T) {
	secrets := []Secret{{Kind: "token", Value: "a+b/c"}, {Kind: "other", Value: "zzz"}}
	if got := FindSecrets([]byte("x a+b/c y"), secrets); !slices.Equal(got, []string{"token"}) {
		t.Errorf("plain: %v", got)
	}
	if got := FindSecrets([]byte("q=a%2Bb%2Fc"), secrets); !slices.Equal(got, []string{"token"}) {
		t.Errorf("URL-encoded: %v", got)
	}
	if got := FindSecrets([]byte("nothing"), append(secrets, Secret{Kind: "empty"})); !slices.Equal(got, []string{"empty"}) {
		t.Errorf("empty secret: %v", got)
	}
}
