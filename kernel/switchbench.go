package kernel

import (
	"unsafe"

	"beelzebox/cpu"
)

// The bare thread switch benchmark: the calling thread and a partner
// handler thread hand the CPU to each other with Unblock and Block, the
// path every blocking wake-up in the kernel takes (a level 3 round trip
// takes it twice). A round trip is two switches.
var switchBench struct {
	caller, partner uintptr // *Thread
	stop            bool
	// cr3, when not 0, is written at every switch, as a switch between
	// address spaces does (the kernel's own root with its PCID, so the
	// figure holds the write and nothing else of a guest's space).
	cr3 uint64
}

// SwitchBench fills samples with the TSC ticks of round trips between the
// calling thread and a partner thread, with a CR3 write at each switch
// when withCR3 is set. It runs in handler context (syscall.InKernel) and
// reports false if the partner could not be created.
func SwitchBench(samples []uint64, withCR3 bool) bool {
	b := &switchBench
	b.caller, b.stop, b.cr3 = uintptr(unsafe.Pointer(cur())), false, 0
	if withCR3 {
		b.cr3 = cpu.KernelCR3()
	}
	p := spawnHandler(bodySwitchPartner, 0)
	if p == nil {
		return false
	}
	b.partner = uintptr(unsafe.Pointer(p))
	park() // the partner runs first and hands the CPU back
	for i := range samples {
		t0 := cpu.RdtscOrdered()
		handOff(b.partner)
		samples[i] = cpu.RdtscOrdered() - t0
	}
	b.stop = true
	Unblock((*Thread)(unsafe.Pointer(b.partner)))
	Yield() // the partner ends
	return true
}

// handOff makes to runnable and blocks the running thread until it is
// made runnable in turn.
func handOff(to uintptr) {
	if switchBench.cr3 != 0 {
		cpu.SetCR3(switchBench.cr3)
	}
	Unblock((*Thread)(unsafe.Pointer(to)))
	park()
}

// park blocks the running thread until Unblock, whatever signals are
// pending: the calling thread is a Go thread inside one long system call,
// which the runtime may have signalled to preempt it.
func park() {
	cur().State = StateBlocked
	schedule()
}

func switchPartner(uintptr) {
	for !switchBench.stop {
		handOff(switchBench.caller)
	}
}
