package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authorize"
	"github.com/authconnection/terraform-provider-tailor/internal/connection"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv"
)

// cliBuffer is testenv.SyncBuffer.
type cliBuffer = testenv.SyncBuffer

// cliResult is the outcome of one in-process tokend run.
type cliResult struct {
	stdout, stderr *cliBuffer
	err            error
}

// openBrowser, when set, opens the authorization URLs of the in-process authorize (a
// headless browser); nil: the system browser.
var openBrowser func(url string) error

// cliStart runs tokend in-process with args in the background; wait on the channel.
func cliStart(ctx context.Context, stdin string, args ...string) (*cliBuffer, *cliBuffer, <-chan error) {
	var stdout, stderr cliBuffer
	root := newRootCmdWith(openBrowser)
	root.SetArgs(args)
	root.SetOut(&stdout)
	root.SetErr(&stderr)
	root.SetIn(strings.NewReader(stdin))
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	return &stdout, &stderr, done
}

// cliRun runs tokend in-process with args and returns its output and error.
func cliRun(t *testing.T, stdin string, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	stdout, stderr, done := cliStart(ctx, stdin, args...)
	err := <-done
	t.Logf("tokend %s: err=%v\nstderr:\n%s", strings.Join(args, " "), err, stderr.String())
	return cliResult{stdout, stderr, err}
}

// cliVault starts Vault and points the in-process CLI at it through the environment.
func cliVault(t *testing.T) *store.Store {
	t.Helper()
	v := testenv.StartVault(t)
	t.Setenv("VAULT_ADDR", v.Addr)
	t.Setenv("VAULT_TOKEN", v.Token)
	for _, k := range []string{"VAULT_NAMESPACE", "VAULT_ROLE_ID", "VAULT_SECRET_ID_FILE", "TAILOR_MOUNT", "TAILOR_PATH_PREFIX"} {
		t.Setenv(k, "")
	}
	st, err := store.New(v.Client(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// cliWaitURL polls out until it holds a line starting with http.
func cliWaitURL(t *testing.T, out func() string, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		for _, line := range strings.Split(out(), "\n") {
			if strings.HasPrefix(line, "http") {
				return strings.TrimSpace(line)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no URL printed within %s: %q", timeout, out())
	return ""
}

// vaultLeft lists every record under the store's prefix.
func vaultLeft(t *testing.T, st *store.Store) []string {
	t.Helper()
	recs, err := st.Records(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// TestBinaryAuthorizeEndToEnd builds the real tokend binary and runs create, authorize
// --no-browser (the printed URL is opened in Chromium), list, revoke and delete against
// Vault and Hydra. The client secret goes in on stdin and never appears in a process's
// arguments.
func TestBinaryAuthorizeEndToEnd(t *testing.T) {
	t.Parallel()
	v := testenv.StartVault(t)
	h := testenv.StartHydra(t, testenv.HydraOptions{})
	b := testenv.StartBrowser(t)
	st, err := store.New(v.Client(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	bin := buildTokend(t)

	port := testenv.Port(t)
	id, secret := h.CreateClient(t, testenv.ClientSpec{RedirectURIs: []string{authorize.RedirectURI(port)}})
	env := minimalEnv(t.TempDir(), v.Addr, "VAULT_TOKEN="+v.Token)
	command := func(ctx context.Context, stdin string, args ...string) *exec.Cmd {
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = env
		cmd.Stdin = strings.NewReader(stdin)
		for _, a := range cmd.Args {
			if strings.Contains(a, secret) {
				t.Fatalf("the client secret is in the arguments of tokend %s", args[0])
			}
		}
		return cmd
	}
	run := func(stdin string, args ...string) (string, string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := command(ctx, stdin, args...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("tokend %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
		if strings.Contains(stdout.String()+stderr.String(), secret) {
			t.Fatalf("tokend %s printed the client secret", args[0])
		}
		return stdout.String(), stderr.String()
	}

	run(secret+"\n", "create", "--name", "e2e", "--type", "TYPE_OAUTH2", "--provider-url", h.Issuer, "--issuer-url", h.Issuer,
		"--client-id", id, "--client-secret-stdin")

	// authorize --no-browser: read the URL line from the running process's stdout.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := command(ctx, "", "authorize", "e2e", "--no-browser", "--port", strconv.Itoa(port), "--timeout", "90s")
	stdoutPipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr cliBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	rd := bufio.NewReader(stdoutPipe)
	line, err := rd.ReadString('\n')
	if err != nil {
		t.Fatalf("reading the URL: %v\n%s", err, stderr.String())
	}
	u := strings.TrimSpace(line)
	if !strings.HasPrefix(u, h.AuthURL+"?") {
		t.Fatalf("first stdout line %q is not the authorization URL", u)
	}
	if argv, err := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/cmdline"); err != nil {
		t.Logf("cannot read the process's cmdline: %v", err)
	} else if bytes.Contains(argv, []byte(secret)) {
		t.Error("the client secret is in /proc/<pid>/cmdline")
	}
	op := b.NewOpener(time.Minute)
	_ = op.Open(u)
	rest, _ := io.ReadAll(rd)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("tokend authorize: %v\n%s", err, stderr.String())
	}
	if strings.TrimSpace(string(rest)) != "" {
		t.Errorf("stdout has more than the URL: %q", rest)
	}
	if vis := op.Wait(t, time.Minute); !strings.Contains(vis.Text, "Authorization complete") {
		t.Errorf("browser page %q", vis.Text)
	}
	if !strings.Contains(stderr.String(), `Connection "e2e" authorized`) || strings.Contains(stderr.String(), secret) {
		t.Errorf("authorize stderr:\n%s", stderr.String())
	}
	ts, err := st.GetTokens(context.Background(), "e2e")
	if err != nil {
		t.Fatal(err)
	}
	if !h.Introspect(t, ts.AccessToken).Active || !h.Introspect(t, ts.RefreshToken).Active {
		t.Fatal("tokens from the binary's authorize are not active at Hydra")
	}
	if strings.Contains(stderr.String(), ts.AccessToken) || strings.Contains(stderr.String(), ts.RefreshToken) {
		t.Error("authorize printed a token")
	}

	out, _ := run("", "list", "--json")
	var entries []connection.Summary
	if err := json.Unmarshal([]byte(out), &entries); err != nil {
		t.Fatalf("list --json: %v\n%s", err, out)
	}
	if len(entries) != 1 || !entries[0].Authorized || entries[0].ExpiresAt == nil || entries[0].Provider != "oidc" {
		t.Errorf("list --json: %s", out)
	}
	if strings.Contains(out, ts.AccessToken) || strings.Contains(out, ts.RefreshToken) {
		t.Error("list printed a token")
	}

	run("", "revoke", "e2e")
	if h.Introspect(t, ts.AccessToken).Active || h.Introspect(t, ts.RefreshToken).Active {
		t.Error("tokens active after tokend revoke")
	}
	run("", "delete", "e2e")
	if left := vaultLeft(t, st); len(left) != 0 {
		t.Errorf("left in Vault after tokend delete: %v", left)
	}
	out, _ = run("", "list", "--json")
	if strings.TrimSpace(out) != "[]" {
		t.Errorf("list after delete: %s", out)
	}
}

// startAuthorizeProc starts the real `tokend authorize NAME --no-browser` on port with env;
// the authorization URL is the first line of the returned reader (its stdout).
func startAuthorizeProc(t *testing.T, bin string, env []string, name string, port int, extra ...string) (*exec.Cmd, *bufio.Reader, *cliBuffer) {
	t.Helper()
	args := append([]string{"authorize", name, "--no-browser", "--port", strconv.Itoa(port), "--timeout", "60s"}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &cliBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, bufio.NewReader(out), stderr
}
