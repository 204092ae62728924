// Package testenv starts the real components that the tests of this repository
// run against: a HashiCorp Vault server, an Ory Hydra OAuth2/OIDC server with an
// in-process login and consent app, a headless Chromium, and the OpenTofu CLI
// for terraform-plugin-testing.
//
// Every helper binds to 127.0.0.1 on random free ports, keeps its files in
// t.TempDir(), logs the process output to a file whose tail is printed only when
// the test fails, and stops its processes in t.Cleanup, so tests that use it can
// run in parallel.
//
// A missing component skips the test on a developer machine and fails it when
// the environment variable CI is "true"; see [Require]. `make tools` (which
// runs scripts/tools.sh) builds vault, tofu and hydra into <repo>/bin, and
// `apt-get install chromium` installs the browser.
//
// Secrets never appear in process arguments: the helpers pass them in
// environment variables or in files.
//
// A typical test:
//
//	func TestConnect(t *testing.T) {
//		t.Parallel()
//		v := testenv.StartVault(t)                       // v.Addr, v.Token, v.Client()
//		h := testenv.StartHydra(t, testenv.HydraOptions{}) // h.AuthURL, h.TokenURL
//		cb := testenv.StartCallbackServer(t)
//		id, secret := h.CreateClient(t, testenv.ClientSpec{RedirectURIs: []string{cb.URL}})
//		b := testenv.StartBrowser(t)
//		final, body, err := b.Visit(ctx, authCodeURL) // ends at cb.URL?code=...
//		...
//	}
//
// Acceptance tests of the provider call [SetupTofu] first (not in parallel,
// because it uses t.Setenv).
package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// InCI reports whether the tests run in continuous integration, that is when
// the environment variable CI is "true". In CI a missing component fails the
// test instead of skipping it.
func InCI() bool {
	return strings.EqualFold(os.Getenv("CI"), "true")
}

// Require stops the test because the component what is missing. When
// [InCI] is true the test fails (t.Fatalf), because CI must run every test;
// otherwise the test is skipped (t.Skipf). Both messages say how to install
// the component: howToInstall.
func Require(t testing.TB, what, howToInstall string) {
	t.Helper()
	if InCI() {
		t.Fatalf("testenv: %s is required but missing (CI=true, so this fails instead of skipping); to install it: %s", what, howToInstall)
		return
	}
	t.Skipf("testenv: %s is missing, skipping; to install it: %s", what, howToInstall)
}

// RepoRoot returns the root of the repository: the nearest directory at or
// above the working directory that holds a go.mod file.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("testenv: no go.mod found at or above the working directory")
		}
		dir = parent
	}
}

// Binary returns the absolute path of the tool name, found as FindTool does. When the tool
// is missing it calls Require with the tool's install hint; when TAILOR_<NAME> points at
// something that is not an executable, it fails the test, because that is a mistake of
// configuration.
func Binary(t testing.TB, name string) string {
	t.Helper()
	p, err := FindTool(name)
	if err == nil {
		return p
	}
	if !errors.Is(err, ErrToolMissing) {
		t.Fatalf("%v", err)
	}
	Require(t, name, toolFor(name).Install)
	return ""
}

// randomHex returns n random bytes as hex.
func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// FreePort asks the kernel for a free TCP port on 127.0.0.1. Another process
// can take it before the caller binds it, so callers retry on "address already
// in use".
func FreePort() (int, error) { return pickPort() }

// Port is FreePort for tests: it fails t when the kernel has no port to give.
func Port(t testing.TB) int {
	t.Helper()
	port, err := FreePort()
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	return port
}

// pickPort is the implementation of freePort; tests replace it to simulate
// a port that another process took.
var pickPort = func() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// baseEnv is the environment of the processes that testenv starts: a small,
// explicit set, so that VAULT_*, DSN and similar variables of the developer's
// shell cannot leak into a test server.
func baseEnv(home string) []string {
	env := []string{"HOME=" + home}
	for _, k := range []string{"PATH", "TMPDIR", "LANG", "TZ"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}
