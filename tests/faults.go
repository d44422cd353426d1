package tests

import (
	"unsafe"

	"beelzebox/kernel"
	"beelzebox/syscall"
)

func kernelThreads() int { return kernel.CountThreads() }

// badAddress is mapped by nothing: below the kernel image, above the low
// megabyte, outside every runtime range.
const badAddress = 0xdead000

// FaultInGo dereferences a bad pointer in Go code. The kernel reports the
// trap and delivers SIGSEGV; the Go runtime prints "unexpected fault
// address" with a symbolized traceback and exits with status 2. Run by
// test=kfault, an expected-failure boot.
func FaultInGo() {
	p := (*uint64)(unsafe.Pointer(uintptr(badAddress)))
	kernel.Print("kernel: test=kfault: reading a bad address from Go code\n")
	*p = 1
}

// FaultInHandler makes a system-call handler dereference a bad pointer:
// the kernel reports the fault with a symbolized backtrace and stops.
func FaultInHandler() {
	kernel.Print("kernel: test=hfault: reading a bad address in a system call\n")
	syscall.Private(syscall.CallFault, badAddress, 0, 0)
}
