package kernel

import (
	"sync/atomic"

	"beelzebox/cpu"
	"beelzebox/dev/ioapic"
	"beelzebox/dev/lapic"
	"beelzebox/dev/pic"
	"beelzebox/dev/pit"
)

// The timer drives preemption and wake-ups. With a local APIC it runs in
// one-shot mode, reprogrammed by the scheduler for the nearest event (the
// end of the running thread's slice or the earliest sleeper), so an idle
// machine takes no ticks. Without one it falls back to PIT channel 0 at
// 1 kHz through the legacy PIC.

const (
	VectorTimer    = lapic.TimerVector // and the PIC's IRQ0
	vectorSpurious = lapic.SpuriousVector

	// The legacy PIC's lines land at vectors 32-47, the PIT's IRQ0 on
	// VectorTimer.
	picVectorBase = 32
	irqPIT        = 0

	pitHz = 1000

	// The LAPIC timer is calibrated against the (already calibrated) TSC;
	// 100 µs is 10k ticks even for a 100 MHz bus clock.
	lapicCalibrateNanos = 100_000
)

var (
	haveLAPIC    bool
	x2APIC       bool   // the local APIC is in x2APIC mode
	apicPerNanoQ uint64 // LAPIC timer ticks per ns, 32.32 fixed point
	timerName    string
	// Ticks counts timer interrupts.
	Ticks uint64
)

func initTimer() {
	// The PIC is remapped away from the exception vectors and masked
	// whichever timer runs.
	pic.Init(picVectorBase)
	if cpu.CPU.APIC {
		x2APIC = lapic.Init()
		if _, hz := hypervisorFrequencies(); hz != 0 {
			apicPerNanoQ = (hz << 32) / 1_000_000_000
			haveLAPIC = true
			timerName = "lapic"
			return
		}
		// Nothing is routed through the I/O APIC yet: mask it (at the PC's
		// address unless ACPI set another). Beelzebox's own VM, the
		// hypervisor above that states its frequencies, has none.
		ioapic.Init()
		// Calibrate: count down for calibrateNanos of the clock.
		lapic.SetTimerOneShot(0xffffffff)
		t0 := Nanotime()
		for Nanotime()-t0 < lapicCalibrateNanos {
			cpu.Pause()
		}
		elapsed := uint64(0xffffffff - lapic.TimerCurrent())
		lapic.SetTimerOneShot(0)
		apicPerNanoQ = (elapsed << 32) / lapicCalibrateNanos
		if apicPerNanoQ != 0 {
			haveLAPIC = true
			timerName = "lapic"
			return
		}
	}
	timerName = "pit"
	pic.Unmask(irqPIT)
	pit.StartRateGenerator(pitHz)
}

// initAPTimer sets up an application processor's local APIC in the
// bootstrap processor's mode, with its timer's calibration (the timers of
// a machine's CPUs run at one rate).
func initAPTimer() {
	if lapic.Init() != x2APIC {
		Panic("an application processor's local APIC is not in the bootstrap processor's mode")
	}
}

// never is the armedFor of a timer that is not set (and of the PIT).
const never = 1<<63 - 1

// armTimer requests an interrupt after ns nanoseconds (one-shot LAPIC); the
// PIT fallback ticks anyway.
func armTimer(ns int64) { armTimerFrom(me(), Nanotime(), ns) }

// armTimerFrom is armTimer for c, the running CPU, at time now.
func armTimerFrom(c *cpuState, now, ns int64) {
	if !haveLAPIC {
		return
	}
	if ns < 10_000 {
		ns = 10_000
	}
	c.armedFor = now + ns
	count := uint64(ns) * apicPerNanoQ >> 32
	if count > 0xffffffff {
		count = 0xffffffff
	}
	if count == 0 {
		count = 1
	}
	lapic.SetTimerOneShot(uint32(count))
}

// timerFired accounts for a timer interrupt: the one-shot is spent.
func timerFired() {
	atomic.AddUint64(&Ticks, 1)
	c := me()
	atomic.AddUint64(&c.ticks, 1)
	c.armedFor = never
	ackTimer()
}

// ackTimer acknowledges an interrupt.
func ackTimer() {
	if haveLAPIC {
		lapic.EOI()
	} else {
		pic.EOI(irqPIT)
	}
}

// TimerSource names the timer in use.
func TimerSource() string { return timerName }

// X2APIC reports whether the local APIC runs in x2APIC mode.
func X2APIC() bool { return x2APIC }

// SelfNMI sends a non-maskable interrupt to this CPU through the local
// APIC's interrupt command register (SDM Vol. 3A §12.6.1), for tests of
// the NMI path. It reports false without a local APIC.
func SelfNMI() bool {
	if timerName != "lapic" {
		return false
	}
	lapic.SendNMI(lapic.ID())
	return true
}
