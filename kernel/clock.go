package kernel

import (
	"math/bits"

	"beelzebox/cpu"
	"beelzebox/dev/hpet"
	"beelzebox/dev/pit"
)

// The clock is the TSC, calibrated at boot against the HPET main counter
// (dev/hpet, at the address hpet.SetBase gave) or PIT channel 2 where
// there is no HPET (dev/pit), and read as nanoseconds since calibration:
// ns = (tsc - tsc0) * mult >> 32. Reading it costs one RDTSC and a
// multiply, which matters because without a vDSO every time.Now in the Go
// runtime is a system call.

const (
	// Half a millisecond of the HPET (at least 5k ticks at its slowest
	// legal rate) calibrates the TSC to better than 0.02%; it is most of
	// the boot time under emulation, so no longer.
	calibrateNanos = 500_000
)

var (
	tsc0      uint64
	tscMult   uint64 // ns per TSC tick, 32.32 fixed point
	tscPerSec uint64
	clockName string
	// BootTSC is the TSC value at kernel entry and RuntimeEntryTSC the one
	// when the kernel jumps into the Go runtime (for boot-time figures).
	BootTSC, RuntimeEntryTSC uint64
)

// SetHPETAddress sets the physical address of the HPET that the clock is
// calibrated against. Call it before Init.
func SetHPETAddress(pa uint64) { hpet.SetBase(pa) }

// Nanotime returns nanoseconds since the clock was calibrated.
//
//go:nosplit
func Nanotime() int64 {
	hi, lo := bits.Mul64(cpu.Rdtsc()-tsc0, tscMult)
	return int64(hi<<32 | lo>>32)
}

// TSCClock returns the parameters of Nanotime: for a TSC value t,
// Nanotime is int64(uint64((t-base)*mult >> shift)) with the product taken
// to 128 bits. The vDSO of Linux guests (package sandbox/linux/vdso)
// computes CLOCK_MONOTONIC from them, so that a guest reading the TSC
// agrees with the kernel to the nanosecond.
func TSCClock() (base, mult uint64, shift uint32) { return tsc0, tscMult, 32 }

// TSCFrequency is the calibrated TSC rate in Hz.
func TSCFrequency() uint64 { return tscPerSec }

// ClockSource names what the TSC was calibrated against.
func ClockSource() string { return clockName }

// Hypervisor CPUID leaves: 0x40000000 gives the highest one; 0x40000010
// the TSC (EAX) and local APIC timer (EBX) frequencies in kHz (the
// VMware and KVM convention, which beelzebox's own level 4 follows).
const (
	leafHypervisor       = 0x40000000
	leafHypervisorTiming = 0x40000010
	cpuidHypervisorBit   = 1 << 31 // CPUID.1:ECX
)

// hypervisorFrequencies returns the frequencies a hypervisor states, or
// zeros on bare hardware or under one that states none.
func hypervisorFrequencies() (tscHz, apicHz uint64) {
	if _, _, c, _ := cpu.CPUID(1, 0); c&cpuidHypervisorBit == 0 {
		return 0, 0
	}
	if max, _, _, _ := cpu.CPUID(leafHypervisor, 0); max < leafHypervisorTiming || max > leafHypervisor+0xffff {
		return 0, 0
	}
	a, b, _, _ := cpu.CPUID(leafHypervisorTiming, 0)
	return uint64(a) * 1000, uint64(b) * 1000
}

// initClock calibrates the TSC, or takes its rate from the hypervisor
// where one states it (a VM has no HPET, and polling one would cost an
// exit per read).
func initClock() {
	if hz, _ := hypervisorFrequencies(); hz != 0 {
		clockName = "hypervisor"
		tscPerSec = hz
		tscMult = (1_000_000_000 << 32) / tscPerSec
		tsc0 = cpu.Rdtsc()
		return
	}
	var ticks uint64
	if hpet.Init() {
		clockName = "hpet"
		wait := calibrateNanos * 1_000_000 / hpet.Period() // HPET ticks in calibrateNanos
		start := hpet.Counter()
		t0 := cpu.RdtscOrdered()
		for hpet.Counter()-start < wait {
			cpu.Pause()
		}
		ticks = cpu.RdtscOrdered() - t0
	} else {
		clockName = "pit"
		ticks = pit.CalibrateTSC(calibrateNanos)
	}
	if ticks == 0 {
		Panic("the TSC did not advance while the " + clockName + " counted: no clock")
	}
	tscPerSec = ticks * (1_000_000_000 / calibrateNanos)
	// mult = 1e9 / tscPerSec in 32.32 fixed point.
	tscMult = (1_000_000_000 << 32) / tscPerSec
	tsc0 = cpu.Rdtsc()
}
