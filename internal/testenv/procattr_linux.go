package testenv

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the kernel kill the server when the test process
// dies, so a test that times out or crashes (and never runs its Cleanup)
// leaves no redis-server behind.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
