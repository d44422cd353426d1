// Package kernel holds the machine-independent core of beelzebox: the
// console, the clock and timer, kernel threads and their scheduler,
// signal delivery to the Go runtime, and the trap handler.
package kernel

import (
	"beelzebox/cpu"
	"beelzebox/dev/fb"

	"github.com/usbarmory/tamago/soc/intel/uart"
)

// The console is COM1, or Bochs' and QEMU's debug port 0xE9 when the
// command line says console=e9 (in Bochs a COM1 character costs about 17k
// emulated instructions; the debug port costs one OUT).
//
// Console functions run in handler context: they do not allocate, and
// need no lock because the kernel is uniprocessor and prints with
// interrupts disabled (handlers) or inside a system call (which runs with
// interrupts disabled too).
var (
	com1      = uart.UART{Index: 1, Base: 0x3f8}
	consoleE9 bool
)

const (
	portE9  = 0xe9
	com1LSR = 0x3fd
	lsrTEMT = 1 << 6
)

// InitConsole programs COM1 for 115200 baud, 8 data bits, no parity, one
// stop bit, FIFOs on (16550 datasheet). Firmware usually leaves it so,
// but Bochs starts with a 5-bit word length.
func InitConsole() {
	const (
		ier, fcr, lcr = 1, 2, 3
		lcrDLAB       = 0x80
		lcr8N1        = 0x03
		fifoOnClear   = 0xc7
	)
	base := com1.Base
	cpu.Outb(base+ier, 0)
	cpu.Outb(base+lcr, lcrDLAB)
	cpu.Outb(base+0, 1) // divisor 1: 115200 baud
	cpu.Outb(base+1, 0)
	cpu.Outb(base+lcr, lcr8N1)
	cpu.Outb(base+fcr, fifoOnClear)
	com1.DTR, com1.RTS = true, true
	com1.Init()
}

// ReadConsole takes what COM1 has received, up to len(b) bytes (0 if
// nothing waits, and always under console=e9, which has no input). It
// polls the line status register: the kernel does not take COM1's
// interrupt, so a reader that finds nothing sleeps and asks again.
func ReadConsole(b []byte) int {
	const lsrDR = 1 << 0 // data ready
	if consoleE9 {
		return 0
	}
	n := 0
	for n < len(b) && cpu.Inb(com1LSR)&lsrDR != 0 {
		b[n] = cpu.Inb(com1.Base)
		n++
	}
	return n
}

// UseE9 switches the console to the debug port.
func UseE9() { consoleE9 = true }

// Putc writes one byte.
func Putc(c byte) {
	fb.Putc(c) // the framebuffer console, if fb.Init started one
	if consoleE9 {
		cpu.Outb(portE9, c)
		return
	}
	if c == '\n' {
		com1.Tx('\r')
	}
	com1.Tx(c)
}

// Print writes s.
func Print(s string) {
	for i := 0; i < len(s); i++ {
		Putc(s[i])
	}
}

// PrintBytes writes b.
func PrintBytes(b []byte) {
	for _, c := range b {
		Putc(c)
	}
}

// PrintHex writes v as 0x-prefixed hexadecimal.
func PrintHex(v uint64) {
	const digits = "0123456789abcdef"
	var buf [18]byte
	i := len(buf)
	for {
		i--
		buf[i] = digits[v&15]
		v >>= 4
		if v == 0 {
			break
		}
	}
	i--
	buf[i] = 'x'
	i--
	buf[i] = '0'
	PrintBytes(buf[i:])
}

// PrintDec writes v in decimal.
func PrintDec(v uint64) {
	var buf [20]byte
	i := len(buf)
	for {
		i--
		buf[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			break
		}
	}
	PrintBytes(buf[i:])
}

// drainConsole waits until COM1 has sent its last bit, so that nothing is
// lost when the emulator stops (Bochs models the baud rate).
func drainConsole() {
	if consoleE9 {
		return
	}
	for i := 0; i < 1_000_000 && cpu.Inb(com1LSR)&lsrTEMT == 0; i++ {
		cpu.Pause()
	}
}
