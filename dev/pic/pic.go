// Package pic drives the legacy pair of 8259A programmable interrupt
// controllers (8259A datasheet; master at ports 0x20/0x21, slave at
// 0xA0/0xA1, cascaded on the master's IRQ2). It is the only code that
// touches them.
package pic

import "beelzebox/cpu"

// I/O ports.
const (
	masterCommand = 0x20
	masterData    = 0x21
	slaveCommand  = 0xa0
	slaveData     = 0xa1
)

// Initialization and operation command words.
const (
	icw1Init     = 0x10   // ICW1: start initialization
	icw1NeedICW4 = 0x01   // ICW1: ICW4 follows
	icw3SlaveOn2 = 1 << 2 // master's ICW3: a slave on IRQ2
	icw3SlaveID  = 2      // slave's ICW3: its cascade identity
	icw4Mode8086 = 0x01   // ICW4: 8086/8088 mode
	ocw2EOI      = 0x20   // OCW2: non-specific end of interrupt
	cascadeIRQ   = 2
)

// write is one byte to one port.
type write struct {
	port uint16
	val  uint8
}

// initSequence is the ICW1-ICW4 sequence that maps the master's lines to
// vectors base..base+7 and the slave's to base+8..base+15, then OCW1
// masking every line.
func initSequence(base uint8) [10]write {
	return [10]write{
		{masterCommand, icw1Init | icw1NeedICW4},
		{slaveCommand, icw1Init | icw1NeedICW4},
		{masterData, base},    // ICW2: vector base
		{slaveData, base + 8}, // ICW2
		{masterData, icw3SlaveOn2},
		{slaveData, icw3SlaveID},
		{masterData, icw4Mode8086},
		{slaveData, icw4Mode8086},
		{masterData, 0xff}, // OCW1: mask all
		{slaveData, 0xff},
	}
}

// Init remaps the pair to vectors base..base+15 (away from the exception
// vectors) and masks every line.
func Init(base uint8) {
	for _, w := range initSequence(base) {
		cpu.Outb(w.port, w.val)
	}
}

// Unmask lets interrupt line irq (0-15) through; a slave line also
// unmasks the cascade.
func Unmask(irq uint8) {
	if irq >= 8 {
		cpu.Outb(slaveData, cpu.Inb(slaveData)&^(1<<(irq-8)))
		irq = cascadeIRQ
	}
	cpu.Outb(masterData, cpu.Inb(masterData)&^(1<<irq))
}

// EOI ends the interrupt of line irq: a slave line needs an EOI at both
// controllers.
func EOI(irq uint8) {
	if irq >= 8 {
		cpu.Outb(slaveCommand, ocw2EOI)
	}
	cpu.Outb(masterCommand, ocw2EOI)
}
