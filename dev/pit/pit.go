// Package pit drives the 8254 programmable interval timer (8254 datasheet;
// counters at ports 0x40-0x42, the control word at 0x43, channel 2's gate
// and output through port 0x61 of the PC's system control). It is the
// only code that touches it.
package pit

import "beelzebox/cpu"

// Frequency is the 8254's input clock in Hz.
const Frequency = 1193182

// I/O ports.
const (
	channel0    = 0x40
	channel2    = 0x42
	control     = 0x43
	systemCtrlB = 0x61 // PC system control port B
)

// Control word (8254 datasheet "Control Word Format").
const (
	selectChannel0 = 0b00 << 6
	selectChannel2 = 0b10 << 6
	accessLoHi     = 0b11 << 4  // least then most significant byte
	mode0          = 0b000 << 1 // interrupt on terminal count (one-shot)
	mode2          = 0b010 << 1 // rate generator
	binary         = 0

	// Port 0x61.
	gate2      = 1 << 0 // channel 2's gate
	speakerOn  = 1 << 1 // channel 2's output to the speaker
	out2Status = 1 << 5 // channel 2's output (read)
)

// divisor is the 16-bit reload value for a rate of hz (0 stands for
// 65536, the slowest rate, about 18.2 Hz).
func divisor(hz uint32) uint16 {
	if hz == 0 || Frequency/hz > 0xffff {
		return 0
	}
	return uint16(Frequency / hz)
}

// countFor is the channel 2 count that lasts ns nanoseconds, at most
// 0xffff (about 55 ms).
func countFor(ns uint32) uint16 {
	c := uint64(Frequency) * uint64(ns) / 1_000_000_000
	if c > 0xffff {
		c = 0xffff
	}
	return uint16(c)
}

// StartRateGenerator makes channel 0 interrupt hz times a second (IRQ0;
// mode 2, the rate generator).
func StartRateGenerator(hz uint32) {
	d := divisor(hz)
	cpu.Outb(control, selectChannel0|accessLoHi|mode2|binary)
	cpu.Outb(channel0, uint8(d))
	cpu.Outb(channel0, uint8(d>>8))
}

// CalibrateTSC returns the TSC ticks that pass while channel 2 counts
// down ns nanoseconds (at most about 55 ms) in mode 0, gated through port
// 0x61 with the speaker off; the clock calibrates the TSC with it where
// there is no HPET.
func CalibrateTSC(ns uint32) uint64 {
	c := countFor(ns)
	cpu.Outb(systemCtrlB, cpu.Inb(systemCtrlB)&^speakerOn|gate2)
	cpu.Outb(control, selectChannel2|accessLoHi|mode0|binary)
	cpu.Outb(channel2, uint8(c))
	cpu.Outb(channel2, uint8(c>>8))
	t0 := cpu.RdtscOrdered()
	for cpu.Inb(systemCtrlB)&out2Status == 0 {
		cpu.Pause()
	}
	return cpu.RdtscOrdered() - t0
}
