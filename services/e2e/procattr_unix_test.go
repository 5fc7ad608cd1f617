//go:build unix && !linux

package e2e

import "syscall"

// sysProcAttr puts a child in its own process group, which the test kills
// as a whole.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
