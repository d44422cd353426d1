package tests

import (
	"fmt"
	"runtime"
	"sync/atomic"
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

// PanicOnEveryCPU makes every online CPU panic at the same moment, each
// on a thread pinned to it: the first to get there stops the others (by
// NMI) and the report is printed once. Run by test=smppanic, an
// expected-failure boot with two CPUs.
func PanicOnEveryCPU() {
	n := onlineCPUs()
	var ready atomic.Int32
	var fire atomic.Bool
	for i := range n {
		go func() {
			if pinThread(i) != nil {
				kernel.Panic("test=smppanic: sched_setaffinity failed")
			}
			ready.Add(1)
			for !fire.Load() {
			}
			// Not through the kernel lock, which would order the panics.
			kernel.Panic("test=smppanic: every CPU panics at once")
		}()
	}
	for ready.Load() < int32(n) {
		runtime.Gosched()
	}
	kernel.Print("kernel: test=smppanic: " + fmt.Sprint(n) + " CPUs panic at once\n")
	fire.Store(true)
	select {}
}
