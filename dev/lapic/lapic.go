// Package lapic drives the local APIC of each CPU (SDM Vol. 3A chapter 12
// "Advanced Programmable Interrupt Controller"), in x2APIC mode (registers
// as MSRs, §12.12) where CPUID.1:ECX[21] says the CPU has it and in xAPIC
// mode (a 4 KiB page of memory-mapped registers) otherwise. It is the only
// code that touches the local APIC.
//
// Init runs on every CPU before any other function of the package on that
// CPU; the first Init (the bootstrap processor's) picks the mode and
// every later one follows it. The global enable bit of IA32_APIC_BASE is
// only ever set: Bochs ignores every write to that MSR once the bit was
// cleared, and the SDM allows leaving x2APIC mode only through the
// disabled state.
//
// The functions run in handler context and before the Go runtime: they do
// not allocate.
package lapic

import (
	"sync/atomic"
	"unsafe"

	"beelzebox/cpu"
	"beelzebox/mm"
)

// IA32_APIC_BASE (MSR 0x1b, SDM Vol. 3A §12.4.4 and §12.12.1).
const (
	msrAPICBase = 0x1b

	baseBSP      = 1 << 8  // BSP: this is the bootstrap processor
	baseX2APIC   = 1 << 10 // EXTD: x2APIC mode (with EN)
	baseEnable   = 1 << 11 // EN: the APIC's global enable
	baseAddrMask = 0xf_ffff_f000
)

// Register offsets in the xAPIC page (SDM Vol. 3A table 12-1). In x2APIC
// mode register r is MSR x2APICMSRBase + r>>4 (table 12-6), except the
// ICR, which is one 64-bit MSR in place of the two halves.
const (
	regID           = 0x020
	regTPR          = 0x080
	regEOI          = 0x0b0
	regSVR          = 0x0f0
	regICRLow       = 0x300
	regICRHigh      = 0x310
	regLVTTimer     = 0x320
	regTimerInitial = 0x380
	regTimerCurrent = 0x390
	regTimerDivide  = 0x3e0

	x2APICMSRBase = 0x800
)

// Register bits.
const (
	// Spurious-interrupt vector register (§12.9): the software enable.
	svrSoftEnable = 1 << 8

	// xAPIC ID register: the ID in bits 31:24 (§12.4.6); x2APIC: all 32.
	xapicIDShift = 24

	// LVT timer entry (§12.5.1, figure 12-8).
	lvtMasked       = 1 << 16
	lvtTimerOneShot = 0b00 << 17

	// Divide configuration register (§12.5.4, figure 12-10): 1011 = by 1.
	divideBy1 = 0b1011

	// Interrupt command register (§12.6.1, figure 12-12; x2APIC §12.12.9).
	icrFixed          = 0b000 << 8
	icrNMI            = 0b100 << 8
	icrINIT           = 0b101 << 8
	icrStartup        = 0b110 << 8
	icrPhysical       = 0 << 11
	icrDeliveryStatus = 1 << 12 // send pending (xAPIC only)
	icrAssert         = 1 << 14
	icrDeassert       = 0 << 14
	icrEdge           = 0 << 15
	icrLevel          = 1 << 15
	icrNoShorthand    = 0b00 << 18
	icrAllButSelf     = 0b11 << 18
	icrXAPICDestShift = 24 // in the high half: bits 63:56 of the ICR
)

// Vectors Init programs.
const (
	// SpuriousVector is the spurious-interrupt vector (its low four bits
	// are 1s, as the P6 and Pentium processors require).
	SpuriousVector = 0xff
	// TimerVector is the LVT timer's vector.
	TimerVector = 32
)

var (
	x2   bool    // x2APIC mode (chosen by the first Init)
	page uintptr // xAPIC: the virtual address of the register page
)

// Init enables this CPU's local APIC, in x2APIC mode where the CPU has it
// (or where the firmware left it so), and soft-enables it with the
// spurious vector SpuriousVector; it sets the task priority to 0 and the
// LVT timer to one-shot mode at TimerVector, divide by 1, masked until
// SetTimerOneShot arms it. The caller knows the CPU has a local APIC
// (CPUID.1:EDX[9]). Call it on every CPU; it reports whether the APIC is
// in x2APIC mode.
func Init() (x2apic bool) {
	base := cpu.Rdmsr(msrAPICBase)
	// The disabled -> x2APIC transition is invalid (§12.12.5): enable
	// the xAPIC first.
	if base&baseEnable == 0 {
		base |= baseEnable
		cpu.Wrmsr(msrAPICBase, base)
	}
	if base&baseX2APIC == 0 && cpu.CPU.X2APIC {
		base |= baseX2APIC
		cpu.Wrmsr(msrAPICBase, base)
	}
	x2 = base&baseX2APIC != 0
	if !x2 {
		page = mm.MapMMIO(base&baseAddrMask, mm.PageSize)
	}
	write(regSVR, svrSoftEnable|SpuriousVector)
	write(regTPR, 0)
	write(regTimerDivide, divideBy1)
	write(regLVTTimer, lvtMasked|lvtTimerOneShot|TimerVector)
	write(regTimerInitial, 0)
	return x2
}

// ID returns this CPU's APIC ID: 8 bits in xAPIC mode, 32 in x2APIC mode.
func ID() uint32 {
	v := read(regID)
	if !x2 {
		v >>= xapicIDShift
	}
	return v
}

// EOI signals the end of the interrupt being serviced (§12.8.5; in
// x2APIC mode the write must be 0).
func EOI() { write(regEOI, 0) }

// SetTimerOneShot arms the timer to count count ticks of the bus clock
// (divide by 1) down to an interrupt at TimerVector. A count of 0 stops
// it and masks its LVT entry again.
func SetTimerOneShot(count uint32) {
	if count == 0 {
		write(regLVTTimer, lvtMasked|lvtTimerOneShot|TimerVector)
		write(regTimerInitial, 0)
		return
	}
	write(regLVTTimer, lvtTimerOneShot|TimerVector)
	write(regTimerInitial, count)
}

// TimerCurrent returns the timer's current count (0 once it has fired).
func TimerCurrent() uint32 { return read(regTimerCurrent) }

// SendIPI sends vector to the CPU with APIC ID dest: fixed delivery,
// physical destination, edge-triggered.
func SendIPI(dest uint32, vector uint8) {
	sendICR(dest, icrFixed|icrPhysical|icrAssert|icrEdge|icrNoShorthand|uint32(vector))
}

// SendIPIAllButSelf sends vector to every other CPU (fixed delivery, the
// all-excluding-self shorthand).
func SendIPIAllButSelf(vector uint8) {
	sendICR(0, icrFixed|icrAssert|icrEdge|icrAllButSelf|uint32(vector))
}

// SendNMI sends a non-maskable interrupt to the CPU with APIC ID dest.
func SendNMI(dest uint32) {
	sendICR(dest, icrNMI|icrPhysical|icrAssert|icrEdge|icrNoShorthand)
}

// SendNMIAllButSelf sends a non-maskable interrupt to every other CPU.
func SendNMIAllButSelf() {
	sendICR(0, icrNMI|icrAssert|icrEdge|icrAllButSelf)
}

// SendInit sends an INIT to the CPU with APIC ID dest: INIT level assert,
// then, in xAPIC mode, INIT level de-assert, which the P6 family needs to
// synchronise arbitration IDs (§12.6.1; the Pentium 4 and later ignore
// it, and every CPU with an x2APIC is one of those, so x2APIC mode sends
// only the assert). The caller waits before the STARTUP IPIs (SDM Vol. 3A
// §9.4.4.1).
func SendInit(dest uint32) {
	sendICR(dest, icrINIT|icrPhysical|icrAssert|icrLevel|icrNoShorthand)
	if !x2 {
		sendICR(dest, icrINIT|icrPhysical|icrDeassert|icrLevel|icrNoShorthand)
	}
}

// SendStartup sends a STARTUP IPI to the CPU with APIC ID dest: it starts
// in real mode at page<<12 (CS = page<<8, IP = 0; §9.4.4.1).
func SendStartup(dest uint32, page uint8) {
	sendICR(dest, icrStartup|icrPhysical|icrAssert|icrEdge|icrNoShorthand|uint32(page))
}

// sendICR writes the interrupt command register. In x2APIC mode that is
// one WRMSR of destination<<32 | low (§12.12.9), which is not serializing:
// a fence first makes the sender's earlier stores visible to the
// receiver (§12.12.3). In xAPIC mode the high half goes first (writing
// the low half sends) and the sender waits for the delivery status to
// return to idle.
func sendICR(dest, low uint32) {
	if x2 {
		storeFence()
		cpu.Wrmsr(x2APICMSRBase+regICRLow>>4, x2APICICR(dest, low))
		return
	}
	hi, lo := xapicICR(dest, low)
	write(regICRHigh, hi)
	write(regICRLow, lo)
	for read(regICRLow)&icrDeliveryStatus != 0 {
		cpu.Pause()
	}
}

// x2APICICR is the 64-bit ICR value: the destination in bits 63:32.
func x2APICICR(dest, low uint32) uint64 { return uint64(dest)<<32 | uint64(low) }

// xapicICR is the two halves of the xAPIC ICR: the 8-bit destination in
// bits 31:24 of the high half.
func xapicICR(dest, low uint32) (hi, lo uint32) { return dest << icrXAPICDestShift, low }

// msrFor is the x2APIC MSR of the xAPIC register at offset reg.
func msrFor(reg uint32) uint32 { return x2APICMSRBase + reg>>4 }

func read(reg uint32) uint32 {
	if x2 {
		return uint32(cpu.Rdmsr(msrFor(reg)))
	}
	return atomic.LoadUint32((*uint32)(unsafe.Pointer(page + uintptr(reg))))
}

func write(reg, v uint32) {
	if x2 {
		cpu.Wrmsr(msrFor(reg), uint64(v))
		return
	}
	atomic.StoreUint32((*uint32)(unsafe.Pointer(page+uintptr(reg))), v)
}

// storeFence is MFENCE; LFENCE (lapic_amd64.s).
func storeFence()
