//go:build !linux

package audio

import "os/exec"

// setChildAttrs has nothing to set outside Linux: the child is killed by
// Watch and Close.
func setChildAttrs(*exec.Cmd) {}
