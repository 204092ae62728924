package main

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/testenv"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv/tailortest"
)

// tokendBed is one built tokend binary and the process environment it runs with: every
// end-to-end test runs CLI commands, creates API keys and starts `tokend serve` through it.
type tokendBed struct {
	bin     string
	environ []string
}

// newTokendBed builds tokend and points it at env's Vault (root token, env's path prefix).
func newTokendBed(t *testing.T, env *tailortest.Env) *tokendBed {
	t.Helper()
	return &tokendBed{bin: buildTokend(t), environ: vaultEnv(env)}
}

// buildTokend builds this command into a temporary directory.
func buildTokend(t *testing.T) string {
	t.Helper()
	return testenv.Build(t, "./tokend", t.TempDir(), "tokend")
}

// vaultEnv is the caller's environment plus env's Vault address, root token and prefix.
func vaultEnv(env *tailortest.Env) []string {
	return append(os.Environ(), "VAULT_ADDR="+env.Vault.Addr, "VAULT_TOKEN="+env.Vault.Token, "TAILOR_PATH_PREFIX="+env.Prefix)
}

// minimalEnv is a process environment of PATH, HOME=home and the Vault address addr, plus
// extra (VAULT_TOKEN=… or a login method): nothing else of the caller's shell.
func minimalEnv(home, addr string, extra ...string) []string {
	return append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "VAULT_ADDR=" + addr}, extra...)
}

// with returns a bed of the same binary that runs with the process environment environ.
func (b *tokendBed) with(environ []string) *tokendBed {
	return &tokendBed{bin: b.bin, environ: environ}
}

// run runs tokend with args and returns its stdout and stderr.
func (b *tokendBed) run(args ...string) (string, string, error) {
	cmd := exec.Command(b.bin, args...)
	cmd.Env = b.environ
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// runIn runs tokend with stdin as its input and returns its output (stdout and stderr);
// a failed command fails the test.
func (b *tokendBed) runIn(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(b.bin, args...)
	cmd.Env, cmd.Stdin = b.environ, strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("tokend %s: %v\n%s", strings.Join(args[:min(2, len(args))], " "), err, out)
	}
	return string(out)
}

// createKey runs `tokend keys create args...` and returns the API key, which must be
// all that it printed on stdout.
func (b *tokendBed) createKey(t *testing.T, args ...string) string {
	t.Helper()
	out, stderr, err := b.run(append([]string{"keys", "create"}, args...)...)
	if err != nil {
		t.Fatalf("keys create: %v\n%s", err, stderr)
	}
	key := strings.TrimSpace(out)
	if !strings.HasPrefix(key, "tk_") || strings.ContainsAny(key, " \t\n") {
		t.Fatalf("keys create printed %q", key)
	}
	return key
}

// tokendProc is one running `tokend serve`.
type tokendProc struct {
	URL string
	cmd *exec.Cmd
	log string
}

// serveConfig is what serveOptions change about a `tokend serve` process.
type serveConfig struct {
	addr      string
	flags     []string
	addrFlags func(addr string) []string // flags that name the address serve listens on
}

// serveOption sets one thing about a `tokend serve` process.
type serveOption func(*serveConfig)

// onAddr makes serve listen on addr instead of a free port.
func onAddr(addr string) serveOption { return func(c *serveConfig) { c.addr = addr } }

// withAddrFlags adds the flags f returns for the address serve listens on (which changes
// when serve starts again on another free port), after the other flags.
func withAddrFlags(f func(addr string) []string) serveOption {
	return func(c *serveConfig) { c.addrFlags = f }
}

// withFlags adds flags after the test defaults (the last occurrence of a flag wins).
func withFlags(flags ...string) serveOption {
	return func(c *serveConfig) { c.flags = append(c.flags, flags...) }
}

// serveDefaults are the flags every test's serve starts with: short leases and cache times,
// and debug logs for the secret scans.
var serveDefaults = []string{"--lease-ttl", "20s", "--lease-safety", "5s", "--recheck-interval", "2s",
	"--key-cache-ttl", "1s", "--log-level", "debug"}

// serve starts `tokend serve` as replica (its log file and --replica-id) with the test
// defaults and opts, waits for /readyz, and stops the process when the test ends, logging
// its tail if the test failed. On a free port it picked, serve starts again on another one
// (3 tries) when another process took the port in between.
func (b *tokendBed) serve(t *testing.T, replica string, opts ...serveOption) *tokendProc {
	t.Helper()
	c := serveConfig{}
	for _, o := range opts {
		o(&c)
	}
	for attempt := 1; ; attempt++ {
		addr := c.addr
		if addr == "" {
			addr = freeAddr(t)
		}
		flags := append(slices.Clone(serveDefaults), c.flags...)
		if c.addrFlags != nil {
			flags = append(flags, c.addrFlags(addr)...)
		}
		p, err := launchServe(b.bin, b.environ, t.TempDir(), addr, replica, flags)
		if err == nil {
			t.Cleanup(func() { p.stop(t, replica) })
			return p
		}
		if c.addr != "" || !errors.Is(err, errAddrInUse) || attempt == 3 {
			t.Fatal(err)
		}
		t.Logf("tokend %s: %s was taken, starting on another port", replica, addr)
	}
}

// launchServe starts `tokend serve --listen addr --replica-id replica flags...` with its
// log in logDir and waits (30 s at most) for /readyz; a process that does not get ready is
// killed, and the error holds its log. It never touches testing.T, so that goroutines may
// call it; the caller stops the process.
func launchServe(bin string, environ []string, logDir, addr, replica string, flags []string) (*tokendProc, error) {
	logPath := filepath.Join(logDir, replica+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child has its own descriptor
	cmd := exec.Command(bin, append([]string{"serve", "--listen", addr, "--replica-id", replica}, flags...)...)
	cmd.Env = environ
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &tokendProc{URL: "http://" + addr, cmd: cmd, log: logPath}
	hc := &http.Client{Timeout: 2 * time.Second}
	if slices.Contains(flags, "--tls-cert") {
		p.URL = "https://" + addr
		// Readiness only: the test checks the certificate with its own client.
		hc.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	}
	if err := awaitServing(hc, p.URL, cmd.Process.Pid, logPath, 30*time.Second); err != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
		b, _ := os.ReadFile(logPath)
		return nil, fmt.Errorf("tokend %s not ready: %w\n%s", replica, err, b)
	}
	return p, nil
}

// errAddrInUse is awaitServing's error when the process could not listen on its address
// (another process took the free port it was given).
var errAddrInUse = errors.New("address already in use")

// awaitServing polls base/readyz until it answers 200 once process pid listens on base's
// port: a 200 before that could be another server's on the same port. It returns
// errAddrInUse as soon as the process's log (logPath) says the address is taken, else the
// last failure after timeout.
func awaitServing(hc *http.Client, base string, pid int, logPath string, timeout time.Duration) error {
	u, err := url.Parse(base)
	if err != nil {
		return err
	}
	for deadline := time.Now().Add(timeout); ; time.Sleep(50 * time.Millisecond) {
		if b, _ := os.ReadFile(logPath); bytes.Contains(b, []byte("address already in use")) {
			return errAddrInUse
		}
		err := fmt.Errorf("process %d does not listen on %s", pid, u.Host)
		if listensOn(pid, u.Port()) {
			if err = awaitReady(hc, base, 0); err == nil {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return err
		}
	}
}

// listensOn reports whether process pid holds a listening TCP socket on port (Linux: a
// socket of /proc/net/tcp{,6} in state LISTEN among the process's descriptors).
func listensOn(pid int, port string) bool {
	n, err := strconv.Atoi(port)
	if err != nil {
		return false
	}
	inodes := map[string]bool{}
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, _ := os.ReadFile(table)
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line) // sl local_address rem_address st ... inode (10th)
			if len(f) >= 10 && strings.HasSuffix(f[1], fmt.Sprintf(":%04X", n)) && f[3] == "0A" {
				inodes["socket:["+f[9]+"]"] = true
			}
		}
	}
	fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	for _, fd := range fds {
		if l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())); err == nil && inodes[l] {
			return true
		}
	}
	return false
}

// awaitReady polls base/readyz until it answers 200, or returns the last failure after
// timeout.
func awaitReady(hc *http.Client, base string, timeout time.Duration) error {
	for deadline := time.Now().Add(timeout); ; time.Sleep(50 * time.Millisecond) {
		resp, err := hc.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
			err = fmt.Errorf("/readyz answered %d", resp.StatusCode)
		}
		if time.Now().After(deadline) {
			return err
		}
	}
}

// stop ends the process (SIGTERM, then SIGKILL of its group after 10 s) and logs the tail
// of its log if the test failed.
func (p *tokendProc) stop(t *testing.T, replica string) {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
	if t.Failed() {
		b, _ := os.ReadFile(p.log)
		if len(b) > 6000 {
			b = b[len(b)-6000:]
		}
		t.Logf("%s log:\n%s", replica, b)
	}
}

// freeAddr returns a free 127.0.0.1 address for a server to listen on.
func freeAddr(t *testing.T) string {
	t.Helper()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(testenv.Port(t)))
}
