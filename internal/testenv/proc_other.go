//go:build unix && !linux

package testenv

import "syscall"

// sysProcAttr puts the server in a process group of its own, so that stop
// also ends its children.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
