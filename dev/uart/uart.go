// Package uart drives COM1, a 16550 UART (PC16550D datasheet), polled:
// the kernel takes no serial interrupts. Transmission and the modem
// control register go through TamaGo's soc/intel/uart; this package adds
// the line setup, presence detection, reception and draining. It is the
// only code that touches COM1.
package uart

import (
	"beelzebox/cpu"

	"github.com/usbarmory/tamago/soc/intel/uart"
)

// COM1 is the first serial port's I/O base.
const COM1 = 0x3f8

// Registers, as offsets from the base (PC16550D table II).
const (
	regData     = 0 // RBR (read), THR (write); divisor low with DLAB
	regIER      = 1 // interrupt enable; divisor high with DLAB
	regFCR      = 2 // FIFO control (write)
	regLCR      = 3 // line control
	regLSR      = 5 // line status
	regScratch  = 7
	regDivisorL = 0
	regDivisorH = 1

	lcrDLAB = 1 << 7 // divisor latch access
	lcr8N1  = 0x03   // 8 data bits, no parity, 1 stop bit

	fcrEnable     = 1 << 0
	fcrClearRx    = 1 << 1
	fcrClearTx    = 1 << 2
	fcrTrigger14  = 0b11 << 6
	fifoOnCleared = fcrEnable | fcrClearRx | fcrClearTx | fcrTrigger14

	lsrDataReady = 1 << 0
	lsrTxEmpty   = 1 << 6 // TEMT: holding and shift registers empty

	divisor115200 = 1 // of the 1.8432 MHz / 16 clock

	// A read of a port nothing decodes returns all ones.
	floatingBus = 0xff
)

var (
	com1   = uart.UART{Index: 1, Base: COM1, DTR: true, RTS: true}
	absent bool // Init found no UART at COM1
)

// Init looks for a 16550 at COM1 and programs it for 115200 baud, 8 data
// bits, no parity, one stop bit, FIFOs on and cleared, DTR and RTS set.
// Firmware usually leaves it so, but Bochs starts with a 5-bit word
// length. It reports whether the port is there; without it Putc, Getc
// and Drain do nothing.
func Init() bool {
	absent = !present(probe())
	if absent {
		return false
	}
	cpu.Outb(COM1+regIER, 0)
	cpu.Outb(COM1+regLCR, lcrDLAB)
	cpu.Outb(COM1+regDivisorL, divisor115200)
	cpu.Outb(COM1+regDivisorH, 0)
	cpu.Outb(COM1+regLCR, lcr8N1)
	cpu.Outb(COM1+regFCR, fifoOnCleared)
	com1.Init() // MCR: DTR, RTS, OUT2
	return true
}

// probe reads the line status register and writes two patterns to the
// scratch register, reading each back.
func probe() (lsr, scratch1, scratch2 uint8) {
	lsr = cpu.Inb(COM1 + regLSR)
	cpu.Outb(COM1+regScratch, 0x5a)
	scratch1 = cpu.Inb(COM1 + regScratch)
	cpu.Outb(COM1+regScratch, 0xa5)
	scratch2 = cpu.Inb(COM1 + regScratch)
	return
}

// present judges probe's reads: a missing port reads all ones from LSR
// and does not keep what is written to the scratch register.
func present(lsr, scratch1, scratch2 uint8) bool {
	return lsr != floatingBus && scratch1 == 0x5a && scratch2 == 0xa5
}

// Present reports whether COM1 is there (true until Init has looked).
func Present() bool { return !absent }

// Putc sends c, waiting for room in the transmitter.
func Putc(c byte) {
	if absent {
		return
	}
	com1.Tx(c)
}

// Getc returns a received byte, if one waits (it does not wait).
func Getc() (c byte, ok bool) {
	if absent || cpu.Inb(COM1+regLSR)&lsrDataReady == 0 {
		return 0, false
	}
	return cpu.Inb(COM1 + regData), true
}

// Drain waits (boundedly) until the last bit has left the transmitter,
// so that nothing is lost when the machine stops: Bochs models the baud
// rate.
func Drain() {
	if absent {
		return
	}
	for i := 0; i < 1_000_000 && cpu.Inb(COM1+regLSR)&lsrTxEmpty == 0; i++ {
		cpu.Pause()
	}
}
