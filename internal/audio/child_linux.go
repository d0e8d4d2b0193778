package audio

import (
	"os/exec"
	"syscall"
)

// setChildAttrs makes the child die with this process (the parent death
// signal), so a daemon that crashes leaves no pactl behind.
func setChildAttrs(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
