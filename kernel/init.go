package kernel

import "beelzebox/cpu"

// EarlyInit installs the fault reporter; it is the first thing the
// kernel does.
func EarlyInit() { cpu.FatalHook = fatalReport }

// Init brings up the clock, the timer and the first thread, and installs
// the trap handler. It runs before the Go runtime starts.
func Init() {
	cpu.TrapHook = trap
	cpus[0].armedFor = never
	initClock()
	initThreads()
	initTimer()
	cur().sliceEnd = Nanotime() + sliceNanos
	armNext(Nanotime())
}
