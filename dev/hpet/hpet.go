// Package hpet reads the main counter of the high precision event timer
// (IA-PC HPET specification 1.0a §2.3). It is the only code that touches
// the HPET's registers; the kernel's clock calibrates the TSC with it.
package hpet

import (
	"sync/atomic"
	"unsafe"

	"beelzebox/mm"
)

// DefaultBase is where PC chipsets (and QEMU and Bochs) place the first
// HPET; the ACPI HPET table gives the real address (SetBase).
const DefaultBase = 0xfed00000

// Registers (HPET specification table 3).
const (
	regCapabilities = 0x000 // general capabilities and ID
	regConfig       = 0x010 // general configuration
	regCounter      = 0x0f0 // main counter value

	capPeriodShift = 32 // COUNTER_CLK_PERIOD: femtoseconds per tick
	configEnable   = 1 << 0

	// maxPeriod is the slowest tick the specification allows: 100 ns
	// (10 MHz), in femtoseconds.
	maxPeriod = 100_000_000
)

var (
	base   uint64 = DefaultBase
	regs   uintptr
	period uint64
)

// SetBase sets the physical address of the registers for Init.
func SetBase(pa uint64) { base = pa }

// Init maps the registers, checks that an HPET answers there (a period
// in (0, 100 ns], no all-ones or all-zeros read of a missing device) and
// starts the main counter. It reports whether there is an HPET.
func Init() bool {
	regs = mm.MapMMIO(base, mm.PageSize)
	p, ok := periodOf(load(regCapabilities))
	if !ok {
		return false
	}
	period = p
	store(regConfig, load(regConfig)|configEnable)
	return true
}

// periodOf checks a capabilities register value and returns its period.
func periodOf(capabilities uint64) (fs uint64, ok bool) {
	fs = capabilities >> capPeriodShift
	if capabilities == 0 || capabilities == ^uint64(0) || fs == 0 || fs > maxPeriod {
		return 0, false
	}
	return fs, true
}

// Period is the main counter's tick in femtoseconds (after Init).
func Period() uint64 { return period }

// Counter reads the main counter (after Init).
func Counter() uint64 { return load(regCounter) }

func load(off uintptr) uint64 {
	return atomic.LoadUint64((*uint64)(unsafe.Pointer(regs + off)))
}

func store(off uintptr, v uint64) {
	atomic.StoreUint64((*uint64)(unsafe.Pointer(regs+off)), v)
}
