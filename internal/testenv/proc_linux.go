package testenv

import "syscall"

// sysProcAttr puts the server in a process group of its own, so that stop
// also ends its children, and makes Linux kill it when the test binary dies
// (for example on a test timeout), so that no server outlives its test.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
