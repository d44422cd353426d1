package syscall

import (
	"syscall"
	"unsafe"

	"beelzebox/cpu"
)

// Private call numbers (offsets from PrivateBase).
const (
	CallInKernel = 0 // run a function in handler context
	CallRun      = 1 // the sandbox's Run
	CallFault    = 2 // fault inside the handler (expected-failure test)
	CallTask     = 3 // level 3 guest threads and ports (sandbox/process)
)

func init() {
	Register(CallInKernel, func(f *cpu.Frame) int64 {
		(*(*func())(ptr(f.DI)))()
		return 0
	})
	Register(CallFault, faultingCall)
}

// faultingCall reads the address it is given: with a bad one, a fault in
// handler code, which the kernel must report and stop on.
func faultingCall(f *cpu.Frame) int64 { return int64(*(*uint64)(ptr(f.DI))) }

// InKernel runs fn in handler context: on the kernel stack with
// interrupts disabled, so it can use kernel structures (the frame
// allocator, page tables, the thread table) that interrupt handlers use
// too. fn must not allocate or block; it may take page faults.
func InKernel(fn func()) {
	syscall.RawSyscall(PrivateBase+CallInKernel, uintptr(unsafe.Pointer(&fn)), 0, 0)
}

// Private makes private call n with arguments a, b, c as a blocking system
// call (the runtime hands the P to another thread while it runs) and
// returns its result as the handler gave it: syscall.Syscall turns a
// result from -4095 to -1 into -1 and an errno, which is undone here (the
// task calls' negative results, such as the -4 of an interrupted wait,
// would all read as -1).
func Private(n int, a, b, c uintptr) uintptr {
	r, _, errno := syscall.Syscall(PrivateBase+uintptr(n), a, b, c)
	if errno != 0 {
		return uintptr(-int64(errno))
	}
	return r
}
