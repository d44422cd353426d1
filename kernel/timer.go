package kernel

import (
	"sync/atomic"
	"unsafe"

	"beelzebox/cpu"
	"beelzebox/mm"

	"github.com/usbarmory/tamago/amd64/lapic"
)

// The timer drives preemption and wake-ups. With a local APIC it runs in
// one-shot mode, reprogrammed by the scheduler for the nearest event (the
// end of the running thread's slice or the earliest sleeper), so an idle
// machine takes no ticks. Without one it falls back to PIT channel 0 at
// 1 kHz through the legacy PIC.

const (
	VectorTimer    = 32
	vectorSpurious = 0xff

	msrAPICBase    = 0x1b
	apicBaseEnable = 1 << 11
	lapicTimerInit = 0x380
	lapicTimerCur  = 0x390
	lapicTimerDiv  = 0x3e0
	lapicDivideBy1 = 0xb
	lapicSVRSoftOn = 1 << 8
	lapicSVR       = 0xf0

	pitHz = 1000

	// The LAPIC timer is calibrated against the (already calibrated) TSC;
	// 100 µs is 10k ticks even for a 100 MHz bus clock.
	lapicCalibrateNanos = 100_000
)

var (
	apic         lapic.LAPIC
	haveLAPIC    bool
	apicPerNanoQ uint64 // LAPIC timer ticks per ns, 32.32 fixed point
	timerName    string
	// Ticks counts timer interrupts.
	Ticks uint64
)

func lapicReg(off uint32) *uint32 { return (*uint32)(unsafe.Pointer(uintptr(apic.Base + off))) }

// initPIC remaps the 8259 pair to vectors 32-47, away from the exception
// vectors, and masks every line except those in unmask.
func initPIC(unmask uint16) {
	cpu.Outb(0x20, 0x11) // ICW1: init, ICW4 follows
	cpu.Outb(0xa0, 0x11)
	cpu.Outb(0x21, 32) // ICW2: vector base
	cpu.Outb(0xa1, 40)
	cpu.Outb(0x21, 4) // ICW3: slave on IRQ2
	cpu.Outb(0xa1, 2)
	cpu.Outb(0x21, 1) // ICW4: 8086 mode
	cpu.Outb(0xa1, 1)
	cpu.Outb(0x21, ^uint8(unmask))
	cpu.Outb(0xa1, ^uint8(unmask>>8))
}

func initTimer() {
	if cpu.CPU.APIC {
		base := cpu.Rdmsr(msrAPICBase)
		// Bochs ignores writes to IA32_APIC_BASE once the enable bit was
		// cleared, so only ever set it.
		if base&apicBaseEnable == 0 {
			cpu.Wrmsr(msrAPICBase, base|apicBaseEnable)
		}
		pa := base &^ 0xfff & 0xf_ffff_ffff
		apic.Base = uint32(mm.MapMMIO(pa, mm.PageSize))
		initPIC(0)
		*lapicReg(lapicSVR) = lapicSVRSoftOn | vectorSpurious
		apic.Enable()
		*lapicReg(lapicTimerDiv) = lapicDivideBy1
		apic.SetTimer(VectorTimer, lapic.TIMER_MODE_ONE_SHOT)
		if _, hz := hypervisorFrequencies(); hz != 0 {
			apicPerNanoQ = (hz << 32) / 1_000_000_000
			haveLAPIC = true
			timerName = "lapic"
			return
		}
		// Calibrate: count down for calibrateNanos of the clock.
		*lapicReg(lapicTimerInit) = 0xffffffff
		t0 := Nanotime()
		for Nanotime()-t0 < lapicCalibrateNanos {
			cpu.Pause()
		}
		elapsed := uint64(0xffffffff - *lapicReg(lapicTimerCur))
		*lapicReg(lapicTimerInit) = 0
		apicPerNanoQ = (elapsed << 32) / lapicCalibrateNanos
		if apicPerNanoQ != 0 {
			haveLAPIC = true
			timerName = "lapic"
			return
		}
	}
	timerName = "pit"
	initPIC(1) // IRQ0 only
	const div = pitFrequency / pitHz
	cpu.Outb(0x43, 0x34) // channel 0, lobyte/hibyte, mode 2 (rate generator)
	cpu.Outb(0x40, div&0xff)
	cpu.Outb(0x40, div>>8)
}

// initAPTimer sets up an application processor's local APIC as the
// bootstrap processor's: enabled, the same spurious vector, the one-shot
// timer with the same calibration (the timers of a machine's CPUs run
// at one rate).
func initAPTimer() {
	base := cpu.Rdmsr(msrAPICBase)
	if base&apicBaseEnable == 0 {
		cpu.Wrmsr(msrAPICBase, base|apicBaseEnable)
	}
	*lapicReg(lapicSVR) = lapicSVRSoftOn | vectorSpurious
	apic.Enable()
	*lapicReg(lapicTimerDiv) = lapicDivideBy1
	apic.SetTimer(VectorTimer, lapic.TIMER_MODE_ONE_SHOT)
}

// never is the armedFor of a timer that is not set (and of the PIT).
const never = 1<<63 - 1

// armTimer requests an interrupt after ns nanoseconds (one-shot LAPIC); the
// PIT fallback ticks anyway.
func armTimer(ns int64) {
	if !haveLAPIC {
		return
	}
	if ns < 10_000 {
		ns = 10_000
	}
	me().armedFor = Nanotime() + ns
	count := uint64(ns) * apicPerNanoQ >> 32
	if count > 0xffffffff {
		count = 0xffffffff
	}
	if count == 0 {
		count = 1
	}
	*lapicReg(lapicTimerInit) = uint32(count)
}

// timerFired accounts for a timer interrupt: the one-shot is spent.
func timerFired() {
	atomic.AddUint64(&Ticks, 1)
	c := me()
	c.ticks++
	c.armedFor = never
	ackTimer()
}

// ackTimer acknowledges an interrupt.
func ackTimer() {
	if haveLAPIC {
		apic.ClearInterrupt()
	} else {
		cpu.Outb(0x20, 0x20) // PIC EOI
	}
}

// TimerSource names the timer in use.
func TimerSource() string { return timerName }

// SelfNMI sends a non-maskable interrupt to this CPU through the local
// APIC's interrupt command register (SDM Vol. 3A §12.6.1), for tests of
// the NMI path. It reports false without a local APIC.
func SelfNMI() bool {
	if timerName != "lapic" {
		return false
	}
	apic.IPI(int(apic.ID()), 0, lapic.ICR_DLV_NMI)
	return true
}
