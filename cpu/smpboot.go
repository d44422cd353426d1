package cpu

import (
	"sync/atomic"
	"unsafe"
)

// Starting the application processors (SDM Vol. 3A §9.4 "Multiple-
// processor (MP) initialization"): the bootstrap processor copies the
// trampoline (trampoline/trampoline.S) to a page below 1 MiB, then for
// each AP in turn fills in apStart and sends INIT, STARTUP, STARTUP
// (kernel/smp.go, through the local APIC). The AP runs the trampoline
// from real mode to IA-32e mode on the loader's page tables (which
// identity-map the trampoline and the kernel image), enters apEntry,
// which loads the kernel's page tables and the stack and FS base the
// bootstrap processor chose, and calls apMain.

// Offsets of the trampoline header's fields (trampoline.S).
const (
	trampCR3   = 8
	trampEFER  = 12
	trampEntry = 16
)

// apBoot is what the AP being started reads in apEntry and apMain. The
// bootstrap processor starts one AP at a time, so one record serves.
type apBoot struct {
	cr3     uint64 // the kernel's CR3 value
	stack   uint64 // top of the AP's first stack
	fs      uint64 // its FS base: a TLS block with kernelG in its g slot
	index   uint64 // its CPU number
	started uint32 // set by the AP once it runs Go code on its own stack
	_       uint32
}

var apStart apBoot

// apTLS holds the TLS blocks of the APs' first threads; the g slot of
// each is kernelG (handler context).
var apTLS [MaxCPUs][2]uint64

// APHook is what an AP runs once it is in the kernel's state; it never
// returns. The kernel installs it (its scheduler's idle loop).
var APHook func(index int)

func apEntry()

//go:nosplit
func apEntryPC() uintptr

// PrepareTrampoline copies the trampoline to the page at page (the
// kernel's view of a page below 1 MiB), for APs to start there on the
// page tables at bootCR3 (below 4 GiB, identity-mapping the page and the
// kernel image).
func PrepareTrampoline(page uintptr, bootCR3 uint32) {
	dst := unsafe.Slice((*byte)(unsafe.Pointer(page)), len(trampolineCode))
	copy(dst, trampolineCode[:])
	*(*uint32)(unsafe.Pointer(page + trampCR3)) = bootCR3
	var efer uint32
	if CPU.NX {
		efer = EFERNXE // the kernel's page tables use NX bits
	}
	*(*uint32)(unsafe.Pointer(page + trampEFER)) = efer
	*(*uint64)(unsafe.Pointer(page + trampEntry)) = uint64(apEntryPC())
}

// SetAPStart records what AP index will start with: stack is the top of
// its first stack (identity-mapped or in the kernel's tables).
func SetAPStart(index int, stack uintptr) {
	tls := &apTLS[index]
	fs := uint64(uintptr(unsafe.Pointer(&tls[1])))
	InstallKernelG(fs)
	apStart = apBoot{cr3: this().kernelCR3 &^ CR3NoFlush, stack: uint64(stack), fs: fs, index: uint64(index)}
}

// APStarted reports whether the AP last given to SetAPStart is running.
func APStarted() bool { return atomic.LoadUint32(&apStart.started) != 0 }

// apMain is where an AP starts running Go (handler context: kernelG in
// its TLS, interrupts off).
func apMain() {
	i := int(apStart.index)
	InitAP(i)
	atomic.StoreUint32(&apStart.started, 1)
	APHook(i)
	HaltForever()
}

// StopOthers makes every NMI from now on halt the CPU it arrives on; the
// caller then sends the other CPUs an NMI (a panic's stop).
func StopOthers() { atomic.StoreUint64(&entry.stop, 1) }

// UserEntries is how many times CPU i entered ring 3.
func UserEntries(i int) uint64 { return atomic.LoadUint64(&entry.cpus[i].percpu.userEntries) }
