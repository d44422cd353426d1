package kernel

import (
	"unsafe"

	"beelzebox/cpu"
)

// EarlyInit installs the fault reporter and gives every CPU's block its
// record (me); it is the first thing the kernel does.
func EarlyInit() {
	cpu.FatalHook = fatalReport
	for i := range cpus {
		cpus[i].lockID = uint32(i) + 1
		cpu.SetLocal(i, uintptr(unsafe.Pointer(&cpus[i])))
	}
}

// Init brings up the clock, the timer and the first thread, and installs
// the trap handler. It runs before the Go runtime starts.
func Init() {
	cpu.TrapHook = trap
	cpus[0].armedFor = never
	initClock()
	initThreads()
	initTimer()
	cur().sliceEnd = Nanotime() + sliceNanos
	armNext(me(), Nanotime())
}
