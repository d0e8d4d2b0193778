package testbed

import "syscall"

var sigterm = syscall.SIGTERM
