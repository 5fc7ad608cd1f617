//go:build linux

package e2e

import "syscall"

// sysProcAttr puts a child in its own process group, which the test kills
// as a whole, and kills it if the test process dies first.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
