package testcluster

import "syscall"

// childAttrs makes the kernel stop an agent when the process that started it
// dies, so a killed `roster testcluster up` (or test) leaves nothing behind.
func childAttrs() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
