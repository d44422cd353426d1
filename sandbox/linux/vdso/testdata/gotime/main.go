// Command gotime prints the wall clock as the Go runtime reads it (through
// the vDSO when AT_SYSINFO_EHDR names one) next to the clock_gettime system
// call's, for package vdso's loader test.
package main

import (
	"fmt"
	"syscall"
	"time"
	"unsafe"
)

func sysRealtime() int64 {
	var ts syscall.Timespec
	syscall.RawSyscall(syscall.SYS_CLOCK_GETTIME, 0, uintptr(unsafe.Pointer(&ts)), 0)
	return ts.Nano()
}

func main() {
	a := sysRealtime()
	v := time.Now().UnixNano()
	b := sysRealtime()
	t0 := time.Now()
	time.Sleep(50 * time.Millisecond)
	fmt.Printf("realtime %d %d %d\nsleep %d\n", a, v, b, time.Since(t0).Nanoseconds())
}
