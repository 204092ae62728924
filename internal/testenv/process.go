//go:build unix

package testenv

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// process is one run of a server binary whose output goes to a log file.
type process struct {
	name    string // for messages, e.g. "vault"
	path    string
	args    []string
	env     []string
	dir     string
	logPath string

	mu       sync.Mutex
	logStart int64 // size of the log when the current run started
	cmd      *exec.Cmd
	done     chan struct{} // closed when the process has exited
	waitErr  error
}

// start starts the process; its output is appended to logPath.
func (p *process) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil && !isClosed(p.done) {
		return fmt.Errorf("testenv: %s is already running", p.name)
	}
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	if fi, err := logf.Stat(); err == nil {
		p.logStart = fi.Size()
	}
	fmt.Fprintf(logf, "\n=== testenv: %s start %s %s\n", time.Now().Format(time.RFC3339Nano), p.path, strings.Join(p.args, " "))
	cmd := exec.Command(p.path, p.args...)
	cmd.Env = p.env
	cmd.Dir = p.dir
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("testenv: starting %s: %w", p.name, err)
	}
	done := make(chan struct{})
	p.cmd, p.done = cmd, done
	go func() {
		err := cmd.Wait()
		logf.Close()
		p.mu.Lock()
		p.waitErr = err
		p.mu.Unlock()
		close(done)
	}()
	return nil
}

// exited returns a channel that is closed when the current run has exited.
func (p *process) exited() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done == nil {
		c := make(chan struct{})
		close(c)
		return c
	}
	return p.done
}

// running reports whether the process runs now.
func (p *process) running() bool {
	return !isClosed(p.exited())
}

// stop ends the process: SIGTERM to its group, then SIGKILL after grace.
// It returns when the process has exited. It does nothing when the process
// does not run.
func (p *process) stop(grace time.Duration) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil || isClosed(done) {
		return
	}
	pgid := cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(grace):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-done
	}
	// Children that ignored SIGTERM would keep ports; make sure the group is gone.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
}

// exitError describes how the last run ended, for messages.
func (p *process) exitError() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.waitErr == nil {
		return errors.New("exited with status 0")
	}
	return p.waitErr
}

// runLogContains reports whether the output of the current run contains s.
func (p *process) runLogContains(s string) bool {
	p.mu.Lock()
	off := p.logStart
	p.mu.Unlock()
	b, _ := os.ReadFile(p.logPath)
	if int64(len(b)) < off {
		return false
	}
	return bytes.Contains(b[off:], []byte(s))
}

// errAddrInUse is returned by waitReady when the process could not bind its
// port.
var errAddrInUse = errors.New("address already in use")

// waitReady polls ready every 50 ms until it returns nil, the process exits
// or timeout passes. When the process exited because its port was taken, the
// error is errAddrInUse.
func (p *process) waitReady(timeout time.Duration, ready func() error) error {
	deadline := time.Now().Add(timeout)
	exited := p.exited()
	var last error
	for {
		if last = ready(); last == nil {
			return nil
		}
		select {
		case <-exited:
			if p.runLogContains("address already in use") {
				return errAddrInUse
			}
			return fmt.Errorf("testenv: %s exited before it was ready (%v); log %s:\n%s", p.name, p.exitError(), p.logPath, tailFile(p.logPath, 40))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("testenv: %s not ready after %s: %v; log %s:\n%s", p.name, timeout, last, p.logPath, tailFile(p.logPath, 40))
		}
	}
}

// manage registers the cleanups of a component for t: close it, then print
// the tail of its log (logPath) when the test failed.
func manage(t testing.TB, name, logPath string, close func()) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("testenv: last lines of the %s log %s:\n%s", name, logPath, tailFile(logPath, 60))
		}
	})
	t.Cleanup(close) // runs first (LIFO)
}

// maxLine is the length beyond which tailFile cuts a line (Hydra logs long
// request lines).
const maxLine = 600

// tailFile returns the last n lines of the file at path.
func tailFile(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(cannot read log: %v)", err)
	}
	defer f.Close()
	const max = 64 << 10
	if fi, err := f.Stat(); err == nil && fi.Size() > max {
		_, _ = f.Seek(-max, io.SeekEnd)
	}
	b, _ := io.ReadAll(f)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	for i, l := range lines {
		if len(l) > maxLine {
			lines[i] = l[:maxLine] + " …"
		}
	}
	return strings.Join(lines, "\n")
}

func isClosed(c <-chan struct{}) bool {
	if c == nil {
		return false
	}
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// Process is a program started by StartProcess: its output goes to a log file,
// it runs in a process group of its own, and Stop ends the whole group.
type Process struct {
	p *process
	// LogPath receives the program's output.
	LogPath string
}

// ProcessSpec describes a program for StartProcess.
type ProcessSpec struct {
	// Name names the program in messages and its log file (Dir/Name.log).
	Name string
	Bin  string
	Args []string
	// Env is the whole environment; pass secrets here, never in Args.
	Env []string
	Dir string
}

// StartProcess starts the program of spec.
func StartProcess(spec ProcessSpec) (*Process, error) {
	logPath := filepath.Join(spec.Dir, spec.Name+".log")
	p := &process{name: spec.Name, path: spec.Bin, args: spec.Args, env: spec.Env, dir: spec.Dir, logPath: logPath}
	if err := p.start(); err != nil {
		return nil, err
	}
	return &Process{p: p, LogPath: logPath}, nil
}

// Stop ends the program (SIGTERM, then SIGKILL after 10 s) and waits for it.
func (p *Process) Stop() { p.p.stop(10 * time.Second) }

// WaitHTTP waits until a GET of url answers 200, the program exits or timeout
// passes; the error then carries the tail of the program's log.
func (p *Process) WaitHTTP(url string, timeout time.Duration) error {
	return p.p.waitReady(timeout, func() error {
		code, err := httpStatus(url)
		if err == nil && code != http.StatusOK {
			err = fmt.Errorf("GET %s: %d", url, code)
		}
		return err
	})
}

// relaunch starts a stopped component again with launch, waiting up to a minute for its
// ports to be free.
func relaunch(p *process, launch func() error) error {
	if p.running() {
		return fmt.Errorf("testenv: %s is already running", p.name)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		err := launch()
		if err == nil || !errors.Is(err, errAddrInUse) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// workDir returns dir, or a new temporary directory named after prefix when dir is empty
// (own is then true: the caller removes it), with a home directory for the component.
func workDir(dir, prefix string) (tmp, home string, own bool, err error) {
	tmp = dir
	if tmp == "" {
		if tmp, err = os.MkdirTemp("", prefix); err != nil {
			return "", "", false, err
		}
		own = true
	}
	home = filepath.Join(tmp, "home")
	return tmp, home, own, os.MkdirAll(home, 0o700)
}
